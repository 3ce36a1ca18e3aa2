from reactor import define_schema, define_table, v

schema = define_schema({
    "notes": define_table({"body": v.string(), "board": v.string()})
    .index("by_board", ["board"])
    .search_index("search_body", search_field="body", filter_fields=["board"]),
})
