"""/api/openapi.json: a valid OpenAPI 3.1 document generated from the model, and what the API really answers
conforms to it."""

from __future__ import annotations

import jsonschema
import pytest
from openapi_spec_validator import validate

from dsl.loader import load_app
from engine.web.api.openapi import openapi_document
from tests.api_helpers import problem_of
from tests.service_helpers import APPS, no_stock_app, toy_app

pytest_plugins = ["tests.service_fixtures", "tests.api_fixtures"]


@pytest.mark.parametrize("name", ["no_stock", "food", "discrete_mfg"])
def test_every_example_app_gets_a_valid_openapi_document(name):
    document = openapi_document(load_app(APPS / name))
    validate(document)  # raises with the place of the first problem
    entities = [e for e in load_app(APPS / name).entities.values() if e.kind.value != "child"]
    assert {f"/api/{e.name}" for e in entities} <= set(document["paths"])


def test_schemas_follow_the_model():
    document = openapi_document(toy_app())
    schemas = document["components"]["schemas"]
    item, item_input = schemas["item"], schemas["item_input"]
    assert item_input["required"] == ["code", "name"] and item_input["additionalProperties"] is False
    assert "margin" not in item_input["properties"] and item["properties"]["margin"]["readOnly"] is True
    assert item["properties"]["area"]["enum"] == ["east", "west", None]
    assert item["properties"]["price"]["type"] == ["string", "null"]  # exact decimals are text on the way out
    assert item_input["properties"]["price"]["anyOf"][1] == {"type": "number"}  # a JSON number is read exactly
    assert item_input["properties"]["code"]["maxLength"] == 20
    assert item["properties"]["region"]["type"] == ["integer", "null"]
    order = schemas["purchase_order_input"]
    assert order["properties"]["lines"]["items"] == {"$ref": "#/components/schemas/purchase_order_lines_input"}
    assert schemas["purchase_order_lines_input"]["required"] == ["item", "qty"]
    assert schemas["purchase_order_patch"]["required"] == ["version"]
    assert schemas["purchase_order"]["properties"]["docstatus"]["enum"] == ["draft", "submitted", "cancelled"]
    assert set(document["components"]["securitySchemes"]) == {"bearer", "cookie"}
    paths = document["paths"]
    assert "/api/purchase_order/{id}/make/goods_receipt" in paths
    assert "/api/goods_receipt/{id}/amend" not in paths  # goods_receipt says amend: false
    problem = document["components"]["responses"]["422"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}


def test_workflow_actions_are_described():
    paths = openapi_document(no_stock_app())["paths"]
    assert {"/api/purchase_order/{id}/actions/approve", "/api/purchase_order/{id}/actions/reject",
            "/api/purchase_order/{id}/actions"} <= set(paths)


@pytest.mark.both_dbs
def test_served_document_describes_the_answers(make_api):
    api = make_api(toy_app())
    admin = api.client("root", "admin")
    document = admin.get("/api/openapi.json").json()
    problem_of(api.anonymous().get("/api/openapi.json"), 401)  # it names every entity and field: users only
    assert document == openapi_document(toy_app()) | {}  # served as generated (JSON round trip)
    item = admin.post("/api/item", json={"code": "A", "name": "螺栓", "price": "2.5", "since": "2026-01-02",
                                         "checked_at": "2026-01-02 08:00"}).json()
    order = admin.post("/api/purchase_order?submit=true", json={
        "supplier": "东方", "lines": [{"item": item["id"], "qty": "3"}]}).json()
    refusal = admin.patch(f"/api/item/{item['id']}", json={"version": 9})
    resolver = {**document, "$schema": "https://json-schema.org/draft/2020-12/schema"}

    def check(value, name):
        schema = {"$ref": f"#/components/schemas/{name}", "components": resolver["components"]}
        jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(value)

    check(item, "item")
    check(order, "purchase_order")
    assert order["docstatus"] == "submitted" and order["lines"][0]["amount"] == "7.50"
    check(refusal.json(), "Problem")
    check(admin.get("/api/item").json()["data"][0], "item")
    with pytest.raises(jsonschema.ValidationError):
        check({**item, "price": 2.5}, "item")  # the schemas do reject what the API must not send
