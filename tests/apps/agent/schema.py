from reactor import define_schema, define_table, v
from reactor.agent import agent_tables

schema = define_schema({
    "notes": define_table({"threadId": v.string(), "text": v.string()}),
    **agent_tables(),
})
