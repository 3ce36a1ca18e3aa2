"""Reading a `schema.prisma` file: models, fields, enums and their attributes.

Hand-written on purpose: Prisma's own parser is a Rust crate shipped as a Node
(WASM) package, and no maintained pure-Python parser of the schema language
exists. The language is small and line-oriented (a field or an attribute per
line), so a tokenizer and a recursive reader of attribute arguments cover it;
anything it does not know is an error naming the file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeAlias

from reactor.cli.migrate.prisma_tokens import PrismaSchemaError, Reader, Token, tokenize

SCALAR_TYPES: Final = frozenset({"String", "Boolean", "Int", "BigInt", "Float", "Decimal",
                                 "DateTime", "Json", "Bytes"})


@dataclass(frozen=True, slots=True)
class Call:
    """A function in an argument: `now()`, `dbgenerated("...")`, `env("URL")`."""

    name: str
    args: tuple[Arg, ...]


@dataclass(frozen=True, slots=True)
class Ident:
    """A bare name in an argument: `Cascade`, `Desc`, a field name."""

    name: str


Expr: TypeAlias = "str | int | float | bool | Ident | Call | list[Expr]"


@dataclass(frozen=True, slots=True)
class Arg:
    name: str | None
    value: Expr


@dataclass(frozen=True, slots=True)
class Attribute:
    """`@default(now())` is Attribute("default", ...); `@db.VarChar(9)` is "db.VarChar"."""

    name: str
    args: tuple[Arg, ...]

    def arg(self, name: str, position: int | None = 0) -> Expr | None:
        """The argument called `name`, or the unnamed one at `position`."""
        unnamed = [a.value for a in self.args if a.name is None]
        for a in self.args:
            if a.name == name:
                return a.value
        if position is not None and position < len(unnamed):
            return unnamed[position]
        return None

    def names(self, name: str, position: int | None = 0) -> list[str]:
        """A list-of-fields argument (`[a, b(sort: Desc)]`) as the field names."""
        value = self.arg(name, position)
        items = value if isinstance(value, list) else [] if value is None else [value]
        return [item.name if isinstance(item, (Ident, Call)) else str(item) for item in items]


@dataclass(slots=True)
class PrismaField:
    name: str
    type: str
    is_list: bool
    optional: bool
    attributes: list[Attribute]
    line: int

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)

    @property
    def column(self) -> str:
        """The column in the database (`@map`), else the field's name."""
        mapped = self.attribute("map")
        value = mapped.arg("name") if mapped else None
        return value if isinstance(value, str) else self.name


@dataclass(slots=True)
class Model:
    name: str
    fields: list[PrismaField]
    attributes: list[Attribute]
    line: int

    def field(self, name: str) -> PrismaField | None:
        return next((f for f in self.fields if f.name == name), None)

    def block_attributes(self, name: str) -> list[Attribute]:
        return [a for a in self.attributes if a.name == name]

    @property
    def db_table(self) -> str:
        """The table in the database (`@@map`), else the model's name."""
        mapped = self.block_attributes("map")
        value = mapped[0].arg("name") if mapped else None
        return value if isinstance(value, str) else self.name

    @property
    def db_schema(self) -> str | None:
        """The PostgreSQL schema of the table (`@@schema`, with multiSchema), if given."""
        given = self.block_attributes("schema")
        value = given[0].arg("name") if given else None
        return value if isinstance(value, str) else None

    @property
    def id_fields(self) -> list[str]:
        """The primary key: the `@id` field, or the fields of `@@id([...])`."""
        single = [f.name for f in self.fields if f.attribute("id")]
        if single:
            return single
        composite = self.block_attributes("id")
        return composite[0].names("fields") if composite else []


@dataclass(slots=True)
class EnumValue:
    name: str
    db_value: str


@dataclass(slots=True)
class PrismaEnum:
    name: str
    values: list[EnumValue]
    db_name: str
    line: int


@dataclass(slots=True)
class PrismaSchema:
    path: str
    models: dict[str, Model] = field(default_factory=dict)
    enums: dict[str, PrismaEnum] = field(default_factory=dict)
    # Blocks read but not migrated (`type` of MongoDB, `view`): (kind, name, line).
    other_blocks: list[tuple[str, str, int]] = field(default_factory=list)
    provider: str | None = None


def parse_prisma(text: str, path: str = "schema.prisma") -> PrismaSchema:
    """Parse the text of a Prisma schema; errors name the file and line."""
    reader = Reader(tokenize(text, path), path)
    schema = PrismaSchema(path)
    while True:
        reader.skip_newlines()
        token = reader.peek()
        if token.kind == "end":
            break
        keyword = reader.name("model, enum, datasource, generator, type or view")
        name = reader.name(f"a name after {keyword}")
        match keyword:
            case "model":
                if name in schema.models:
                    raise PrismaSchemaError(f"{path}:{token.line}: model {name} is declared"
                                            " twice")
                schema.models[name] = _model(reader, name, token.line)
            case "enum":
                schema.enums[name] = _enum(reader, name, token.line)
            case "datasource" | "generator":
                settings = _settings(reader)
                if keyword == "datasource" and isinstance(settings.get("provider"), str):
                    schema.provider = str(settings["provider"])
            case "type" | "view":
                _model(reader, name, token.line)
                schema.other_blocks.append((keyword, name, token.line))
            case _:
                raise reader.fail("model, enum, datasource, generator, type or view", token)
    _leave_out_ignored(schema)
    _check_types(schema)
    return schema


def read_prisma(path: Path) -> PrismaSchema:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PrismaSchemaError(f"cannot read {path}: {error.strerror}") from None
    return parse_prisma(text, str(path))


