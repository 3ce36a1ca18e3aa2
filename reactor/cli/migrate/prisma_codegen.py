"""`reactor migrate prisma`: a Prisma schema written out as a Reactor `schema.py`."""

from __future__ import annotations

import json

from reactor.cli.migrate.prisma_plan import Plan, TablePlan


def render_schema(plan: Plan) -> str:
    """The text of schema.py: enums as module-level unions, one define_table per model,
    every note as a comment above what it is about."""
    lines = [f'"""Reactor schema generated from {plan.schema.path} by `reactor migrate prisma`.',
             "",
             "Review the NOTE comments: each is something Prisma did that Reactor leaves to",
             "the app's mutations (or that was not migrated).",
             '"""', "", "from reactor import define_schema, define_table, v", ""]
    for note in plan.notes:
        lines.append(f"# NOTE: {note}")
    if plan.notes:
        lines.append("")
    for name, variable in plan.enums.items():
        literals = [f"v.literal({json.dumps(e.name)})" for e in plan.schema.enums[name].values]
        lines.append(f"# enum {name}")
        one_line = f"{variable} = v.union({', '.join(literals)})"
        if len(one_line) <= 96:
            lines.append(one_line)
        else:
            lines += [f"{variable} = v.union(", *(f"    {item}," for item in literals), ")"]
    lines += ["", "schema = define_schema({"]
    for table in sorted(plan.tables, key=lambda t: t.model.line):
        lines += _table(table)
    lines += ["})", ""]
    return "\n".join(lines)


def _table(table: TablePlan) -> list[str]:
    lines = [f"    # model {table.model.name} (PostgreSQL table \"{table.model.db_table}\")"]
    lines += [f"    # NOTE: {note}" for note in table.notes]
    lines.append(f'    "{table.table}": define_table({{')
    for column in table.columns:
        remarks = [] if column.target == column.field.name else [f"was {column.field.name}"]
        remarks += [column.comment] if column.comment else []
        comment = f"  # {'; '.join(remarks)}" if remarks else ""
        lines.append(f'        "{column.target}": {column.validator},{comment}')
    closing = "    })"
    for name, fields in table.indexes:
        closing += f'\n    .index("{name}", {json.dumps(fields)})'
    lines.append(closing + ",")
    return lines


def report_lines(plan: Plan) -> list[str]:
    """What did not map, one line each, for the terminal."""
    lines = [f"note: {note}" for note in plan.notes]
    for table in plan.tables:
        lines += [f"note: {table.model.name}.{note}" if _is_field_note(table, note)
                  else f"note: {table.model.name}: {note}" for note in table.notes]
        lines += [f"note: {table.model.name}.{c.field.name}: {c.comment}"
                  for c in table.columns if c.computed]
    return lines


def _is_field_note(table: TablePlan, note: str) -> bool:
    head = note.split(":", 1)[0].split(" ", 1)[0]
    return table.model.field(head) is not None
