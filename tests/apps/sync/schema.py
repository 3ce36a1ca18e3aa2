"""Tables of the sync-server end-to-end test app."""

from reactor import define_schema, define_table, v

schema = define_schema({
    "counters": define_table({"name": v.string(), "value": v.number()})
    .index("by_name", ["name"]),
    "applied": define_table({"tag": v.string()}).index("by_tag", ["tag"]),
    "items": define_table({"list": v.string(), "rank": v.number()})
    .index("by_list_rank", ["list", "rank"]),
})
