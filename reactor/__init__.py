"""Reactor: a self-hosted reactive document database. What app code imports lives here."""

from reactor.errors import AppError, ReactorError
from reactor.runtime.actions import ActionCtx
from reactor.runtime.components import (
    components,
    create_function_handle,
    define_app,
    define_component,
)
from reactor.runtime.context import MutationCtx, QueryCtx
from reactor.runtime.files.settings import storage_settings
from reactor.runtime.functions import (
    action,
    internal_action,
    internal_mutation,
    internal_query,
    mutation,
    query,
)
from reactor.runtime.http_actions import HttpRequest, HttpResponse, SseEvent, http_router
from reactor.runtime.outcome import FunctionError
from reactor.runtime.scheduler.crons import cron_jobs
from reactor.runtime.system.rate_limits import RateLimited, RateLimitStatus
from reactor.schema import define_schema, define_table
from reactor.values import MISSING, Doc, Id, Int64, Validator, v

__all__ = [
    "MISSING",
    "ActionCtx",
    "AppError",
    "Doc",
    "FunctionError",
    "HttpRequest",
    "HttpResponse",
    "Id",
    "Int64",
    "MutationCtx",
    "QueryCtx",
    "RateLimitStatus",
    "RateLimited",
    "ReactorError",
    "SseEvent",
    "Validator",
    "action",
    "components",
    "create_function_handle",
    "cron_jobs",
    "define_app",
    "define_component",
    "define_schema",
    "define_table",
    "http_router",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "mutation",
    "query",
    "storage_settings",
    "v",
]
