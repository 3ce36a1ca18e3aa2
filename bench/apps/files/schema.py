from reactor import define_schema, define_table, v

schema = define_schema({
    "attachments": define_table({"file": v.id("_storage"), "owner": v.string()}),
    "attachments_baseline": define_table({"owner": v.string()}),
})
