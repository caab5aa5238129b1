"""Who is calling the API: a bearer token (engine.web.tokens), else the browser's login session.

A browser's writes also need the CSRF header (checked by engine.web.csrf before the API sees them); token
requests carry no cookie a foreign site could ride on.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from engine.context import CurrentUser
from engine.startup import Started
from engine.web.api.problems import ApiProblem
from engine.web.tokens import TokenRefused, authenticate

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="jxc"'}


async def api_user(request: Request, started: Started) -> CurrentUser:
    """The caller as the service layer sees them; ApiProblem 401 when no one is, or the token is refused."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiProblem(401, "send the API token as 'Authorization: Bearer <token>'", headers=CHALLENGE)
        try:
            return await run_in_threadpool(authenticate, started.engine, started.app, started.records.schema,
                                           token.strip(), clock=started.records.clock)
        except TokenRefused as error:
            raise ApiProblem(401, str(error), headers=CHALLENGE) from None
    if "session" in request.scope and hasattr(request.app.state, "jxc"):
        from engine.web.context import current_user

        user = await run_in_threadpool(current_user, request)
        if user is not None:
            return user
    raise ApiProblem(401, "log in, or send an API token as 'Authorization: Bearer <token>'", headers=CHALLENGE)
