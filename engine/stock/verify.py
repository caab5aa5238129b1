"""`jxc stock verify`: the inventory's books agree with themselves.

    result = verify(connection, app, schema)
    result.consistent          # True when nothing is wrong
    result.problems            # each names what is wrong, where (item, warehouse, batch) and the two numbers

Checks, each with a few grouped queries (never one per row):
- every balance (item × warehouse × batch) has the quantity and value the ledger's entries add up to;
- `available` = on hand − reserved on every balance row;
- a batch's on hand is the sum of its balances;
- where negative stock is refused (the app's `negative_stock`, or the item's `allow_negative_field`), no
  item × warehouse is below zero, and what is reserved is not more than what is on hand;
- the active reservations add up to the balances' reserved quantity per item × warehouse;
- every closed period's frozen balances still equal the previous closing plus the entries in between (an
  entry slipped into a closed period shows here).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, select, true
from sqlalchemy.engine import Connection

from dsl.model import App
from engine.stock.asof import ClosedPeriod, day_end, grouped_query
from engine.stock.labels import batch_numbers, record_labels, text_of
from engine.stock.wording import say

ZERO = Decimal(0)
_COUNTED = {"balances": ("条库存余额", "balances"), "ledger_entries": ("条台账记录", "ledger entries"),
            "batches": ("个批次", "batches"), "closed_periods": ("个已结账期间", "closed periods")}


@dataclass(frozen=True, slots=True)
class Problem:
    check: str  # balance_qty, balance_value, available, batch_on_hand, negative, over_reserved, reserved,
    #             period_qty, period_value
    item: int | None
    warehouse: int | None
    batch: int | None
    expected: Decimal  # what the books say it should be (the ledger, the sum, the limit)
    found: Decimal  # what is stored
    message: str


@dataclass
class VerifyResult:
    problems: list[Problem] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # balances, ledger_entries, batches, closed_periods
    locale: str = "zh-CN"

    @property
    def consistent(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        english = self.locale.startswith("en")
        counts = ("，" if not english else ", ").join(
            f"{count} {_COUNTED[name][1]}" if english else f"{count} {_COUNTED[name][0]}"
            for name, count in self.checked.items())
        if self.consistent:
            return [say(self.locale, f"库存账全部一致（已检查 {counts}）", f"all consistent (checked {counts})")]
        count = len(self.problems)
        head = say(self.locale, f"发现 {count} 处不一致（已检查 {counts}）：",
                   f"{count} mismatch{'es' if count != 1 else ''} found (checked {counts}):")
        return [head, *(f"  - {problem.message}" for problem in self.problems)]


def verify(connection: Connection, app: App, schema: Any) -> VerifyResult:
    """Check the inventory tables of `app`; read only (run it in any transaction)."""
    if app.stock is None:
        raise ValueError(f"{app.name} keeps no stock (no stock: settings in app.yaml)")
    checker = _Checker(connection, app, schema)
    checker.run()
    return checker.result


class _Checker:
    def __init__(self, connection: Connection, app: App, schema: Any) -> None:
        self.connection = connection
        self.app = app
        self.schema = schema
        self.stock: Mapping[str, Table] = schema.stock
        self.locale = app.locale
        self.result = VerifyResult(locale=app.locale)
        self._found: list[tuple[str, int | None, int | None, int | None, Decimal, Decimal, str, str]] = []

    def say(self, zh: str, en: str) -> str:
        return say(self.locale, zh, en)

    def run(self) -> None:
        balances = self._balances()
        self._against_ledger(balances)
        self._available(balances)
        self._batches(balances)
        self._limits(balances)
        self._reservations(balances)
        self._periods()
        self._name_places()

    # --- the checks -----------------------------------------------------------------------------------

    def _balances(self) -> dict[tuple[int, int, int], Any]:
        balance = self.stock["balance"]
        rows = self.connection.execute(select(balance.c.item, balance.c.warehouse, balance.c.batch_key,
                                              balance.c.on_hand, balance.c.reserved, balance.c.available,
                                              balance.c.value))
        found = {(row.item, row.warehouse, row.batch_key): row for row in rows}
        self.result.checked["balances"] = len(found)
        return found

    def _against_ledger(self, balances: dict[tuple[int, int, int], Any]) -> None:
        ledger = self.stock["ledger"]
        key = func.coalesce(ledger.c.batch, 0)
        sums = {(row.item, row.warehouse, row.batch_key): row for row in self.connection.execute(
            select(ledger.c.item, ledger.c.warehouse, key.label("batch_key"), func.sum(ledger.c.qty).label("qty"),
                   func.sum(ledger.c.value_change).label("value"), func.count().label("entries"))
            .group_by(ledger.c.item, ledger.c.warehouse, ledger.c.batch))}  # batch ids are never 0
        self.result.checked["ledger_entries"] = \
            sum(row.entries for row in sums.values())
        for place in sorted(set(balances) | set(sums)):
            stored, booked = balances.get(place), sums.get(place)
            qty, value = (booked.qty, booked.value) if booked else (ZERO, ZERO)
            on_hand, stored_value = (stored.on_hand, stored.value) if stored else (ZERO, ZERO)
            if on_hand != qty:
                self._add("balance_qty", place, qty, on_hand, "库存余额的数量 {found} 与台账合计 {expected} 不符",
                          "on hand {found} differs from the ledger's total {expected}")
            if stored_value != value:
                self._add("balance_value", place, value, stored_value,
                          "库存余额的金额 {found} 与台账合计 {expected} 不符",
                          "stock value {found} differs from the ledger's total {expected}")

    def _available(self, balances: dict[tuple[int, int, int], Any]) -> None:
        for place, row in sorted(balances.items()):
            if row.available != row.on_hand - row.reserved:
                self._add("available", place, row.on_hand - row.reserved, row.available,
                          "可用数量 {found} 不等于在库 − 预留 = {expected}",
                          "available {found} is not on hand − reserved = {expected}")

    def _batches(self, balances: dict[tuple[int, int, int], Any]) -> None:
        batch = self.stock["batch"]
        sums: dict[int, Decimal] = defaultdict(Decimal)
        for (_, _, batch_key), row in balances.items():
            if batch_key:
                sums[batch_key] += row.on_hand
        rows = self.connection.execute(select(batch.c.id, batch.c.item, batch.c.on_hand)).all()
        self.result.checked["batches"] = len(rows)
        for row in rows:
            if row.on_hand != sums.get(row.id, ZERO):
                self._add("batch_on_hand", (row.item, None, row.id), sums.get(row.id, ZERO), row.on_hand,
                          "批次在库 {found} 与各仓库余额合计 {expected} 不符",
                          "the batch's on hand {found} differs from its balances' total {expected}")

    def _limits(self, balances: dict[tuple[int, int, int], Any]) -> None:
        per_place: dict[tuple[int, int], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        for (item, warehouse, _), row in balances.items():
            total = per_place[item, warehouse]
            total[0] += row.on_hand
            total[1] += row.reserved
        allowed = self._negative_allowed({item for item, _ in per_place})
        for (item, warehouse), (on_hand, reserved) in sorted(per_place.items()):
            if item in allowed:
                continue
            if on_hand < 0:
                self._add("negative", (item, warehouse, None), ZERO, on_hand,
                          "库存为负 {found}，而该物料不允许负库存",
                          "stock is negative ({found}) where negative stock is refused")
            elif reserved > on_hand:
                self._add("over_reserved", (item, warehouse, None), on_hand, reserved,
                          "预留 {found} 超过在库 {expected}", "reserved {found} is more than on hand {expected}")

    def _negative_allowed(self, items: set[int]) -> set[int]:
        settings = self.app.stock
        assert settings is not None
        if settings.negative_stock:
            return items
        if not settings.allow_negative_field or not items:
            return set()
        table = self.schema.tables[settings.item]
        flag = table.c[settings.allow_negative_field]
        return set(self.connection.execute(select(table.c.id).where(flag == true())).scalars())

    def _reservations(self, balances: dict[tuple[int, int, int], Any]) -> None:
        reservation = self.stock["reservation"]
        held = {(row.item, row.warehouse): row.qty for row in self.connection.execute(
            select(reservation.c.item, reservation.c.warehouse,
                   func.sum(reservation.c.qty - reservation.c.released).label("qty"))
            .where(reservation.c.active == true()).group_by(reservation.c.item, reservation.c.warehouse))}
        reserved: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
        for (item, warehouse, _), row in balances.items():
            reserved[item, warehouse] += row.reserved
        for place in sorted(set(held) | {key for key, qty in reserved.items() if qty}):
            if held.get(place, ZERO) != reserved.get(place, ZERO):
                self._add("reserved", (*place, None), held.get(place, ZERO), reserved.get(place, ZERO),
                          "余额上的预留 {found} 与有效预留单合计 {expected} 不符",
                          "reserved {found} differs from the active reservations' total {expected}")

    def _periods(self) -> None:
        period, frozen = self.stock["period"], self.stock["period_balance"]
        closings = [ClosedPeriod(row.id, row.closed_until) for row in self.connection.execute(
            select(period.c.id, period.c.closed_until).order_by(period.c.closed_until))]
        self.result.checked["closed_periods"] = len(closings)
        previous: ClosedPeriod | None = None
        for closing in closings:
            stored = {(row.item, row.warehouse, row.batch_key): row for row in self.connection.execute(
                select(frozen.c.item, frozen.c.warehouse, frozen.c.batch_key, frozen.c.qty, frozen.c.value)
                .where(frozen.c.period == closing.id))}
            computed = {(row.item, row.warehouse, row.batch_key): row for row in self.connection.execute(
                grouped_query(self.stock, previous, day_end(closing.closed_until), None, None, True))}
            for place in sorted(set(stored) | set(computed)):
                kept, now = stored.get(place), computed.get(place)
                for name, attribute in (("period_qty", "qty"), ("period_value", "value")):
                    expected = getattr(now, attribute) if now else ZERO
                    found = getattr(kept, attribute) if kept else ZERO
                    if expected != found:
                        until = closing.closed_until
                        self._add(name, place, expected, found,
                                  f"结账至 {until} 时冻结的{'数量' if attribute == 'qty' else '金额'} {{found}} 与台账 "
                                  "{expected} 不符（有记录写进了已结账期间）",
                                  f"the {attribute} frozen when closing {until}, {{found}}, differs from the ledger's "
                                  "{expected} (an entry was written into a closed period)")
            previous = closing

    # --- reporting ------------------------------------------------------------------------------------

    def _add(self, check: str, place: tuple[int | None, int | None, int | None], expected: Decimal, found: Decimal,
             zh: str, en: str) -> None:
        item, warehouse, batch = place
        self._found.append((check, item, warehouse, batch or None, expected, found, zh, en))

    def _name_places(self) -> None:
        """Turn ids into codes a user recognises, with one query per kind of thing."""
        settings = self.app.stock
        assert settings is not None
        tables = self.schema.tables
        items = record_labels(self.connection, self.app, tables, settings.item, (e[1] for e in self._found))
        warehouses = record_labels(self.connection, self.app, tables, settings.warehouse, (e[2] for e in self._found))
        batches = batch_numbers(self.connection, self.stock["batch"], (e[3] for e in self._found))
        for check, item, warehouse, batch, expected, found, zh, en in self._found:
            where = []
            if item is not None:
                shown = text_of(items.get(item), item)
                where.append(self.say(f"物料 {shown}", f"item {shown}"))
            if warehouse is not None:
                shown = text_of(warehouses.get(warehouse), warehouse)
                where.append(self.say(f"仓库 {shown}", f"warehouse {shown}"))
            if batch is not None:
                where.append(self.say(f"批次 {batches.get(batch, batch)}", f"batch {batches.get(batch, batch)}"))
            text = self.say(zh, en).format(expected=_number(expected), found=_number(found))
            self.result.problems.append(
                Problem(check, item, warehouse, batch, expected, found, f"{', '.join(where)}: {text}"))



def _number(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value else "0"
    return text
