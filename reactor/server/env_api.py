"""Admin endpoints for environment variables (`/api/admin/env`), used by `reactor env --url`."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reactor.errors import ReactorError
from reactor.runtime import Engine
from reactor.runtime.auth import AuthenticationError
from reactor.server.identity import Authenticator

MAX_BODY_BYTES = 64 * 1024


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


class EnvApi:
    """`GET /api/admin/env`, and `GET | PUT | DELETE /api/admin/env/{name}`; admin key only."""

    def __init__(self, engine: Engine, authenticator: Callable[[], Authenticator]) -> None:
        self.engine = engine
        self.authenticator = authenticator

    async def _refuse(self, request: Request) -> Response | None:
        """An error response unless the request carries the admin key."""
        try:
            caller = await self.authenticator().from_header(request.headers.get("authorization"))
        except AuthenticationError as error:
            return _error(401, error.code, error.message)
        if not caller.admin:
            return _error(403, "Forbidden", "environment variables need the admin key:"
                          " `Authorization: Convex <key>`")
        return None

    async def list(self, request: Request) -> Response:
        refused = await self._refuse(request)
        if refused is not None:
            return refused
        return JSONResponse({"variables": await self.engine.environment.list()})

    async def variable(self, request: Request) -> Response:
        refused = await self._refuse(request)
        if refused is not None:
            return refused
        name = request.path_params["name"]
        environment = self.engine.environment
        try:
            if request.method == "GET":
                value = await environment.get(name)
                if value is None:
                    return _error(404, "EnvironmentVariableNotFound",
                                  f"environment variable {name} is not set")
                return JSONResponse({"name": name, "value": value})
            if request.method == "DELETE":
                return JSONResponse({"name": name, "removed": await environment.remove(name)})
            await environment.set(name, await _value(request))
            return JSONResponse({"name": name, "value": await environment.get(name)})
        except ReactorError as error:
            return _error(400, error.code, error.public_message)


async def _value(request: Request) -> str:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ReactorError(f"request body exceeds {MAX_BODY_BYTES} bytes", code="BadRequest")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ReactorError(f"request body is not valid JSON: {error}",
                           code="BadRequest") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("value"), str):
        raise ReactorError('request body must be {"value": "<string>"}', code="BadRequest")
    value: str = parsed["value"]
    return value
