"""What a formula may ask of its surroundings while it runs: the clock, linked records, services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from dsl.formula.errors import FormulaRuntimeError


class EvalContext(Protocol):
    def today(self) -> dt.date: ...

    def now(self) -> dt.datetime: ...

    def current_user(self) -> Mapping[str, Any] | None:
        """The signed-in user's record (id, name, full_name, email...), for CURRENT_USER(); None if nobody."""
        ...

    def fetch(self, entity: str, key: Any) -> Mapping[str, Any] | None:
        """The record of `entity` with id `key`, for `customer.credit_limit` when only the id is at hand."""
        ...


class SimpleContext:
    """A clock in the app's time zone (or a fixed one, for tests) and an optional record fetcher."""

    def __init__(self, timezone: str = "Asia/Shanghai", *, now: dt.datetime | None = None,
                 records: Mapping[str, Mapping[Any, Mapping[str, Any]]] | None = None,
                 user: Mapping[str, Any] | None = None) -> None:
        self._zone = ZoneInfo(timezone)
        self._fixed = now
        self._records = records or {}
        self._user = user

    def now(self) -> dt.datetime:
        if self._fixed is not None:
            return self._fixed
        return dt.datetime.now(self._zone).replace(tzinfo=None, microsecond=0)

    def today(self) -> dt.date:
        return self.now().date()

    def current_user(self) -> Mapping[str, Any] | None:
        return self._user

    def fetch(self, entity: str, key: Any) -> Mapping[str, Any] | None:
        try:
            return self._records[entity][key]
        except KeyError:
            raise FormulaRuntimeError(f"the linked {entity} record {key!r} is not available here") from None
