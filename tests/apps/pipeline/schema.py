from reactor import define_schema, define_table, v

schema = define_schema({
    "counters": define_table({"key": v.string(), "value": v.number()}).index("by_key", ["key"]),
    "notes": define_table({"text": v.string()}),
})
