"""Record ids as people know them: an item's code and name, a warehouse's code, a batch's number."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from dsl.model import App


def record_labels(connection: Connection, app: App, tables: Mapping[str, Table], entity_name: str,
                  ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    """id → {"code": key field, "name": title field} (either may be None), in one query."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    entity = app.entities[entity_name]
    table = tables[entity_name]
    code = table.c[entity.key] if entity.key and entity.key in table.c else None
    name = table.c[entity.title] if entity.title and entity.title in table.c else None
    columns = [column for column in (code, name) if column is not None]
    found = {row.id: row for row in connection.execute(select(table.c.id, *columns).where(table.c.id.in_(wanted)))}
    return {i: {"code": found[i]._mapping.get(code.name) if code is not None and i in found else None,
                "name": found[i]._mapping.get(name.name) if name is not None and i in found else None}
            for i in wanted}


def text_of(label: Mapping[str, Any] | None, fallback: Any) -> str:
    """"F001 面粉" from a label, or the fallback (an id) when the record has no code or name."""
    if not label:
        return str(fallback)
    parts = [str(value) for value in dict.fromkeys((label.get("code"), label.get("name"))) if value is not None]
    return " ".join(parts) or str(fallback)


def batch_numbers(connection: Connection, batch: Table, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return dict(connection.execute(select(batch.c.id, batch.c.batch_no).where(batch.c.id.in_(wanted))).all())
