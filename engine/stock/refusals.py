"""Why a posting is refused, in the app's language, located on the document line (`lines[2].qty`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from engine.errors import FieldProblem, ValidationFailed


def say(locale: str, zh: str, en: str) -> str:
    return en if locale.startswith("en") else zh


class StockRefused(ValidationFailed):
    """A submit or cancel the stock does not allow (not enough stock, an expired batch...); nothing was written."""


class NotEnoughStock(StockRefused):
    """Not enough stock (or not enough that is not reserved) for a movement."""


def _n(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


class Wording:
    def __init__(self, locale: str) -> None:
        self.locale = locale

    def short(self, path: str, item: str, warehouse: str, available: Decimal, reserved: Decimal,
              wanted: Decimal) -> FieldProblem:
        held_zh = f"（另有 {_n(reserved)} 已预留）" if reserved else ""
        held_en = f" ({_n(reserved)} more reserved)" if reserved else ""
        return FieldProblem(path, say(
            self.locale,
            f"物料 {item} 在仓库 {warehouse} 库存不足：可用 {_n(available)}{held_zh}，需要 {_n(wanted)}",
            f"not enough stock of {item} in {warehouse}: {_n(available)} available{held_en}, {_n(wanted)} wanted"))

    def short_batch(self, path: str, item: str, warehouse: str, batch: str, on_hand: Decimal,
                    wanted: Decimal) -> FieldProblem:
        return FieldProblem(path, say(
            self.locale,
            f"物料 {item} 的批次 {batch} 在仓库 {warehouse} 库存不足：现有 {_n(on_hand)}，需要 {_n(wanted)}",
            f"not enough of batch {batch} of {item} in {warehouse}: {_n(on_hand)} on hand, {_n(wanted)} wanted"))

    def short_fefo(self, path: str, item: str, warehouse: str, usable: Decimal, wanted: Decimal,
                   blocked: Decimal) -> FieldProblem:
        extra_zh = f"（另有 {_n(blocked)} 已过期或临期，不能出库）" if blocked else ""
        extra_en = f" ({_n(blocked)} more expired or too close to expiry)" if blocked else ""
        return FieldProblem(path, say(
            self.locale,
            f"物料 {item} 在仓库 {warehouse} 可出库的批次库存不足：可用 {_n(usable)}{extra_zh}，需要 {_n(wanted)}",
            f"not enough stock of {item} in batches that may leave {warehouse}: {_n(usable)} available{extra_en}, "
            f"{_n(wanted)} wanted"))

    def no_batch(self, path: str, item: str) -> FieldProblem:
        return FieldProblem(path, say(self.locale, f"物料 {item} 实行批次管理，必须填写批次号",
                                      f"{item} is batch tracked: a batch number is required"))

    def unknown_batch(self, path: str, item: str, batch: str) -> FieldProblem:
        return FieldProblem(path, say(self.locale, f"物料 {item} 没有批次 {batch}", f"{item} has no batch {batch}"))

    def expired(self, path: str, item: str, batch: str, expiry: dt.date, day: dt.date) -> FieldProblem:
        return FieldProblem(path, say(
            self.locale, f"物料 {item} 的批次 {batch} 已于 {expiry} 过期，不能在 {day} 出库",
            f"batch {batch} of {item} expired on {expiry}: it cannot be issued on {day}"))

    def near_expiry(self, path: str, item: str, batch: str, expiry: dt.date, days: int) -> FieldProblem:
        return FieldProblem(path, say(
            self.locale, f"物料 {item} 的批次 {batch} 于 {expiry} 到期，剩余保质期不足 {days} 天，不能发货",
            f"batch {batch} of {item} expires on {expiry}: less than the {days} days of shelf life a shipment "
            "needs"))

    def fifo_backdated(self, path: str, item: str) -> FieldProblem:
        return FieldProblem(path, say(
            self.locale, f"物料 {item} 按先进先出计价，不能补录早于其后已有出入库的单据；请使用今天的日期",
            f"{item} is valued first in, first out: a movement dated before later ones cannot be entered; "
            "use today's date"))

    def transfer_after(self, path: str, item: str, warehouse: str, doc_no: str) -> FieldProblem:
        return FieldProblem(path, say(
            self.locale, f"物料 {item} 在此日期之后已由调拨单 {doc_no} 调出仓库 {warehouse}，不能补录早于该调拨的单据；"
                         "请先取消该调拨单，或使用今天的日期",
            f"{item} was transferred out of {warehouse} after this date ({doc_no}): a movement dated before that "
            "transfer cannot be entered; cancel the transfer first, or use today's date"))

    def bad_cost(self, value: Decimal, rate: Decimal) -> str:
        if rate < 0:
            return say(self.locale, f"单位成本不能为负（{_n(rate)}）", f"the unit cost cannot be negative ({_n(rate)})")
        return say(self.locale, f"金额 {_n(value)} 超出库存金额的上限",
                   f"{_n(value)} is more than a stock value can be")
