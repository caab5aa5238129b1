"""What formulas see while the engine runs them: the clock, linked records (fetched once per operation),
and the user at work (CURRENT_USER())."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Connection

from dsl.formula.errors import FormulaRuntimeError
from engine.messages import Message

ADMIN_ROLE = "admin"  # jxc's own role: every right on every entity (the app cannot define it)


@dataclass(frozen=True)
class CurrentUser:
    id: int | None
    name: str
    roles: frozenset[str]
    record: Mapping[str, Any] = field(default_factory=dict)  # what CURRENT_USER() gives formulas
    system: bool = False  # jxc itself (demo loading, migrations): not subject to permissions

    @property
    def is_admin(self) -> bool:
        return self.system or ADMIN_ROLE in self.roles


SYSTEM = CurrentUser(None, "jxc", frozenset({ADMIN_ROLE}), {"id": None, "name": "jxc"}, system=True)


class Clock:
    """The time in the app's time zone; tests fix it (`Clock(timezone, fixed=...)`)."""

    def __init__(self, timezone: str = "Asia/Shanghai", fixed: dt.datetime | None = None) -> None:
        self.zone = ZoneInfo(timezone)
        self.fixed = fixed

    def now(self) -> dt.datetime:
        if self.fixed is not None:
            return self.fixed
        return dt.datetime.now(self.zone).replace(tzinfo=None, microsecond=0)

    def today(self) -> dt.date:
        return self.now().date()


class EngineContext:
    """The evaluation context of one service call (one transaction)."""

    def __init__(self, connection: Connection, table_of: Callable[[str], Any], clock: Clock,
                 user: CurrentUser) -> None:
        self.connection = connection
        self._table_of = table_of
        self.clock = clock
        self.user = user
        self._cache: dict[tuple[str, Any], Mapping[str, Any] | None] = {}

    def today(self) -> dt.date:
        return self.clock.today()

    def now(self) -> dt.datetime:
        return self.clock.now()

    def current_user(self) -> Mapping[str, Any] | None:
        return self.user.record

    def fetch(self, entity: str, key: Any) -> Mapping[str, Any] | None:
        cached = self._cache.get((entity, key), ...)
        if cached is not ...:
            return cached  # type: ignore[return-value]
        table = self._table_of(entity)
        row = self.connection.execute(select(table).where(table.c.id == key)).mappings().first()
        if row is None:
            raise FormulaRuntimeError(Message("there is no {entity} record with id {key}", entity=entity, key=key))
        record = dict(row)
        self._cache[(entity, key)] = record
        return record

    def table(self, entity: str) -> Any:
        """The table of an entity (or of a system entity such as stock_balance), for functions that query."""
        return self._table_of(entity)

    def has(self, entity: str, key: Any) -> bool:
        """Whether the record was fetched in this call (so it exists: the transaction still holds it)."""
        return self._cache.get((entity, key)) is not None

    def prime(self, entity: str, records: Mapping[Any, Mapping[str, Any]]) -> None:
        """Records fetched in bulk beforehand, so formulas following links run no query each."""
        for key, record in records.items():
            self._cache[(entity, key)] = record
