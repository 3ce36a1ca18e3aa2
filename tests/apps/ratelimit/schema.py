"""The rate-limit app: sign-in attempts, and a log of what got through."""

from reactor import define_schema, define_table, v

schema = define_schema({
    "attempts": define_table({"email": v.string(), "ok": v.boolean()}),
})
