"""jxc's tables for alerts and notifications (created by migration like every `jxc_` table).

- jxc_alert_state: one row per alert × record that has fired: whether its episode is still on (`active`),
  when it began and when it was last sent. An alert fires when its condition becomes true for a record,
  is not repeated while it stays true (unless `repeat:` is due), and re-arms when the condition clears.
- jxc_outbox: notifications to deliver through a channel (email, WeCom, DingTalk, a plugin's), written in
  the transaction of the event; the worker delivers them, retries with backoff, and marks them
  sent / failed / dead. `dedupe_key` is unique: the same notification is never queued twice.
- jxc_inbox: the in-app inbox, one row per user and notification (written in the event's transaction).
- jxc_job: scheduled jobs (one per scheduled alert): when each runs next, when it last ran, by which
  worker, and the last error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

# What a row of jxc_outbox goes through: pending → sending → sent; a failed attempt → failed (tried again at
# next_attempt_at); too many failures, a permanent one, or an interrupted send → dead (an admin looks).
PENDING, SENDING, SENT, FAILED, DEAD = "pending", "sending", "sent", "failed", "dead"
STATUSES = (PENDING, SENDING, SENT, FAILED, DEAD)


@dataclass(frozen=True)
class NotifyTables:
    alert_state: Table
    outbox: Table
    inbox: Table
    job: Table


def add_notify_tables(schema: Any) -> None:
    """Add the alert and notification tables to `schema` (engine.schema.Schema)."""
    from engine.schema import ID_TYPE, USER_TABLE

    metadata = schema.metadata
    Table(
        "jxc_alert_state", metadata,
        Column("alert", String(63), primary_key=True),
        Column("entity", String(63), primary_key=True),
        Column("record_id", BigInteger, primary_key=True),
        Column("active", Boolean(create_constraint=False), nullable=False),
        Column("first_fired_at", DateTime, nullable=False),  # when the current (or last) episode began
        Column("last_sent_at", DateTime, nullable=False),
        Column("cleared_at", DateTime),
        Column("episode", Integer, nullable=False, default=1),  # how many episodes this record has had
        Column("times", Integer, nullable=False, default=1),  # notifications sent in this episode
    )
    outbox = Table(
        "jxc_outbox", metadata,
        Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        Column("created_at", DateTime, nullable=False),
        Column("channel", String(63), nullable=False),
        Column("recipient", String(254), nullable=False),  # an address, or "group" for a group robot
        Column("rate_key", String(100)),  # sends sharing a rate limit (one robot) share this key
        Column("subject", Text, nullable=False),
        Column("body", Text, nullable=False),  # plain text
        Column("payload", Text, nullable=False),  # JSON: html, markdown, link, url, source
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", DateTime, nullable=False),
        Column("last_attempt_at", DateTime),
        Column("last_error", Text),
        Column("claimed_by", String(100)),
        Column("claimed_until", DateTime),
        Column("sent_at", DateTime),
        Column("dedupe_key", String(64), nullable=False, unique=True),
        sqlite_autoincrement=True,
    )
    Index("ix_jxc_outbox_due", outbox.c.status, outbox.c.next_attempt_at)
    Index("ix_jxc_outbox_rate", outbox.c.rate_key, outbox.c.last_attempt_at)
    inbox = Table(
        "jxc_inbox", metadata,
        Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        Column("user_id", ID_TYPE, ForeignKey(f"{USER_TABLE}.id", ondelete="CASCADE"), nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("title", Text, nullable=False),
        Column("body", Text, nullable=False),  # plain text
        Column("html", Text),  # the same, safe to show as HTML
        Column("link", String(500)),  # a path in the web UI: /e/<entity>/<id>
        Column("source", String(130)),  # alert:<name>, or what else sent it
        Column("read_at", DateTime),
        Column("dedupe_key", String(64), nullable=False, unique=True),
        sqlite_autoincrement=True,
    )
    Index("ix_jxc_inbox_user", inbox.c.user_id, inbox.c.read_at, inbox.c.id)
    Table(
        "jxc_job", metadata,
        Column("name", String(130), primary_key=True),  # alert:<name>
        Column("schedule", String(100)),  # the cron line it runs on (None: run on change, errors only)
        Column("next_run_at", DateTime),
        Column("last_run_at", DateTime),
        Column("claimed_by", String(100)),  # the worker that ran it last (or runs it now)
        Column("last_result", Text),
        Column("last_error", Text),
        Column("last_error_at", DateTime),
    )


def notify_tables(schema: Any) -> NotifyTables:
    tables = schema.metadata.tables
    return NotifyTables(tables["jxc_alert_state"], tables["jxc_outbox"], tables["jxc_inbox"], tables["jxc_job"])
