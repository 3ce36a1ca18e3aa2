"""Functions declared by their signatures, called by the official client in Node."""

from __future__ import annotations

from typing import Any, Literal

from reactor import AppError, Int64, QueryCtx, mutation, query


@query
async def window(ctx: QueryCtx, limit: int = 2, tag: str | None = "absent",
                 order: Literal["asc", "desc"] = "asc") -> dict[str, Any]:
    """Echoes what arrived: an omitted argument is the default, a null stays null."""
    return {"limit": limit, "isInt": isinstance(limit, int), "tag": tag, "order": order}


@mutation
async def refuse(ctx: Any, limit: int) -> None:
    raise AppError("Too many", data={"limit": Int64(limit), "raw": b"\x01"})
