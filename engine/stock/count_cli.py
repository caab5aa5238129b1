"""`jxc stock reorder` and `jxc stock count-report`, added to the `stock` command's actions:

    jxc stock reorder APP [--db URL] [--warehouse CODE] [--create [--user NAME]]
    jxc stock count-report APP --count DOC_NO [--db URL]

`add_commands(actions)` takes the subparsers of `jxc stock` (engine.stock.cli.add_commands returns them).
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from engine.stock.cli import command as _command
from engine.stock.wording import say

EXIT_OK = 0


def add_commands(actions: argparse._SubParsersAction) -> None:
    reorder = _command(actions, "reorder", _reorder,
                       help="items at or below their reorder level, and draft purchase orders for them",
                       description="List every item whose available stock (on hand − reserved) is at or below its "
                                   "reorder level (or its safety stock when it has none), with what is on order "
                                   "and the quantity to order. With --create, draft purchase orders are made, one "
                                   "per supplier (the supplier the item was last ordered from); what is already "
                                   "on order is never ordered again.",
                       epilog="Example: jxc stock reorder apps/food --create --user xiaozhang")
    reorder.add_argument("--warehouse", metavar="CODE", help="only the stock in this warehouse (its code)")
    reorder.add_argument("--create", action="store_true", help="make the draft purchase orders")
    reorder.add_argument("--user", metavar="NAME", help="make them as this user, with their rights (default: jxc)")
    report = _command(actions, "count-report", _count_report,
                      help="a stock count's variance report: per line the books, the count and the difference",
                      description="Per line of a stock count (盘点单): the books at the snapshot, what moved since, "
                                  "the count, the difference in quantity, value and percent, and whether it is "
                                  "within the tolerance; then the inventory accuracy.")
    report.add_argument("--count", required=True, metavar="DOC_NO", help="the count's number (or its id)")


def _reorder(args: argparse.Namespace, started: Any) -> int:
    from engine.stock.labels import record_labels, text_of
    from engine.stock.reorder import create_purchase_drafts, reorder_list
    from engine.users import load_user

    app, records = started.app, started.records
    session = records.session(load_user(records.engine, app, records.schema, args.user)) if args.user \
        else records.system()
    warehouse = _by_code(started, app.stock.warehouse, args.warehouse) if args.warehouse else None
    lines = reorder_list(session, warehouse=warehouse)
    locale = app.locale
    if not lines:
        print(say(locale, "没有物料到达再订货点", "no item is at its reorder level"))
        return EXIT_OK
    with records.engine.connect() as connection:
        suppliers = record_labels(connection, app, records.schema.tables, "supplier",
                                  (line.supplier for line in lines if line.supplier)) \
            if "supplier" in app.entities else {}
    print(say(locale, "物料  可用  再订货点  在途  建议采购  供应商",
              "item  available  level  on order  to order  supplier"))
    for line in lines:
        supplier = text_of(suppliers.get(line.supplier), line.supplier) if line.supplier else "-"
        print(f"  {line.title}  {_n(line.available)}  {_n(line.level)}  {_n(line.on_order)}  {_n(line.suggested)}  "
              f"{supplier}")
    if args.create:
        made = create_purchase_drafts(session, lines)
        numbers = ", ".join(f"#{document['id']}" for document in made.documents) or "-"
        print(say(locale, f"已生成 {len(made.documents)} 张采购草稿（{made.entity}）：{numbers}",
                  f"{len(made.documents)} draft {made.entity} made: {numbers}"))
        if made.without_supplier:
            names = ", ".join(line.title for line in made.without_supplier)
            print(say(locale, f"没有供应商、未生成：{names}", f"left out, no supplier known: {names}"))
    return EXIT_OK


def _count_report(args: argparse.Namespace, started: Any) -> int:
    from engine.stock.count import COUNT
    from engine.stock.count_report import variance_report
    from engine.stock.labels import record_labels, text_of

    app, records = started.app, started.records
    table = records.schema.tables[COUNT]
    with records.engine.connect() as connection:
        found = connection.execute(select(table.c.id).where(table.c.doc_no == args.count)).scalar()
    if found is None and args.count.isdigit():
        found = int(args.count)
    if found is None:
        from engine.cli import UserError

        raise UserError(say(app.locale, f"没有编号为 {args.count} 的盘点单", f"there is no stock count {args.count}"))
    report = variance_report(records.system(), found)
    with records.engine.connect() as connection:
        items = record_labels(connection, app, records.schema.tables, app.stock.item,
                              (line.item for line in report.lines))
    locale = app.locale
    print(say(locale, f"盘点单 {report.doc_no or found}（{report.docstatus}），快照 {report.snapshot_at or '-'}，"
                      f"容差 ±{_n(report.tolerance * 100)}%",
              f"stock count {report.doc_no or found} ({report.docstatus}), snapshot {report.snapshot_at or '-'}, "
              f"tolerance ±{_n(report.tolerance * 100)}%"))
    for line in report.lines:
        flag = {"recount": say(locale, "需复盘/批准", "recount or approve"),
                "approved": say(locale, "差异已批准", "approved")}.get(line.flag or "", "")
        print(f"  {line.line}. {text_of(items.get(line.item), line.item)} {line.batch_no or ''}  "
              f"{_n(line.snapshot_qty)} {_signed(line.moved_since)} = {_n(line.expected_qty)}  "
              f"{_n(line.counted_qty)}  {_signed(line.difference)}  {_signed(line.value)}  "
              f"{_n(line.percent * 100) + '%' if line.percent is not None else '-'}  {flag}")
    accuracy = f"{_n(report.accuracy * 100)}%" if report.accuracy is not None else "-"
    print(say(locale, f"已盘 {report.counted} 行，账实相符率 {accuracy}，差异金额 {_signed(report.value)}",
              f"{report.counted} lines counted, accuracy {accuracy}, difference in value {_signed(report.value)}"))
    return EXIT_OK


def _by_code(started: Any, entity_name: str, code: str) -> int:
    from engine.cli import UserError

    entity = started.app.entities[entity_name]
    table = started.records.schema.tables[entity_name]
    with started.engine.connect() as connection:
        found = connection.execute(select(table.c.id).where(table.c[entity.key or "id"] == code)).scalar()
    if found is None:
        raise UserError(say(started.app.locale, f"没有编码为 {code} 的{entity.label.get(started.app.locale)}",
                            f"there is no {entity_name} with code {code}"))
    return int(found)


def _n(value: Decimal | None) -> str:
    return "-" if value is None else (format(value.normalize(), "f") if value else "0")


def _signed(value: Decimal | None) -> str:
    return "-" if value is None else (f"+{_n(value)}" if value > 0 else _n(value))
