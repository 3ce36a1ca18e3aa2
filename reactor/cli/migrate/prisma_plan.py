"""What a Prisma schema becomes in Reactor: tables, fields, validators, indexes, and notes
on what does not map. Both `migrate prisma` (writes schema.py) and `migrate data` (copies
rows) work from this one plan, so the two agree on names and types.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from reactor.cli.migrate.prisma_schema import (
    Arg,
    Attribute,
    Call,
    Expr,
    Ident,
    Model,
    PrismaField,
    PrismaSchema,
)

# Defaults the database computes: Reactor has none, the inserting mutation sets them.
COMPUTED_DEFAULTS: Final = frozenset({"now", "autoincrement", "uuid", "cuid", "ulid",
                                      "nanoid", "dbgenerated", "sequence", "auto"})


class Choice(Enum):
    """`--bigint` and `--decimal`: how the types without an exact Reactor twin are stored."""

    INT64 = "int64"
    NUMBER = "number"
    STRING = "string"


@dataclass(slots=True)
class Column:
    """One stored field: where it comes from (column) and what it becomes (target)."""

    field: PrismaField
    column: str
    target: str
    validator: str
    # The model an id field points to (a foreign key rewritten to a Reactor id).
    ref_model: str | None = None
    # A remark for the field's line in schema.py (defaults, @updatedAt); `computed`
    # when it is a default the database computed, which the report lists too.
    comment: str | None = None
    computed: bool = False
    # Patched in a second pass: a reference inside a cycle of required-first order.
    deferred: bool = False


@dataclass(slots=True)
class TablePlan:
    model: Model
    table: str
    key_columns: list[str]
    columns: list[Column]
    indexes: list[tuple[str, list[str]]]
    notes: list[str] = field(default_factory=list)
    # The row's creation time (a required DateTime defaulting to now()): rows are copied
    # in its order, so `_creationTime` order is the original creation order.
    created_column: str | None = None

    def column(self, prisma_field: str) -> Column | None:
        return next((c for c in self.columns if c.field.name == prisma_field), None)


@dataclass(slots=True)
class Plan:
    schema: PrismaSchema
    # In copy order: a table comes after every table its required references point to.
    tables: list[TablePlan]
    enums: dict[str, str]  # enum name -> module-level variable name in schema.py
    notes: list[str] = field(default_factory=list)

    def table(self, model: str) -> TablePlan:
        return next(t for t in self.tables if t.model.name == model)


def lower_camel(name: str) -> str:
    """`ChatMessage` -> `chatMessage`; `URLCache` -> `urlCache`."""
    head = re.match(r"[A-Z]+(?=[A-Z][a-z]|$)|[A-Z]", name)
    if head is None:
        return name
    return head.group().lower() + name[head.end():]


def plural(name: str) -> str:
    """`memory` -> `memories`, `task` -> `tasks`, `box` -> `boxes` (English's usual rules)."""
    if re.search(r"[^aeiou]y$", name):
        return name[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", name):
        return name + "es"
    return name + "s"


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def table_candidates(model: Model) -> list[str]:
    """The Reactor table names a model may have, in order of preference: the Prisma
    client's accessor (`chatMessage`), its plural (`chatMessages`), the `@@map` name."""
    names = [lower_camel(model.name), plural(lower_camel(model.name))]
    if model.db_table != model.name:
        names.append(model.db_table)
    return list(dict.fromkeys(names))


def build_plan(schema: PrismaSchema, *, bigint: Choice = Choice.INT64,
               decimal: Choice = Choice.NUMBER,
               tables: dict[str, str] | None = None) -> Plan:
    """The plan for `schema`; `tables` overrides model -> table names."""
    overrides = tables or {}
    names = {m: overrides.get(m, lower_camel(m)) for m in schema.models}
    enums = {e: snake(e) for e in schema.enums}
    plan = Plan(schema, [], enums)
    for kind, name, line in schema.other_blocks:
        plan.notes.append(f"{kind} {name} (line {line}) is not migrated: only models the"
                          " Prisma client uses become tables")
    joins = _many_to_many(schema, plan)
    names.update({m.name: overrides.get(m.name, lower_camel(m.name)) for m in joins})
    unordered = [_table(schema, model, names, enums, bigint, decimal)
                 for model in [*schema.models.values(), *joins]]
    for join in unordered[len(schema.models):]:
        join.notes = []
    plan.tables = _copy_order(unordered)
    return plan


def _relation_name(f: PrismaField) -> str | None:
    relation = f.attribute("relation")
    name = relation.arg("name") if relation else None
    return name if isinstance(name, str) else None


def _many_to_many(schema: PrismaSchema, plan: Plan) -> list[Model]:
    """Two list fields of one relation, neither holding the key: Prisma's hidden join
    table (`_AToB`, or `_Name` for a named relation, columns A and B for the two models in
    name order). Each becomes a model of its own, so it is declared and copied like any
    other: one document per pair, two ids."""
    seen: set[tuple[str, str, str | None]] = set()
    joins: list[Model] = []
    for model in schema.models.values():
        for f in model.fields:
            other = schema.models.get(f.type)
            if other is None or not f.is_list:
                continue
            back = [g for g in other.fields if g.type == model.name and g.is_list
                    and g is not f and _relation_name(g) == _relation_name(f)]
            pair = (min(model.name, other.name), max(model.name, other.name))
            key = (*pair, _relation_name(f))
            if not back or key in seen:
                continue
            seen.add(key)
            name = _relation_name(f) or f"{pair[0]}To{pair[1]}"
            first, second = schema.models[pair[0]], schema.models[pair[1]]
            if len(first.id_fields) != 1 or len(second.id_fields) != 1:
                plan.notes.append(f"implicit many-to-many {name}: a side without a single"
                                  " @id; not migrated")
                continue
            joins.append(_join_model(name, first, second, f.line))
            plan.notes.append(f"implicit many-to-many between {pair[0]} and {pair[1]} (Prisma's"
                              f" join table _{name}): migrated as table {lower_camel(name)},"
                              " one document per pair")
    return joins


def _join_model(name: str, first: Model, second: Model, line: int) -> Model:
    same = first is second
    fields: list[PrismaField] = []
    keys: list[Expr] = []
    for column, side in (("A", first), ("B", second)):
        key_name = f"{lower_camel(side.name)}{column if same else ''}Id"
        id_field = side.field(side.id_fields[0])
        assert id_field is not None
        fields.append(PrismaField(key_name, id_field.type, False, False,
                                  [Attribute("map", (Arg(None, column),))], line))
        fields.append(PrismaField(f"{key_name}Relation", side.name, False, False, [Attribute(
            "relation", (Arg("fields", [Ident(key_name)]),
                         Arg("references", [Ident(id_field.name)])))], line))
        keys.append(Ident(key_name))
    attributes = [Attribute("map", (Arg(None, f"_{name}"),)),
                  Attribute("id", (Arg(None, keys),))]
    return Model(name, fields, attributes, line)


def _foreign_keys(model: Model, schema: PrismaSchema) -> dict[str, tuple[str, bool]]:
    """Scalar field -> (referenced model, whether it maps to an id); notes come later."""
    keys: dict[str, tuple[str, bool]] = {}
    for f in model.fields:
        relation = f.attribute("relation")
        target = schema.models.get(f.type)
        if relation is None or target is None:
            continue
        local, remote = relation.names("fields", None), relation.names("references", None)
        maps = len(local) == 1 and remote == target.id_fields and len(remote) == 1
        for name in local:
            keys[name] = (target.name, maps)
    return keys


def _table(schema: PrismaSchema, model: Model, names: dict[str, str], enums: dict[str, str],
           bigint: Choice, decimal: Choice) -> TablePlan:
    keys = model.id_fields
    plan = TablePlan(model, names[model.name], keys, [], [])
    foreign = _foreign_keys(model, schema)
    single_id = keys[0] if len(keys) == 1 else None
    if len(keys) > 1:
        plan.notes.append(f"composite id ({', '.join(keys)}): documents get a new _id; the"
                          " fields stay, with an index on them; keep them unique in the"
                          " mutations that write (look the key up first)")
    elif not keys:
        plan.notes.append("no @id: rows are told apart by all their columns when copied")
    left_out = {name for _, name, _ in schema.other_blocks}
    for f in model.fields:
        if f.type in schema.models:
            _relation_note(plan, f, schema)
            continue
        if f.type in left_out:
            plan.notes.append(f"{f.name}: its type {f.type} is not migrated, nor is it")
            continue
        if f.name == single_id:
            continue
        if f.type.startswith("Unsupported("):
            plan.notes.append(f"{f.name}: {f.type} has no Reactor type and is not migrated")
            continue
        target = f"{lower_camel(model.name)}Id" if f.name == "id" else f.name
        ref = foreign.get(f.name)
        if ref is not None and ref[1]:
            inner = f'v.id("{names[ref[0]]}")'
        else:
            inner = _scalar(f.type, enums, bigint, decimal)
            if ref is not None:
                plan.notes.append(f"{f.name} references {ref[0]} by a field that is not its"
                                  " single id: kept as a plain value")
        validator = f"v.array({inner})" if f.is_list else inner
        if f.optional:
            validator = f"v.optional({validator})"
        column = Column(f, f.column, target, validator,
                        ref[0] if ref is not None and ref[1] else None)
        plan.columns.append(column)
        _default_note(column)
        if (_default_call(f) == "now" and f.type == "DateTime" and not f.optional
                and plan.created_column is None):
            plan.created_column = f.column
    _indexes(plan, foreign)
    return plan


def _scalar(type_name: str, enums: dict[str, str], bigint: Choice, decimal: Choice) -> str:
    if type_name in enums:
        return enums[type_name]
    match type_name:
        case "String":
            return "v.string()"
        case "Boolean":
            return "v.boolean()"
        case "Int" | "Float" | "DateTime":
            return "v.number()"
        case "BigInt":
            return "v.int64()" if bigint is Choice.INT64 else "v.number()"
        case "Decimal":
            return "v.string()" if decimal is Choice.STRING else "v.number()"
        case "Json":
            return "v.any()"
        case "Bytes":
            return "v.bytes()"
    return "v.any()"


def _relation_note(plan: TablePlan, f: PrismaField, schema: PrismaSchema) -> None:
    relation = f.attribute("relation")
    action = relation.arg("onDelete", None) if relation else None
    if action is not None:
        name = getattr(action, "name", action)
        plan.notes.append(f"{f.name}: onDelete {name} is not enforced by Reactor; do it in the"
                          " mutation that deletes")


def _default_call(f: PrismaField) -> str | None:
    """The function of a `@default(fn())`: now, uuid, autoincrement..."""
    default = f.attribute("default")
    value = default.arg("value") if default else None
    return value.name if isinstance(value, Call) else None


def _default_note(column: Column) -> None:
    f = column.field
    if f.attribute("updatedAt") is not None:
        column.comment = "@updatedAt: set it in every mutation that writes"
    default = f.attribute("default")
    if default is None:
        return
    value = default.arg("value")
    if isinstance(value, Call) and value.name in COMPUTED_DEFAULTS:
        column.computed = True
        column.comment = (f"default {value.name}() was computed by the database: set it in"
                          " the mutation that inserts")
    else:
        shown = getattr(value, "name", value)
        column.comment = f"default {json.dumps(shown)}: set it in the mutation that inserts"


def _indexes(plan: TablePlan, foreign: dict[str, tuple[str, bool]]) -> None:
    targets = {c.field.name: c.target for c in plan.columns}
    wanted: list[list[str]] = []
    model = plan.model
    if len(plan.key_columns) > 1:
        wanted.append(plan.key_columns)
    for f in model.fields:
        if f.attribute("unique") is not None and f.name in targets:
            wanted.append([f.name])
            plan.notes.append(f"{f.name} is @unique: an index is declared; keeping it unique is"
                              " the writing mutations' job")
    for attribute in model.block_attributes("unique"):
        wanted.append(attribute.names("fields"))
        plan.notes.append(f"@@unique({', '.join(attribute.names('fields'))}): an index is"
                          " declared; keeping it unique is the writing mutations' job")
    for attribute in model.block_attributes("index"):
        wanted.append(attribute.names("fields"))
    for attribute in model.block_attributes("fulltext"):
        plan.notes.append(f"@@fulltext({', '.join(attribute.names('fields'))}): declare a"
                          " search_index instead (docs/guide/search.md)")
    for name in foreign:
        if not any(w and w[0] == name for w in wanted):
            wanted.append([name])
    seen: set[tuple[str, ...]] = set()
    for fields in wanted:
        if any(f not in targets for f in fields):
            continue
        mapped = [targets[f] for f in fields]
        if tuple(mapped) in seen:
            continue
        seen.add(tuple(mapped))
        plan.indexes.append(("by_" + "_".join(mapped), mapped))


def _copy_order(tables: list[TablePlan]) -> list[TablePlan]:
    """Tables ordered so references point backwards; a reference that cannot (a cycle,
    a self-reference) is deferred: copied empty first, patched in a second pass."""
    done: list[TablePlan] = []
    placed: set[str] = set()
    pending = list(tables)
    while pending:
        ready = [t for t in pending
                 if all(c.ref_model in placed or c.ref_model is None
                        or c.ref_model == t.model.name for c in t.columns)]
        if not ready:
            # A cycle: place the table whose unresolved references are all optional,
            # and defer those; failing that, the first one left.
            def unresolved(t: TablePlan) -> list[Column]:
                return [c for c in t.columns if c.ref_model is not None
                        and c.ref_model not in placed and c.ref_model != t.model.name]
            ready = [next((t for t in pending
                           if all(c.field.optional for c in unresolved(t))), pending[0])]
            for c in unresolved(ready[0]):
                c.deferred = True
        for t in ready:
            for c in t.columns:
                if c.ref_model == t.model.name:
                    c.deferred = True
            done.append(t)
            placed.add(t.model.name)
            pending.remove(t)
    for t in done:
        for c in t.columns:
            if c.deferred and not c.field.optional:
                t.notes.append(f"{c.field.name} is a required reference in a cycle: the copy"
                               " cannot write it after its target; make it v.optional")
    return done
