"""JSON in and out of the API, exactly: numbers with a fraction are read as Decimal (never a binary float),
decimals are written as strings, date-times carry the app's UTC offset.

What the database could not store (a NUL character, a lone surrogate, an integer beyond 64 bits) is refused
here with the place it was found, so it never reaches the service layer as a database error.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine.errors import FieldProblem, ValidationFailed

MAX_BODY = 10 * 1024 * 1024
MAX_DEPTH = 32
INT64 = 2**63 - 1


class BadRequest(Exception):
    """The body is not JSON jxc can read; the message says where."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(body: bytes) -> Any:
    """The parsed body; BadRequest with the line and column of what is wrong."""
    if len(body) > MAX_BODY:
        raise BadRequest(f"the body is {len(body)} bytes; at most {MAX_BODY} are accepted", 413)
    if not body.strip():
        raise BadRequest("the body is empty; send a JSON object")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadRequest(f"the body is not UTF-8 text (byte {error.start + 1})") from None
    try:
        value = json.loads(text, parse_float=Decimal, parse_constant=_constant)
    except json.JSONDecodeError as error:
        raise BadRequest(f"the body is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") \
            from None
    except ValueError as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise BadRequest(f"the body is nested too deeply; at most {MAX_DEPTH} levels are accepted") from None
    problems: list[FieldProblem] = []
    _check(value, "", 0, problems)
    if problems:
        raise ValidationFailed(problems)
    return value


def _check(value: Any, path: str, depth: int, problems: list[FieldProblem]) -> None:
    if depth > MAX_DEPTH:
        problems.append(FieldProblem(path, f"is nested too deeply; at most {MAX_DEPTH} levels are accepted"))
        return
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            problems.append(FieldProblem(path, problem))
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if abs(value) > INT64:
            problems.append(FieldProblem(path, "is too large a number"))
    elif isinstance(value, Decimal):
        if not value.is_finite() or abs(value.adjusted()) > 40:
            problems.append(FieldProblem(path, "is too large or too precise a number"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", depth + 1, problems)
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(key)
            if problem:
                problems.append(FieldProblem(path, f"has a key that {problem}"))
                continue
            _check(item, f"{path}.{key}" if path else key, depth + 1, problems)


def text_problem(text: str) -> str | None:
    """Why the database could not store this text, or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (half of a \\uXXXX pair)"
    return None


_AS_IS = frozenset({str, int, bool, float, type(None)})


def plain(value: Any, zone: dt.tzinfo | None) -> Any:
    """A record (or any result) as JSON-ready data. (Dispatch on the exact type first: a page of records is
    thousands of values, nearly all text, numbers and blanks.)"""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        return {key if type(key) is str else str(key): item if type(item) in _AS_IS else
                format(item, "f") if type(item) is Decimal else plain(item, zone) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _AS_IS else plain(item, zone) for item in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return (value.replace(tzinfo=zone) if value.tzinfo is None and zone else value).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return plain(dict(value), zone)
    if isinstance(value, list | tuple | set | frozenset):
        return plain(list(value), zone)
    return value


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
