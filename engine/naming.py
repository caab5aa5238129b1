"""Document numbers from naming series such as PO-{YYYY}-{#####}: gap-free per series and period.

A number is taken when a document is submitted, from a counter row that is locked until the transaction
ends: parallel submits of one series wait for each other, and a rolled-back submit gives its number back,
so submitted documents never skip or repeat a number.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from dsl.model import NamingSeries
from engine.schema import Schema

_TOKEN = re.compile(r"\{([^{}]*)\}")


def _fill_dates(pattern: str, day: dt.date) -> str:
    parts = {"YYYY": f"{day.year:04d}", "YY": f"{day.year % 100:02d}", "MM": f"{day.month:02d}",
             "DD": f"{day.day:02d}"}
    return _TOKEN.sub(lambda m: parts.get(m.group(1), m.group(0)), pattern)


def series_key(series: NamingSeries, entity: str, day: dt.date) -> str:
    """Which counter a number comes from: the pattern with the dates of its reset period filled in."""
    filled = _fill_dates(series.pattern, day)
    if series.reset == "never":
        filled = series.pattern
    elif series.reset == "yearly":
        filled = _fill_dates(series.pattern.replace("{MM}", "").replace("{DD}", ""), day)
    elif series.reset == "monthly":
        filled = _fill_dates(series.pattern.replace("{DD}", ""), day)
    return f"{entity}:{filled}"[:100]


def next_number(connection: Connection, schema: Schema, series: NamingSeries, entity: str, day: dt.date) -> str:
    table = schema.series
    assert table is not None
    key = series_key(series, entity, day)
    last = connection.execute(_take(table), {"series_key": key}).scalar()
    if last is None:
        try:
            with connection.begin_nested():
                connection.execute(insert(table).values(key=key, last=1))
            last = 1
        except IntegrityError:  # another submit created the counter first: take the next one after it
            last = connection.execute(_take(table), {"series_key": key}).scalar_one()
    filled = _fill_dates(series.pattern, day)
    return _TOKEN.sub(lambda m: str(last).zfill(len(m.group(1))), filled, count=1)


@lru_cache(maxsize=64)
def _take(table: Table) -> Any:
    """The counter's next number (built once per table: every submit takes one)."""
    return (update(table).where(table.c.key == bindparam("series_key")).values(last=table.c.last + 1)
            .returning(table.c.last))


def peek(connection: Connection, schema: Schema, series: NamingSeries, entity: str, day: dt.date) -> int:
    """How many numbers the series has given in the period of `day` (for reports and tests)."""
    table = schema.series
    assert table is not None
    key = series_key(series, entity, day)
    return connection.execute(select(table.c.last).where(table.c.key == key)).scalar() or 0
