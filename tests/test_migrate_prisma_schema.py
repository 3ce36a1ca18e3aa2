"""`reactor migrate prisma`: the Prisma schema reader and the schema.py it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reactor.cli.main import main
from reactor.cli.migrate.prisma_codegen import render_schema
from reactor.cli.migrate.prisma_plan import build_plan, table_candidates
from reactor.cli.migrate.prisma_schema import (
    SCALAR_TYPES,
    PrismaSchemaError,
    parse_prisma,
    read_prisma,
)
from reactor.runtime.loader import load_app, unload_app
from reactor.schema import SchemaDefinition
from reactor.values import OptionalValidator

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]


def generate(tmp_path: Path, fixture: str, *extra: str) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    with pytest.raises(SystemExit) as end:
        main(["migrate", "prisma", str(FIXTURES / fixture), "--out", str(app / "schema.py"),
              *extra])
    assert end.value.code == 0
    return app


def loaded_schema(app: Path) -> SchemaDefinition:
    loaded = load_app(app)
    try:
        assert loaded.schema is not None
        return loaded.schema
    finally:
        unload_app(loaded)


def index_fields(schema: SchemaDefinition, table: str) -> set[tuple[str, ...]]:
    definition = schema.tables[table]
    return {tuple(i.fields) for name, i in definition.indexes.items()
            if name not in ("by_id", "by_creation_time")}


def test_the_seed_schema_becomes_the_example_apps_tables(tmp_path: Path) -> None:
    """Oracle: the example app's hand-written schema.py, a port of the same 13 models."""
    generated = loaded_schema(generate(tmp_path, "seed.prisma"))
    example = loaded_schema(REPO)
    prisma = read_prisma(FIXTURES / "seed.prisma")
    assert len(prisma.models) == 13 and len(generated.tables) == 13
    differences: set[str] = set()
    extra_indexes: set[str] = set()
    renamed = {table_candidates(model)[0]: next(n for n in table_candidates(model)
                                                if n in example.tables)
               for model in prisma.models.values()}

    def in_example(description: str) -> str:
        for mine, theirs in renamed.items():
            description = description.replace(f'Id<"{mine}">', f'Id<"{theirs}">')
        return description

    for model in prisma.models.values():
        mine = table_candidates(model)[0]
        theirs = renamed[mine]
        ours_fields = generated.tables[mine].validator.fields  # type: ignore[union-attr]
        their_fields = example.tables[theirs].validator.fields  # type: ignore[union-attr]
        assert set(ours_fields) <= set(their_fields), model.name
        for name, validator in ours_fields.items():
            other = their_fields[name]
            assert isinstance(validator, OptionalValidator) == isinstance(
                other, OptionalValidator), f"{model.name}.{name}"
            if in_example(validator.describe()) != other.describe():
                differences.add(f"{theirs}.{name}")
        missing = index_fields(generated, mine) - index_fields(example, theirs)
        extra_indexes |= {f"{theirs}.{'.'.join(fields)}" for fields in missing}
        for name in their_fields.keys() - ours_fields.keys():
            assert their_fields[name].is_optional, f"{theirs}.{name} has no source"
    # The example app gives these a shape Prisma's Json / String cannot say.
    assert differences == {"chatMessages.metadata", "chatMessages.finishReason"}
    # Relations get an index; the example app reads these two without one.
    assert extra_indexes == {"tasks.codebaseUnderstandingId", "chatMessages.stackedTaskId"}


