"""The REST API's JSON CRUD over the service layer (tests/service_helpers.py TOY app), on SQLite and PostgreSQL:
exact numbers both ways, permissions as 403, every refusal as RFC 9457 problem+json."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api_helpers import errors_of, problem_of
from tests.service_helpers import toy_app

pytest_plugins = ["tests.service_fixtures", "tests.api_fixtures"]
pytestmark = pytest.mark.both_dbs


@pytest.fixture
def api(make_api):
    return make_api(toy_app())


def new_item(client, code="A1", **values):
    response = client.post("/api/item", json={"code": code, "name": f"物料{code}", **values})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_read_change_delete_an_item(api):
    admin = api.client("root", "admin")
    response = admin.post("/api/item", content='{"code": "A1", "name": "螺栓", "price": 12.5, "cost": "3.25", '
                                               '"rank": 7, "since": "2026-01-31", "checked_at": "2026-03-01T08:30:00"}',
                          headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text
    item = response.json()
    assert response.headers["location"] == f"/api/item/{item['id']}"
    # decimals come back exact, as text; computed fields are computed by the server; date-times carry the app's offset
    assert (item["price"], item["cost"], item["margin"], item["rank"], item["since"], item["checked_at"]) == \
        ("12.50", "3.25", "9.25", 7, "2026-01-31", "2026-03-01T08:30:00+08:00")
    assert (item["status"], item["version"]) == ("active", 1)
    assert admin.get(f"/api/item/{item['id']}").json() == item

    changed = admin.patch(f"/api/item/{item['id']}", json={"version": 1, "price": "20", "note": "改价"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["price"], changed.json()["margin"], changed.json()["version"]) == ("20.00", "16.75", 2)

    assert admin.delete(f"/api/item/{item['id']}").status_code == 204
    gone = problem_of(admin.get(f"/api/item/{item['id']}"), 404)
    assert gone["detail"] == f"there is no item with id {item['id']}"


def test_a_stale_version_is_a_conflict_with_the_current_values(api):
    admin = api.client("root", "admin")
    item = new_item(admin)
    assert admin.patch(f"/api/item/{item['id']}", json={"version": 1, "price": "5"}).status_code == 200
    body = problem_of(admin.patch(f"/api/item/{item['id']}", json={"version": 1, "price": "6"}), 409)
    assert "your version 1, now 2" in body["detail"]
    assert (body["current"]["price"], body["current"]["version"]) == ("5.00", 2)
    assert admin.get(f"/api/item/{item['id']}").json()["price"] == "5.00"


def test_validation_problems_come_back_by_field_including_rows(api):
    admin = api.client("root", "admin")
    item = new_item(admin)
    response = admin.post("/api/purchase_order", json={
        "lines": [{"item": item["id"], "qty": "2"}, {"item": item["id"], "qty": "x"}, {"qty": "1"}], "colour": "red"})
    assert errors_of(response) == {"supplier": "is required", "lines[1].qty": "'x' is not a number",
                                   "lines[2].item": "is required", "colour": "purchase_order has no field 'colour'"}
    response = admin.post("/api/purchase_order", json={
        "lines": [{"item": item["id"], "qty": "2"}, {"item": item["id"], "qty": "-1"}, {"qty": "1"}]})
    assert errors_of(response) == {"supplier": "is required", "lines[1].qty": "数量必须大于 0",
                                   "lines[2].item": "is required"}
    assert admin.get("/api/purchase_order").json()["data"] == []  # nothing written


def test_a_role_without_the_right_gets_403_and_hidden_fields_stay_hidden(api):
    admin = api.client("root", "admin")
    item = new_item(admin, cost="3")
    auditor = api.client("audrey", "auditor")
    refused = problem_of(auditor.post("/api/item", json={"code": "B", "name": "b"}), 403)
    assert refused["detail"] == "audrey may not create 物料 (item)"
    problem_of(auditor.patch(f"/api/item/{item['id']}", json={"version": 1, "name": "x"}), 403)
    problem_of(auditor.delete(f"/api/item/{item['id']}"), 403)
    problem_of(auditor.get("/api/purchase_order"), 403)
    clerk = api.client("carl", "clerk")
    seen = clerk.get(f"/api/item/{item['id']}").json()
    assert "cost" not in seen and "margin" not in seen and seen["price"] == "0.00"
    assert errors_of(clerk.patch(f"/api/item/{item['id']}", json={"version": 1, "price": "9"})) == \
        {"price": "is read-only for you"}
    assert errors_of(clerk.post("/api/item", json={"code": "C", "name": "c", "cost": "1"})) == \
        {"cost": "item has no field 'cost'"}


def test_filters_search_sort_and_keyset_pages(api):
    admin = api.client("root", "admin")
    for number in range(1, 8):
        new_item(admin, f"A{number}", price=str(number), area="east" if number % 2 else "west")
    page = admin.get("/api/item", params={"filter": 'price < 6 AND area = "east"', "sort": "-price"}).json()
    assert [row["code"] for row in page["data"]] == ["A5", "A3", "A1"]
    assert page["next"] is None and page["sort"] == ["-price", "-id"]
    assert [row["code"] for row in admin.get("/api/item", params={"search": "物料A4"}).json()["data"]] == ["A4"]

    seen, url, pages = [], "/api/item?limit=3&sort=price", 0
    while url:
        response = admin.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [row["code"] for row in body["data"]]
        url, pages = body["next"], pages + 1
        if url:
            assert response.headers["link"] == f'<{url}>; rel="next"'
    assert (seen, pages) == ([f"A{n}" for n in range(1, 8)], 3)


@pytest.mark.parametrize(("query", "message"), [
    ({"filter": "price <"}, "filter, column 8: "),
    ({"filter": "pricee > 1"}, "filter, column 1: "),
    ({"filter": "price + 1"}, "the filter must be a condition"),
    ({"sort": "colour"}, "cannot sort by 'colour': item has no such column"),
    ({"limit": "0"}, "a page holds 1 to 500 records, not 0"),
    ({"limit": "many"}, "limit is the number of records on a page (1 to 500), not 'many'"),
    ({"after": "not-a-cursor"}, "the page cursor is not valid"),
    ({"filtre": "x"}, "unknown query parameter 'filtre'"),
])
def test_a_bad_query_is_a_400_saying_what_is_wrong(api, query, message):
    body = problem_of(api.client("root", "admin").get("/api/item", params=query), 400)
    assert message in body["detail"]


def test_bad_requests_are_problems_never_500(api):
    admin = api.client("root", "admin")
    bad_json = problem_of(admin.post("/api/item", content=b'{"code": "A",', headers={"content-type": "application/json"}), 400)
    assert bad_json["detail"].startswith("the body is not valid JSON: ") and "line 1" in bad_json["detail"]
    problem_of(admin.post("/api/item", content=b"\xff\xfe", headers={"content-type": "application/json"}), 400)
    problem_of(admin.post("/api/item", content=b"code=A", headers={"content-type": "application/x-www-form-urlencoded"}), 415)
    assert errors_of(admin.post("/api/item", json=[1, 2])) == {"": "the body must be a JSON object (the new item's fields)"}
    assert errors_of(admin.post("/api/item", json={"code": "A\u0000", "name": "x", "rank": 2**70})) == \
        {"code": "contains a NUL character (\\u0000)", "rank": "is too large a number"}
    assert errors_of(admin.post("/api/item", content='{"code": "A", "name": "x", "price": 1e400}',
                                    headers={"content-type": "application/json"})) == \
        {"price": "is too large or too precise a number"}
    huge = b'{"code": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert problem_of(admin.post("/api/item", content=huge, headers={"content-type": "application/json"}), 413)[
        "detail"] == "the body is larger than 10485760 bytes"
    assert "did you mean 'item'" in problem_of(admin.get("/api/itme"), 404)["detail"]
    problem_of(admin.get("/api/item/abc"), 404)
    problem_of(admin.get("/api/item/99999999999999999999999"), 404)
    problem_of(admin.get("/api/item/1/explode"), 404)
    not_allowed = admin.put("/api/item/1", json={})
    assert problem_of(not_allowed, 405)["detail"] == "PUT is not allowed here; use DELETE, GET, PATCH"
    assert not_allowed.headers["allow"] == "DELETE, GET, PATCH"
    assert errors_of(admin.patch("/api/item/1", json={"price": "1"})) == \
        {"version": "is required: the version of the record you read (optimistic locking)"}


def test_exact_decimals_never_pass_through_a_float(api):
    admin = api.client("root", "admin")
    item = admin.post("/api/item", content='{"code": "P", "name": "p", "price": 0.1, "cost": 0.2}',
                      headers={"content-type": "application/json"}).json()
    assert (item["price"], item["cost"], item["margin"]) == ("0.10", "0.20", "-0.10")
    too_precise = admin.post("/api/item", content='{"code": "Q", "name": "q", "price": 0.125}',
                             headers={"content-type": "application/json"})
    assert errors_of(too_precise) == {"price": "has more than 2 decimal places"}


@pytest.fixture
def stocked(api):
    """25 items with ties and blanks in every sort column."""
    admin = api.client("root", "admin")
    for n in range(25):
        new_item(admin, f"K{n:02d}", price=str(n % 5), rank=None if n % 4 == 0 else n % 3,
                 area=[None, "east", "west"][n % 3], since=None if n % 6 == 0 else f"2026-01-{n % 7 + 1:02d}")
    return admin


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 9), threshold=st.integers(0, 5),
       sort=st.sampled_from(["price", "-price", "rank", "-rank,code", "area,-since", "since", "-id", "since,-rank"]))
def test_pages_give_every_matching_record_once_in_the_order_of_one_long_page(stocked, limit, threshold, sort):
    query = {"filter": f"price < {threshold}", "sort": sort}
    whole = stocked.get("/api/item", params={**query, "limit": 500}).json()
    assert whole["next"] is None
    expected = [row["id"] for row in whole["data"]]
    assert sorted(row["code"] for row in whole["data"]) == \
        [f"K{n:02d}" for n in range(25) if n % 5 < threshold]
    walked, url = [], "/api/item?" + urlencode({**query, "limit": limit})
    while url:
        body = stocked.get(url).json()
        assert len(body["data"]) <= limit
        walked += [row["id"] for row in body["data"]]
        url = body["next"]
    assert walked == expected


def test_row_rules_limit_lists_and_hide_other_records(api):
    admin = api.client("root", "admin")
    east = new_item(admin, "E1", area="east")
    west = new_item(admin, "W1", area="west")
    ella = api.client("ella", "east")
    assert [row["code"] for row in ella.get("/api/item").json()["data"]] == ["E1"]
    assert ella.get(f"/api/item/{east['id']}").status_code == 200
    assert problem_of(ella.get(f"/api/item/{west['id']}"), 404)["detail"] == f"there is no item with id {west['id']}"
    assert [row["code"] for row in ella.get("/api/item", params={"filter": 'area = "west"'}).json()["data"]] == []


@pytest.mark.parametrize(("values", "errors"), [
    ({"rank": "99999999999999999999"}, {"rank": "is too large: whole numbers go up to 9223372036854775807"}),
    ({"rank": "1e999999"}, {"rank": "is too large: whole numbers go up to 9223372036854775807"}),
    ({"region": "99999999999999999999"}, {"region": "must be a record (its id)"}),
    ({"region": "9" * 5000}, {"region": "must be a record (its id)"}),
    ({"checked_at": "0001-01-01T00:00:00+14:00"},
     {"checked_at": "'0001-01-01 00:00:00+14:00' is out of the range of dates"}),
])
def test_values_beyond_what_the_database_holds_are_refused_by_field(api, values, errors):
    response = api.client("root", "admin").post("/api/item", json={"code": "Z", "name": "z", **values})
    assert errors_of(response) == errors


@pytest.mark.parametrize("condition", ["rank > 99999999999999999999", "since > DATE(9999, 12, 31) + 5",
                                       "rank * 9223372036854775807 > 1"])
def test_a_filter_the_database_cannot_evaluate_is_a_400(api, condition):
    admin = api.client("root", "admin")
    new_item(admin, rank=5, since="2026-01-01")
    body = problem_of(admin.get("/api/item", params={"filter": condition}), 400)
    assert body["detail"].startswith("the filter cannot run: ")


def test_the_api_root_lists_what_the_user_may_read(api):
    body = api.client("audrey", "auditor").get("/api/").json()
    assert body == {"app": "toy", "openapi": "/api/openapi.json",
                    "entities": [{"name": "item", "label": "物料", "kind": "master", "url": "/api/item"}]}
    assert len(api.client("root", "admin").get("/api/").json()["entities"]) == 4
    problem_of(api.client("root", "admin").post("/api/", json={}), 405)
