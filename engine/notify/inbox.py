"""The in-app inbox: what jxc told each user (alerts, and whatever else notifies), newest first.

Rows are written by engine.notify.queue in the transaction of the event; here a user reads them and marks
them read. A user only ever sees their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update

from engine.notify.tables import notify_tables


def messages(records: Any, user: Any, *, unread_only: bool = False, limit: int = 50,
             before: int | None = None) -> list[dict[str, Any]]:
    """The user's inbox, newest first (`before`: an id, for the next page)."""
    inbox = notify_tables(records.schema).inbox
    query = (select(inbox.c.id, inbox.c.created_at, inbox.c.title, inbox.c.body, inbox.c.html, inbox.c.link,
                    inbox.c.source, inbox.c.read_at)
             .where(inbox.c.user_id == user.id).order_by(inbox.c.id.desc()).limit(max(1, min(limit, 500))))
    if unread_only:
        query = query.where(inbox.c.read_at.is_(None))
    if before is not None:
        query = query.where(inbox.c.id < before)
    with records.engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def unread_count(records: Any, user: Any) -> int:
    inbox = notify_tables(records.schema).inbox
    with records.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(inbox).where(
            inbox.c.user_id == user.id, inbox.c.read_at.is_(None))).scalar_one())


def mark_read(records: Any, user: Any, ids: Iterable[int] | None = None) -> int:
    """Mark the user's messages read (those with `ids`, or all); how many were unread."""
    inbox = notify_tables(records.schema).inbox
    statement = update(inbox).where(inbox.c.user_id == user.id, inbox.c.read_at.is_(None)).values(
        read_at=records.clock.now())
    if ids is not None:
        statement = statement.where(inbox.c.id.in_(list(ids)))
    with records.engine.begin() as connection:
        return connection.execute(statement).rowcount or 0
