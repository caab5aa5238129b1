"""`jxc worker APP` (run scheduled alerts and deliver notifications) and `jxc outbox APP` (what failed)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any


def add_commands(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser(
        "worker", help="run scheduled alerts and send notifications (email, WeCom, DingTalk) until stopped",
        description="Check scheduled alerts when their time comes and deliver queued notifications, retrying "
                    "those that fail. Several workers may run against one PostgreSQL database; each "
                    "notification is sent by one of them. Stop with Ctrl-C.")
    worker.add_argument("app", metavar="APP", help="the app's folder, e.g. apps/food")
    worker.add_argument("--db", metavar="URL", help="the database; default: $JXC_DB, else APP/data/jxc.sqlite")
    worker.add_argument("--once", action="store_true", help="do what is due now, then stop")
    worker.add_argument("--poll", type=float, default=5.0, metavar="SECONDS",
                        help="how often to look for due work (default 5)")
    worker.add_argument("--name", metavar="NAME", help="this worker's name in the outbox (default host-pid)")
    outbox = commands.add_parser(
        "outbox", help="show notifications that could not be sent, and queue them again",
        description="Count the notifications by status, list those that failed (being retried) or are dead "
                    "(given up), with the reason, and the scheduled alerts with their last run and error.")
    outbox.add_argument("app", metavar="APP", help="the app's folder, e.g. apps/food")
    outbox.add_argument("--db", metavar="URL", help="the database; default: $JXC_DB, else APP/data/jxc.sqlite")
    outbox.add_argument("--retry", nargs="+", metavar="ID",
                        help="queue these notifications again (ids from the list, or 'all')")


def run(args: argparse.Namespace, open_app: Callable[[argparse.Namespace], Any], error: type[Exception]) -> int:
    started = open_app(args)
    try:
        if args.command == "worker":
            return _worker(args, started)
        return _outbox(args, started, error)
    finally:
        started.close()


def _worker(args: argparse.Namespace, started: Any) -> int:
    from engine.scheduler import Worker

    worker = Worker(started.records, name=args.name)

    def show(report: Any) -> None:
        for line in report.lines():
            print(line, flush=True)

    if args.once:
        show(worker.run_pending())
        return 0
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"worker {worker.name} running for {started.app.name} (Ctrl-C stops it)", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        worker.run(stop, poll_seconds=args.poll, on_report=show)
    print(f"worker {worker.name} stopped", file=sys.stderr)
    return 0


def _outbox(args: argparse.Namespace, started: Any, error: type[Exception]) -> int:
    from engine.notify.delivery import counts, problems, retry
    from engine.scheduler import jobs

    engine, schema = started.engine, started.records.schema
    if args.retry:
        if args.retry == ["all"]:
            ids = None
        else:
            try:
                ids = [int(value) for value in args.retry]
            except ValueError:
                raise error(f"--retry takes notification ids (numbers) or 'all', not {' '.join(args.retry)}") from None
        count = retry(engine, schema, started.records.clock.now(), ids)
        print(f"queued {count} notification{'s' if count != 1 else ''} again; a running worker sends them")
        return 0
    print("notifications: " + ", ".join(f"{n} {status}" for status, n in counts(engine, schema).items()))
    found = problems(engine, schema)
    for row in found:
        when = f", next try {row['next_attempt_at']:%Y-%m-%d %H:%M}" if row["status"] == "failed" else ""
        print(f"#{row['id']} {row['status']} {row['channel']} → {row['recipient']} ({row['attempts']} attempts"
              f"{when}): {row['subject']}\n    {row['last_error']}")
    for job in jobs(engine, schema):
        line = f"{job['name']}"
        if job["schedule"]:
            last = f"{job['last_run_at']:%Y-%m-%d %H:%M}" if job["last_run_at"] else "never"
            line += f" ({job['schedule']}): last run {last}, next {job['next_run_at']:%Y-%m-%d %H:%M}"
        if job["last_error"]:
            line += f"\n    error at {job['last_error_at']:%Y-%m-%d %H:%M}: {job['last_error']}"
        print(line)
    if found:
        print(f"\nqueue them again with: jxc outbox {args.app} --retry ID ... (or --retry all)")
    return 0
