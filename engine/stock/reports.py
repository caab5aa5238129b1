"""Stock reports for the web UI and the API, through a user's session (its permissions).

    reports = StockReports(records.session(user))
    reports.balances(by=("item", "warehouse"))     # on hand, reserved, available, value
    reports.item_ledger(item_id, start=..., end=...)  # movements with the running quantity
    reports.stock_value(on_date=None)              # per item and the total
    reports.near_expiry(days=30)                   # batches in stock expiring within N days (and expired)
    reports.slow_movers(days=90)                   # in stock, nothing went out for N days
    reports.turnover(start, end)                   # inventory turnover days per item and overall

Who may see what: reading any report needs read permission on the app's item and warehouse entities, and
shows only the items and warehouses the user's row rules let them see. Values and costs are shown only to users
who may read the unit cost on some receiving document (a warehouse keeper whose role hides `unit_cost` sees
quantities only); the value reports refuse the others.

Quantities and values come from the balances table (now) or the ledger (history); each report is one or two
grouped queries, never one per item.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, and_, case, cast, func, literal, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import True_

from dsl.model import Entity
from engine.errors import InvalidQuery, NotFound, PermissionDenied
from engine.stock.asof import balances_as_of, day_end
from engine.stock.labels import record_labels
from engine.stock.wording import say

ZERO = Decimal(0)
CENT = Decimal("0.01")
RATE = Decimal("0.000001")
TENTH = Decimal("0.1")
GROUPINGS = ("item", "warehouse", "batch")
MAX_LEDGER_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class ItemLedger:
    opening: Decimal  # the quantity before the first row (at the start of `start`)
    rows: list[dict[str, Any]]
    more: bool  # rows were left out (over the limit)


@dataclass(frozen=True, slots=True)
class StockValue:
    rows: list[dict[str, Any]]
    total: Decimal


@dataclass(frozen=True, slots=True)
class Turnover:
    """Turnover days = average stock value / (cost of goods issued / days). The average stock value is the mean
    of the value at the end of every day of the range (a time-weighted average, not (opening + closing) / 2);
    goods issued are every outbound movement except transfers (deliveries, issues to production, scrap, count
    losses, returns to suppliers), net of cancellations, valued at the cost they left with."""

    start: dt.date
    end: dt.date
    days: int
    rows: list[dict[str, Any]]  # per item: average_value, issued_value, turnover_days (None: nothing issued)
    average_value: Decimal
    issued_value: Decimal
    turnover_days: Decimal | None


class StockReports:
    def __init__(self, session: Any) -> None:
        app = session.app
        if app.stock is None:
            raise NotFound(f"{app.name} keeps no stock")
        self.session = session
        self.app = app
        self.records = session.records
        self.schema = session.records.schema
        self.stock = self.schema.stock
        self.settings = app.stock
        self.item_entity: Entity = app.entities[self.settings.item]
        self.warehouse_entity: Entity = app.entities[self.settings.warehouse]
        self.costs_visible = session.user.is_admin or self._may_read_costs()

    # --- reports ----------------------------------------------------------------------------------------

    def balances(self, by: Iterable[str] = ("item", "warehouse"), *, item: int | None = None,
                 warehouse: int | None = None, include_zero: bool = False) -> list[dict[str, Any]]:
        """On hand, reserved, available (and value) grouped by any of item, warehouse, batch."""
        groups = tuple(dict.fromkeys(by))
        unknown = [name for name in groups if name not in GROUPINGS]
        if not groups or unknown:
            raise InvalidQuery("balances are grouped by item, warehouse and/or batch, not "
                               f"{', '.join(unknown) or 'nothing'}")
        balance = self.stock["balance"]
        keys = [balance.c.batch_key if name == "batch" else balance.c[name] for name in groups]
        sums = [func.sum(balance.c[name]).label(name) for name in ("on_hand", "reserved", "available", "value")]
        with self._reading() as connection:
            query = select(*keys, *sums).where(self._visible(connection, balance.c.item, balance.c.warehouse))
            if item is not None:
                query = query.where(balance.c.item == item)
            if warehouse is not None:
                query = query.where(balance.c.warehouse == warehouse)
            if "batch" in groups and "item" not in groups:
                query = query.add_columns(balance.c.item).group_by(balance.c.item)
            query = query.group_by(*keys).order_by(*keys)
            rows = [dict(row) for row in connection.execute(query).mappings()]
            if not include_zero:
                rows = [row for row in rows if row["on_hand"] or row["reserved"] or row["value"]]
            self._label(connection, rows)
            if "batch" in groups:
                self._batch_details(connection, rows)
        return [self._costs(row, "value") for row in rows]

    def item_ledger(self, item: int, *, warehouse: int | None = None, start: dt.date | None = None,
                    end: dt.date | None = None, limit: int = 1000) -> ItemLedger:
        """An item's movements in time order with the running quantity after each (over the warehouse given, else
        over all the user may see), from the balance at the start of `start`."""
        if not 1 <= limit <= MAX_LEDGER_ROWS:
            raise InvalidQuery(f"the item ledger shows 1 to {MAX_LEDGER_ROWS} rows at a time, not {limit}")
        ledger = self.stock["ledger"]
        conditions = [ledger.c.item == item]
        if warehouse is not None:
            conditions.append(ledger.c.warehouse == warehouse)
        if start is not None:
            conditions.append(ledger.c.posted_at >= dt.datetime.combine(start, dt.time()))
        if end is not None:
            conditions.append(ledger.c.posted_at < day_end(end))
        order = (ledger.c.posted_at, ledger.c.id)
        running = func.sum(ledger.c.qty).over(order_by=order).label("running")
        with self._reading() as connection:
            self._require_visible_item(connection, item)
            conditions.append(self._visible(connection, ledger.c.item, ledger.c.warehouse))
            query = (select(ledger.c.id, ledger.c.posted_at, ledger.c.warehouse, ledger.c.location, ledger.c.batch,
                            ledger.c.qty, ledger.c.unit_cost, ledger.c.value_change, ledger.c.source_entity,
                            ledger.c.source_id, ledger.c.source_line, ledger.c.doc_no, ledger.c.reverses, running)
                     .where(and_(*conditions)).order_by(*order).limit(limit + 1))
            opening = ZERO
            if start is not None:
                seen = self._visible_pairs(connection)
                before = start - dt.timedelta(days=1)
                opening = sum((b.qty for b in balances_as_of(connection, self.stock, before, item=item,
                                                            warehouse=warehouse, by_batch=False)
                               if seen is None or (b.item, b.warehouse) in seen), ZERO)
            rows = [dict(row) for row in connection.execute(query).mappings()]
            more = len(rows) > limit
            rows = rows[:limit]
            for row in rows:
                row["qty_after"] = opening + row.pop("running")
                entity = self.app.entities.get(row["source_entity"])
                row["document"] = entity.label.get(self.app.locale) if entity else row["source_entity"]
            self._label(connection, rows)
            self._batch_details(connection, rows, key="batch")
        return ItemLedger(opening, [self._costs(row, "unit_cost", "value_change") for row in rows], more)

    def stock_value(self, *, on_date: dt.date | None = None, warehouse: int | None = None) -> StockValue:
        """Quantity, value and average unit cost per item (now, or at the end of `on_date`), and the total."""
        self._require_costs()
        per_item: dict[int, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        with self._reading() as connection:
            if on_date is None:
                balance = self.stock["balance"]
                query = (select(balance.c.item, func.sum(balance.c.on_hand), func.sum(balance.c.value))
                         .where(self._visible(connection, balance.c.item, balance.c.warehouse))
                         .group_by(balance.c.item))
                if warehouse is not None:
                    query = query.where(balance.c.warehouse == warehouse)
                for item, qty, value in connection.execute(query):
                    per_item[item] = [qty, value]
            else:
                seen = self._visible_pairs(connection)
                for row in balances_as_of(connection, self.stock, on_date, warehouse=warehouse, by_batch=False):
                    if seen is None or (row.item, row.warehouse) in seen:
                        per_item[row.item][0] += row.qty
                        per_item[row.item][1] += row.value
            rows = [{"item": item, "qty": qty, "value": value,
                     "rate": (value / qty).quantize(RATE) if qty else None}
                    for item, (qty, value) in sorted(per_item.items()) if qty or value]
            self._label(connection, rows)
        return StockValue(rows, sum((row["value"] for row in rows), ZERO))

    def near_expiry(self, days: int, *, warehouse: int | None = None) -> list[dict[str, Any]]:
        """Batches with stock that expire within `days` days from today (expired ones included, flagged),
        per warehouse, soonest first."""
        if days < 0:
            raise InvalidQuery(f"the number of days must be 0 or more, not {days}")
        today = self.records.clock.today()
        balance, batch = self.stock["balance"], self.stock["batch"]
        with self._reading() as connection:
            query = (select(balance.c.item, balance.c.warehouse, balance.c.batch, batch.c.batch_no, batch.c.expiry,
                            balance.c.on_hand, balance.c.reserved, balance.c.value)
                     .join(batch, batch.c.id == balance.c.batch)
                     .where(balance.c.on_hand > 0, batch.c.expiry <= today + dt.timedelta(days=days),
                            self._visible(connection, balance.c.item, balance.c.warehouse))
                     .order_by(batch.c.expiry, balance.c.item, balance.c.warehouse, batch.c.batch_no))
            if warehouse is not None:
                query = query.where(balance.c.warehouse == warehouse)
            rows = [dict(row) for row in connection.execute(query).mappings()]
            for row in rows:
                row["days_left"] = (row["expiry"] - today).days
                row["expired"] = row["expiry"] < today
            self._label(connection, rows)
        return [self._costs(row, "value") for row in rows]

    def slow_movers(self, days: int, *, warehouse: int | None = None) -> list[dict[str, Any]]:
        """Items in stock in a warehouse with no outbound movement (transfers aside, cancelled ones aside) for
        at least `days` days; an item never issued counts from its first movement there. Longest idle first."""
        if days < 1:
            raise InvalidQuery(f"the number of days must be 1 or more, not {days}")
        today = self.records.clock.today()
        cutoff = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time())
        ledger, balance = self.stock["ledger"], self.stock["balance"]
        outbound = and_(ledger.c.qty < 0, ledger.c.reverses.is_(None), self._not_transfer(ledger),
                        self._not_cancelled(ledger))
        moves = (select(ledger.c.item, ledger.c.warehouse,
                        func.max(case((outbound, ledger.c.posted_at))).label("last_out"),
                        func.min(ledger.c.posted_at).label("first_move"))
                 .group_by(ledger.c.item, ledger.c.warehouse).subquery("moves"))
        idle_since = func.coalesce(moves.c.last_out, moves.c.first_move)
        with self._reading() as connection:
            stock = (select(balance.c.item, balance.c.warehouse, func.sum(balance.c.on_hand).label("on_hand"),
                            func.sum(balance.c.value).label("value"))
                     .where(self._visible(connection, balance.c.item, balance.c.warehouse))
                     .group_by(balance.c.item, balance.c.warehouse).subquery("stock"))
            query = (select(stock.c.item, stock.c.warehouse, stock.c.on_hand, stock.c.value, moves.c.last_out,
                            idle_since.label("idle_since"))
                     .join(moves, and_(moves.c.item == stock.c.item, moves.c.warehouse == stock.c.warehouse))
                     .where(stock.c.on_hand > 0, idle_since < cutoff)
                     .order_by(idle_since, stock.c.item, stock.c.warehouse))
            if warehouse is not None:
                query = query.where(stock.c.warehouse == warehouse)
            rows = [dict(row) for row in connection.execute(query).mappings()]
            for row in rows:
                since = _as_datetime(row.pop("idle_since"))
                row["last_out"] = _as_datetime(row["last_out"])
                row["idle_days"] = (today - since.date()).days
            self._label(connection, rows)
        return [self._costs(row, "value") for row in rows]

    def turnover(self, start: dt.date, end: dt.date, *, warehouse: int | None = None) -> Turnover:
        """Inventory turnover days per item and overall over `start`..`end` (both included); see Turnover."""
        self._require_costs()
        if end < start:
            raise InvalidQuery(f"the range ends ({end}) before it starts ({start})")
        days = (end - start).days + 1
        ledger = self.stock["ledger"]
        issued = and_(self._not_transfer(ledger), ((ledger.c.qty < 0) & ledger.c.reverses.is_(None)) |
                      ((ledger.c.qty > 0) & ledger.c.reverses.is_not(None)))
        day = self._day(ledger.c.posted_at)
        query = (select(ledger.c.item, ledger.c.warehouse, day.label("day"),
                        func.sum(ledger.c.value_change).label("change"),
                        func.sum(case((issued, ledger.c.value_change),
                                      else_=literal(0, ledger.c.value_change.type))).label("issued"))
                 .where(ledger.c.posted_at >= dt.datetime.combine(start, dt.time()), ledger.c.posted_at < day_end(end))
                 .group_by(ledger.c.item, ledger.c.warehouse, day))
        if warehouse is not None:
            query = query.where(ledger.c.warehouse == warehouse)
        opening: dict[int, Decimal] = defaultdict(Decimal)
        changes: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        issued_value: dict[int, Decimal] = defaultdict(Decimal)
        with self._reading() as connection:
            seen = self._visible_pairs(connection)
            for row in balances_as_of(connection, self.stock, start - dt.timedelta(days=1), warehouse=warehouse,
                                      by_batch=False):
                if seen is None or (row.item, row.warehouse) in seen:
                    opening[row.item] += row.value
            for row in connection.execute(query):
                if seen is None or (row.item, row.warehouse) in seen:
                    offset = (_as_date(row.day) - start).days
                    changes[row.item][offset] += row.change
                    issued_value[row.item] -= row.issued
            rows = []
            for item in sorted(set(opening) | set(changes)):
                average = _daily_average(opening.get(item, ZERO), changes.get(item, {}), days)
                rows.append({"item": item, "average_value": average, "issued_value": issued_value.get(item, ZERO),
                             "turnover_days": _turnover_days(average, issued_value.get(item, ZERO), days)})
            self._label(connection, rows)
        total_average = sum((row["average_value"] for row in rows), ZERO)
        total_issued = sum((row["issued_value"] for row in rows), ZERO)
        return Turnover(start, end, days, rows, total_average, total_issued,
                        _turnover_days(total_average, total_issued, days))

    # --- permissions ------------------------------------------------------------------------------------

    def _reading(self) -> Any:
        """The report's read transaction, after checking the user may read items and warehouses."""
        access = self.session.access
        access.require(self.item_entity, "read")
        access.require(self.warehouse_entity, "read")
        return _connection(self.session)

    def _visible(self, connection: Connection, item_column: Any, warehouse_column: Any) -> Any:
        """Only the items and warehouses the user's row rules let them see."""
        return and_(true(), *self._rules(connection, item_column, warehouse_column))

    def _rules(self, connection: Connection, item_column: Any, warehouse_column: Any) -> list[Any]:
        conditions = []
        for entity, column in ((self.item_entity, item_column), (self.warehouse_entity, warehouse_column)):
            table = self.schema.tables[entity.name]
            rule = self.session.access.row_condition(entity, table, connection)
            if not isinstance(rule, True_):
                conditions.append(column.in_(select(table.c.id).where(rule)))
        return conditions

    def _visible_pairs(self, connection: Connection) -> set[tuple[int, int]] | None:
        """The item × warehouse pairs the user may see (None: all), for results computed outside one query."""
        ledger = self.stock["ledger"]
        rules = self._rules(connection, ledger.c.item, ledger.c.warehouse)
        if not rules:
            return None
        pairs = select(ledger.c.item, ledger.c.warehouse).where(*rules).distinct()
        return {(row.item, row.warehouse) for row in connection.execute(pairs)}

    def _require_visible_item(self, connection: Connection, item: int) -> None:
        table = self.schema.tables[self.item_entity.name]
        exists = connection.execute(select(table.c.id).where(table.c.id == item)).first() is not None
        if not exists or not self.session.access.can_see(connection, self.item_entity, item):
            raise NotFound(f"there is no {self.item_entity.name} with id {item}")

    def _may_read_costs(self) -> bool:
        """Whether the user may read the unit cost of some document that receives stock with one."""
        access = self.session.access
        for entity in self.app.entities.values():
            for effect in entity.stock:
                if effect.direction != "in" or effect.unit_cost is None or effect.table not in entity.fields:
                    continue
                line = self.app.entities.get(entity.fields[effect.table].table or "")
                field_name = effect.unit_cost.source.strip()
                if line is None or field_name not in line.fields or not access.allowed(entity, "read"):
                    continue
                if access.field_access(line.name, field_name) != "hidden":
                    return True
        return False

    def _require_costs(self) -> None:
        if not self.costs_visible:
            raise PermissionDenied(say(self.app.locale, f"{self.session.user.name} 无权查看库存成本与金额",
                                       f"{self.session.user.name} may not see stock costs and values"))

    def _costs(self, row: dict[str, Any], *names: str) -> dict[str, Any]:
        if not self.costs_visible:
            for name in names:
                row.pop(name, None)
        return row

    # --- helpers ----------------------------------------------------------------------------------------

    def _not_transfer(self, ledger: Any) -> Any:
        transfers = [name for name, entity in self.app.entities.items()
                     if entity.stock and all(effect.direction == "transfer" for effect in entity.stock)]
        return ledger.c.source_entity.not_in(transfers) if transfers else true()

    def _not_cancelled(self, ledger: Any) -> Any:
        reversal = self.stock["ledger"].alias("reversal")
        return ledger.c.id.not_in(select(reversal.c.reverses).where(reversal.c.reverses.is_not(None)))

    def _day(self, column: Any) -> Any:
        return func.date(column) if self.records.engine.dialect.name == "sqlite" else cast(column, Date)

    def _label(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """Add item_code/item_name and warehouse_code/warehouse_name to rows that have the ids."""
        for kind, entity in (("item", self.item_entity), ("warehouse", self.warehouse_entity)):
            labels = record_labels(connection, self.app, self.schema.tables, entity.name,
                                   (row.get(kind) for row in rows))
            for row in rows:
                if row.get(kind) is not None:
                    label = labels.get(row[kind], {})
                    row[f"{kind}_code"], row[f"{kind}_name"] = label.get("code"), label.get("name")

    def _batch_details(self, connection: Connection, rows: list[dict[str, Any]], key: str = "batch_key") -> None:
        batch = self.stock["batch"]
        ids = sorted({row[key] for row in rows if row.get(key)})
        found = {row.id: row for row in connection.execute(
            select(batch.c.id, batch.c.batch_no, batch.c.expiry).where(batch.c.id.in_(ids)))} if ids else {}
        for row in rows:
            details = found.get(row.get(key) or 0)
            row["batch_no"] = details.batch_no if details else None
            row["expiry"] = details.expiry if details else row.get("expiry")


@contextmanager
def _connection(session: Any) -> Iterator[Connection]:
    with session.transaction() as (connection, _):
        yield connection


def _daily_average(opening: Decimal, changes: dict[int, Decimal], days: int) -> Decimal:
    value, total = opening, ZERO
    for offset in range(days):
        value += changes.get(offset, ZERO)
        total += value
    return (total / days).quantize(CENT)


def _turnover_days(average: Decimal, issued: Decimal, days: int) -> Decimal | None:
    if issued <= 0:
        return None
    return (average * days / issued).quantize(TENTH)


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _as_datetime(value: Any) -> Any:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))
