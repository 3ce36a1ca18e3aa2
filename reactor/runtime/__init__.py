"""Layer 6: loading functions, `ctx`, running calls with limits and retries, the `Engine`."""

from reactor.runtime.engine import Engine
from reactor.runtime.functions import (
    FunctionDefinition,
    FunctionKind,
    Visibility,
    action,
    internal_action,
    internal_mutation,
    internal_query,
    mutation,
    query,
)
from reactor.runtime.outcome import FunctionError, Outcome

__all__ = [
    "Engine",
    "FunctionDefinition",
    "FunctionError",
    "FunctionKind",
    "Outcome",
    "Visibility",
    "action",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "mutation",
    "query",
]
