"""The outbox against a real webhook server on loopback: retries with backoff while it is down (the clock is
advanced, nothing sleeps), exactly once when it is back, dead after the last attempt or a permanent error,
rate limits, interrupted sends made visible, and two workers on PostgreSQL never sending one notification
twice."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from sqlalchemy import update

from engine.context import Clock
from engine.notify import delivery
from engine.notify.delivery import Deliverer, backoff
from engine.notify.queue import Notification, notify, setup_for
from engine.notify.tables import notify_tables
from engine.scheduler import Worker
from tests.notify_helpers import NOW, alert_app, rows, setup_records

pytest_plugins = ["tests.notify_fixtures"]


@pytest.fixture
def robot_app(tmp_path, webhook):
    def make(engine, channel="wecom"):
        settings = {"webhook": webhook.url(f"/{channel}?key=k1")}
        return setup_records(alert_app(tmp_path, overdue_channels=channel, channels={channel: settings}), engine)

    return make


def queue(records, count, channel="wecom", start=0):
    with records.engine.begin() as connection:
        for n in range(start, start + count):
            notify(connection, records, Notification(key=f"test:{n}", subject=f"消息 {n}", text=f"第 {n} 条"),
                   channels=(channel,), roles=("finance",))


def worker(records, name="w1", clock=None):
    return Worker(records, name=name, clock=clock or records.clock)


@pytest.mark.both_dbs
def test_a_notification_is_retried_with_backoff_while_the_server_is_down_and_sent_once_when_it_is_back(
        robot_app, webhook, db_engine):
    records = robot_app(db_engine)
    queue(records, 1)
    webhook.stop()  # connection refused
    clock, times = records.clock, []
    for attempt in range(1, 4):
        report = worker(records).run_pending().delivery
        assert (report.sent, report.retrying) == (0, 1)
        row = rows(records, "outbox")[0]
        assert (row["status"], row["attempts"]) == ("failed", attempt)
        assert "Connection refused" in row["last_error"]
        assert row["next_attempt_at"] == clock.now() + backoff(attempt)
        times.append(row["next_attempt_at"] - clock.now())
        assert worker(records).run_pending().delivery.sent == 0  # not due yet: nothing is tried
        clock.fixed = row["next_attempt_at"]
    assert times == [dt.timedelta(seconds=30), dt.timedelta(minutes=1), dt.timedelta(minutes=2)]
    webhook.start()
    assert worker(records).run_pending().delivery.sent == 1
    clock.fixed += dt.timedelta(hours=2)
    assert worker(records).run_pending().delivery.sent == 0
    assert len(webhook.posts) == 1
    row = rows(records, "outbox")[0]
    assert (row["status"], row["attempts"], row["sent_at"], row["last_error"]) == ("sent", 4, clock.fixed -
                                                                                   dt.timedelta(hours=2), None)


def test_http_500_is_retried_and_the_last_attempt_makes_it_dead(robot_app, webhook, db_engine):
    records = robot_app(db_engine)  # max_attempts: 4 in the app's notify settings
    queue(records, 1)
    webhook.mode = "500"
    for _ in range(4):
        worker(records).run_pending()
        records.clock.fixed += dt.timedelta(hours=1)
    row = rows(records, "outbox")[0]
    assert (row["status"], row["attempts"]) == ("dead", 4)
    assert row["last_error"] == "gave up after 4 attempts: WeCom answered HTTP 500"
    assert [found["id"] for found in delivery.problems(records.engine, records.schema)] == [row["id"]]
    webhook.mode = "ok"
    assert delivery.retry(records.engine, records.schema, records.clock.now(), [row["id"]]) == 1
    assert worker(records).run_pending().delivery.sent == 1
    assert delivery.counts(records.engine, records.schema)["sent"] == 1 and len(webhook.posts) == 1


def test_a_permanent_refusal_is_dead_at_once_and_a_busy_robot_is_retried(robot_app, webhook, db_engine):
    records = robot_app(db_engine)
    queue(records, 1)
    webhook.mode = "busy"
    worker(records).run_pending()
    assert rows(records, "outbox")[0]["status"] == "failed"
    records.clock.fixed += dt.timedelta(minutes=1)
    webhook.mode = "refuse"
    worker(records).run_pending()
    row = rows(records, "outbox")[0]
    assert (row["status"], row["last_error"]) == ("dead", "WeCom refused the message: errcode 93000: invalid "
                                                          "webhook url")


def test_a_channel_without_settings_or_a_user_without_an_address_is_dead_with_the_reason(tmp_path, db_engine):
    records = setup_records(alert_app(tmp_path, overdue_channels="inbox, email, dingtalk"), db_engine)
    records.system().create("receivable", {"customer": "王五", "due_date": "2026-03-01", "balance": "100"})
    found = {(row["channel"], row["recipient"]): (row["status"], row["last_error"]) for row in rows(records, "outbox")}
    assert found[("dingtalk", "group")] == ("dead", "the dingtalk channel is not set up: add its settings under "
                                                    "plugins: {dingtalk: {...}} in app.yaml")
    assert found[("email", "li@example.com")][0] == "dead"  # email is not set up either
    assert len(rows(records, "inbox")) == 3  # the inbox needs nothing


def test_a_user_without_an_email_address_is_reported(tmp_path, db_engine):
    records = setup_records(alert_app(tmp_path, overdue_channels="email",
                                      channels={"email": {"host": "127.0.0.1", "sender": "jxc@example.com"}}),
                            db_engine)
    records.system().create("receivable", {"customer": "王五", "due_date": "2026-03-01", "balance": "100"})
    found = {row["recipient"]: (row["status"], row["last_error"]) for row in rows(records, "outbox")}
    assert found == {"li@example.com": ("pending", None), "boss@example.com": ("pending", None),
                     "user:wang": ("dead", "Wang has no email address (set it on the user)")}


def test_21_messages_to_one_robot_within_a_minute_the_21st_waits(robot_app, webhook, db_engine):
    records = robot_app(db_engine)
    queue(records, 21)
    report = worker(records).run_pending().delivery
    assert (report.sent, report.held) == (20, 1)
    waiting = [row for row in rows(records, "outbox") if row["status"] == "pending"]
    assert len(waiting) == 1 and waiting[0]["attempts"] == 0
    assert waiting[0]["next_attempt_at"] == NOW + dt.timedelta(seconds=60)
    records.clock.fixed = NOW + dt.timedelta(seconds=59)
    assert worker(records).run_pending().delivery.sent == 0
    records.clock.fixed = NOW + dt.timedelta(seconds=60)
    assert worker(records).run_pending().delivery.sent == 1
    assert len(webhook.posts) == 21


def test_a_send_interrupted_by_a_crash_is_shown_not_sent_again(robot_app, webhook, db_engine):
    records = robot_app(db_engine)
    queue(records, 2)
    crashed = Deliverer(records.engine, records.schema, setup_for(records), records.clock, name="crashed")
    claimed = crashed.claim(delivery.DeliveryReport())  # claimed, then the process died before sending/marking
    assert len(claimed) == 2 and {row["status"] for row in rows(records, "outbox")} == {"sending"}
    records.clock.fixed = NOW + dt.timedelta(minutes=5)  # within the lease: nobody touches them
    assert not worker(records).run_pending().delivery
    records.clock.fixed = NOW + dt.timedelta(minutes=11)
    report = worker(records).run_pending().delivery
    assert (report.interrupted, report.sent) == (2, 0)
    row = rows(records, "outbox")[0]
    assert row["status"] == "dead" and row["last_error"].startswith(
        "worker crashed stopped while sending it at 2026-03-05 07:00:00: it may or may not have been delivered")
    assert webhook.posts == []


def test_an_idempotent_channel_is_sent_again_after_an_interrupted_send(robot_app, webhook, db_engine, monkeypatch):
    records = robot_app(db_engine)
    monkeypatch.setattr(type(setup_for(records).channels["wecom"].channel), "idempotent", True)
    queue(records, 1)
    Deliverer(records.engine, records.schema, setup_for(records), records.clock, name="crashed").claim(
        delivery.DeliveryReport())
    records.clock.fixed = NOW + dt.timedelta(minutes=11)
    report = worker(records).run_pending().delivery
    assert (report.interrupted, report.sent) == (1, 1)
    assert len(webhook.posts) == 1 and webhook.posts[0]["headers"]["Idempotency-Key"] == rows(
        records, "outbox")[0]["dedupe_key"]


@pytest.mark.xdist_group("concurrency")
def test_two_workers_on_postgresql_never_send_one_notification_twice(tmp_path, webhook, pg_engine):
    settings = {"webhook": webhook.url("/wecom?key=k1")}
    records = setup_records(alert_app(tmp_path, overdue_channels="wecom", channels={"wecom": settings}), pg_engine)
    queue(records, 120)
    outbox = notify_tables(records.schema).outbox
    with pg_engine.begin() as connection:  # no rate limit here: this test is about claiming
        connection.execute(update(outbox).values(rate_key=None))
    clock = Clock(records.app.timezone, fixed=NOW)
    workers = [Worker(records, name=f"w{n}", clock=clock, batch=5) for n in range(3)]
    start = threading.Barrier(len(workers))
    sent: Counter[str] = Counter()

    def run(one: Worker) -> None:
        start.wait()
        for _ in range(3):
            sent[one.name] += one.run_pending().delivery.sent

    threads = [threading.Thread(target=run, args=(one,)) for one in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = Counter(post["headers"]["Idempotency-Key"] for post in webhook.posts)
    assert len(keys) == 120 and max(keys.values()) == 1  # every notification once, none twice
    assert sum(sent.values()) == 120 and len([n for n in sent.values() if n]) >= 2  # the workers shared it
    assert {row["status"] for row in rows(records, "outbox")} == {"sent"}
    assert {row["claimed_by"] for row in rows(records, "outbox")} <= {"w0", "w1", "w2"}


@pytest.mark.xdist_group("concurrency")
def test_two_workers_on_postgresql_keep_to_a_robots_rate_limit_together(tmp_path, webhook, pg_engine):
    records = setup_records(alert_app(tmp_path, overdue_channels="wecom",
                                      channels={"wecom": {"webhook": webhook.url("/wecom?key=k1")}}), pg_engine)
    queue(records, 30)
    clock = Clock(records.app.timezone, fixed=NOW)
    workers = [Worker(records, name=f"w{n}", clock=clock, batch=4) for n in range(2)]
    threads = [threading.Thread(target=one.run_pending) for one in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(webhook.posts) == 20  # the limit holds across workers
