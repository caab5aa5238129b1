"""What each API request does, as a call of the service layer: one function per kind of request.

HTTP requests (engine.web.api.router) and the operations of a batch (engine.web.api.batch) both come here,
so an operation in a batch behaves exactly as the same request sent alone.

    GET    /api/                              the entities the user may read
    GET    /api/<entity>                      list: ?filter= ?search= ?sort= ?limit= ?after=
    POST   /api/<entity>                      create (?submit=true: create and submit a document at once)
    GET    /api/<entity>/<id>                 read
    PATCH  /api/<entity>/<id>                 change: {"version": n, field: value...}
    DELETE /api/<entity>/<id>                 delete
    POST   /api/<entity>/<id>/submit|cancel   {"version": n}
    POST   /api/<entity>/<id>/amend           a corrected copy of a cancelled document
    POST   /api/<entity>/<id>/make/<target>   a new <target> draft made from this document ({"values": {...}}
                                              fills in what the mappings leave to the user)
    GET    /api/<entity>/<id>/actions         the workflow actions the user may take now
    POST   /api/<entity>/<id>/actions/<name>  {"version": n, "comment": "...", "values": {...}}
    GET    /api/<entity>/<id>/history         the audit trail
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.exc import DBAPIError

from dsl.formula.sqlsupport import translate_database_error
from dsl.model import EntityKind
from dsl.problems import did_you_mean
from engine.errors import Conflict, FieldProblem, ServiceError, ValidationFailed
from engine.records import Session
from engine.web.api.jsonio import INT64, BadRequest, plain, text_problem
from engine.web.api.problems import ApiProblem, from_service_error, refusal

NO_BODY: Any = object()  # a request without a body (GET, DELETE)
READ_METHODS = ("GET", "HEAD")
LIST_PARAMETERS = ("filter", "search", "sort", "limit", "after")


@dataclass
class Outcome:
    """An answer: status, JSON-ready body (None for none), extra headers; `problem` for a refusal."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    problem: bool = False


def execute(session: Session, method: str, parts: Sequence[str], query: Sequence[tuple[str, str]], body: Any,
            base: str = "/api") -> Outcome:
    """Carry out one request; every refusal comes back as a problem Outcome, never an exception
    (an unexpected error, a bug, still propagates: the caller logs it and answers 500 without details)."""
    try:
        return _route(session, method.upper(), list(parts), list(query), body, base)
    except Conflict as error:
        return _conflict(session, parts, error)
    except (ServiceError, ApiProblem, BadRequest) as error:
        return refused(error)


def refused(error: ApiProblem | BadRequest | ServiceError) -> Outcome:
    status, body, headers = refusal(error)
    return Outcome(status, body, headers, problem=True)


def _conflict(session: Session, parts: Sequence[str], error: Conflict) -> Outcome:
    """409 with the record as it is now, so a client can show both and decide (offline sync)."""
    body = from_service_error(error)
    if len(parts) >= 2:
        # deleted or hidden meanwhile: then the conflict's message says enough
        with contextlib.suppress(ServiceError, ValueError):
            body["current"] = plain(session.get(parts[0], int(parts[1])), session.records.clock.zone)
    return Outcome(409, body, problem=True)


Handler = Callable[[Session, list[str], dict[str, str], Any, str], Outcome]


def _route(session: Session, method: str, parts: list[str], query: list[tuple[str, str]], body: Any,
           base: str) -> Outcome:
    if not parts:
        if method not in READ_METHODS:
            raise ApiProblem(405, f"{method} is not allowed here; use GET", headers={"Allow": "GET"})
        return index(session, base)
    routes = _ROUTES.get(_shape(parts))
    if routes is None:
        raise ApiProblem(404, f"there is nothing at /{'/'.join(parts)}")
    handler = routes.get("GET" if method == "HEAD" else method)
    allowed = ", ".join(sorted(routes))
    if method == "OPTIONS":
        return Outcome(204, None, {"Allow": allowed})
    if handler is None:
        raise ApiProblem(405, f"{method} is not allowed here; use {allowed}", headers={"Allow": allowed})
    session.records.entity(parts[0])  # an unknown entity is 404 before anything else is looked at
    params = _params(query)
    return handler(session, parts, params, body, base)


def index(session: Session, base: str) -> Outcome:
    """`GET /api/`: the entities this user may read, and where the full description is."""
    app = session.app
    entities = [{"name": entity.name, "label": entity.label.get(app.locale), "kind": entity.kind.value,
                 "url": f"{base}/{entity.name}"}
                for entity in app.entities.values()
                if entity.kind is not EntityKind.CHILD and session.access.allowed(entity, "read")]
    return Outcome(200, {"app": app.name, "openapi": f"{base}/openapi.json", "entities": entities})


