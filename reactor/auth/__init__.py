"""Ready-made authentication for apps: `reactor.auth.password` (password accounts)."""
