"""Schema: tables, index definitions and keys, document validation, loading schema.py."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reactor.errors import InvalidValueError, SchemaError, ValidationError
from reactor.schema import (
    IndexDefinition,
    SchemaDefinition,
    define_schema,
    define_table,
    get_field,
    index_id,
    load_schema,
    schemaless_table,
)
from reactor.values import MISSING, Int64, encode_key, new_id, v


def tasks() -> object:
    return define_table(
        {
            "title": v.string(),
            "userId": v.id("users"),
            "meta": v.optional(v.object({"priority": v.number(), "tags": v.array(v.string())})),
            "extra": v.optional(v.any()),
        }
    )


def test_builtin_indexes() -> None:
    table = define_table({"a": v.string()})
    assert list(table.indexes) == ["by_id", "by_creation_time"]
    assert table.indexes["by_id"].fields == ("_id",)
    assert table.indexes["by_id"].key_fields == ("_id",)
    assert table.indexes["by_creation_time"].key_fields == ("_creationTime", "_id")
    assert table.indexes["by_id"].is_builtin


def test_index_chaining_and_key_fields() -> None:
    table = tasks().index("by_user", ["userId"]).index("by_priority", ["meta.priority", "title"])
    assert list(table.indexes) == ["by_id", "by_creation_time", "by_user", "by_priority"]
    by_user = table.indexes["by_user"]
    assert by_user == IndexDefinition("by_user", ("userId",))
    assert by_user.key_fields == ("userId", "_creationTime", "_id")
    assert not by_user.is_builtin
    assert index_id("tasks", "by_user") == "tasks.by_user"


def test_key_for() -> None:
    table = tasks().index("by_user", ["userId"]).index("by_priority", ["meta.priority", "title"])
    doc_id, user = new_id("tasks"), new_id("users")
    doc = {"_id": doc_id, "_creationTime": 1700.5, "title": "t", "userId": user}
    assert table.indexes["by_id"].key_for(doc) == encode_key([doc_id])
    assert table.indexes["by_creation_time"].key_for(doc) == encode_key([1700.5, doc_id])
    assert table.indexes["by_user"].key_for(doc) == encode_key([user, 1700.5, doc_id])
    assert table.indexes["by_priority"].key_for(doc) == encode_key(
        [MISSING, "t", 1700.5, doc_id]
    )
    doc["meta"] = {"priority": 2.0, "tags": []}
    assert table.indexes["by_priority"].key_for(doc) == encode_key([2.0, "t", 1700.5, doc_id])


def test_get_field() -> None:
    doc = {"a": {"b": {"c": None}}, "s": "text"}
    assert get_field(doc, "a.b.c") is None
    assert get_field(doc, "a.b") == {"c": None}
    assert get_field(doc, "a.x") is MISSING
    assert get_field(doc, "s.length") is MISSING
    assert get_field(doc, ["a", "b"]) == {"c": None}


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("by_id", ["title"], "index 'by_id': the name is reserved for a built-in index"),
        ("by_creation_time", ["title"], "reserved for a built-in index"),
        ("1st", ["title"], "index '1st': the name must match [A-Za-z_][A-Za-z0-9_]*"),
        ("by-title", ["title"], "the name must match"),
        ("by_title", [], "index 'by_title': expected 1 to 16 fields, got 0"),
        ("by_title", "title", "index 'by_title': fields must be a list of field names"),
        ("by_title", ["title", "title"], "index 'by_title': field 'title' is listed twice"),
        ("by_title", ["_id"], "index 'by_title': _id is added to every index automatically"),
        ("by_ct", ["title", "_creationTime"], "_creationTime is added to every index"),
        ("by_x", ["nope"], "index 'by_x': field 'nope' is not in the table's validator"),
        ("by_x", ["meta.nope"], "field 'meta.nope' is not in the table's validator"),
        ("by_x", ["a..b"], "index 'by_x': 'a..b' is not a field path"),
    ],
)
def test_index_errors(name: str, fields: object, message: str) -> None:
    with pytest.raises(SchemaError) as info:
        tasks().index(name, fields)  # type: ignore[arg-type]
    assert message in info.value.message


def test_index_limits() -> None:
    wide = define_table({f"f{i}": v.string() for i in range(17)})
    wide.index("sixteen", [f"f{i}" for i in range(16)])
    with pytest.raises(SchemaError, match="expected 1 to 16 fields, got 17"):
        wide.index("seventeen", [f"f{i}" for i in range(17)])
    table = define_table({"a": v.string()})
    for i in range(32):
        table.index(f"i{i}", ["a"])
    with pytest.raises(SchemaError, match="at most 32 indexes"):
        table.index("i32", ["a"])
    with pytest.raises(SchemaError, match="defined twice"):
        define_table({"a": v.string()}).index("x", ["a"]).index("x", ["a"])


def test_fields_are_not_checked_past_non_objects() -> None:
    table = tasks().index("by_extra", ["extra.deep.path"])
    assert "by_extra" in table.indexes
    schemaless_table("logs").index("by_anything", ["level", "a.b"])


def test_define_table_validators() -> None:
    define_table(v.object({"a": v.string()}))
    define_table(v.union(v.object({"kind": v.literal("a")}), v.object({"kind": v.literal("b")})))
    define_table(v.any())
    with pytest.raises(SchemaError, match="expected a dict of field validators"):
        define_table(v.string())
    with pytest.raises(SchemaError, match="field name '_secret' is reserved"):
        define_table({"_secret": v.string()})
    with pytest.raises(SchemaError, match="field name 'a-b' must match"):
        define_table({"a-b": v.string()})


def test_validate_document() -> None:
    table = tasks()
    user = new_id("users")
    doc = {"_id": "x", "_creationTime": 1.0, "title": "t", "userId": user, "extra": [1]}
    result = table.validate_document(doc)
    assert result == {"_id": "x", "_creationTime": 1.0, "title": "t", "userId": user,
                      "extra": [1.0]}
    assert type(result["extra"][0]) is float
    with pytest.raises(ValidationError) as info:
        table.validate_document({"title": 5, "userId": user}, "doc")
    assert info.value.message == "doc.title: expected string, got 5"
    with pytest.raises(ValidationError, match=r"doc\.userId: required field is missing"):
        table.validate_document({"title": "t"}, "doc")
    with pytest.raises(InvalidValueError, match="a document must be an object"):
        table.validate_document([1])


def test_validate_document_schemaless_still_checks_limits() -> None:
    table = schemaless_table("logs")
    assert table.name == "logs"
    assert list(table.indexes) == ["by_id", "by_creation_time"]
    assert table.validate_document({"n": 1, "_id": "x"}) == {"_id": "x", "n": 1.0}
    with pytest.raises(InvalidValueError, match="reserved"):
        table.validate_document({"_n": 1})
    with pytest.raises(InvalidValueError, match="more than the limit"):
        table.validate_document({"blob": b"x" * (1 << 20)})


def test_define_schema() -> None:
    schema = define_schema({"tasks": tasks(), "users": define_table({"name": v.string()})})
    assert isinstance(schema, SchemaDefinition)
    assert schema.schema_validation
    assert schema.table("tasks") is schema.tables["tasks"]
    assert schema.tables["tasks"].name == "tasks"
    assert schema.table("missing") is None
    loose = define_schema({"tasks": tasks()}, schema_validation=False)
    assert not loose.schema_validation
    assert loose.validate_document("tasks", {"title": 5}) == {"title": 5.0}
    with pytest.raises(ValidationError):
        schema.validate_document("tasks", {"title": 5})
    assert schema.validate_document("other", {"x": 1}) == {"x": 1.0}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("_system", "names starting with '_' are reserved"),
        ("my-table", "the name must match"),
        ("t" * 65, "at most 64 characters"),
        ("", "the name must match"),
    ],
)
def test_table_name_errors(name: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        define_schema({name: define_table({})})


def test_schema_errors() -> None:
    table = define_table({})
    define_schema({"a": table})
    with pytest.raises(SchemaError, match="already table 'a'"):
        define_schema({"b": table})
    with pytest.raises(SchemaError, match="expected define_table"):
        define_schema({"a": {"x": v.string()}})  # type: ignore[dict-item]


def test_table_hash_collisions_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from reactor.schema import tables as tables_module

    monkeypatch.setattr(tables_module, "table_hash", lambda name: b"same")
    with pytest.raises(SchemaError, match="tables 'a' and 'b' have the same id hash"):
        define_schema({"a": define_table({}), "b": define_table({})})


def write_schema(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "schema.py"
    path.write_text(textwrap.dedent(source))
    return path


def test_load_schema(tmp_path: Path) -> None:
    assert load_schema(tmp_path) is None
    write_schema(
        tmp_path,
        """
        from reactor.schema import define_schema, define_table
        from reactor.values import v

        schema = define_schema({"tasks": define_table({"title": v.string()}).index("t", ["title"])})
        """,
    )
    schema = load_schema(tmp_path)
    assert schema is not None and list(schema.tables) == ["tasks"]
    assert "t" in schema.tables["tasks"].indexes


def test_load_schema_reloads_edits(tmp_path: Path) -> None:
    header = "from reactor.schema import define_schema, define_table\n"
    write_schema(tmp_path, header + "schema = define_schema({'a': define_table({})})\n")
    first = load_schema(tmp_path)
    write_schema(tmp_path, header + "schema = define_schema({'b': define_table({})})\n")
    second = load_schema(tmp_path)
    assert first is not None and second is not None
    assert list(first.tables) == ["a"] and list(second.tables) == ["b"]


def test_load_schema_accepts_default_export(tmp_path: Path) -> None:
    write_schema(
        tmp_path,
        """
        from reactor.schema import define_schema
        default_export = define_schema({})
        """,
    )
    schema = load_schema(tmp_path)
    assert schema is not None and schema.tables == {}


@pytest.mark.parametrize(
    ("source", "line", "text"),
    [
        (
            """
            from reactor.schema import define_schema, define_table
            from reactor.values import v

            schema = define_schema({
                "tasks": define_table({"title": v.string()}).index("by_id", ["title"]),
            })
            """,
            6,
            "index 'by_id': the name is reserved for a built-in index",
        ),
        ("x = 1\ny = (\n", 2, "SyntaxError: '(' was never closed"),
        ("import os\n\nraise RuntimeError('boom')\n", 3, "RuntimeError: boom"),
        (
            """
            def helper():
                return {}["missing"]

            schema = helper()
            """,
            3,
            "KeyError: 'missing'",
        ),
    ],
)
def test_load_schema_errors_name_file_and_line(
    tmp_path: Path, source: str, line: int, text: str
) -> None:
    path = write_schema(tmp_path, source)
    with pytest.raises(SchemaError) as info:
        load_schema(tmp_path)
    assert info.value.message == f"{path.resolve()}:{line}: {text}"


def test_load_schema_without_schema_variable(tmp_path: Path) -> None:
    path = write_schema(tmp_path, "tables = {}\n")
    with pytest.raises(SchemaError, match="define a module-level `schema"):
        load_schema(tmp_path)
    write_schema(tmp_path, "schema = {'tasks': 1}\n")
    with pytest.raises(SchemaError) as info:
        load_schema(tmp_path)
    expected = f"{path.resolve()}: `schema` must come from define_schema(...), got dict"
    assert info.value.message == expected


def test_int64_documents_keep_their_type() -> None:
    table = define_table({"count": v.int64()})
    result = table.validate_document({"count": 3})
    assert type(result["count"]) is Int64
