"""Layer 8: the `reactor` command line."""
