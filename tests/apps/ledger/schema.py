from reactor import define_schema, define_table, v

schema = define_schema({
    "accounts": define_table({"name": v.string(), "balance": v.number(), "moves": v.number()})
    .index("by_name", ["name"]),
    "transfers": define_table({
        "client": v.string(),
        "seq": v.number(),
        "source": v.string(),
        "target": v.string(),
        "amount": v.number(),
    }).index("by_client_seq", ["client", "seq"]),
})
