"""Snapshots of a deployment's data: Convex-compatible export and import."""
