"""The app the guide's snippets run against (tests/test_docs.py): the tables they name."""

from reactor import define_schema, define_table, v

schema = define_schema({
    "users": define_table({"name": v.string()}),
    "tasks": define_table({
        "title": v.string(),
        "status": v.string(),
        "userId": v.optional(v.id("users")),
        "cleanupJobId": v.optional(v.string()),
    }).index("by_user", ["userId"]).index("by_user_status", ["userId", "status"]),
    "counters": define_table({"name": v.string(), "n": v.number()}),
    "accounts": define_table({"balance": v.int64()}),
    "sessions": define_table({"expiresAt": v.number()}),
})
