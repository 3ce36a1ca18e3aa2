"""Reactor's benchmarks: `python -m bench` (see docs/performance.md for the figures)."""
