from reactor import define_schema, define_table, v

schema = define_schema({
    "counters": define_table({"name": v.string(), "value": v.number()})
    .index("by_name", ["name"]),
    "runs": define_table({"name": v.string(), "at": v.number()}).index("by_name", ["name"]),
})