def _block_lines(reader: Reader) -> list[list[Token]]:
    """The lines of a `{ ... }` block; brackets may span lines."""
    reader.expect("{")
    lines: list[list[Token]] = []
    current: list[Token] = []
    depth = 0
    while True:
        token = reader.next()
        if token.kind == "end":
            raise reader.fail("'}'", token)
        if token.kind == "newline":
            if depth == 0 and current:
                lines.append(current)
                current = []
            continue
        if token.kind == "punct" and token.text == "}" and depth == 0:
            if current:
                lines.append(current)
            return lines
        if token.kind == "punct" and token.text in "([":
            depth += 1
        elif token.kind == "punct" and token.text in ")]":
            depth -= 1
        current.append(token)


def _line_reader(line: list[Token], path: str) -> Reader:
    return Reader([*line, Token("end", "", line[-1].line)], path)


def _model(reader: Reader, name: str, line: int) -> Model:
    model = Model(name, [], [], line)
    for tokens in _block_lines(reader):
        inner = _line_reader(tokens, reader.path)
        if inner.peek().text == "@@":
            inner.next()
            model.attributes.append(_attribute(inner))
        else:
            model.fields.append(_field(inner))
        if inner.peek().kind != "end":
            raise inner.fail("end of line")
    return model


def _field(reader: Reader) -> PrismaField:
    line = reader.peek().line
    name = reader.name("a field name")
    type_name = reader.name(f"the type of field {name}")
    if type_name == "Unsupported" and reader.peek().text == "(":
        reader.next()
        described = reader.next().text
        reader.expect(")")
        type_name = f"Unsupported({described})"
    is_list = optional = False
    if reader.peek().text == "[":
        reader.next()
        reader.expect("]")
        is_list = True
    if reader.peek().text == "?":
        reader.next()
        optional = True
    attributes: list[Attribute] = []
    while reader.peek().text == "@":
        reader.next()
        attributes.append(_attribute(reader))
    return PrismaField(name, type_name, is_list, optional, attributes, line)


def _attribute(reader: Reader) -> Attribute:
    name = reader.name("an attribute name")
    args: tuple[Arg, ...] = ()
    if reader.peek().text == "(":
        args = _args(reader, ")")
    return Attribute(name, args)


def _args(reader: Reader, close: str) -> tuple[Arg, ...]:
    reader.next()
    args: list[Arg] = []
    while reader.peek().text != close:
        named: str | None = None
        if (reader.peek().kind == "name"
                and reader.tokens[reader.at + 1].text == ":"):
            named = reader.next().text
            reader.next()
        args.append(Arg(named, _expr(reader)))
        if reader.peek().text == ",":
            reader.next()
        elif reader.peek().text != close:
            raise reader.fail(f"',' or {close!r}")
    reader.next()
    return tuple(args)


def _expr(reader: Reader) -> Expr:
    token = reader.next()
    if token.kind == "string":
        value = json.loads(token.text)
        return str(value)
    if token.kind == "number":
        return float(token.text) if "." in token.text else int(token.text)
    if token.text == "[":
        items: list[Expr] = []
        while reader.peek().text != "]":
            items.append(_expr(reader))
            if reader.peek().text == ",":
                reader.next()
            elif reader.peek().text != "]":
                raise reader.fail("',' or ']'")
        reader.next()
        return items
    if token.kind == "name":
        if token.text in ("true", "false"):
            return token.text == "true"
        if reader.peek().text == "(":
            return Call(token.text, _args(reader, ")"))
        return Ident(token.text)
    raise reader.fail("a value", token)


def _enum(reader: Reader, name: str, line: int) -> PrismaEnum:
    enum = PrismaEnum(name, [], name, line)
    for tokens in _block_lines(reader):
        inner = _line_reader(tokens, reader.path)
        if inner.peek().text == "@@":
            inner.next()
            attribute = _attribute(inner)
            mapped = attribute.arg("name")
            if attribute.name == "map" and isinstance(mapped, str):
                enum.db_name = mapped
            continue
        value = inner.name(f"a value of enum {name}")
        db_value = value
        while inner.peek().text == "@":
            inner.next()
            attribute = _attribute(inner)
            mapped = attribute.arg("name")
            if attribute.name == "map" and isinstance(mapped, str):
                db_value = mapped
        enum.values.append(EnumValue(value, db_value))
    return enum


def _settings(reader: Reader) -> dict[str, Expr]:
    settings: dict[str, Expr] = {}
    for tokens in _block_lines(reader):
        inner = _line_reader(tokens, reader.path)
        key = inner.name("a setting name")
        inner.expect("=")
        settings[key] = _expr(inner)
    return settings


def _leave_out_ignored(schema: PrismaSchema) -> None:
    """`@@ignore` models and `@ignore` fields are not part of the app (its Prisma client
    has no access to them either), so they are neither declared nor copied."""
    for name, model in list(schema.models.items()):
        if model.block_attributes("ignore"):
            del schema.models[name]
            schema.other_blocks.append(("ignored model", name, model.line))
        else:
            model.fields = [f for f in model.fields if f.attribute("ignore") is None]


def _check_types(schema: PrismaSchema) -> None:
    known = SCALAR_TYPES | set(schema.models) | set(schema.enums)
    known |= {name for _, name, _ in schema.other_blocks}
    for model in schema.models.values():
        for f in model.fields:
            if f.type not in known and not f.type.startswith("Unsupported("):
                raise PrismaSchemaError(f"{schema.path}:{f.line}: field {model.name}.{f.name}"
                                        f" has unknown type {f.type}")
