"""Alerts at run time: episodes (fire once, no repeat while true, repeat after the interval, re-arm after
clearing), set-wise evaluation in SQL (a bounded number of statements whatever the number of records),
change-triggered alerts inside the save's transaction, messages, the Python fallback, and the inbox."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from dsl.formula.functions import NUMBER, FunctionSpec, Param
from dsl.formula.types import DECIMAL
from engine import hookimpl
from engine.alerts import engine_for, on_records_changed
from engine.notify import inbox
from engine.plugins import plugin_manager
from engine.users import load_user
from tests.notify_helpers import NOW, add_balances, alert_app, rows, set_available, setup_records

pytestmark = pytest.mark.both_dbs


@pytest.fixture
def records(tmp_path, db_engine):
    return setup_records(alert_app(tmp_path, low_stock_channels="inbox, wecom", overdue_channels="inbox",
                                   channels={"wecom": {"webhook": "http://127.0.0.1:9/robot"}}), db_engine)


def item_of(records, balance_id: int) -> int:
    balance = records.schema.stock["balance"]
    with records.engine.connect() as connection:
        return connection.execute(select(balance.c.item).where(balance.c.id == balance_id)).scalar_one()


def evaluate(records, name="low_stock", at=NOW, **options):
    with records.engine.begin() as connection:
        return engine_for(records).evaluate(name, connection, now=at, **options)


def test_an_alert_fires_once_per_episode_and_rearms_when_the_condition_clears(records):
    ids = add_balances(records, [("A", "10", "5"), ("B", "10", "50"), ("C", "3", "2.5")])
    first = evaluate(records)
    assert (first.fired, first.repeated, first.cleared) == (2, 0, 0)
    assert first.in_python is False
    # zhang is the only purchaser: one inbox row per record, and one WeCom message per record to the group
    # a balance has no page of its own: the link opens its item, where the stock is
    assert [(row["user_id"], row["link"]) for row in rows(records, "inbox")] == [
        (1, f"/e/item/{item_of(records, ids['A'])}"), (1, f"/e/item/{item_of(records, ids['C'])}")]
    assert [(row["channel"], row["recipient"], row["status"]) for row in rows(records, "outbox")] == [
        ("wecom", "group", "pending")] * 2

    again = evaluate(records, at=NOW + dt.timedelta(days=1))  # still low: the episode goes on, nothing sent
    assert (again.fired, again.repeated, again.cleared, again.inbox, again.outbox) == (0, 0, 0, 0, 0)

    set_available(records, ids["A"], "11")  # A recovers: its episode closes
    cleared = evaluate(records, at=NOW + dt.timedelta(days=2))
    assert (cleared.fired, cleared.cleared) == (0, 1)
    state = {row["record_id"]: row for row in rows(records, "alert_state")}
    assert state[ids["A"]]["active"] is False and state[ids["C"]]["active"] is True

    set_available(records, ids["A"], "1")  # low again: a new episode, a new message
    later = NOW + dt.timedelta(days=3)
    refired = evaluate(records, at=later)
    assert (refired.fired, refired.repeated) == (1, 0)
    assert rows(records, "alert_state", record_id=ids["A"])[0]["first_fired_at"] == later
    assert len(rows(records, "inbox")) == 3 and len(rows(records, "outbox")) == 3


def test_a_repeat_interval_sends_again_while_the_condition_stays_true(tmp_path, db_engine):
    records = setup_records(alert_app(tmp_path, repeat="1d"), db_engine)
    session = records.system()
    session.create("receivable", {"customer": "王五", "due_date": "2026-03-01", "balance": "100"})
    assert len(rows(records, "inbox")) == 3  # li, wang (finance) and boss (named): one episode
    records.clock.fixed = NOW + dt.timedelta(hours=12)
    record = session.list("receivable").rows[0]
    session.update("receivable", record["id"], {"customer": "王五（北京）"}, version=record["version"])
    assert len(rows(records, "inbox")) == 3  # still true, repeat not yet due
    records.clock.fixed = NOW + dt.timedelta(days=1)
    record = session.get("receivable", record["id"])
    session.update("receivable", record["id"], {"balance": "90"}, version=record["version"])
    assert len(rows(records, "inbox")) == 6
    state = rows(records, "alert_state")[0]
    assert (state["times"], state["first_fired_at"], state["last_sent_at"]) == (2, NOW, NOW + dt.timedelta(days=1))


def count_statements(records, action):
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith(("BEGIN", "SAVEPOINT", "RELEASE")):  # SQLite's transaction control
            statements.append(statement)

    event.listen(records.engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(records.engine, "before_cursor_execute", count)
    return statements


def test_a_scheduled_rule_runs_a_bounded_number_of_statements_whatever_the_number_of_records(records):
    add_balances(records, [(f"S{n}", "10", "5" if n % 2 else "20") for n in range(6)])
    small = count_statements(records, lambda: evaluate(records))
    small_steady = count_statements(records, lambda: evaluate(records, at=NOW + dt.timedelta(days=1)))
    add_balances(records, [(f"L{n}", "10", "5" if n % 2 else "20") for n in range(200)])
    large = count_statements(records, lambda: evaluate(records, at=NOW + dt.timedelta(days=2)))
    large_steady = count_statements(records, lambda: evaluate(records, at=NOW + dt.timedelta(days=3)))
    assert len(rows(records, "inbox")) == 3 + 100
    # clear, due, episodes, linked items and warehouses, recipients, inbox, outbox
    assert len(small) == len(large) <= 8, small
    assert len(small_steady) == len(large_steady) == 2, small_steady  # the clearing update and the due query


def test_the_set_wise_and_the_per_record_evaluations_agree(records):
    ids = add_balances(records, [(f"I{n}", str(n % 7), str(n % 5)) for n in range(30)])
    in_sql = evaluate(records)
    fired = {row["record_id"] for row in rows(records, "alert_state")}
    with records.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM jxc_alert_state")
    in_python = evaluate(records, python=True)
    assert in_python.in_python and in_python.fired == in_sql.fired == len(fired) > 0
    assert {row["record_id"] for row in rows(records, "alert_state")} == fired
    assert fired == {ids[f"I{n}"] for n in range(30) if n % 5 < n % 7}


def test_a_change_alert_fires_in_the_transaction_of_the_save(records):
    session = records.system()
    created = session.create("receivable", {"customer": "王五", "due_date": "2026-03-01", "balance": "100"})
    messages = rows(records, "inbox")
    assert [(row["title"], row["body"]) for row in messages] == [
        ("应收逾期: #1", "王五 的应收款 100.00 元已逾期（未结）")] * 3
    assert messages[0]["link"] == f"/e/receivable/{created['id']}"
    # a save that is rolled back leaves no trace: no episode, no inbox row, no outbox row
    with records.engine.connect() as connection:
        outer = connection.begin()
        records.system(connection=connection).create("receivable", {"customer": "赵六", "due_date": "2026-02-01",
                                                                    "balance": "5"})
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM jxc_inbox").scalar() == 6  # written inside
        outer.rollback()
    assert len(rows(records, "inbox")) == 3 and len(rows(records, "alert_state")) == 1
    # paid: the episode closes; overdue again: it fires again
    record = session.update("receivable", created["id"], {"balance": "0"}, version=created["version"])
    assert rows(records, "alert_state")[0]["active"] is False
    session.update("receivable", created["id"], {"balance": "1"}, version=record["version"])
    assert len(rows(records, "inbox")) == 6


def test_a_change_alert_that_fails_never_stops_the_save(tmp_path, db_engine):
    folder = alert_app(tmp_path)
    text = (folder / "app.yaml").read_text(encoding="utf-8")
    (folder / "app.yaml").write_text(text.replace("condition: due_date < TODAY() AND balance > 0",
                                                  "condition: balance / (balance - 100) > 1"), encoding="utf-8")
    records = setup_records(folder, db_engine)
    created = records.system().create("receivable", {"customer": "王五", "due_date": "2026-03-01", "balance": "100"})
    assert created["id"] and rows(records, "inbox") == []
    job = rows(records, "job")
    assert job[0]["name"] == "alert:overdue" and "divi" in job[0]["last_error"].lower()


def test_the_stock_engine_calls_on_records_changed_for_balances(tmp_path, db_engine):
    folder = alert_app(tmp_path)
    text = (folder / "app.yaml").read_text(encoding="utf-8")
    (folder / "app.yaml").write_text(text.replace("    schedule: daily 08:00\n", "    trigger: change\n"),
                                     encoding="utf-8")
    records = setup_records(folder, db_engine)
    ids = add_balances(records, [("A", "10", "5"), ("B", "10", "50")])
    with records.engine.begin() as connection:
        results = on_records_changed(records.system(connection=connection), connection, "stock_balance",
                                     list(ids.values()))
    assert [(result.alert, result.fired) for result in results] == [("low_stock", 1)]
    assert rows(records, "inbox")[0]["link"] == f"/e/item/{item_of(records, ids['A'])}"


def test_messages_show_linked_titles_escape_what_users_typed_and_link_to_the_record(records):
    system = records.system()
    ids = add_balances(records, [("A", "10", "5")])
    item = system.list("item").rows[0]
    system.update("item", item["id"], {"name": "<b>苹果</b> *特价*"}, version=item["version"])
    evaluate(records)
    message = rows(records, "inbox")[0]
    assert message["title"] == "库存不足: <b>苹果</b> *特价* · WH1"
    url = f"https://erp.example.com/e/item/{item['id']}"
    assert message["body"] == f"<b>苹果</b> *特价* 在 WH1 可用 5，安全库存 10.000。{url}"
    assert message["html"] == f"&lt;b&gt;苹果&lt;/b&gt; *特价* 在 WH1 可用 5，安全库存 10.000。{url}"
    payload = json.loads(rows(records, "outbox")[0]["payload"])
    assert payload["markdown"] == f"\\<b\\>苹果\\</b\\> \\*特价\\* 在 WH1 可用 5，安全库存 10.000。{url}"
    assert payload["url"] == url and payload["data"] == {"alert": "low_stock", "entity": "stock_balance",
                                                         "record_id": ids["A"]}


class Stock:
    @hookimpl
    def jxc_formula_functions(self):
        return [FunctionSpec("HALF", (Param("number", NUMBER),), DECIMAL,
                             lambda context, x: None if x is None else Decimal(x) / 2,
                             "Half.", "HALF(4) → 2", needs_context=True)]


def test_a_condition_without_a_sql_form_is_evaluated_record_by_record(tmp_path, db_engine):
    folder = alert_app(tmp_path)
    text = (folder / "app.yaml").read_text(encoding="utf-8")
    (folder / "app.yaml").write_text(text.replace("condition: available < item.safety_stock",
                                                  "condition: available < HALF(item.safety_stock)"), encoding="utf-8")
    records = setup_records(folder, db_engine, manager=plugin_manager({"stock_half": Stock()}, entry_points=False))
    add_balances(records, [("A", "10", "4"), ("B", "10", "6")])
    result = evaluate(records)
    assert result.in_python and result.fired == 1
    assert rows(records, "inbox")[0]["body"].startswith("物料A 在 WH1 可用 4")


def test_the_inbox_lists_a_users_messages_and_marks_them_read(records):
    session = records.system()
    session.create("receivable", {"customer": "王五", "due_date": "2026-03-01", "balance": "100"})
    session.create("receivable", {"customer": "赵六", "due_date": "2026-03-02", "balance": "7"})
    li = load_user(records.engine, records.app, records.schema, "li")
    zhang = load_user(records.engine, records.app, records.schema, "zhang")
    found = inbox.messages(records, li)
    assert [row["body"][:2] for row in found] == ["赵六", "王五"]  # newest first
    assert inbox.unread_count(records, li) == 2 and inbox.messages(records, zhang) == []
    assert inbox.mark_read(records, li, [found[0]["id"]]) == 1
    assert inbox.unread_count(records, li) == 1
    assert [row["body"][:2] for row in inbox.messages(records, li, unread_only=True)] == ["王五"]
    assert inbox.mark_read(records, zhang) == 0 and inbox.mark_read(records, li) == 1
