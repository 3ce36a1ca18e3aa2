from reactor import define_schema, define_table, v

schema = define_schema({
    "people": define_table({"name": v.string(), "n": v.number()}),
})
