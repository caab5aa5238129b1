"""The worker: runs scheduled alerts when their cron time comes, and delivers the outbox.

    worker = Worker(records, name="host-1234")
    worker.run_pending()           # what is due now: scheduled alerts, then the outbox; returns a report
    worker.run(stop_event)         # the loop of `jxc worker APP` (and, later, of `jxc serve`)

Jobs are rows of jxc_job (one per scheduled alert: its cron line and when it runs next). A due job is run
inside one transaction that holds its row (`FOR UPDATE SKIP LOCKED` on PostgreSQL): the alert's episodes,
its notifications and the job's next run time are committed together, and another worker skips the job
meanwhile, so each run happens exactly once however many workers there are; a worker that dies mid-run
leaves nothing behind, and the next one runs the job. On SQLite, transactions take the write lock at their
start, so one worker at a time does this. A job missed while no worker ran (a stop over 08:00) runs once
when one starts again. Times come from the records' clock (app time zone; tests fix it).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from croniter import croniter
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from engine.alerts import Evaluation, app_alerts, describe, engine_for
from engine.notify.delivery import Deliverer, DeliveryReport
from engine.notify.queue import setup_for
from engine.notify.tables import notify_tables

log = logging.getLogger("jxc.worker")
POLL_SECONDS = 5.0


def next_run(cron: str, after: dt.datetime) -> dt.datetime:
    """The first time strictly after `after` that the 5-field cron line names."""
    return croniter(cron, after).get_next(dt.datetime)


def job_name(alert: str) -> str:
    return f"alert:{alert}"


@dataclass
class WorkerReport:
    jobs: dict[str, Evaluation] = field(default_factory=dict)  # job name → what the alert did
    failed_jobs: dict[str, str] = field(default_factory=dict)  # job name → error
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    def lines(self) -> list[str]:
        out = [f"{name}: {evaluation.text()}" for name, evaluation in self.jobs.items()]
        out += [f"{name}: failed: {error}" for name, error in self.failed_jobs.items()]
        d = self.delivery
        if d:
            out.append(f"outbox: {d.sent} sent, {d.retrying} to retry, {d.dead} dead, {d.held} held by rate limits"
                       + (f", {d.interrupted} interrupted" if d.interrupted else ""))
            out += [f"  {error}" for error in d.errors]
        return out


class Worker:
    """Runs one app's jobs and delivers its outbox; several may run against one PostgreSQL database."""

    def __init__(self, records: Any, *, name: str | None = None, clock: Any = None, deliver: bool = True,
                 batch: int = 10) -> None:
        self.records = records
        self.engine = records.engine
        self.schema = records.schema
        self.clock = clock or records.clock
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{id(self) % 10000}"
        self.job = notify_tables(self.schema).job
        self.deliver = deliver
        self.deliverer = Deliverer(self.engine, self.schema, setup_for(records), self.clock, name=self.name,
                                   batch=batch)

    def run_pending(self) -> WorkerReport:
        """Run every job that is due now, then deliver every notification that is due now."""
        report = WorkerReport()
        now = self.clock.now()
        self.sync_jobs(now)
        for alert in app_alerts(self.records, "schedule").values():
            self._run_job(alert, now, report)
        if self.deliver:
            report.delivery = self.deliverer.deliver_due()
        return report

    def run(self, stop: threading.Event | None = None, *, poll_seconds: float = POLL_SECONDS,
            on_report: Any = None) -> None:
        """Run pending work every `poll_seconds` until `stop` is set."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                report = self.run_pending()
                if on_report is not None:
                    on_report(report)
            except Exception as error:  # a database that went away: say so, try again at the next poll
                log.error("worker %s: %s", self.name, describe(error))
                if on_report is not None:
                    on_report(WorkerReport(failed_jobs={"worker": describe(error)}))
            stop.wait(poll_seconds)

    # --- jobs ---------------------------------------------------------------------------------------------

    def sync_jobs(self, now: dt.datetime) -> None:
        """A job row for every scheduled alert; a changed schedule takes effect from now."""
        job = self.job
        wanted = {job_name(name): alert.schedule.cron for name, alert in app_alerts(self.records, "schedule").items()
                  if alert.schedule is not None}
        with self.engine.begin() as connection:
            known = {row.name: row.schedule for row in connection.execute(
                select(job.c.name, job.c.schedule).where(job.c.name.in_(list(wanted))))}
            for name, cron in wanted.items():
                if name not in known:
                    _insert_job(connection, job, {"name": name, "schedule": cron, "next_run_at": next_run(cron, now)})
                elif known[name] != cron:
                    connection.execute(update(job).where(job.c.name == name).values(
                        schedule=cron, next_run_at=next_run(cron, now)))

    def _run_job(self, alert: Any, now: dt.datetime, report: WorkerReport) -> None:
        job, name = self.job, job_name(alert.name)
        with self.engine.begin() as connection:
            row = connection.execute(select(job).where(job.c.name == name, job.c.next_run_at <= now)
                                     .with_for_update(skip_locked=True)).mappings().first()
            if row is None:
                return  # not due, or another worker is running it
            values: dict[str, Any] = {"last_run_at": now, "claimed_by": self.name,
                                      "next_run_at": next_run(row["schedule"], now)}
            try:
                with connection.begin_nested():
                    evaluation = engine_for(self.records).evaluate(alert, connection, now=now)
            except Exception as error:  # kept on the job for admins; the next run comes at its time
                values.update(last_error=describe(error), last_error_at=now)
                report.failed_jobs[name] = values["last_error"]
                log.warning("job %s failed: %s", name, values["last_error"])
            else:
                values.update(last_result=evaluation.text(), last_error=None)
                report.jobs[name] = evaluation
            connection.execute(update(job).where(job.c.name == name).values(**values))


def _insert_job(connection: Connection, job: Any, values: dict[str, Any]) -> None:
    """Insert a job row unless another worker just did."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    connection.execute(insert(job).values(**values).on_conflict_do_nothing(index_elements=["name"]))


def record_error(connection: Connection, schema: Any, name: str, error: str, now: dt.datetime) -> None:
    """Keep an alert's error where admins see it (`jxc outbox APP`), in the caller's transaction."""
    job = notify_tables(schema).job
    if connection.execute(update(job).where(job.c.name == name).values(last_error=error, last_error_at=now)
                          ).rowcount == 0:
        _insert_job(connection, job, {"name": name, "last_error": error, "last_error_at": now})


def jobs(engine: Any, schema: Any) -> list[dict[str, Any]]:
    job = notify_tables(schema).job
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(select(job).order_by(job.c.name)).mappings()]


def run_pending(started: Any, now: dt.datetime | None = None, *, name: str | None = None) -> WorkerReport:
    """Run what is due for a started app (engine.startup.Started) once; `now` fixes the time."""
    from engine.context import Clock

    clock = Clock(started.app.timezone, fixed=now) if now is not None else None
    return Worker(started.records, name=name, clock=clock).run_pending()
