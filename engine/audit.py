"""The audit log: who did what to which record, when, with every field's value before and after.

Written in the same transaction as the change, so a change and its log entry exist together or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Connection

from engine.schema import Schema
from engine.store import Record

_SKIP = frozenset({"version", "modified_at", "modified_by", "parent"})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def diff(before: Record | None, after: Record, tables: list[str]) -> dict[str, Any]:
    """Field → [before, after] for what changed; a table → its rows' changes by row id (or "added")."""
    changes: dict[str, Any] = {}
    old = before or {}
    for name in dict.fromkeys([*after, *old]):  # a deleted record's fields go from their value to nothing
        value = after.get(name)
        if name in _SKIP or name in tables:
            continue
        if old.get(name) != value:
            changes[name] = [_plain(old.get(name)), _plain(value)]
    for table in tables:
        old_rows = {row["id"]: row for row in old.get(table) or ()}
        row_changes: dict[str, Any] = {}
        for row in after.get(table) or ():
            previous = old_rows.pop(row.get("id"), None)
            fields = {k: [_plain(previous.get(k) if previous else None), _plain(v)] for k, v in row.items()
                      if k not in ("parent", "parent_id", "idx", "id") and (previous or {}).get(k) != v}
            if fields:
                row_changes[str(row.get("id"))] = fields if previous else {"added": True, **fields}
        for row_id, row in old_rows.items():
            row_changes[str(row_id)] = {"removed": True, **{k: [_plain(v), None] for k, v in row.items()
                                                            if k not in ("parent", "parent_id", "idx", "id")
                                                            and v is not None}}
        if row_changes:
            changes[table] = row_changes
    return changes


def entry(*, at: dt.datetime, user_id: int | None, entity: str, record_id: int, action: str,
          changes: dict[str, Any] | None = None, comment: str | None = None) -> dict[str, Any]:
    """One log entry, to write now (record_change) or with the transaction's next ones (write)."""
    return {"at": at, "user_id": user_id, "entity": entity, "record_id": record_id, "action": action,
            "changes": json.dumps(changes, ensure_ascii=False, default=str) if changes else None, "comment": comment}


def write(connection: Connection, schema: Schema, entries: list[dict[str, Any]]) -> None:
    assert schema.audit is not None
    connection.execute(_insert(schema.audit), entries)


def record_change(connection: Connection, schema: Schema, *, at: dt.datetime, user_id: int | None, entity: str,
                  record_id: int, action: str, changes: dict[str, Any] | None = None,
                  comment: str | None = None) -> None:
    write(connection, schema, [entry(at=at, user_id=user_id, entity=entity, record_id=record_id, action=action,
                                     changes=changes, comment=comment)])


@lru_cache(maxsize=64)
def _insert(table: Table) -> Any:
    """Built once per table: every save and submit writes one, and SQLAlchemy then reuses its compiled form."""
    return insert(table)


def history(connection: Connection, schema: Schema, entity: str, record_id: int) -> list[dict[str, Any]]:
    assert schema.audit is not None
    table = schema.audit
    rows = connection.execute(select(table).where(table.c.entity == entity, table.c.record_id == record_id)
                              .order_by(table.c.id)).mappings()
    return [{**row, "changes": json.loads(row["changes"]) if row["changes"] else {}} for row in rows]
