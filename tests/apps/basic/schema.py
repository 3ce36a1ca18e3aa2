from reactor import define_schema, define_table, v

schema = define_schema({
    "notes": define_table({
        "author": v.string(),
        "body": v.string(),
        "rank": v.number(),
        "count": v.optional(v.int64()),
    }).index("by_author", ["author"]).index("by_author_rank", ["author", "rank"]),
    "accounts": define_table({"name": v.string(), "balance": v.number()})
    .index("by_name", ["name"]),
})
