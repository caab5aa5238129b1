"""Permissions, enforced by the service layer for every caller: entity rights, field rights, row rules.

A user's rights are the union of their roles': a verb is allowed when any role allows it; a field is hidden
or read-only only when every role that may read the entity says so; a record is visible when any role that
may read the entity lets the user see it (a role without row rules sees every record).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, false, or_, select, true
from sqlalchemy.engine import Connection

from dsl.formula.errors import FormulaRuntimeError
from dsl.model import App, Entity, EntityKind, Formula
from engine.context import CurrentUser, EngineContext
from engine.errors import PermissionDenied
from engine.messages import Message
from engine.schema import Schema
from engine.store import Record

VERBS = ("read", "create", "write", "delete", "submit", "cancel", "amend")
_ORDER = {"read_only": 1, "hidden": 2}


class Access:
    def __init__(self, app: App, schema: Schema, user: CurrentUser) -> None:
        self.app = app
        self.schema = schema
        self.user = user
        self._field_access: dict[tuple[str, str], str | None] = {}  # asked for every field of every listed row
        self._hidden_fields: dict[str, tuple[list[str], list[tuple[str, list[str]]]]] = {}

    def _roles(self) -> list[Any]:
        return [self.app.roles[name] for name in sorted(self.user.roles) if name in self.app.roles]

    def allowed(self, entity: Entity, verb: str) -> bool:
        if self.user.is_admin:
            return True
        owner = self._owner(entity)
        return any(verb in role.permissions.get(owner.name, ()) for role in self._roles())

    def require(self, entity: Entity, verb: str) -> None:
        if not self.allowed(entity, verb):
            label = entity.label.get(self.app.locale)
            raise PermissionDenied(Message("{user} may not {verb} {label} ({entity})", user=self.user.name,
                                           verb=Message(verb), label=label, entity=entity.name))

    def _owner(self, entity: Entity) -> Entity:
        return self.app.entities[entity.parent] if entity.kind is EntityKind.CHILD and entity.parent else entity

    def _readers(self, entity: Entity) -> list[Any]:
        owner = self._owner(entity)
        return [role for role in self._roles() if "read" in role.permissions.get(owner.name, ())]

    # --- fields -------------------------------------------------------------------------------------

    def field_access(self, entity_name: str, field: str) -> str | None:
        """None (may read and write), "read_only" or "hidden" for this user."""
        if self.user.is_admin:
            return None
        key = (entity_name, field)
        if key not in self._field_access:
            self._field_access[key] = self._level(entity_name, field)
        return self._field_access[key]

    def _level(self, entity_name: str, field: str) -> str | None:
        entity = self.app.entities[entity_name]
        readers = self._readers(entity)
        if not readers:
            return "hidden"
        levels = [role.field_access.get(entity_name, {}).get(field) for role in readers]
        return min(levels, key=lambda level: _ORDER.get(level or "", 0))

    def shown(self, entity: Entity, record: Record) -> Record:
        """The record without the fields this user may not see (in its rows too)."""
        if self.user.is_admin:
            return record
        hidden, tables = self._hidden(entity)
        for name in hidden:
            record.pop(name, None)
        for name, hidden_in_rows in tables:
            for row in record.get(name) or ():
                for key in hidden_in_rows:
                    row.pop(key, None)
        return record

    def _hidden(self, entity: Entity) -> tuple[list[str], list[tuple[str, list[str]]]]:
        """The entity's fields hidden from this user, and per table field those of its rows (once per entity:
        a list asks for every row)."""
        found = self._hidden_fields.get(entity.name)
        if found is None:
            hidden = [name for name in entity.fields if self.field_access(entity.name, name) == "hidden"]
            tables = []
            for name, field in entity.fields.items():
                if field.table and name not in hidden:
                    child = self.app.entities[field.table]
                    in_rows = [key for key in child.fields if self.field_access(child.name, key) == "hidden"]
                    if in_rows:
                        tables.append((name, in_rows))
            found = self._hidden_fields[entity.name] = (hidden, tables)
        return found

    # --- rows ---------------------------------------------------------------------------------------

    def _rules(self, entity: Entity) -> list[tuple[Formula, ...]] | None:
        """Per reading role, its row rules on the entity; None when some role sees every record."""
        if self.user.is_admin:
            return None
        result = []
        for role in self._readers(entity):
            rules = role.row_rules.get(entity.name, ())
            if not rules:
                return None
            result.append(tuple(rules))
        return result

    def rules_text(self, entity: Entity) -> str:
        """The row rules that limit this user on `entity`, as the admin wrote them."""
        groups = self._rules(entity) or ()
        return " or ".join(" AND ".join(rule.source for rule in group) for group in groups)

    def can_see(self, connection: Connection, entity: Entity, record_id: int) -> bool:
        rules = self._rules(entity)
        if rules is None:
            return True
        if not rules:
            return False
        condition = self.row_condition(entity, self.schema.tables[entity.name], connection)
        table = self.schema.tables[entity.name]
        return bool(connection.execute(select(exists().where(table.c.id == record_id, condition))).scalar())

    def row_condition(self, entity: Entity, table: Any, connection: Connection) -> Any:
        """A SQL condition selecting the records this user may see (true() when all)."""
        rules = self._rules(entity)
        if rules is None:
            return true()
        if not rules:
            return false()
        from engine.query import compiler_for

        compiler = compiler_for(connection, self.schema, self.user)
        return or_(*(self._all(compiler, group, table) for group in rules))

    @staticmethod
    def _all(compiler: Any, rules: tuple[Formula, ...], table: Any) -> Any:
        from sqlalchemy import and_

        return and_(*(compiler.condition(rule.expr, table) for rule in rules))

    def check_record(self, entity: Entity, record: Record, context: EngineContext) -> bool:
        """The row rules evaluated in Python on a record not yet saved (a new or changed record)."""
        rules = self._rules(entity)
        if rules is None:
            return True
        try:
            return any(all(rule.python(record, context) is True for rule in group) for group in rules)
        except FormulaRuntimeError:
            return False
