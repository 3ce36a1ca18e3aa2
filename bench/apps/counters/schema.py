from reactor import define_schema, define_table, v

schema = define_schema({
    "items": define_table({"owner": v.string(), "body": v.string(), "n": v.number()})
    .index("by_owner", ["owner"]),
    "counters": define_table({"key": v.string(), "value": v.number()})
    .index("by_key", ["key"]),
})