def test_what_does_not_map_is_commented_in_the_output(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    app = generate(tmp_path, "kinds.prisma", "--bigint", "number", "--decimal", "string")
    text = (app / "schema.py").read_text()
    reported = capsys.readouterr().err
    for expected in ("implicit many-to-many between Tag and Team",
                     "composite id (personId, club)",
                     "ignored model Old (line 69) is not migrated"):
        assert expected in text and expected in reported
    assert '"since": v.number(),  # default now() was computed by the database' in text
    assert "Membership.since: default now() was computed by the database" in reported
    assert '"secret"' not in text and '"old"' not in text
    assert '"big": v.number(),' in text and '"price": v.string(),' in text
    assert 'level = v.union(v.literal("LOW"), v.literal("HIGH"))' in text
    schema = loaded_schema(app)
    assert index_fields(schema, "membership") == {("personId", "club")}
    assert index_fields(schema, "tagToTeam") == {("tagId", "teamId"), ("teamId",)}
    assert index_fields(schema, "person") == {("teamId",), ("managerId",)}
    assert schema.tables["team"].validator.fields["leadId"].describe() == 'Id<"person">'  # type: ignore[union-attr]


def test_an_existing_out_file_is_kept_without_force(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "schema.py"
    target.write_text("# mine\n")
    with pytest.raises(SystemExit) as end:
        main(["migrate", "prisma", str(FIXTURES / "kinds.prisma"), "--out", str(target)])
    assert end.value.code == 1
    assert "error [BadArguments]:" in capsys.readouterr().err
    assert target.read_text() == "# mine\n"


@pytest.mark.parametrize(("text", "message"), [
    ("model A {\n  id Int @id\n  b Strin\n}\n", "x.prisma:3: field A.b has unknown type Strin"),
    ("model A {\n  id Int @id @default(\n}\n", "x.prisma:"),
    ("model A {\n  id Int @id\n", "x.prisma:3: expected '}', got end of file"),
    ("modle A {}\n", "x.prisma:1: expected model, enum"),
    ("model A {\n  id Int @id\n}\nmodel A {\n  id Int @id\n}\n",
     "x.prisma:4: model A is declared twice"),
])
def test_bad_schemas_are_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(PrismaSchemaError) as caught:
        parse_prisma(text, "x.prisma")
    assert caught.value.code == "PrismaSchemaInvalid"
    assert caught.value.message.startswith(message), caught.value.message


NAMES = st.from_regex(r"[a-z][A-Za-z0-9]{0,10}", fullmatch=True).filter(
    lambda name: name not in ("true", "false"))
FIELD = st.fixed_dictionaries({
    "type": st.sampled_from(sorted(SCALAR_TYPES | {"Mood"})),
    "shape": st.sampled_from(["", "?", "[]"]),
    "column": st.none() | NAMES,
    "unique": st.booleans(),
    "doc": st.none() | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
})


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(NAMES.filter(lambda n: n != "id"), FIELD, min_size=1, max_size=8))
def test_fields_read_back_as_written(fields: dict[str, dict[str, object]]) -> None:
    """Oracle: the description the text was made from."""
    lines = ["enum Mood {", "  HAPPY", '  SAD @map("sad")', "}", "", "model Thing {",
             "  id String @id @default(uuid())"]
    for name, spec in fields.items():
        attributes = ""
        if spec["column"] is not None:
            attributes += f" @map({json.dumps(spec['column'])})"
        if spec["unique"]:
            attributes += " @unique"
        if spec["doc"] is not None:
            lines.append(f"  /// {spec['doc']}")
        lines.append(f"  {name} {spec['type']}{spec['shape']}{attributes} // note")
    lines += ["", '  @@map("things")', "}"]
    schema = parse_prisma("\n".join(lines))
    model = schema.models["Thing"]
    assert model.db_table == "things" and model.id_fields == ["id"]
    assert [e.db_value for e in schema.enums["Mood"].values] == ["HAPPY", "sad"]
    for name, spec in fields.items():
        field = model.field(name)
        assert field is not None
        assert field.type == spec["type"]
        assert field.optional == (spec["shape"] == "?")
        assert field.is_list == (spec["shape"] == "[]")
        assert field.column == (spec["column"] or name)
        assert (field.attribute("unique") is not None) == spec["unique"]
    plan = build_plan(schema)
    table = plan.table("Thing")
    assert [c.target for c in table.columns] == list(fields)
    unique = {name for name, spec in fields.items() if spec["unique"]}
    assert {name for name, _ in table.indexes} == {f"by_{name}" for name in unique}
    compile(render_schema(plan), "schema.py", "exec")


def test_a_schema_that_does_not_fit_is_refused_with_every_mismatch() -> None:
    from reactor.cli.migrate.prisma_targets import MigrationTargetError, resolve_targets

    plan = build_plan(read_prisma(FIXTURES / "kinds.prisma"))
    with pytest.raises(MigrationTargetError) as caught:
        resolve_targets(plan, loaded_schema(REPO), {"Person": "users"})
    message = caught.value.message
    assert caught.value.code == "MigrationTargetMismatch"
    assert "model Team: no table team or teams" in message
    assert "model Person: field teamId has no field teamId in table users" in message
    assert "table users: required field email has no source in model Person" in message
    assert "model Tag: no table tag or tags" in message
