"""Reactor: a self-hosted reactive document database. What app code imports lives here."""

from reactor.errors import AppError, ReactorError
from reactor.runtime.functions import (
    action,
    internal_action,
    internal_mutation,
    internal_query,
    mutation,
    query,
)
from reactor.runtime.outcome import FunctionError
from reactor.schema import define_schema, define_table
from reactor.values import MISSING, Int64, v

__all__ = [
    "MISSING",
    "AppError",
    "FunctionError",
    "Int64",
    "ReactorError",
    "action",
    "define_schema",
    "define_table",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "mutation",
    "query",
    "v",
]
