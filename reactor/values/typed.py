"""Types for annotations: `Id["tasks"]` (a document id of one table) and `Doc` (a document).

They exist for editors and type checkers, and for validators derived from a
handler's signature. At run time an id is a plain `str` and a document a plain
`dict`.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeAlias, TypeVar

TableName = TypeVar("TableName")

Doc: TypeAlias = dict[str, Any]


class Id(str, Generic[TableName]):
    """The id of a document in one table: `Id["tasks"]`, or `Id[Literal["tasks"]]`.

    Both spellings mean the same at run time; type checkers read a bare string
    inside `[...]` as a forward reference, so code checked by mypy or pyright
    writes the `Literal` form (or an alias: `TaskId = Id[Literal["tasks"]]`).
    Ids are `str` values: an `Id` is accepted wherever a `str` is.
    """

    __slots__ = ()

    def __class_getitem__(cls, table: Any) -> Any:
        # `Id["tasks"]` means `Id[Literal["tasks"]]`: the table name is a type-level constant.
        if isinstance(table, str):
            table = Literal[table]
        return super().__class_getitem__(table)  # type: ignore[misc]


def id_table(annotation: Any) -> str | None:
    """The table named by `Id[Literal["tasks"]]`, or None when no single table is named."""
    arguments: tuple[Any, ...] = getattr(annotation, "__args__", ())
    if len(arguments) != 1 or getattr(arguments[0], "__origin__", None) is not Literal:
        return None
    tables: tuple[Any, ...] = arguments[0].__args__
    if len(tables) != 1 or not isinstance(tables[0], str):
        return None
    table: str = tables[0]
    return table
