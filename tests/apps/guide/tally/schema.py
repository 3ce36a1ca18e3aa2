from reactor import define_schema, define_table, v

schema = define_schema({
    "totals": define_table({"key": v.string(), "count": v.number()}).index("by_key", ["key"]),
})
