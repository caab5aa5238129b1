"""Validate one definition file against dsl/app.schema.json and word the errors for people.

jsonschema finds the errors; this module turns each into a located Problem: unknown keys with a
did-you-mean, wrong values with the allowed ones, names that are not safe identifiers...
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from dsl.problems import Problem, allowed, did_you_mean, format_path
from dsl.yamlsource import SourceFile

NAME_RULE = "use lowercase letters, digits and _, starting with a letter (at most 63 characters)"
_TYPE_NAMES = {"string": "text", "object": "a mapping (key: value lines)", "array": "a list (- items)",
               "number": "a number", "integer": "a whole number", "boolean": "true or false", "null": "nothing"}


@lru_cache(maxsize=1)
def app_schema() -> dict[str, Any]:
    return json.loads(resources.files("dsl").joinpath("app.schema.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(app_schema())


def schema_problems(source: SourceFile) -> list[Problem]:
    """Every schema problem of one file, located. An empty file is fine (no problems)."""
    if source.data is None:
        return []
    problems: list[Problem] = []
    for error in _validator().iter_errors(source.data):
        problems.extend(_translate(error, source))
    return problems


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"the text '{value}'" if len(value) <= 40 else "a long text"
    return f"'{value}'"


def _expected(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types)
    described = [_TYPE_NAMES.get(name, name) for name in names]
    return " or ".join(dict.fromkeys(described))


def _branch_errors(error: ValidationError) -> list[list[ValidationError]]:
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    return list(branches.values())


def _mismatched_type(errors: list[ValidationError], depth: int) -> bool:
    """Whether a branch of anyOf failed because the value is of another kind altogether."""
    for e in errors:
        if len(e.absolute_path) != depth:
            continue
        if e.validator == "type":
            return True
        if e.validator == "enum" and not isinstance(e.instance, str | int | float | bool):
            return True
    return False


def _translate(error: ValidationError, source: SourceFile) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    where = format_path(path) or None
    validator = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance

    if validator in ("anyOf", "oneOf"):
        branches = _branch_errors(error)
        fitting = [b for b in branches if not _mismatched_type(b, len(path))]
        if len(fitting) == 1:
            for sub in fitting[0]:
                yield from _translate(sub, source)
            return
        if not fitting:
            kinds: list[str] = []
            for branch in branches:
                for sub in branch[:1]:
                    if sub.validator == "type":
                        value = sub.validator_value
                        kinds.extend(value if isinstance(value, list) else [value])
            enum_errors = [e for b in branches for e in b
                           if e.validator == "enum" and len(e.absolute_path) == len(path)]
            if enum_errors and isinstance(instance, str):
                yield from _translate(enum_errors[0], source)
                return
            yield Problem(f"expected {_expected(kinds)}, but found {_describe(instance)}", source.locate(path), where)
            return
        # several branches fit the value's type: report the branch with the fewest errors
        best = min(fitting, key=len)
        for sub in best:
            yield from _translate(sub, source)
        return

    if validator == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        for key in instance:
            if key in known:
                continue
            hint = did_you_mean(str(key), known) or (allowed(known) if known else None)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)):
                hint = (f"'{key}' looks like the rest of a value that a comma cut off: inside {{ … }} put "
                        "values with commas in quotes")
            yield Problem(f"unknown key '{key}'", source.locate((*path, key), key=True), format_path((*path, key)),
                          hint)
        return

    if validator == "propertyNames" or "propertyNames" in error.schema_path:
        # jsonschema reports the offending key as the instance, at the mapping's path
        key = instance
        yield Problem(f"'{key}' is not a valid name: {NAME_RULE}", source.locate((*path, key), key=True),
                      format_path((*path, key)), _name_hint(str(key)))
        return

    if validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        for key in missing or [str(error.validator_value)]:
            yield Problem(f"'{key}' is missing", source.locate(path, key=True), where, None)
        return

    if validator == "enum":
        options = [str(v) for v in error.validator_value]
        subject = "field type" if {"string", "table"} <= set(options) else "value"
        hint = did_you_mean(str(instance), options)
        full = allowed(options)
        yield Problem(f"'{instance}' is not a known {subject}", source.locate(path), where,
                      f"{hint} {full}" if hint else full)
        return

    if validator == "type" and str(schema.get("description", "")).startswith("A formula"):
        yield Problem(f"expected a formula (such as qty * price), but found {_describe(instance)}",
                      source.locate(path), where, _type_hint(instance, error.validator_value))
        return
    if validator == "type":
        yield Problem(f"expected {_expected(error.validator_value)}, but found {_describe(instance)}",
                      source.locate(path), where, _type_hint(instance, error.validator_value))
        return

    if validator == "pattern":
        if error.validator_value == app_schema()["$defs"]["name"]["pattern"]:
            yield Problem(f"'{instance}' is not a valid name: {NAME_RULE}", source.locate(path), where,
                          _name_hint(str(instance)))
            return
        description = schema.get("description")
        yield Problem(f"'{instance}' is not in the expected form", source.locate(path), where, description)
        return

    if validator in ("minItems", "minProperties", "minLength"):
        yield Problem("must not be empty", source.locate(path), where)
        return
    if validator == "uniqueItems":
        yield Problem("the list has the same entry twice", source.locate(path), where)
        return
    if validator == "minimum":
        yield Problem(f"must be at least {error.validator_value}, but is {instance}", source.locate(path), where)
        return
    if validator == "maximum":
        yield Problem(f"must be at most {error.validator_value}, but is {instance}", source.locate(path), where)
        return
    yield Problem(error.message, source.locate(path), where)


def _name_hint(name: str) -> str | None:
    candidate = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")
    if candidate and not candidate[0].isalpha():
        candidate = "f_" + candidate
    if candidate and candidate != name and re.fullmatch(r"[a-z][a-z0-9_]{0,62}", candidate):
        return f"for example '{candidate}'; put the human text in label:"
    if any(ord(c) > 127 for c in name):
        return "names are written in English letters; put Chinese text in label:, e.g. label: 数量"
    return None


def _type_hint(instance: Any, expected: Any) -> str | None:
    wanted = [expected] if isinstance(expected, str) else list(expected)
    if isinstance(instance, dict) and "string" in wanted:
        return 'a value that starts with { must be quoted, e.g. formula: "{数量} * {单价}"'
    if isinstance(instance, str) and "array" in wanted:
        return "write a list, e.g. [a, b] or one '- item' per line"
    return None
