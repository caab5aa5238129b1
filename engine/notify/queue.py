"""Queueing notifications in the transaction of the event that causes them.

The in-app inbox gets its rows at once (they are in the database already: nothing to deliver); every other
channel gets a row in jxc_outbox that the worker delivers (engine.notify.delivery). Both are written with
the event, so a rolled-back save sends nothing, and both have a unique `dedupe_key`, so the same
notification is never queued twice (a second attempt to queue it is ignored).

    queue = Queue(connection, schema, setup, now)
    queue.add(notification, channels=("inbox", "wecom"), users=recipients(connection, schema, roles, names))
    queue.flush()          # two INSERT statements, however many notifications and recipients

`notify()` does all of it for one message (workflows: "your approval is needed").
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import escape
from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from dsl.model import App
from engine.notify.channels import INBOX, ChannelEntry
from engine.notify.render import _markdown_escape, record_url
from engine.notify.tables import DEAD, PENDING, notify_tables

DEFAULT_MAX_ATTEMPTS = 10
SETTINGS = "notify"  # app.yaml: plugins: {notify: {base_url: ..., max_attempts: ...}}


@dataclass(frozen=True)
class Notification:
    key: str  # what makes it unique, e.g. alert:low_stock:stock_balance:12:2026-03-05T08:00:00
    subject: str
    text: str
    html: str = ""
    markdown: str = ""
    path: str | None = None  # the record's page in the web UI (/e/<entity>/<id>)
    source: str = ""  # alert:<name>, workflow:<name>...
    data: Mapping[str, Any] = field(default_factory=dict)


class NotifySetup:
    """What queueing and delivering need of one app: its channels with their settings, base URL, limits."""

    def __init__(self, app: App, channels: Mapping[str, ChannelEntry]) -> None:
        self.app = app
        settings = app.plugins.get(SETTINGS) or {}
        self.base_url: str | None = settings.get("base_url")
        self.max_attempts = int(settings.get("max_attempts", DEFAULT_MAX_ATTEMPTS))
        self.channels = dict(channels)

    def settings(self, channel: str) -> tuple[Any, Mapping[str, Any] | None, str | None]:
        """(channel object, its settings, why it cannot send) for a channel name."""
        entry = self.channels.get(channel)
        if entry is None:
            return None, None, f"there is no notification channel '{channel}' (is its plugin installed?)"
        settings = self.app.plugins.get(entry.plugin)
        if settings is None and getattr(entry.channel, "settings_schema", None) is not None:
            return entry.channel, None, (f"the {channel} channel is not set up: add its settings under plugins: "
                                         f"{{{entry.plugin}: {{...}}}} in app.yaml")
        settings = settings or {}
        check = getattr(entry.channel, "check", None)
        problem = check(settings) if check is not None else None
        return entry.channel, settings, problem


_setups: weakref.WeakKeyDictionary[Any, NotifySetup] = weakref.WeakKeyDictionary()


def setup_for(records: Any) -> NotifySetup:
    """The NotifySetup of a Records (engine.records), made once."""
    found = _setups.get(records)
    if found is None:
        from engine.plugins import builtin_manager, channel_registry

        manager = records.plugins if records.plugins is not None else builtin_manager()
        found = _setups[records] = NotifySetup(records.app, channel_registry(manager))
    return found


def recipients(connection: Connection, schema: Any, roles: Iterable[str] = (),
               names: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Active users holding one of `roles` or named in `names` (one query)."""
    users = schema.users
    role_table = schema.metadata.tables["jxc_user_role"]
    roles, names = list(roles), list(names)
    if not roles and not names:
        return []
    conditions = []
    if names:
        conditions.append(users.c.name.in_(names))
    if roles:
        conditions.append(users.c.id.in_(select(role_table.c.user_id).where(role_table.c.role.in_(roles))))
    query = select(users.c.id, users.c.name, users.c.full_name, users.c.email).where(
        users.c.active.is_(True), or_(*conditions)).order_by(users.c.id)
    return [dict(row) for row in connection.execute(query).mappings()]


def dedupe_key(*parts: Any) -> str:
    return hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()


class Queue:
    """Notifications of one transaction, written at `flush()` in one statement per table."""

    def __init__(self, connection: Connection, schema: Any, setup: NotifySetup, now: Any) -> None:
        self.connection = connection
        self.tables = notify_tables(schema)
        self.setup = setup
        self.now = now
        self.inbox: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []

    def add(self, notification: Notification, channels: Sequence[str], users: Sequence[Mapping[str, Any]]) -> None:
        url = record_url(self.setup.base_url, notification.path) if notification.path else None
        html = notification.html or str(escape(notification.text))
        for channel_name in channels:
            if channel_name == INBOX:
                for user in users:
                    self.inbox.append({
                        "user_id": user["id"], "created_at": self.now, "title": notification.subject,
                        "body": notification.text, "html": html, "link": notification.path,
                        "source": notification.source[:130], "read_at": None,
                        "dedupe_key": dedupe_key(notification.key, INBOX, user["id"])})
                continue
            channel, settings, problem = self.setup.settings(channel_name)
            if channel is not None and getattr(channel, "to", "group") == "user":
                targets = [(channel.address(user), user) for user in users]
            else:
                targets = [("group", None)]
            for address, user in targets:
                error = problem
                if address is None and error is None:
                    who = user.get("full_name") or user.get("name") if user else "?"
                    error = f"{who} has no {channel_name} address (set it on the user)"
                recipient = address or (f"user:{user['name']}" if user else "?")
                rate_key = None
                if channel is not None and settings is not None and getattr(channel, "rate_limit", None):
                    rate_key = channel.rate_key(settings, recipient)[:100]
                payload = {"html": html, "markdown": notification.markdown or _markdown_escape(notification.text),
                           "url": url, "path": notification.path, "source": notification.source,
                           "data": dict(notification.data)}
                self.outbox.append({
                    "created_at": self.now, "channel": channel_name, "recipient": recipient[:254],
                    "rate_key": rate_key, "subject": notification.subject, "body": notification.text,
                    "payload": json.dumps(payload, ensure_ascii=False, default=str),
                    "status": DEAD if error else PENDING, "attempts": 0, "next_attempt_at": self.now,
                    "last_error": error, "dedupe_key": dedupe_key(notification.key, channel_name, recipient)})

    def flush(self) -> tuple[int, int]:
        """Write what was added; (inbox rows, outbox rows) queued."""
        tables = self.tables
        counts = (len(self.inbox), len(self.outbox))
        for table, rows in ((tables.inbox, self.inbox), (tables.outbox, self.outbox)):
            if rows:
                self.connection.execute(_insert_ignoring_duplicates(self.connection, table), rows)
        self.inbox, self.outbox = [], []
        return counts


def _insert_ignoring_duplicates(connection: Connection, table: Any) -> Any:
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])


def notify(connection: Connection, records: Any, notification: Notification, *, channels: Sequence[str] = (INBOX,),
           roles: Iterable[str] = (), users: Iterable[str] = ()) -> tuple[int, int]:
    """Queue one notification for the users holding `roles` and those named in `users`, in the caller's
    transaction; (inbox rows, outbox rows) written."""
    queue = Queue(connection, records.schema, setup_for(records), records.clock.now())
    queue.add(notification, channels, recipients(connection, records.schema, roles, users))
    return queue.flush()
