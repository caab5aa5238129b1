"""Delivering the outbox: claim due notifications, send them through their channel, mark the outcome.

Each notification goes pending → sending → sent, in three short transactions, never holding one open while
talking to a server:

1. **claim** (one transaction): due rows (`pending`, or `failed` whose retry time has come) are locked with
   `FOR UPDATE SKIP LOCKED` on PostgreSQL, so that several workers each take different rows (SQLite lets
   one writer in at a time, which has the same effect), and marked `sending` with this worker's name and a
   lease (`claimed_until`). Rate limits are applied here: a channel's limit (WeCom: 20 a minute per robot)
   counts the attempts made within the window across all workers (on PostgreSQL under an advisory lock per
   robot); a row over the limit waits until the window has room, without counting as an attempt.
2. **send**, outside any transaction.
3. **mark** (one transaction): `sent`; or `failed` with the next attempt after an exponential backoff
   (30 s, 1 min, 2 min … at most 1 h); or `dead` after `max_attempts` (default 10) or a permanent failure.
   Dead and failed notifications are listed for admins (`problems`, `jxc outbox APP`) and can be queued
   again (`retry`).

Exactly once: a notification is sent only by the worker that claimed it, and claimed only while pending or
failed, so two workers never send it both. What cannot be known is the outcome of a send interrupted by a
crash (after sending, before marking): such a row stays `sending` past its lease; it is then marked `dead`
with the reason ("may or may not have been delivered"), for an admin to check and retry — never sent again
silently. A channel that declares itself `idempotent` (the far end drops a repeated `message.key`) is
retried instead. So delivery is exactly once when nothing crashes, and at most once (with the doubt shown)
when a worker dies mid-send. Emails carry the key as Message-ID and webhooks as an Idempotency-Key header.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from engine.notify.channels import DeliveryError, Message, PermanentFailure
from engine.notify.queue import NotifySetup
from engine.notify.tables import DEAD, FAILED, PENDING, SENDING, SENT, STATUSES, notify_tables

log = logging.getLogger("jxc.outbox")
BACKOFF_FIRST = dt.timedelta(seconds=30)
BACKOFF_MAX = dt.timedelta(hours=1)
LEASE = dt.timedelta(minutes=10)  # longer than a batch of sends can take (channels time out in 10-30 s)
BATCH = 10


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, … at most 1 h."""
    return min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0  # failed, to be tried again
    dead: int = 0
    held: int = 0  # held back by a rate limit
    interrupted: int = 0  # found `sending` past their lease (a worker died mid-send)
    errors: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.sent or self.retrying or self.dead or self.held or self.interrupted)

    def add(self, other: DeliveryReport) -> None:
        for name in ("sent", "retrying", "dead", "held", "interrupted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors


class Deliverer:
    """Delivers one app's outbox as worker `name` (unique among running workers)."""

    def __init__(self, engine: Any, schema: Any, setup: NotifySetup, clock: Any, *, name: str,
                 batch: int = BATCH, lease: dt.timedelta = LEASE) -> None:
        self.engine = engine
        self.outbox = notify_tables(schema).outbox
        self.setup = setup
        self.clock = clock
        self.name = name
        self.batch = batch
        self.lease = lease

    def deliver_due(self) -> DeliveryReport:
        """Send everything that is due now, batch after batch, until nothing due is left to claim."""
        report = DeliveryReport()
        while True:
            claimed = self.claim(report)
            if not claimed:
                return report
            for row in claimed:
                self._send(row, report)

    # --- claim --------------------------------------------------------------------------------------

    def claim(self, report: DeliveryReport) -> list[dict[str, Any]]:
        now = self.clock.now()
        outbox = self.outbox
        with self.engine.begin() as connection:
            self._expire(connection, now, report)
            rows = [dict(row) for row in connection.execute(
                select(outbox).where(outbox.c.status.in_((PENDING, FAILED)), outbox.c.next_attempt_at <= now)
                .order_by(outbox.c.next_attempt_at, outbox.c.id).limit(self.batch)
                .with_for_update(skip_locked=True)).mappings()]
            if not rows:
                return []
            claimed, held = self._within_limits(connection, rows, now)
            if held:
                connection.execute(update(outbox).where(outbox.c.id == bindparam("rid"))
                                   .values(next_attempt_at=bindparam("wait")), held)
                report.held += len(held)
            if claimed:
                connection.execute(update(outbox).where(outbox.c.id.in_([row["id"] for row in claimed])).values(
                    status=SENDING, claimed_by=self.name, claimed_until=now + self.lease, last_attempt_at=now,
                    attempts=outbox.c.attempts + 1))
            for row in claimed:
                row["attempts"] += 1
            return claimed

    def _within_limits(self, connection: Connection, rows: list[dict[str, Any]],
                       now: dt.datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(rows that may be sent now, [{rid, wait}] for rows held back by their channel's rate limit)."""
        outbox = self.outbox
        limits = {}
        for row in rows:
            limit = getattr(self._channel(row["channel"]), "rate_limit", None)
            if row["rate_key"] and limit is not None:
                limits[row["rate_key"]] = limit
        windows: dict[str, list[dt.datetime]] = {}
        for key in sorted(limits):  # always in the same order: workers never wait for each other in a circle
            if connection.dialect.name == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(_lock_id(key))))
            since = now - dt.timedelta(seconds=limits[key].seconds)
            windows[key] = list(connection.execute(
                select(outbox.c.last_attempt_at).where(outbox.c.rate_key == key, outbox.c.last_attempt_at > since)
                .order_by(outbox.c.last_attempt_at)).scalars())
        claimed, held = [], []
        over: dict[str, int] = {}
        for row in rows:
            key = row["rate_key"]
            if key not in limits:
                claimed.append(row)
                continue
            used = windows[key]
            if len(used) < limits[key].count:
                used.append(now)
                claimed.append(row)
                continue
            position = over.get(key, 0)  # the n-th held row of this key waits for the n-th oldest slot
            over[key] = position + 1
            frees_at = used[position] if position < len(used) else now
            held.append({"rid": row["id"], "wait": frees_at + dt.timedelta(seconds=limits[key].seconds)})
        return claimed, held

    def _expire(self, connection: Connection, now: dt.datetime, report: DeliveryReport) -> None:
        """Rows left `sending` past their lease: their worker died while sending. Nobody knows whether the
        message went out, so it is not sent again unless its channel drops duplicates."""
        outbox = self.outbox
        stale = list(connection.execute(
            select(outbox.c.id, outbox.c.channel, outbox.c.claimed_by, outbox.c.last_attempt_at)
            .where(outbox.c.status == SENDING, outbox.c.claimed_until < now).with_for_update(skip_locked=True)))
        for row in stale:
            when = f"{row.last_attempt_at:%Y-%m-%d %H:%M:%S}" if row.last_attempt_at else "?"
            if getattr(self._channel(row.channel), "idempotent", False):
                values = {"status": FAILED, "next_attempt_at": now,
                          "last_error": f"worker {row.claimed_by} stopped while sending it at {when}; sent again "
                                        f"({row.channel} drops duplicates)"}
            else:
                values = {"status": DEAD,
                          "last_error": f"worker {row.claimed_by} stopped while sending it at {when}: it may or "
                                        "may not have been delivered; check, then queue it again with "
                                        f"'jxc outbox APP --retry {row.id}'"}
            connection.execute(update(outbox).where(outbox.c.id == row.id, outbox.c.status == SENDING)
                               .values(claimed_until=None, **values))
            report.interrupted += 1

    # --- send and mark ------------------------------------------------------------------------------------

    def _channel(self, name: str) -> Any:
        entry = self.setup.channels.get(name)
        return entry.channel if entry is not None else None

    def _send(self, row: dict[str, Any], report: DeliveryReport) -> None:
        channel, settings, problem = self.setup.settings(row["channel"])
        payload = json.loads(row["payload"] or "{}")
        message = Message(id=row["id"], key=row["dedupe_key"], channel=row["channel"], recipient=row["recipient"],
                          subject=row["subject"], text=row["body"], html=payload.get("html") or "",
                          markdown=payload.get("markdown") or "", url=payload.get("url"),
                          data=payload.get("data") or {})
        try:
            if problem is not None or channel is None:
                raise PermanentFailure(problem or f"there is no channel {row['channel']}")
            channel.send(message, settings or {})
        except DeliveryError as error:
            self._mark_failed(row, str(error), retry=error.retry, report=report)
        except Exception as error:  # a channel's bug or an unforeseen error: tried again, with its reason
            self._mark_failed(row, f"{type(error).__name__}: {error}", retry=True, report=report)
        else:
            self._mark(row, status=SENT, sent_at=self.clock.now(), last_error=None)
            report.sent += 1

    def _mark_failed(self, row: dict[str, Any], reason: str, *, retry: bool, report: DeliveryReport) -> None:
        now = self.clock.now()
        report.errors.append(f"#{row['id']} {row['channel']} → {row['recipient']}: {reason}")
        if retry and row["attempts"] < self.setup.max_attempts:
            self._mark(row, status=FAILED, last_error=reason, next_attempt_at=now + backoff(row["attempts"]))
            report.retrying += 1
        else:
            if retry:
                reason = f"gave up after {row['attempts']} attempts: {reason}"
            self._mark(row, status=DEAD, last_error=reason)
            report.dead += 1

    def _mark(self, row: dict[str, Any], **values: Any) -> None:
        outbox = self.outbox
        with self.engine.begin() as connection:
            done = connection.execute(update(outbox).where(
                outbox.c.id == row["id"], outbox.c.status == SENDING, outbox.c.claimed_by == self.name)
                .values(claimed_until=None, **values)).rowcount
        if not done:  # the lease ran out and another worker marked it: say so rather than hide it
            log.warning("outbox #%s: the claim of %s had expired before it was marked %s", row["id"], self.name,
                        values.get("status"))


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.sha1(f"jxc-rate:{key}".encode()).digest()[:8], "big", signed=True)


