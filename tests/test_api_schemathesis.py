"""Schemathesis against /api/openapi.json, in process (ASGI): generated requests for every operation, valid and
invalid, never get a 500, and every answer conforms to the document (status, content type, schema).

The number of examples per operation is kept small so the whole run stays well under a minute."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service_helpers import toy_app

pytest_plugins = ["tests.service_fixtures", "tests.api_fixtures"]

EXAMPLES = 5  # per operation and mode; four runs (two databases × valid/invalid) stay under a minute
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def toy_api(make_api):
    api = make_api(toy_app())
    token = api.token("root", "admin")
    admin = api.client("root", token=token)
    item = admin.post("/api/item", json={"code": "A", "name": "螺栓", "price": "2"}).json()
    for supplier in ("东方", "西方"):  # records the generated ids may hit: a draft and a submitted order
        admin.post("/api/purchase_order", json={"supplier": supplier, "lines": [{"item": item["id"], "qty": "1"}]})
    admin.post("/api/purchase_order/2/submit", json={"version": 1})
    api.started_token = token  # type: ignore[attr-defined]
    return api


def operations(api, headers):
    loaded = schemathesis.openapi.from_asgi("/api/openapi.json", api.web, headers=headers)
    return [result.ok() for result in loaded.get_all_operations()]


@pytest.mark.both_dbs
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_documented_answers_and_never_a_500(toy_api, mode):
    headers = {"Authorization": f"Bearer {toy_api.started_token}"}
    checked = 0
    for operation in operations(toy_api, headers):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()
        checked += 1
    assert checked == len(openapi_operations(toy_api))


def openapi_operations(api):
    document = api.client("root", token=api.started_token).get("/api/openapi.json").json()
    return [(path, method) for path, item in document["paths"].items() for method in item if method != "parameters"]
