"""Per-user settings with the original app's defaults; the row appears on the first change."""

from __future__ import annotations

from typing import Any, Final

from reactor import MISSING, MutationCtx, QueryCtx, mutation, query, v

from ._lib.authz import Doc, require_user
from ._lib.fields import present

SETTING_FIELDS: Final = ("memoriesEnabled", "autoPullRequest", "enableShadowWiki",
                         "enableIndexing", "selectedModels", "rules")


def defaults() -> Doc:
    """The settings of a user who never changed any."""
    return {"memoriesEnabled": True, "autoPullRequest": False, "enableShadowWiki": True,
            "enableIndexing": False, "selectedModels": []}


async def settings_row(ctx: QueryCtx, user_id: str) -> Doc | None:
    return await (ctx.db.query("userSettings")
                  .with_index("by_user", lambda q: q.eq("userId", user_id))
                  .unique())


def visible(row: Doc | None) -> Doc:
    """Defaults overlaid with what the row stores, without ids."""
    stored: Doc = {} if row is None else {name: row[name] for name in SETTING_FIELDS if name in row}
    return {**defaults(), **stored}


@query(args={})
async def get(ctx: QueryCtx) -> Doc:
    """The caller's settings (defaults for anything never set)."""
    user = await require_user(ctx)
    return visible(await settings_row(ctx, user["_id"]))


@mutation(args={"memoriesEnabled": v.optional(v.boolean()),
                "autoPullRequest": v.optional(v.boolean()),
                "enableShadowWiki": v.optional(v.boolean()),
                "enableIndexing": v.optional(v.boolean()),
                "selectedModels": v.optional(v.array(v.string())),
                "rules": v.optional(v.string())})
async def update(ctx: MutationCtx, rules: str | None = None, **changes: Any) -> Doc:
    """Change some settings; returns them all. `rules: ""` removes the custom rules."""
    user = await require_user(ctx)
    fields = present(changes)
    if rules is not None:
        fields["rules"] = rules if rules else MISSING
    row = await settings_row(ctx, user["_id"])
    if row is None:
        document = {**defaults(), **fields, "userId": user["_id"]}
        row_id = await ctx.db.insert("userSettings",
                                     {k: val for k, val in document.items() if val is not MISSING})
    else:
        row_id = row["_id"]
        await ctx.db.patch(row_id, fields)
    return visible(await ctx.db.get(row_id))
