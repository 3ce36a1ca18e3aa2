"""`ctx.run_query` / `ctx.run_mutation` inside a query or mutation: a sub-transaction.

The called function runs in the caller's transaction, at its snapshot, seeing
its writes: its reads join the caller's read set (the caller is re-run, or
conflicts, when they change) and its writes are the caller's. A nested mutation
that raises is rolled back alone (`Transaction.savepoint`), and its exception
reaches the caller as raised — an `AppError` stays an `AppError` — so the
caller may catch it and go on; whatever the caller then commits does not
include the failed call's writes.
"""

from __future__ import annotations

from typing import Any

from reactor.errors import InvalidValueError, LimitExceededError
from reactor.runtime.context import FunctionRef, MutationCtx, QueryCtx, resolve_in
from reactor.runtime.functions import FunctionDefinition, FunctionKind
from reactor.runtime.runner import check_returns, prepare_args

# Calls within calls, counted from the function the client called.
MAX_DEPTH = 8


def _definition(ctx: QueryCtx, fn: FunctionRef, kind: FunctionKind) -> FunctionDefinition:
    resolve = ctx.resolver()
    if isinstance(fn, FunctionDefinition):
        ctx.scope.check_callee(fn.path)
        definition = fn
    elif resolve is None:
        raise InvalidValueError(f"ctx.run_{kind.value} here takes the function itself (imported"
                                " from its module), not a path or a handle")
    else:
        definition = resolve_in(ctx.scope, fn, resolve)
    if definition.kind is not kind:
        raise InvalidValueError(f"ctx.run_{kind.value}: {definition.path or 'that function'}"
                                f" is a {definition.kind.value}, not a {kind.value}")
    return definition


def _depth(ctx: QueryCtx) -> int:
    depth = ctx.nesting + 1
    if depth > MAX_DEPTH:
        raise LimitExceededError(f"functions call functions more than {MAX_DEPTH} deep"
                                 " (ctx.run_query / ctx.run_mutation)", code="TooDeep")
    return depth


async def run_query(ctx: QueryCtx, fn: FunctionRef, args: dict[str, Any] | None) -> Any:
    """A query in the caller's transaction: read-only, even inside a mutation."""
    definition = _definition(ctx, fn, FunctionKind.QUERY)
    checked = prepare_args(definition, args)
    nested = ctx.child(QueryCtx, _depth(ctx), definition.scope)
    return check_returns(definition, await definition.handler(nested, **checked))


async def run_mutation(ctx: MutationCtx, fn: FunctionRef, args: dict[str, Any] | None) -> Any:
    """A mutation in the caller's transaction, rolled back alone if it raises."""
    definition = _definition(ctx, fn, FunctionKind.MUTATION)
    checked = prepare_args(definition, args)
    nested = ctx.child(MutationCtx, _depth(ctx), definition.scope)
    savepoint = ctx.transaction.savepoint()
    try:
        return check_returns(definition, await definition.handler(nested, **checked))
    except BaseException:
        ctx.transaction.roll_back_to(savepoint)
        raise
