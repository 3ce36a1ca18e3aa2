"""`_environment_variables`: deployment settings and secrets, read by functions through `ctx.env`.

They are documents read through the caller's transaction, so a query that
reads a variable is re-run when the variable changes, and a change is seen by
the next call without a restart.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from reactor.errors import InvalidValueError
from reactor.runtime.system.transact import read, transact
from reactor.schema import TableDefinition, define_table
from reactor.transactions import Database, QueryBuilder, Transaction
from reactor.values import v

ENVIRONMENT_VARIABLES = "_environment_variables"

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")
MAX_VALUE_BYTES = 8 * 1024

# Values every deployment has without setup, under Convex's names; a variable set
# with the same name wins (a proxy in front may change the URLs clients use).
# One deployment per process: the engine (and each worker process) provides them.
_deployment_values: dict[str, str] = {}


def deployment_values(public_url: str) -> dict[str, str]:
    """`CONVEX_CLOUD_URL` (clients connect here) and `CONVEX_SITE_URL` (HTTP actions)."""
    base = public_url.rstrip("/")
    return {"CONVEX_CLOUD_URL": base, "CONVEX_SITE_URL": f"{base}/http"}


def provide_deployment_values(values: Mapping[str, str]) -> None:
    _deployment_values.clear()
    _deployment_values.update(values)


def environment_variables_table() -> TableDefinition:
    table = define_table({"name": v.string(), "value": v.string()}).index("by_name", ["name"])
    table.name = ENVIRONMENT_VARIABLES
    return table


class EnvError(InvalidValueError):
    code = "InvalidEnvironmentVariable"


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise EnvError(f"environment variable name {name!r}: expected a letter or _ then"
                       " letters, digits or _ (at most 40 characters)")
    return name


def check_value(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise EnvError(f"environment variable {name}: value must be a string,"
                       f" got {type(value).__name__}")
    size = len(value.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        raise EnvError(f"environment variable {name}: value of {size} bytes exceeds the limit"
                       f" of {MAX_VALUE_BYTES} bytes")
    return value


class EnvironmentVariables:
    """The variables seen through one transaction."""

    def __init__(self, txn: Transaction) -> None:
        self._txn = txn

    async def _doc(self, name: str) -> dict[str, Any] | None:
        return await (QueryBuilder(self._txn, ENVIRONMENT_VARIABLES)
                      .with_index("by_name", lambda q: q.eq("name", name)).first())

    async def get(self, name: str) -> str | None:
        doc = await self._doc(check_name(name))
        return _deployment_values.get(name) if doc is None else doc["value"]

    async def list(self) -> dict[str, str]:
        docs = await QueryBuilder(self._txn, ENVIRONMENT_VARIABLES).with_index("by_name").collect()
        return {doc["name"]: doc["value"] for doc in docs}

    async def set(self, name: str, value: str) -> None:
        doc = await self._doc(check_name(name))
        value = check_value(name, value)
        if doc is None:
            await self._txn.insert(ENVIRONMENT_VARIABLES, {"name": name, "value": value})
        elif doc["value"] != value:
            await self._txn.patch(doc["_id"], {"value": value})

    async def remove(self, name: str) -> bool:
        doc = await self._doc(check_name(name))
        if doc is not None:
            await self._txn.delete(doc["_id"])
        return doc is not None


class EnvReader:
    """`ctx.env`: read-only. In queries and mutations reads join the function's read set."""

    def __init__(self, get: Callable[[str], Awaitable[str | None]]) -> None:
        self._get = get

    async def get(self, name: str) -> str | None:
        """The variable's value, or None if it is not set."""
        return await self._get(name)


def transaction_env(txn: Transaction) -> EnvReader:
    return EnvReader(EnvironmentVariables(txn).get)


class Environment:
    """The variables as an operator sees them (CLI, admin API, tests): latest values."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, name: str) -> str | None:
        return await read(self._database, lambda txn: EnvironmentVariables(txn).get(name))

    async def list(self) -> dict[str, str]:
        return await read(self._database, lambda txn: EnvironmentVariables(txn).list())

    async def set(self, name: str, value: str) -> None:
        await transact(self._database, lambda txn: EnvironmentVariables(txn).set(name, value))

    async def remove(self, name: str) -> bool:
        """Whether the variable existed."""
        return await transact(self._database,
                              lambda txn: EnvironmentVariables(txn).remove(name))

    def reader(self) -> EnvReader:
        """`ctx.env` for actions: each read sees the latest committed value."""
        return EnvReader(self.get)
