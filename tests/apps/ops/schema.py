"""Tables of the operations test app (logs, metrics, `reactor data`)."""

from reactor import define_schema, define_table, v

schema = define_schema({
    "notes": define_table({"body": v.string(), "rank": v.number()}),
    "tags": define_table({"name": v.string()}),
})
