"""Tables of the limits app; `free` and any other undeclared table are schemaless."""

from reactor import define_schema, define_table, v

schema = define_schema({
    "counters": define_table({"name": v.string(), "value": v.number()})
    .index("by_name", ["name"]),
    "items": define_table({"n": v.number()}).index("by_n", ["n"]),
}, schema_validation=False)