# --- for admins ---------------------------------------------------------------------------------------------


def counts(engine: Any, schema: Any) -> dict[str, int]:
    outbox = notify_tables(schema).outbox
    with engine.connect() as connection:
        found = dict(connection.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all())
    return {status: int(found.get(status, 0)) for status in STATUSES}


def problems(engine: Any, schema: Any, *, limit: int = 50) -> list[dict[str, Any]]:
    """Failed (still being retried) and dead notifications, newest first."""
    outbox = notify_tables(schema).outbox
    query = (select(outbox.c.id, outbox.c.created_at, outbox.c.channel, outbox.c.recipient, outbox.c.subject,
                    outbox.c.status, outbox.c.attempts, outbox.c.next_attempt_at, outbox.c.last_error)
             .where(outbox.c.status.in_((FAILED, DEAD))).order_by(outbox.c.id.desc()).limit(limit))
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def retry(engine: Any, schema: Any, now: dt.datetime, ids: Sequence[int] | Iterable[int] | None = None) -> int:
    """Queue failed and dead notifications again (all, or those with `ids`), attempts counted afresh."""
    outbox = notify_tables(schema).outbox
    statement = update(outbox).where(outbox.c.status.in_((FAILED, DEAD))).values(
        status=PENDING, attempts=0, next_attempt_at=now, claimed_by=None, claimed_until=None)
    if ids is not None:
        statement = statement.where(outbox.c.id.in_(list(ids)))
    with engine.begin() as connection:
        return connection.execute(statement).rowcount or 0
