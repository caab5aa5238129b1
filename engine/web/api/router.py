"""The API's Starlette routes: read the request, find the caller, run the operation in a worker thread (the
service layer is synchronous), answer JSON or problem+json. Nothing unexpected reaches the client as a trace:
it is logged and answered with a bare 500 problem."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from engine.context import CurrentUser
from engine.errors import ServiceError
from engine.startup import Started
from engine.web.api.auth import api_user
from engine.web.api.jsonio import MAX_BODY, BadRequest, dumps, read_json
from engine.web.api.operations import NO_BODY, Outcome, execute, refused
from engine.web.api.problems import MEDIA_TYPE, ApiProblem, problem
from engine.web.api.speech import Speak, translator
from engine.web.api.tables import KEY_LENGTH

log = logging.getLogger("jxc.api")
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
WITH_BODY = ("POST", "PUT", "PATCH", "DELETE")


def api_routes(started: Started) -> list[BaseRoute]:
    api = Api(started)
    return [
        Route("/openapi.json", api.openapi, methods=["GET", "HEAD"]),
        Route("/batch", api.batch, methods=METHODS),
        Route("/{path:path}", api.handle, methods=METHODS),
    ]


def spoken(outcome: Outcome, speak: Speak | None) -> Outcome:
    """A refusal in the caller's language (engine.web.api.speech); anything else as it is."""
    if speak is None or not outcome.problem:
        return outcome
    return replace(outcome, body=speak(outcome.body))


def respond(outcome: Outcome) -> Response:
    if outcome.body is None:
        return Response(status_code=outcome.status, headers=outcome.headers)
    media_type = MEDIA_TYPE if outcome.problem else "application/json"
    return Response(dumps(outcome.body), status_code=outcome.status, headers=outcome.headers, media_type=media_type)


def server_error(request: Request, error: BaseException) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return respond(Outcome(500, problem(500, "the error was logged; please try again or tell the administrator"),
                           problem=True))


async def json_body(request: Request) -> Any:
    """The request's JSON body, NO_BODY when there is none."""
    chunks, size = [], 0
    async for chunk in request.stream():  # read no further than the limit: a huge body is refused, not held
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequest(f"the body is larger than {MAX_BODY} bytes", 413)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return NO_BODY
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise ApiProblem(415, f"send the body as application/json, not {kind}")
    return read_json(raw)


class Api:
    def __init__(self, started: Started) -> None:
        self.started = started
        self._openapi: bytes | None = None

    async def handle(self, request: Request) -> Response:
        try:
            user = await api_user(request, self.started)
            body = await json_body(request) if request.method in WITH_BODY else NO_BODY
            parts = [part for part in request.path_params["path"].split("/") if part != ""]
            session = self.started.records.session(user)
            base = request.scope.get("root_path", "") or "/api"
            key = request.headers.get("idempotency-key")
            if key is not None and request.method in WITH_BODY:
                outcome = await run_in_threadpool(self._once, user, key, request, body, base)
            else:
                outcome = await run_in_threadpool(execute, session, request.method, parts,
                                                  request.query_params.multi_items(), body, base)
        except (ApiProblem, BadRequest, ServiceError) as error:
            outcome = refused(error)
        except Exception as error:
            return server_error(request, error)
        return respond(spoken(outcome, translator(request)))

    def _once(self, user: CurrentUser, key: str, request: Request, body: Any, base: str) -> Outcome:
        from engine.web.api.batch import apply_once, forget_old_keys

        if not 0 < len(key) <= KEY_LENGTH:
            raise ApiProblem(400, f"an Idempotency-Key is 1 to {KEY_LENGTH} characters")
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        forget_old_keys(self.started, user)
        return apply_once(self.started, user, key, request.method, path, body, base, translator(request))[0]

    async def batch(self, request: Request) -> Response:
        if request.method != "POST" and "batch" in self.started.app.entities:
            return await self.handle(request)  # an entity called batch: only POST /api/batch is the batch
        from engine.web.api.batch import run_batch

        try:
            if request.method != "POST":
                raise ApiProblem(405, "send a batch with POST", headers={"Allow": "POST"})
            user = await api_user(request, self.started)
            body = await json_body(request)
            base = request.scope.get("root_path", "") or "/api"
            outcome = await run_in_threadpool(run_batch, self.started, user, body, base, translator(request))
        except (ApiProblem, BadRequest, ServiceError) as error:
            outcome = refused(error)
        except Exception as error:
            return server_error(request, error)
        return respond(spoken(outcome, translator(request)))

    async def openapi(self, request: Request) -> Response:
        """For users only: it names every entity and field of the app."""
        try:
            await api_user(request, self.started)
        except ApiProblem as error:
            return respond(refused(error))
        if self._openapi is None:
            from engine.web.api.openapi import openapi_document

            self._openapi = dumps(openapi_document(self.started.app))
        return Response(self._openapi, media_type="application/json")
