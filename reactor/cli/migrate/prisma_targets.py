"""Where each Prisma model's rows go in an existing app's schema, and how a row becomes a
document there."""

from __future__ import annotations

import datetime
import decimal
import json
from dataclasses import dataclass
from typing import Any

from reactor.cli.migrate.prisma_plan import Column, Plan, TablePlan, table_candidates
from reactor.errors import ReactorError
from reactor.schema import SchemaDefinition
from reactor.values import ArrayValidator, ObjectValidator, OptionalValidator, Validator
from reactor.values.scalar_validators import StringValidator


class MigrationTargetError(ReactorError):
    code = "MigrationTargetMismatch"


@dataclass(slots=True)
class Target:
    """A table plan tied to the app's table: its validator per copied column."""

    plan: TablePlan
    table: str
    validators: dict[str, Validator]


def resolve_targets(plan: Plan, schema: SchemaDefinition | None,
                    overrides: dict[str, str]) -> list[Target]:
    """Match every model to a table of the app's schema (see `table_candidates`) and
    every copied field to a declared field; a mismatch is an error listing all of them."""
    if schema is None:
        raise MigrationTargetError("the app has no schema.py: write one first (`reactor"
                                   " migrate prisma schema.prisma --out schema.py`)")
    problems: list[str] = []
    targets: list[Target] = []
    for table_plan in plan.tables:
        model = table_plan.model
        names = [overrides[model.name]] if model.name in overrides else table_candidates(model)
        table = next((n for n in names if schema.table(n) is not None), None)
        if table is None:
            problems.append(f"model {model.name}: no table {' or '.join(names)} in schema.py"
                            " (name it so, or pass --table "
                            f"{model.name}=TABLE)")
            continue
        definition = schema.table(table)
        validator = definition.validator if definition is not None else None
        if not isinstance(validator, ObjectValidator):
            problems.append(f"model {model.name}: table {table} must be declared with a dict"
                            " of fields")
            continue
        declared = validator.fields
        for column in table_plan.columns:
            if column.target not in declared:
                problems.append(f"model {model.name}: field {column.field.name} has no field"
                                f" {column.target} in table {table}")
        copied = {c.target for c in table_plan.columns}
        for name, field_validator in declared.items():
            if name not in copied and not field_validator.is_optional:
                problems.append(f"table {table}: required field {name} has no source in"
                                f" model {model.name}")
        targets.append(Target(table_plan, table,
                              {c.target: declared[c.target] for c in table_plan.columns
                               if c.target in declared}))
    if problems:
        raise MigrationTargetError("the Prisma schema does not fit the app's schema.py:\n  "
                                   + "\n  ".join(problems))
    return targets


def row_key(values: list[Any]) -> str:
    """A row's primary key as the text the mapping table stores."""
    return json.dumps([_key_part(value) for value in values], separators=(",", ":"))


def _key_part(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return str(value)


def to_millis(value: datetime.datetime | datetime.date) -> float:
    """Milliseconds since 1970 UTC; Prisma writes `timestamp(3)` without a zone, in UTC.
    Computed from whole microseconds, so 8.014 s is 8014.0, not 8013.999999999999."""
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return ((value - _EPOCH) // _MICROSECOND) / 1000


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


def convert(column: Column, value: Any, validator: Validator,
            enum_names: dict[str, dict[str, str]]) -> Any:
    """One column's value as the document field wants it (ids are rewritten elsewhere)."""
    if column.field.is_list:
        # Prisma leaves list columns nullable; the field is a (possibly empty) list.
        items = value if isinstance(value, list) else []
        inner = validator.item if isinstance(validator, ArrayValidator) else validator
        return [_convert_one(column, item, inner, enum_names) for item in items]
    return _convert_one(column, value, validator, enum_names)


def _convert_one(column: Column, value: Any, validator: Validator,
                 enum_names: dict[str, dict[str, str]]) -> Any:
    type_name = column.field.type
    if value is None:
        return None
    if isinstance(value, (datetime.datetime, datetime.date)):
        return to_millis(value)
    if isinstance(value, decimal.Decimal):
        inner = validator.inner if isinstance(validator, OptionalValidator) else validator
        return str(value) if isinstance(inner, StringValidator) else float(value)
    if isinstance(value, memoryview):
        return bytes(value)
    if type_name in enum_names:
        return enum_names[type_name].get(value, value)
    return value
