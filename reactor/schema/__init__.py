"""Layer 2: tables, their validators and indexes, and loading the app's schema.py."""

from reactor.schema.indexes import (
    BY_CREATION_TIME,
    BY_ID,
    CREATION_TIME_FIELD,
    ID_FIELD,
    IndexDefinition,
    get_field,
    index_id,
)
from reactor.schema.loader import load_schema
from reactor.schema.search_indexes import (
    SearchIndexDefinition,
    VectorIndexDefinition,
    filter_token,
    tokenize,
)
from reactor.schema.tables import (
    SchemaDefinition,
    TableDefinition,
    define_schema,
    define_table,
    schemaless_table,
)

__all__ = [
    "BY_CREATION_TIME",
    "BY_ID",
    "CREATION_TIME_FIELD",
    "ID_FIELD",
    "IndexDefinition",
    "SchemaDefinition",
    "SearchIndexDefinition",
    "TableDefinition",
    "VectorIndexDefinition",
    "define_schema",
    "define_table",
    "filter_token",
    "get_field",
    "index_id",
    "load_schema",
    "schemaless_table",
    "tokenize",
]
