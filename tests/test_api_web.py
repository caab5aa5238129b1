"""The API inside the whole web app (create_app): a logged-in browser uses it with its session cookie and must
send the CSRF header to change anything; a program uses a bearer token and needs none."""

from __future__ import annotations

import pytest

from engine.web.tokens import create_token
from tests.api_helpers import problem_of
from tests.web_helpers import Web, start_on

pytestmark = pytest.mark.both_dbs


@pytest.fixture
def web(db_engine):
    web = Web(start_on(db_engine))
    yield web
    web.close()


def test_a_logged_in_browser_reads_freely_and_writes_with_the_csrf_header(web):
    web.user("lin", "clerk")
    problem_of(web.get("/api/item"), 401)
    web.login("lin")
    assert web.get("/api/item").json()["data"] == []
    refused = web.client.post("/api/item", json={"code": "A", "name": "螺丝"})
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert web.get("/api/item").json()["data"] == []
    token = web.token("/")
    created = web.client.post("/api/item", json={"code": "A", "name": "螺丝", "price": "1.5"},
                              headers={"X-CSRF-Token": token})
    assert created.status_code == 201, created.text
    assert created.json()["price"] == "1.50" and "cost" not in created.json()  # clerk: cost is hidden
    problem_of(web.client.post("/api/purchase_order", json={"supplier": "x"}, headers={"X-CSRF-Token": token}), 403)


def test_a_bearer_token_needs_no_csrf_header_and_no_cookie(web):
    web.user("bot", "buyer")
    started = web.started
    token = create_token(started.engine, started.app, started.records.schema, "bot", "buyer").token
    headers = {"Authorization": f"Bearer {token}"}
    response = web.client.post("/api/purchase_order", json={"supplier": "东方"}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["docstatus"] == "draft"
    assert "set-cookie" not in response.headers
    problem_of(web.client.get("/api/nothing_here/1/x/y/z", headers=headers), 404)
    assert web.client.get("/api/openapi.json", headers=headers).json()["openapi"] == "3.1.0"


def test_refusals_speak_the_page_language_to_a_browser_and_english_to_a_token(web):
    """The phone pages show what the API refuses to the warehouse worker: in the page's language."""
    web.user("lin", "clerk")
    web.login("lin")
    csrf = {"X-CSRF-Token": web.token("/")}
    batch = {"operations": [{"key": "phone-1", "method": "POST", "path": "/api/item", "body": {"code": "A"}}]}
    answer = web.client.post("/api/batch", json=batch, headers=csrf).json()["results"][0]
    assert answer["status"] == 422 and {"field": "name", "message": "必填"} in answer["body"]["errors"]
    replayed = web.client.post("/api/batch", json=batch, headers=csrf).json()["results"][0]
    assert replayed["replayed"] and replayed["body"] == answer["body"]  # stored as it was answered
    single = problem_of(web.client.post("/api/item", json={"code": "B"}, headers=csrf), 422)
    assert {"field": "name", "message": "必填"} in single["errors"]
    web.client.cookies.set("jxc_lang", "en")
    english = problem_of(web.client.post("/api/item", json={"code": "C"}, headers=csrf), 422)
    assert {"field": "name", "message": "is required"} in english["errors"]

    web.user("bot", "clerk")
    started = web.started
    token = create_token(started.engine, started.app, started.records.schema, "bot", "clerk").token
    web.client.cookies.clear()
    by_token = problem_of(web.client.post("/api/item", json={"code": "D"},
                                          headers={"Authorization": f"Bearer {token}"}), 422)
    assert {"field": "name", "message": "is required"} in by_token["errors"]
