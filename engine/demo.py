"""Loading an app's demo data (`jxc demo`): running it twice changes nothing.

Each demo record is created through the service layer (so it is computed and checked like any other) and
marked in `jxc_demo` in the same transaction; a record already marked is skipped. Links in demo data name
the linked record by its key (`item: I001`); documents with `_submit: true` are submitted, by jxc itself: one
with a workflow goes straight into the workflow's first `submit: true` state (no approval walked through).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select

from dsl.model import DemoRecord, Entity, FieldType
from engine.errors import ServiceError
from engine.records import Records


@dataclass
class DemoReport:
    created: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def total_created(self) -> int:
        return sum(self.created.values())


class DemoError(Exception):
    """A demo record the app checked but the database refused (it names which record and why)."""


def load_demo(records: Records, *, progress: Callable[[str], None] | None = None) -> DemoReport:
    app = records.app
    marks = records.schema.demo
    assert marks is not None
    report = DemoReport()
    total = sum(len(items) for items in app.demo.values())
    done = 0
    for entity_name, items in app.demo.items():
        entity = app.entities[entity_name]
        for position, item in enumerate(items):
            done += 1
            with records.engine.begin() as connection:
                already = connection.execute(select(marks.c.record_id).where(
                    marks.c.entity == entity_name, marks.c.position == position)).first()
                if already is not None:
                    report.skipped[entity_name] = report.skipped.get(entity_name, 0) + 1
                    continue
                session = records.system(connection=connection)
                values = _values(records, connection, entity, item.values)
                try:
                    record = session.create(entity_name, values, _internal=True)
                    if item.submit:
                        record = session.submit(entity_name, record["id"], version=record["version"])
                except ServiceError as error:
                    raise DemoError(f"demo record {position + 1} of {entity_name} ({_where(item)}): "
                                    f"{error.message}") from None
                connection.execute(insert(marks).values(entity=entity_name, position=position,
                                                        record_id=record["id"]))
            report.created[entity_name] = report.created.get(entity_name, 0) + 1
            if progress and (done % 50 == 0 or done == total):
                progress(f"demo data: {done}/{total} records")
    return report


def _where(item: DemoRecord) -> str:
    return str(item.origin) if item.origin else "demo"


def _values(records: Records, connection: Any, entity: Entity, values: Any) -> dict[str, Any]:
    """Demo values with links turned from keys (I001) into ids."""
    result: dict[str, Any] = {}
    for name, value in values.items():
        field_def = entity.fields[name]
        if field_def.type is FieldType.LINK and value is not None:
            target = records.app.entities[str(field_def.link)]
            keys = list(value) if field_def.many else [value]
            ids = [_id_of(records, connection, target, key) for key in keys]
            result[name] = ids if field_def.many else ids[0]
        elif field_def.type is FieldType.TABLE:
            child = records.app.entities[str(field_def.table)]
            result[name] = [_values(records, connection, child, row) for row in value or ()]
        else:
            result[name] = value
    return result


def _id_of(records: Records, connection: Any, target: Entity, key: Any) -> int:
    table = records.schema.tables[target.name]
    if not target.key:
        raise DemoError(f"{target.name} has no key, so demo data cannot link to it")
    found = connection.execute(select(table.c.id).where(table.c[target.key] == key)).scalar()
    if found is None:
        raise DemoError(f"there is no {target.name} with {target.key} '{key}' to link to")
    return found
