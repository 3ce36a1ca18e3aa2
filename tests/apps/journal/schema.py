from reactor import define_schema, define_table, v

schema = define_schema({
    "entries": define_table({"seq": v.number(), "payload": v.string()})
    .index("by_seq", ["seq"]),
    "meta": define_table({"last": v.number(), "count": v.number()}),
})
