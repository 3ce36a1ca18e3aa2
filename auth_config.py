"""Token issuers the example app trusts besides Reactor's built-in one (none so far).

Users sign in with `auth:signUp` / `auth:signIn`, whose tokens come from the
built-in issuer, which is always trusted. To accept an external OpenID Connect
provider too, list it here, e.g.
`{"issuer": "https://id.example.com", "audience": "reactor", "algorithm": "RS256",
"jwks_url": "https://id.example.com/.well-known/jwks.json"}`, and let its users
call `auth:upsertUser` once after signing in.
"""

providers: list[dict[str, str]] = []
