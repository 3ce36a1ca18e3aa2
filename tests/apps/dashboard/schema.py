from reactor import define_schema, define_table, v

schema = define_schema({
    "items": define_table({"title": v.string(), "n": v.number(),
                           "tag": v.optional(v.string()), "big": v.optional(v.int64())})
    .index("by_n", ["n"]).index("by_tag_n", ["tag", "n"]),
})
