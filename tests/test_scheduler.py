"""The scheduler: scheduled alerts run at their cron time by the injected clock (nothing sleeps), a missed
run happens once, a changed schedule takes effect, a failing job keeps its error, several workers on
PostgreSQL run a job exactly once; and the `jxc worker` / `jxc outbox` commands."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from engine.cli import main
from engine.context import Clock
from engine.scheduler import Worker, next_run, run_pending
from engine.startup import start
from tests.notify_helpers import add_balances, alert_app, rows, setup_records

pytest_plugins = ["tests.notify_fixtures"]

MORNING = dt.datetime(2026, 3, 5, 7, 59)


def test_next_run_follows_the_cron_line():
    assert next_run("0 8 * * *", MORNING) == dt.datetime(2026, 3, 5, 8, 0)
    assert next_run("0 8 * * *", dt.datetime(2026, 3, 5, 8, 0)) == dt.datetime(2026, 3, 6, 8, 0)
    assert next_run("*/15 * * * *", dt.datetime(2026, 3, 5, 8, 7)) == dt.datetime(2026, 3, 5, 8, 15)
    assert next_run("0 8 * * 1", MORNING) == dt.datetime(2026, 3, 9, 8, 0)  # 2026-03-09 is a Monday


@pytest.mark.both_dbs
def test_a_daily_alert_runs_at_its_time_once_and_again_the_next_day(tmp_path, db_engine):
    records = setup_records(alert_app(tmp_path), db_engine, now=MORNING)
    add_balances(records, [("A", "10", "5")])
    worker = Worker(records, name="w1")
    assert worker.run_pending().jobs == {}  # 07:59: the job is set up for 08:00
    job = rows(records, "job")[0]
    assert (job["name"], job["schedule"], job["next_run_at"]) == ("alert:low_stock", "0 8 * * *",
                                                                  dt.datetime(2026, 3, 5, 8, 0))
    records.clock.fixed = dt.datetime(2026, 3, 5, 8, 0)
    report = worker.run_pending()
    assert report.jobs["alert:low_stock"].fired == 1
    assert report.lines()[0] == "alert:low_stock: 1 fired, 0 repeated, 0 cleared; 1 inbox and 0 outbox notifications"
    records.clock.fixed = dt.datetime(2026, 3, 5, 8, 1)
    assert Worker(records, name="w2").run_pending().jobs == {}  # ran already today
    records.clock.fixed = dt.datetime(2026, 3, 8, 10, 30)  # no worker ran for three days: one run, not three
    assert list(worker.run_pending().jobs) == ["alert:low_stock"]
    job = rows(records, "job")[0]
    assert (job["last_run_at"], job["next_run_at"], job["claimed_by"]) == (
        dt.datetime(2026, 3, 8, 10, 30), dt.datetime(2026, 3, 9, 8, 0), "w1")
    assert job["last_result"].startswith("0 fired")
    assert worker.run_pending().jobs == {}


def test_a_changed_schedule_takes_effect(tmp_path, db_engine):
    folder = alert_app(tmp_path)
    records = setup_records(folder, db_engine, now=MORNING)
    Worker(records).run_pending()
    text = (folder / "app.yaml").read_text(encoding="utf-8")
    (folder / "app.yaml").write_text(text.replace("schedule: daily 08:00", "schedule: every 15m"), encoding="utf-8")
    changed = setup_records_again(folder, records)
    Worker(changed).run_pending()
    job = rows(changed, "job")[0]
    assert (job["schedule"], job["next_run_at"]) == ("*/15 * * * *", dt.datetime(2026, 3, 5, 8, 0))


def setup_records_again(folder, records):
    from engine.records import Records
    from tests.notify_helpers import load

    app, manager = load(folder)
    return Records(app, records.engine, plugins=manager, clock=records.clock)


def test_a_failing_job_keeps_its_error_and_runs_again_at_its_next_time(tmp_path, db_engine):
    folder = alert_app(tmp_path)
    text = (folder / "app.yaml").read_text(encoding="utf-8")
    (folder / "app.yaml").write_text(text.replace("condition: available < item.safety_stock",
                                                  "condition: available / (available - 5) > 1"), encoding="utf-8")
    records = setup_records(folder, db_engine, now=MORNING)
    add_balances(records, [("A", "10", "5")])
    worker = Worker(records)
    worker.run_pending()
    records.clock.fixed = dt.datetime(2026, 3, 5, 8, 0)
    report = worker.run_pending()
    assert "divi" in report.failed_jobs["alert:low_stock"].lower()
    job = rows(records, "job")[0]
    assert "divi" in job["last_error"].lower() and job["next_run_at"] == dt.datetime(2026, 3, 6, 8, 0)
    assert rows(records, "alert_state") == []  # the failed run left nothing behind


@pytest.mark.xdist_group("concurrency")
def test_several_workers_on_postgresql_run_a_job_exactly_once(tmp_path, pg_engine):
    records = setup_records(alert_app(tmp_path), pg_engine, now=MORNING)
    add_balances(records, [(f"I{n}", "10", "5") for n in range(40)])
    Worker(records).run_pending()
    clock = Clock(records.app.timezone, fixed=dt.datetime(2026, 3, 5, 8, 0))
    workers = [Worker(records, name=f"w{n}", clock=clock) for n in range(4)]
    barrier = threading.Barrier(len(workers))
    ran: list[str] = []

    def run(one: Worker) -> None:
        barrier.wait()
        if one.run_pending().jobs:
            ran.append(one.name)

    threads = [threading.Thread(target=run, args=(one,)) for one in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ran) == 1 and rows(records, "job")[0]["claimed_by"] == ran[0]
    assert len(rows(records, "inbox")) == 40  # one episode per balance, once


def test_run_pending_on_a_started_app(tmp_path):
    folder = alert_app(tmp_path)
    started = start(folder, f"sqlite:///{tmp_path / 'jxc.sqlite'}")
    try:
        assert run_pending(started, MORNING, name="api").jobs == {}
        assert run_pending(started, dt.datetime(2026, 3, 5, 8, 0)).jobs["alert:low_stock"].fired == 0
    finally:
        started.close()


def test_jxc_worker_sends_and_jxc_outbox_shows_what_failed(tmp_path, webhook, capsys):
    folder = alert_app(tmp_path, overdue_channels="inbox, wecom",
                       channels={"wecom": {"webhook": webhook.url("/wecom?key=k")}})
    url = f"sqlite:///{tmp_path / 'jxc.sqlite'}"
    started = start(folder, url)
    try:
        from engine.users import add_user

        add_user(started.engine, started.app, started.records.schema, "li", roles=["finance"])
        session = started.records.system()
        session.create("receivable", {"customer": "王五", "due_date": "2020-03-01", "balance": "100"})
        session.create("receivable", {"customer": "赵六", "due_date": "2020-03-01", "balance": "5"})
    finally:
        started.close()
    assert main(["worker", str(folder), "--db", url, "--once"]) == 0
    out = capsys.readouterr().out
    assert "outbox: 2 sent, 0 to retry, 0 dead" in out
    webhook.mode = "refuse"
    started = start(folder, url)
    try:
        session = started.records.system()
        session.create("receivable", {"customer": "钱七", "due_date": "2020-03-01", "balance": "9"})
    finally:
        started.close()
    assert main(["worker", str(folder), "--db", url, "--once", "--name", "cli"]) == 0
    assert "#3 wecom → group: WeCom refused the message: errcode 93000" in capsys.readouterr().out
    assert main(["outbox", str(folder), "--db", url]) == 0
    out = capsys.readouterr().out
    assert "notifications: 0 pending, 0 sending, 2 sent, 0 failed, 1 dead" in out
    assert "#3 dead wecom → group (1 attempts): 应收逾期: #3\n    WeCom refused the message: errcode 93000" in out
    assert "alert:low_stock (0 8 * * *): last run never" in out
    assert main(["outbox", str(folder), "--db", url, "--retry", "x"]) == 1
    assert "--retry takes notification ids (numbers) or 'all', not x" in capsys.readouterr().err
    webhook.mode = "ok"
    assert main(["outbox", str(folder), "--db", url, "--retry", "all"]) == 0
    assert "queued 1 notification again" in capsys.readouterr().out
    assert main(["worker", str(folder), "--db", url, "--once"]) == 0
    assert "outbox: 1 sent" in capsys.readouterr().out
    assert len(webhook.posts) == 4  # two sent, one refused, then sent
