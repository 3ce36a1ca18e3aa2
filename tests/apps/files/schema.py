from reactor import define_schema, define_table, v

schema = define_schema({
    "messages": define_table({
        "author": v.string(),
        "body": v.string(),
        "format": v.union(v.literal("text"), v.literal("image")),
        "file": v.optional(v.id("_storage")),
    }),
})
