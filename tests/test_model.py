"""The checked model is immutable (the engine shares it between requests) and the schema is valid."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest

from dsl.loader import load_app

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def food():
    return load_app(ROOT / "apps" / "food")


def test_model_objects_cannot_be_changed(food):
    entity = food.entities["purchase_order"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entity.label = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        entity.fields["supplier"] = None  # type: ignore[index]
    with pytest.raises(TypeError):
        food.entities["x"] = entity  # type: ignore[index]
    role = next(iter(food.roles.values()))
    with pytest.raises(TypeError):
        role.permissions["x"] = frozenset()  # type: ignore[index]
    assert all(isinstance(verbs, frozenset) for verbs in role.permissions.values())


def test_every_mapping_in_the_model_is_read_only(food):
    def walk(value, path):
        if isinstance(value, dict):
            raise AssertionError(f"{path} is a plain dict")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                if field.name in ("catalog", "registry", "expr", "python", "sql_missing"):
                    continue
                walk(getattr(value, field.name), f"{path}.{field.name}")
        elif hasattr(value, "items") and not isinstance(value, str):
            for key, item in value.items():
                walk(item, f"{path}[{key!r}]")
        elif isinstance(value, tuple | frozenset):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")

    walk(food, "app")


def test_the_schema_is_valid_draft_2020_12_and_editors_can_use_it():
    schema = json.loads((ROOT / "dsl" / "app.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for path in (ROOT / "apps").rglob("*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), f"{path} has no schema comment"
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target == (ROOT / "dsl" / "app.schema.json").resolve(), f"{path} points at {target}"
