from reactor import define_schema, define_table, v

schema = define_schema({
    "counts": define_table({"name": v.string(), "value": v.number()}).index("by_name", ["name"]),
    "events": define_table({"countId": v.id("counts"), "by": v.number()}),
})