def _shape(parts: list[str]) -> tuple[str, ...]:
    """The route a path has: ("e",), ("e", "id"), ("e", "id", "submit"), ("e", "id", "make", "*")..."""
    if len(parts) == 1:
        return ("e",)
    if len(parts) == 2:
        return ("e", "id")
    if len(parts) == 3 and parts[2] in _VERBS:
        return ("e", "id", parts[2])
    if len(parts) == 4 and parts[2] in ("make", "actions"):
        return ("e", "id", parts[2], "*")
    return ("?",)


def _params(query: list[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in query:
        if key in params:
            raise ApiProblem(400, f"the query parameter '{key}' is given twice; give it once")
        problem_text = text_problem(value)
        if problem_text:
            raise ApiProblem(400, f"the query parameter '{key}' {problem_text}")
        params[key] = value
    return params


def _only(params: dict[str, str], allowed: Sequence[str]) -> None:
    for key in params:
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            raise ApiProblem(400, f"unknown query parameter '{key}'" + (f" ({hint})" if hint else "") +
                             (f"; this request takes: {', '.join(allowed)}" if allowed else
                              "; this request takes none"))


def _record_id(session: Session, parts: list[str]) -> int:
    text = parts[1]
    if text.isascii() and text.isdigit() and 0 < int(text) <= INT64:
        return int(text)
    raise ApiProblem(404, f"there is no {parts[0]} with id {text!r}; ids are whole numbers from 1")


def _object(body: Any, what: str, *, optional: bool = False) -> dict[str, Any]:
    if body is NO_BODY or body is None:
        if optional:
            return {}
        raise BadRequest(f"send {what} as a JSON object")
    if not isinstance(body, Mapping):
        raise ValidationFailed([FieldProblem("", f"the body must be a JSON object ({what})")])
    return dict(body)


def _version(values: dict[str, Any]) -> int:
    version = values.pop("version", None)
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version <= INT64:
        message = "is required: the version of the record you read (optimistic locking)" if version is None \
            else "must be the record's version, a whole number from 1"
        raise ValidationFailed([FieldProblem("version", message)])
    return version


def _unknown_keys(values: dict[str, Any], allowed: Sequence[str]) -> None:
    extra = [key for key in values if key not in allowed]
    if extra:
        raise ValidationFailed([FieldProblem(key, f"is not understood here; send {', '.join(allowed)}")
                                for key in extra])


def _record(session: Session, record: Any, status: int = 200, location: str | None = None) -> Outcome:
    headers = {"Location": location} if location else {}
    return Outcome(status, plain(record, session.records.clock.zone), headers)


def _true(params: dict[str, str], name: str) -> bool:
    value = params.get(name, "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiProblem(400, f"the query parameter '{name}' is true or false, not {value!r}")
    return value in ("true", "1")


# --- the handlers ------------------------------------------------------------------------------------------


def list_records(session: Session, parts: list[str], params: dict[str, str], body: Any, base: str) -> Outcome:
    _only(params, LIST_PARAMETERS)
    limit_text = params.get("limit", "50")
    if not (limit_text.isascii() and limit_text.isdigit()) or len(limit_text) > 6:
        raise ApiProblem(400, f"limit is the number of records on a page (1 to 500), not {limit_text!r}")
    try:
        page = session.list(parts[0], filter=params.get("filter") or None, search=params.get("search") or None,
                            sort=params.get("sort") or None, after=params.get("after") or None,
                            limit=int(limit_text))
    except (DBAPIError, OverflowError) as error:
        raise _unrunnable(error) from None
    following = None
    if page.next:
        kept = {key: value for key, value in params.items() if key != "after"}
        following = f"{base}/{parts[0]}?{urlencode({**kept, 'after': page.next})}"
    headers = {"Link": f'<{following}>; rel="next"'} if following else {}
    zone = session.records.clock.zone
    return Outcome(200, {"data": plain(page.rows, zone), "next": following, "cursor": page.next,
                         "sort": page.sort}, headers)


def _unrunnable(error: DBAPIError | OverflowError) -> ApiProblem:
    """A filter the database could not evaluate (a number beyond its range, a date past 9999): the caller's
    mistake, said as such; any other database error is not, and goes on up."""
    if isinstance(error, OverflowError):
        return ApiProblem(400, "the filter cannot run: a number in it is too large for the database")
    found = translate_database_error(error)
    if found is not None:
        return ApiProblem(400, f"the filter cannot run: {found}")
    state = getattr(error.orig, "sqlstate", None) or ""
    if (isinstance(error.orig, sqlite3.Error | OverflowError) and "too large" in str(error.orig)) or state[:2] == "22":
        return ApiProblem(400, "the filter cannot run: a value in it is out of the database's range")
    raise error


def create(session: Session, parts: list[str], params: dict[str, str], body: Any, base: str) -> Outcome:
    _only(params, ("submit",))
    values = _object(body, f"the new {parts[0]}'s fields")
    record = session.create(parts[0], values, submit=_true(params, "submit"))
    return _record(session, record, 201, f"{base}/{parts[0]}/{record['id']}")


def read(session: Session, parts: list[str], params: dict[str, str], body: Any, base: str) -> Outcome:
    _only(params, ())
    return _record(session, session.get(parts[0], _record_id(session, parts)))


def update(session: Session, parts: list[str], params: dict[str, str], body: Any, base: str) -> Outcome:
    _only(params, ())
    record_id = _record_id(session, parts)
    values = _object(body, '{"version": n, ...the fields to change}')
    version = _version(values)
    return _record(session, session.update(parts[0], record_id, values, version=version))


def delete(session: Session, parts: list[str], params: dict[str, str], body: Any, base: str) -> Outcome:
    _only(params, ())
    session.delete(parts[0], _record_id(session, parts))
    return Outcome(204)


def submit(session: Session, parts: list[str], params: dict[str, str], body: Any, base: str) -> Outcome:
    return _versioned(session, parts, params, body, session.submit)


def cancel(session: Session, parts: list[str], params: dict[str, str], body: Any, base: str) -> Outcome:
    return _versioned(session, parts, params, body, session.cancel)


def _versioned(session: Session, parts: list[str], params: dict[str, str], body: Any,
               action: Callable[..., Any]) -> Outcome:
    _only(params, ())
    record_id = _record_id(session, parts)
    values = _object(body, '{"version": n}')
    version = _version(values)
    _unknown_keys(values, ("version",))
    return _record(session, action(parts[0], record_id, version=version))


def amend(session: Session, parts: list[str], params: dict[str, str], body: Any, base: str) -> Outcome:
    _only(params, ())
    record_id = _record_id(session, parts)
    _unknown_keys(_object(body, "{}", optional=True), ())
    copy = session.amend(parts[0], record_id)
    return _record(session, copy, 201, f"{base}/{parts[0]}/{copy['id']}")


def make(session: Session, parts: list[str], params: dict[str, str], body: Any, base: str) -> Outcome:
    _only(params, ())
    record_id = _record_id(session, parts)
    values = _object(body, '{"values": {...}}', optional=True)
    _unknown_keys(values, ("values",))  # values: what the mappings leave to the user (Lifecycle.make_from)
    target = parts[3]
    if values.get("values") is not None and not isinstance(values["values"], Mapping):
        raise ValidationFailed([FieldProblem("values", "must be an object: fields by name, lines as a list")])
    made = session.make_from(target, parts[0], record_id, values.get("values"))
    return _record(session, made, 201, f"{base}/{target}/{made['id']}")


def actions(session: Session, parts: list[str], params: dict[str, str], body: Any, base: str) -> Outcome:
    _only(params, ())
    return Outcome(200, {"data": plain(session.actions(parts[0], _record_id(session, parts)), None)})


def take_action(session: Session, parts: list[str], params: dict[str, str], body: Any, base: str) -> Outcome:
    _only(params, ())
    record_id = _record_id(session, parts)
    values = _object(body, '{"version": n, "comment": "...", "values": {...}}')
    version = _version(values)
    _unknown_keys(values, ("version", "comment", "values"))
    comment = values.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise ValidationFailed([FieldProblem("comment", "must be text")])
    record = session.transition(parts[0], record_id, parts[3], version=version, comment=comment,
                                values=values.get("values"))
    return _record(session, record)


def history(session: Session, parts: list[str], params: dict[str, str], body: Any, base: str) -> Outcome:
    _only(params, ())
    entries = session.history(parts[0], _record_id(session, parts))
    return Outcome(200, {"data": plain(entries, session.records.clock.zone)})


_VERBS = ("submit", "cancel", "amend", "actions", "history")
_ROUTES: dict[tuple[str, ...], dict[str, Handler]] = {
    ("e",): {"GET": list_records, "POST": create},
    ("e", "id"): {"GET": read, "PATCH": update, "DELETE": delete},
    ("e", "id", "submit"): {"POST": submit},
    ("e", "id", "cancel"): {"POST": cancel},
    ("e", "id", "amend"): {"POST": amend},
    ("e", "id", "actions"): {"GET": actions},
    ("e", "id", "history"): {"GET": history},
    ("e", "id", "make", "*"): {"POST": make},
    ("e", "id", "actions", "*"): {"POST": take_action},
}

__all__ = ["NO_BODY", "Outcome", "execute", "refused"]
