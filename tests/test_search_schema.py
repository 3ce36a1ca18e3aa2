"""Search and vector index definitions: the limits, at and past each edge, and clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reactor import define_table, v
from reactor.errors import SchemaError
from reactor.schema import TableDefinition


def table() -> TableDefinition:
    return define_table({"body": v.string(), "embedding": v.array(v.float64()),
                         **{f"f{i}": v.string() for i in range(17)}})


def test_search_index_definition() -> None:
    t = table().search_index("s", search_field="body", filter_fields=["f0", "f1"])
    index = t.search_indexes["s"]
    assert (index.search_field, index.filter_fields) == ("body", ("f0", "f1"))
    assert table().search_index("s", search_field="body").search_indexes["s"].filter_fields == ()


def test_four_search_indexes_per_table() -> None:
    t = table()
    for i in range(4):
        t.search_index(f"s{i}", search_field="body")
    with pytest.raises(SchemaError, match="at most 4 search indexes"):
        t.search_index("s4", search_field="body")


def test_sixteen_filter_fields() -> None:
    fields = [f"f{i}" for i in range(16)]
    table().search_index("s", search_field="body", filter_fields=fields)
    table().vector_index("e", vector_field="embedding", dimensions=3, filter_fields=fields)
    with pytest.raises(SchemaError, match="at most 16 filter fields, got 17"):
        table().search_index("s", search_field="body", filter_fields=[*fields, "f16"])
    with pytest.raises(SchemaError, match="at most 16 filter fields, got 17"):
        table().vector_index("e", vector_field="embedding", dimensions=3,
                             filter_fields=[*fields, "f16"])


@pytest.mark.parametrize("dimensions", [2, 384, 4096])
def test_dimensions_in_range(dimensions: int) -> None:
    t = table().vector_index("e", vector_field="embedding", dimensions=dimensions)
    assert t.vector_indexes["e"].dimensions == dimensions


@pytest.mark.parametrize("dimensions", [1, 4097, 0, -3, 2.0, True, "384"])
def test_dimensions_out_of_range(dimensions: object) -> None:
    with pytest.raises(SchemaError, match="dimensions must be an integer from 2 to 4096"):
        table().vector_index("e", vector_field="embedding", dimensions=dimensions)


def test_bad_definitions_name_what_is_wrong() -> None:
    with pytest.raises(SchemaError, match="field 'title' is not in the table's validator"):
        table().search_index("s", search_field="title")
    with pytest.raises(SchemaError, match="field 'nope' is not in the table's validator"):
        table().search_index("s", search_field="body", filter_fields=["nope"])
    with pytest.raises(SchemaError, match="defined twice"):
        table().index("s", ["f0"]).search_index("s", search_field="body")
    with pytest.raises(SchemaError, match="defined twice"):
        table().search_index("s", search_field="body").vector_index(
            "s", vector_field="embedding", dimensions=2)
    with pytest.raises(SchemaError, match="listed twice"):
        table().search_index("s", search_field="body", filter_fields=["f0", "f0"])
    with pytest.raises(SchemaError, match="cannot also be a filter field"):
        table().search_index("s", search_field="body", filter_fields=["body"])
    with pytest.raises(SchemaError, match="system field _id"):
        table().search_index("s", search_field="_id")
    with pytest.raises(SchemaError, match="filter_fields must be a list"):
        table().search_index("s", search_field="body", filter_fields="f0")
    with pytest.raises(SchemaError, match="reserved for a built-in index"):
        table().search_index("by_id", search_field="body")


def test_the_search_guide_samples_are_the_tested_app() -> None:
    """Every code sample of docs/guide/search.md is in tests/apps/search, which the
    search tests run, so the guide's code works as shown; a sample that is a test (the
    example app's walkthrough) is run as one by tests/test_docs.py."""
    root = Path(__file__).resolve().parent.parent
    guide = (root / "docs" / "guide" / "search.md").read_text()
    app = root / "tests" / "apps" / "search"
    sources = (app / "schema.py").read_text() + (app / "functions" / "notes.py").read_text()
    samples = [sample for sample in re.findall(r"```python\n(.*?)```", guide, flags=re.S)
               if "async def test_" not in sample]
    assert len(samples) >= 4
    for sample in samples:
        code = "\n".join(line for line in sample.splitlines()
                         if not line.startswith(("# ", "from reactor import ")))
        assert code.strip() in sources, code
