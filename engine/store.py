"""Reading and writing records: a header row, its child rows (tables) and many-link rows, as one dict.

A record is a dict from field name to value (system columns included); a table field holds a list of row
dicts (each with its own `id` and `idx`), a many-link field a list of ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from dsl.model import App, Entity, FieldType
from engine.schema import Schema

Record = dict[str, Any]

DOCUMENT_COLUMNS = ("doc_no", "docstatus", "amended_from", "made_from_entity", "made_from_id")
AUDIT_COLUMNS = ("created_at", "created_by", "modified_at", "modified_by", "version")


class Store:
    def __init__(self, app: App, schema: Schema) -> None:
        self.app = app
        self.schema = schema
        self._statements: dict[tuple[str, str], Any] = {}  # built once per table, run with parameters
        self._keys: dict[str, tuple[tuple[str, str], ...]] = {}

    def _statement(self, kind: str, table: Any) -> Any:
        key = (kind, table.name)
        statement = self._statements.get(key)
        if statement is not None:
            return statement
        names = [name for name in _names(table) if name != "id"]
        values = {name: bindparam(f"v_{name}") for name in names}
        if kind == "insert":
            statement = insert(table).values(values).returning(table.c.id)
        elif kind == "insert_rows":
            statement = insert(table).values(values).returning(table.c.id, table.c.idx)
        elif kind == "update":
            statement = update(table).where(table.c.id == bindparam("k_id")).values(values)
        elif kind == "update_versioned":
            statement = update(table).where(table.c.id == bindparam("k_id"),
                                            table.c.version == bindparam("k_version")).values(values)
        else:  # pragma: no cover - a bug in this module
            raise ValueError(kind)
        self._statements[key] = statement
        return statement

    def _parameters(self, table: Any, record: Mapping[str, Any]) -> dict[str, Any]:
        keys = self._keys.get(table.name)
        if keys is None:  # the bind names by column, once per table: every saved row asks
            keys = self._keys[table.name] = tuple((f"v_{name}", name) for name in _names(table) if name != "id")
        return {key: record.get(name) for key, name in keys}

    # --- shapes --------------------------------------------------------------------------------------

    def blank(self, entity: Entity) -> Record:
        """A new record: every column blank, tables and many-links empty, a draft if a document."""
        table = self.schema.tables[entity.name]
        record: Record = {name: None for name in _names(table)}
        for name, field in entity.fields.items():
            if field.type is FieldType.TABLE or (field.type is FieldType.LINK and field.many):
                record[name] = []
        if entity.is_document:
            record["docstatus"] = "draft"
        record["version"] = 0
        return record

    def blank_row(self, child: Entity) -> Record:
        table = self.schema.tables[child.name]
        return {name: None for name in _names(table)}

    def tables_of(self, entity: Entity) -> list[tuple[str, Entity]]:
        return [(name, self.app.entities[field.table]) for name, field in entity.fields.items()
                if field.type is FieldType.TABLE and field.table]

    def many_links_of(self, entity: Entity) -> list[str]:
        return [name for name, field in entity.fields.items() if field.type is FieldType.LINK and field.many]

    # --- reading ------------------------------------------------------------------------------------

    def load(self, connection: Connection, entity: Entity, ids: Iterable[int], *,
             lock: bool = False) -> dict[int, Record]:
        """Records with their rows, by id; `lock` takes row locks (PostgreSQL) for an update that follows."""
        wanted = list(ids)
        if not wanted:
            return {}
        table = self.schema.tables[entity.name]
        query = select(table).where(table.c.id.in_(wanted))
        if lock and connection.dialect.name == "postgresql":
            query = query.with_for_update()
        records = {row["id"]: dict(row) for row in connection.execute(query).mappings()}
        for name, child in self.tables_of(entity):
            for record in records.values():
                record[name] = []
            child_table = self.schema.tables[child.name]
            rows = connection.execute(select(child_table).where(child_table.c.parent_id.in_(list(records)))
                                      .order_by(child_table.c.parent_id, child_table.c.idx)).mappings()
            for row in rows:
                records[row["parent_id"]][name].append(dict(row))
        for name in self.many_links_of(entity):
            junction = self.schema.junctions[(entity.name, name)]
            for record in records.values():
                record[name] = []
            rows = connection.execute(select(junction).where(junction.c.owner_id.in_(list(records)))
                                      .order_by(junction.c.owner_id, junction.c.idx))
            for row in rows:
                records[row.owner_id][name].append(row.target_id)
        return records

    # --- writing ------------------------------------------------------------------------------------

    def insert(self, connection: Connection, entity: Entity, record: Record) -> int:
        table = self.schema.tables[entity.name]
        new_id = connection.execute(self._statement("insert", table), self._parameters(table, record)).scalar_one()
        record["id"] = new_id
        self._write_children(connection, entity, record, {})
        return new_id

    def update(self, connection: Connection, entity: Entity, record: Record, old: Record, *,
               expected_version: int | None) -> bool:
        """Write a changed record; False when its version is no longer `expected_version` (someone saved)."""
        table = self.schema.tables[entity.name]
        parameters = self._parameters(table, record) | {"k_id": record["id"]}
        if expected_version is not None:
            parameters["k_version"] = expected_version
            result = connection.execute(self._statement("update_versioned", table), parameters)
        else:
            result = connection.execute(self._statement("update", table), parameters)
        if result.rowcount != 1:
            return False
        self._write_children(connection, entity, record, old)
        return True

    def _write_children(self, connection: Connection, entity: Entity, record: Record, old: Record) -> None:
        for name, child in self.tables_of(entity):
            table = self.schema.tables[child.name]
            before = {row["id"]: row for row in old.get(name) or ()}
            kept: set[int] = set()
            new_rows = []
            changed = []
            for index, row in enumerate(record.get(name) or ()):
                row["idx"] = index + 1
                row["parent_id"] = record["id"]
                values = self._parameters(table, row)
                if row.get("id") in before:
                    kept.add(row["id"])
                    previous = before[row["id"]]
                    if any(previous.get(key[2:]) != value for key, value in values.items()):
                        changed.append(values | {"k_id": row["id"]})
                else:
                    new_rows.append((row, values))
            removed = [row_id for row_id in before if row_id not in kept]
            if removed:
                connection.execute(delete(table).where(table.c.id.in_(removed)))
            if changed:
                connection.execute(self._statement("update", table), changed)
            if new_rows:
                # One multi-row insert returning each row's id with its position: RETURNING keeps no order for
                # several rows on SQLite, and the positions (idx) are unique within the document.
                ids = {row.idx: row.id for row in connection.execute(self._statement("insert_rows", table),
                                                                     [values for _, values in new_rows])}
                for row, _ in new_rows:
                    row["id"] = ids[row["idx"]]
        for name in self.many_links_of(entity):
            if record.get(name) == old.get(name):
                continue
            junction = self.schema.junctions[(entity.name, name)]
            connection.execute(delete(junction).where(junction.c.owner_id == record["id"]))
            targets = record.get(name) or []
            if targets:
                connection.execute(insert(junction), [{"owner_id": record["id"], "target_id": target, "idx": index}
                                                      for index, target in enumerate(targets)])

    def delete(self, connection: Connection, entity: Entity, record_id: int) -> None:
        table = self.schema.tables[entity.name]
        connection.execute(delete(table).where(table.c.id == record_id))


def _names(table: Any) -> list[str]:
    return [column.name for column in table.columns]
