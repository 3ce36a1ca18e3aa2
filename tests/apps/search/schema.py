from reactor import define_schema, define_table, v

schema = define_schema({
    "notes": define_table({"body": v.string(), "board": v.optional(v.string()),
                           "embedding": v.optional(v.array(v.number()))})
    .search_index("search_body", search_field="body", filter_fields=["board"])
    .vector_index("by_embedding", vector_field="embedding", dimensions=3,
                  filter_fields=["board"]),
})
