from reactor import define_schema, define_table, v

schema = define_schema({
    "runs": define_table({"key": v.string(), "kind": v.string(), "node": v.string()})
    .index("by_key", ["key"]),
})
