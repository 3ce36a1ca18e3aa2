from reactor import define_schema, define_table, v

schema = define_schema({
    "notes": define_table({"author": v.string(), "rank": v.number(), "body": v.string()})
    .index("by_author", ["author"]).index("by_rank", ["rank"]),
})
