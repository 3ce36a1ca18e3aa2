from reactor import define_schema, define_table, v

schema = define_schema({
    "accounts": define_table({"name": v.string(), "balance": v.number()})
    .index("by_name", ["name"]),
})
