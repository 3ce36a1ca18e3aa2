from reactor import define_schema, define_table, v

schema = define_schema({
    "notes": define_table({"author": v.string(), "body": v.string(), "rank": v.number()})
    .index("by_author", ["author"]),
    "counters": define_table({"value": v.number()}),
    "blobs": define_table({"data": v.string()}),
})
