"""POST /api/batch and the Idempotency-Key header: each operation applied at most once, a replay answered from
jxc_api_idempotency, a conflict reported per operation with the current values while the others apply."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from tests.api_helpers import errors_of, problem_of
from tests.service_helpers import count, toy_app

pytest_plugins = ["tests.service_fixtures", "tests.api_fixtures"]
pytestmark = pytest.mark.both_dbs


@pytest.fixture
def api(make_api):
    return make_api(toy_app())


def items_batch(prefix: str, number: int) -> dict:
    return {"operations": [{"key": f"{prefix}-{n}", "method": "POST", "path": "/api/item",
                            "body": {"code": f"{prefix}{n}", "name": f"物料{n}", "price": f"{n}.5"}}
                           for n in range(number)]}


def test_a_replayed_batch_is_applied_once_and_answered_from_storage(api):
    admin = api.client("root", "admin")
    first = admin.post("/api/batch", json=items_batch("A", 3))
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert [(r["key"], r["status"], r["replayed"], r["body"]["price"]) for r in results] == \
        [("A-0", 201, False, "0.50"), ("A-1", 201, False, "1.50"), ("A-2", 201, False, "2.50")]
    again = admin.post("/api/batch", json=items_batch("A", 3)).json()["results"]
    assert [r["replayed"] for r in again] == [True, True, True]
    assert [r["body"] for r in again] == [r["body"] for r in results]
    assert count(api.records, "item") == 3


def test_a_conflict_comes_back_for_its_operation_and_the_others_still_apply(api):
    admin = api.client("root", "admin")
    item = admin.post("/api/item", json={"code": "X", "name": "旧"}).json()
    assert admin.patch(f"/api/item/{item['id']}", json={"version": 1, "name": "别人改的"}).status_code == 200
    batch = {"operations": [
        {"key": "k1", "method": "PATCH", "path": f"/api/item/{item['id']}", "body": {"version": 1, "name": "我改的"}},
        {"key": "k2", "method": "POST", "path": "item", "body": {"code": "Y", "name": "新"}},  # relative to /api
        {"key": "k3", "method": "POST", "path": "/api/item", "body": {"code": "Z"}},
        {"key": "k4", "method": "DELETE", "path": "/api/item/999"},
    ]}
    results = {r["key"]: r for r in admin.post("/api/batch", json=batch).json()["results"]}
    conflict = results["k1"]
    assert conflict["status"] == 409 and "your version 1, now 2" in conflict["body"]["detail"]
    assert (conflict["body"]["current"]["name"], conflict["body"]["current"]["version"]) == ("别人改的", 2)
    assert results["k2"]["status"] == 201 and results["k2"]["body"]["code"] == "Y"
    assert results["k3"]["status"] == 422 and results["k3"]["body"]["errors"] == \
        [{"field": "name", "message": "is required"}]
    assert results["k4"]["status"] == 404
    assert admin.get(f"/api/item/{item['id']}").json()["name"] == "别人改的"
    assert count(api.records, "item") == 2
    replay = {r["key"]: r for r in admin.post("/api/batch", json=batch).json()["results"]}
    assert {key: (r["status"], r["body"]) for key, r in replay.items()} == \
        {key: (r["status"], r["body"]) for key, r in results.items()}


def test_a_key_used_again_for_another_request_is_refused(api):
    admin = api.client("root", "admin")
    admin.post("/api/batch", json=items_batch("A", 1))
    reused = {"operations": [{"key": "A-0", "method": "POST", "path": "/api/item", "body": {"code": "B", "name": "b"}}]}
    (result,) = admin.post("/api/batch", json=reused).json()["results"]
    assert result["status"] == 422 and "already used for another request" in result["body"]["detail"]
    assert count(api.records, "item") == 1


def test_keys_belong_to_their_user(api):
    api.client("root", "admin").post("/api/batch", json=items_batch("A", 1))
    (result,) = api.client("rita", "admin").post("/api/batch", json=items_batch("B", 1) | {
        "operations": [{"key": "A-0", "method": "POST", "path": "/api/item", "body": {"code": "R", "name": "r"}}]}
    ).json()["results"]
    assert (result["status"], result["replayed"]) == (201, False)


def test_a_malformed_batch_applies_nothing(api):
    admin = api.client("root", "admin")
    batch = items_batch("A", 2)
    batch["operations"] += [{"key": "A-0", "method": "PUT", "path": "", "extra": 1}, "op"]
    assert errors_of(admin.post("/api/batch", json=batch)) == {
        "operations[2].key": "'A-0' is used twice in this batch",
        "operations[2].method": "is one of GET, POST, PATCH, DELETE",
        "operations[2].path": "is required: the request's path, e.g. /api/item/5",
        "operations[2].extra": "is not understood here; send key, method, path and body",
        "operations[3]": "must be an object with key, method, path and body",
    }
    assert count(api.records, "item") == 0
    problem_of(admin.get("/api/batch"), 405)
    problem_of(api.anonymous().post("/api/batch", json=items_batch("A", 1)), 401)


def test_operations_run_with_the_callers_rights(api):
    api.client("root", "admin").post("/api/item", json={"code": "X", "name": "x"})
    auditor = api.client("audrey", "auditor")
    batch = {"operations": [{"key": "1", "method": "POST", "path": "/api/item", "body": {"code": "A", "name": "a"}},
                            {"key": "2", "method": "GET", "path": "/api/item?filter=code%20%3D%20%22X%22%20OR%20code%20%3D%20%22XX%22"}]}
    first, second = auditor.post("/api/batch", json=batch).json()["results"]
    assert first["status"] == 403 and first["body"]["detail"] == "audrey may not create 物料 (item)"
    assert second["status"] == 200 and [row["code"] for row in second["body"]["data"]] == ["X"]
    api.client("root", "admin").post("/api/item", json={"code": "XX", "name": "x"})
    first, second = auditor.post("/api/batch", json=batch).json()["results"]
    assert first["replayed"] and not second["replayed"]  # a read is answered afresh, never from storage
    assert sorted(row["code"] for row in second["body"]["data"]) == ["X", "XX"]


def test_the_idempotency_key_header_makes_one_request_safe_to_repeat(api):
    admin = api.client("root", "admin")
    headers = {"Idempotency-Key": "form-17"}
    first = admin.post("/api/item", json={"code": "A", "name": "a"}, headers=headers)
    second = admin.post("/api/item", json={"code": "A", "name": "a"}, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json() and second.headers["location"] == first.headers["location"]
    assert count(api.records, "item") == 1


def test_two_replays_racing_each_other_apply_each_operation_once(api):
    tokens = api.token("root", "admin")
    clients = [api.client("root", token=tokens) for _ in range(2)]
    batch = items_batch("R", 6)
    start = threading.Barrier(2)
    answers: list = [None, None]

    def send(index: int) -> None:
        start.wait()
        answers[index] = clients[index].post("/api/batch", json=batch)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [200, 200], [a.text for a in answers]
    first, second = (answer.json()["results"] for answer in answers)
    assert [r["body"]["id"] for r in first] == [r["body"]["id"] for r in second]
    assert all(r["status"] == 201 for r in first + second)
    assert sorted(r["replayed"] for r in first + second) == [False] * 6 + [True] * 6
    assert count(api.records, "item") == 6


def test_a_bug_is_a_bare_500_and_a_failed_operation_is_not_stored(api, monkeypatch, caplog):
    from engine.records import Session

    admin = api.client("root", "admin")
    real_create = Session.create

    def broken(self, *args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Session, "create", broken)
    response = admin.post("/api/item", json={"code": "A", "name": "a"})
    body = problem_of(response, 500)
    assert "secret" not in response.text and "Traceback" not in response.text
    assert body["detail"] == "the error was logged; please try again or tell the administrator"
    assert "secret internals" in caplog.text  # the administrator finds it in the log
    (result,) = admin.post("/api/batch", json=items_batch("A", 1)).json()["results"]
    assert result["status"] == 500 and "secret" not in str(result)
    monkeypatch.setattr(Session, "create", real_create)
    (result,) = admin.post("/api/batch", json=items_batch("A", 1)).json()["results"]
    assert (result["status"], result["replayed"]) == (201, False)  # applied now: the failure was not kept
    assert count(api.records, "item") == 1


def test_keys_are_kept_thirty_days_then_forgotten_by_the_users_next_batch(api):
    from sqlalchemy import select, update

    from engine.web.api.tables import idempotency_table

    admin = api.client("root", "admin")
    assert admin.post("/api/batch", json=items_batch("OLD", 2)).status_code == 200
    table = idempotency_table(api.records.schema)
    now = api.records.clock.now()
    with api.records.engine.begin() as connection:
        connection.execute(update(table).where(table.c.key == "OLD-0").values(created_at=now - dt.timedelta(days=31)))
        connection.execute(update(table).where(table.c.key == "OLD-1").values(created_at=now - dt.timedelta(days=29)))
    admin.post("/api/batch", json=items_batch("NEW", 1))
    with api.records.engine.connect() as connection:
        kept = set(connection.execute(select(table.c.key)).scalars())
    assert kept == {"OLD-1", "NEW-0"}
    # within the 30 days a replay is still answered from storage
    again = admin.post("/api/batch", json={"operations": items_batch("OLD", 2)["operations"][1:]}).json()["results"]
    assert [r["replayed"] for r in again] == [True]
