"""`POST /api/batch`: many operations in one request, each applied at most once however often it is sent.

    {"operations": [{"key": "phone-7:42", "method": "POST", "path": "/api/sales_order", "body": {...}},
                    {"key": "phone-7:43", "method": "PATCH", "path": "/api/item/5", "body": {"version": 3, ...}}]}
    → {"results": [{"key": "phone-7:42", "status": 201, "body": {...}, "replayed": false}, ...]}

Each operation is the request it names (engine.web.api.operations), run in its own transaction together with
the row of jxc_api_idempotency that remembers its key, the hash of the request and the answer. A replay finds
that row and gets the stored answer; two replays racing each other meet at the row's primary key, so one waits
for the other and then reads its answer. A failed operation (a 409 when the record changed meanwhile, with the
current values; a 422) is an answer too, and the others still apply. An unexpected error (a bug) rolls its
operation back, stores nothing (it may be retried) and answers 500.

A GET operation is answered afresh each time (it changes nothing, so there is nothing to apply twice). A
single request can be made idempotent the same way with the header `Idempotency-Key`. A user's keys are kept
30 days (KEEP_KEYS), then forgotten by their next batch or keyed request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from engine.context import CurrentUser
from engine.errors import FieldProblem, ValidationFailed
from engine.startup import Started
from engine.web.api.operations import NO_BODY, Outcome, execute
from engine.web.api.problems import problem
from engine.web.api.speech import Speak
from engine.web.api.tables import KEY_LENGTH, idempotency_table

log = logging.getLogger("jxc.api")
MAX_OPERATIONS = 500
KEEP_KEYS = dt.timedelta(days=30)
METHODS = ("GET", "POST", "PATCH", "DELETE")


def run_batch(started: Started, user: CurrentUser, body: Any, base: str, speak: Speak | None = None) -> Outcome:
    """`speak`: puts a refusal into the caller's language (engine.web.api.speech) before it is stored."""
    operations = _operations(body)
    forget_old_keys(started, user)
    results = []
    for operation in operations:
        outcome, replayed = apply_once(started, user, operation["key"], operation["method"], operation["path"],
                                       operation.get("body", NO_BODY), base, speak)
        results.append({"key": operation["key"], "status": outcome.status, "body": outcome.body,
                        "replayed": replayed})
    return Outcome(200, {"results": results})


def forget_old_keys(started: Started, user: CurrentUser) -> None:
    """The user's keys older than KEEP_KEYS are forgotten (the table would otherwise only grow): a phone's
    offline queue is replayed within hours, so an operation sent again after that long is a new one."""
    table = idempotency_table(started.records.schema)
    with started.engine.begin() as connection:
        connection.execute(delete(table).where(table.c.user_id == user.id,
                                               table.c.created_at < started.records.clock.now() - KEEP_KEYS))


def _operations(body: Any) -> list[dict[str, Any]]:
    """The operations, checked all together: a malformed batch applies nothing."""
    if not isinstance(body, Mapping) or not isinstance(body.get("operations"), list):
        raise ValidationFailed([FieldProblem("operations", "send {\"operations\": [{\"key\", \"method\", \"path\", "
                                                           "\"body\"}, ...]}")])
    operations = body["operations"]
    problems = [FieldProblem(key, "is not understood here; send operations") for key in body if key != "operations"]
    if not operations or len(operations) > MAX_OPERATIONS:
        problems.append(FieldProblem("operations", f"a batch holds 1 to {MAX_OPERATIONS} operations"))
    seen: set[str] = set()
    for index, operation in enumerate(operations):
        where = f"operations[{index}]"
        if not isinstance(operation, Mapping):
            problems.append(FieldProblem(where, "must be an object with key, method, path and body"))
            continue
        key = operation.get("key")
        if not isinstance(key, str) or not 0 < len(key) <= KEY_LENGTH:
            problems.append(FieldProblem(f"{where}.key", f"is required: the operation's idempotency key, 1 to "
                                                         f"{KEY_LENGTH} characters, unique to this operation"))
        elif key in seen:
            problems.append(FieldProblem(f"{where}.key", f"'{key}' is used twice in this batch"))
        else:
            seen.add(key)
        if operation.get("method") not in METHODS:
            problems.append(FieldProblem(f"{where}.method", f"is one of {', '.join(METHODS)}"))
        path = operation.get("path")
        if not isinstance(path, str) or not path.strip("/"):
            problems.append(FieldProblem(f"{where}.path", "is required: the request's path, e.g. /api/item/5"))
        problems += [FieldProblem(f"{where}.{name}", "is not understood here; send key, method, path and body")
                     for name in operation if name not in ("key", "method", "path", "body")]
    if problems:
        raise ValidationFailed(problems)
    return list(operations)


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, None if body is NO_BODY else body], sort_keys=True, default=str,
                           ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def apply_once(started: Started, user: CurrentUser, key: str, method: str, path: str, body: Any,
               base: str, speak: Speak | None = None) -> tuple[Outcome, bool]:
    """The operation's answer, and whether it is a stored one (a replay)."""
    split = urlsplit(path)
    local = split.path
    for prefix in (base.rstrip("/") + "/", "/api/"):  # "/api/item/5" or "item/5" (also behind a proxy's prefix)
        if local.startswith(prefix):
            local = local[len(prefix):]
            break
    parts = [part for part in local.split("/") if part]
    query = parse_qsl(split.query, keep_blank_values=True)
    if method == "GET":  # a read changes nothing: answered afresh each time, never stored
        return execute(started.records.session(user), method, parts, query, body, base), False
    table = idempotency_table(started.records.schema)
    digest = request_hash(method, path, body)
    dialect = postgresql if started.engine.dialect.name == "postgresql" else sqlite
    try:
        with started.engine.begin() as connection:
            claim = dialect.insert(table).values(user_id=user.id, key=key, request_hash=digest, status=0,
                                                 response="", created_at=started.records.clock.now())
            # RETURNING says whether the row was inserted (rowcount is not reliable with ON CONFLICT)
            if connection.execute(claim.on_conflict_do_nothing().returning(table.c.key)).first() is None:
                return _stored(connection, table, user, key, digest), True
            session = started.records.session(user, connection=connection)
            outcome = execute(session, method, parts, query, body, base)
            if speak is not None and outcome.problem:
                outcome = replace(outcome, body=speak(outcome.body))
            response = json.dumps({"body": outcome.body, "headers": outcome.headers, "problem": outcome.problem},
                                  ensure_ascii=False)
            connection.execute(update(table).where(table.c.user_id == user.id, table.c.key == key)
                               .values(status=outcome.status, response=response))
            return outcome, False
    except Exception as error:  # a bug: nothing of this operation stays, so it may be sent again
        log.error("batch operation %s %s failed", method, path, exc_info=error)
        return Outcome(500, problem(500, "the error was logged; the operation was not applied and may be sent "
                                         "again"), problem=True), False


def _stored(connection: Any, table: Any, user: CurrentUser, key: str, digest: str) -> Outcome:
    row = connection.execute(select(table.c.request_hash, table.c.status, table.c.response)
                             .where(table.c.user_id == user.id, table.c.key == key)).one()
    if row.request_hash != digest:
        return Outcome(422, problem(422, f"the idempotency key '{key}' was already used for another request; "
                                         "use a new key for a new operation"), problem=True)
    stored = json.loads(row.response)
    return Outcome(row.status, stored["body"], stored["headers"], problem=stored["problem"])
