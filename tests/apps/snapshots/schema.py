from reactor import define_schema, define_table, v

schema = define_schema({
    "users": define_table({
        "name": v.string(),
        "age": v.optional(v.int64()),
        "avatar": v.optional(v.id("_storage")),
        "key": v.optional(v.bytes()),
    }).index("by_name", ["name"]),
    "tasks": define_table({
        "title": v.string(),
        "owner": v.id("users"),
        "done": v.boolean(),
        "rank": v.number(),
        "helpers": v.optional(v.array(v.object({"who": v.id("users")}))),
    }).index("by_owner", ["owner"]).search_index("search_title", search_field="title"),
    "items": define_table({"value": v.any()}),
})
