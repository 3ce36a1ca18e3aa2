"""Admin-only endpoints: a request without the admin key gets a JSON refusal."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reactor.runtime.auth import AuthenticationError
from reactor.server.identity import Authenticator


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


async def refuse_unless_admin(authenticator: Callable[[], Authenticator], request: Request,
                              what: str) -> Response | None:
    """401 for a bad credential, 403 for a non-admin one, None for the admin key."""
    try:
        caller = await authenticator().from_header(request.headers.get("authorization"))
    except AuthenticationError as error:
        return error_response(401, error.code, error.message)
    if not caller.admin:
        return error_response(403, "Forbidden", f"{what} needs the admin key:"
                              " `Authorization: Convex <key>`")
    return None
