"""Stock counts (盘点): snapshot the books, count, reconcile what moved meanwhile, post the differences.

    count = start_count(session, warehouse=1, location=None, category=None)   # lines = the books now
    count = enter_counts(session, count["id"], {line_id: "97"}, version=count["version"])
    count = scan_count(session, manager, count["id"], "]C101069...10LOT7", version=count["version"])
    report = variance_report(session, count["id"])                            # qty, value, percent per line
    count = submit_count(session, count["id"], version=count["version"])

Stock keeps moving while people count. A line's adjustment is `counted − expected at count time`, where
expected at count time = the snapshot + every movement since = the book quantity when the count is
submitted. `submit_count` (and `refresh_expected`, to see it first) set expected_qty to that in the submit's
transaction, with the item × warehouse balance rows locked, so the document's own stock effects (in:
MAX(difference, 0), out: MAX(-difference, 0)) post exactly the adjustment. A plain submit is refused while
the books moved since expected_qty was read (`count_problems`, the veto of the stock plugin), while a line is
not counted, appears twice, or is off by more than the tolerance without approval (recount or approve it).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

from dsl.model import Entity, FieldType
from engine import audit
from engine.errors import FieldProblem, LifecycleError, NotFound, ValidationFailed
from engine.lifecycle import Lifecycle
from engine.stock.count_book import LineKey, book_quantities, scope_lines
from engine.stock.wording import say
from engine.store import Record

COUNT = "stock_count"
ZERO = Decimal(0)


def count_entity(session: Any) -> Entity:
    if session.app.stock is None or COUNT not in session.app.entities:
        raise NotFound(say(session.app.locale, f"应用 {session.app.name} 没有盘点单（{COUNT}）",
                           f"app {session.app.name} has no stock count document ({COUNT})"))
    return session.records.entity(COUNT)


def tolerance(app: Any) -> Decimal:
    """The count tolerance as a fraction (stock settings count_tolerance is in percent)."""
    return app.stock.count_tolerance / 100


def variance(expected: Decimal, counted: Decimal) -> Decimal:
    """The difference as a fraction of the books, as the document's variance_pct computes it."""
    if expected == 0:
        return ZERO if counted == 0 else Decimal(1)
    return ((counted - expected) / expected).quantize(Decimal("0.0001"))


# --- starting a count -----------------------------------------------------------------------------------------


def start_count(session: Any, *, warehouse: int, location: int | None = None, category: int | None = None,
                values: Mapping[str, Any] | None = None) -> Record:
    """A new count of the warehouse (one location, one item category) whose lines are the books now, every
    counted quantity blank; the snapshot time is recorded. `values` may give count_date, counted_by, remark."""
    entity = count_entity(session)
    app, records = session.app, session.records
    extra = dict(values or {})
    refused = sorted(set(extra) - {"count_date", "counted_by", "remark"})
    if refused:
        raise ValidationFailed([FieldProblem(name, say(app.locale, "开始盘点时不能填写", "cannot be given when a "
                                                       "count is started")) for name in refused])
    with session.transaction() as (connection, _):
        items = records.schema.tables[app.stock.item]
        category_field = _category_field(app, entity)
        book = scope_lines(connection, records.schema.stock, warehouse, location=location, items=items,
                           category_field=category_field, category=category)
        if not book:
            raise ValidationFailed([FieldProblem("lines", say(
                app.locale, "盘点范围内账面没有库存；请手工添加盘点明细",
                "nothing is on the books in this scope; add the lines counted by hand"))])
        lines = [{"item": line.key.item, "location": line.key.location, "batch_no": line.key.batch_no,
                  "snapshot_qty": line.qty, "expected_qty": line.qty} for line in book]
        inner = records.session(session.user, connection=connection)
        header = {"warehouse": warehouse, "location": location, "category": category,
                  "snapshot_at": records.clock.now(), "lines": lines}
        # _internal: the snapshot fields are read-only for people, written here by the engine
        return inner.create(entity.name, {**_checked(inner, entity, extra), **header}, _internal=True)


def _category_field(app: Any, entity: Entity) -> str | None:
    """The item's field that links to the entity the count's `category` links to (item_category)."""
    target = entity.fields["category"].link if "category" in entity.fields else None
    for name, field in app.entities[app.stock.item].fields.items():
        if target and field.type is FieldType.LINK and field.link == target and not field.many:
            return name
    return None


def _checked(session: Any, entity: Entity, values: dict[str, Any]) -> dict[str, Any]:
    """The user's own values, refused as a normal save would refuse them (read-only, hidden)."""
    problems = [FieldProblem(name, problem) for name in values
                if (problem := session._writable(entity, name, entity.fields.get(name), False))]
    if problems:
        raise ValidationFailed(problems)
    return values


# --- counting ------------------------------------------------------------------------------------------------


def enter_counts(session: Any, count_id: int, counts: Mapping[int, Any], *, version: int) -> Record:
    """Counted quantities by line id (a blank clears one); lines not named keep theirs."""
    entity = count_entity(session)
    record = session.get(entity.name, count_id)
    known = {row["id"] for row in record["lines"]}
    unknown = [line_id for line_id in counts if line_id not in known]
    if unknown:
        raise ValidationFailed([FieldProblem("lines", say(session.app.locale, f"盘点单没有 id 为 {line_id} 的明细行",
                                                          f"the count has no line with id {line_id}"))
                                for line_id in unknown])
    rows = [{"id": row["id"], **({"counted_qty": counts[row["id"]]} if row["id"] in counts else {})}
            for row in record["lines"]]
    return session.update(entity.name, count_id, {"lines": rows}, version=version)


def scan_count(session: Any, manager: Any, count_id: int, text: str, *, version: int, qty: Any = 1,
               location: int | None = None) -> Record:
    """A scanned item (and batch) counted once more (`qty` units: a case of 12 is scanned as 12). A code no
    scanning plugin reads (a shelf label) is taken as the item's code. An item not on the count yet gets a new
    line with nothing on the books at the snapshot."""
    from engine.coerce import CoercionError, coerce
    from engine.plugins import scan

    app = session.app
    entity = count_entity(session)
    found = scan(manager, app, text.strip()) or {"kind": "item", "code": text.strip()}  # a label with the code
    if found.get("error") or found.get("kind") != "item":
        reason = found.get("error") or say(app.locale, "不是物料条码", "not an item's code")
        raise ValidationFailed([FieldProblem("scan", f"{text!r}: {reason}")])
    item = _item_by_code(session, str(found.get("code") or found.get("gtin") or ""))
    if item is None:
        raise ValidationFailed([FieldProblem("scan", say(app.locale, f"{text!r}: 找不到这个物料",
                                                         f"{text!r}: no item has this code"))])
    try:
        step = coerce(app.entities[f"{COUNT}_lines"].fields["counted_qty"], qty, session.records.clock.zone)
    except CoercionError as error:
        raise ValidationFailed([FieldProblem("qty", str(error))]) from None
    record = session.get(entity.name, count_id)
    key = LineKey(item, location, found.get("batch") or None)
    rows: list[dict[str, Any]] = [{"id": row["id"]} for row in record["lines"]]
    for given, row in zip(rows, record["lines"], strict=True):
        if LineKey.of(row) == key:
            given["counted_qty"] = (row["counted_qty"] or ZERO) + step
            break
    else:
        rows.append({"item": item, "location": location, "batch_no": key.batch_no, "counted_qty": step})
    return session.update(entity.name, count_id, {"lines": rows}, version=version)


def _item_by_code(session: Any, code: str) -> int | None:
    from sqlalchemy import select

    app = session.app
    item = app.entities[app.stock.item]
    table = session.records.schema.tables[item.name]
    if not code or not item.key:
        return None
    with session.transaction() as (connection, _):
        return connection.execute(select(table.c.id).where(table.c[item.key] == code)).scalar()


def approve_variances(session: Any, count_id: int, line_ids: list[int], *, version: int) -> Record:
    """Accept the differences of lines beyond the tolerance (a recount confirmed them)."""
    entity = count_entity(session)
    record = session.get(entity.name, count_id)
    rows = [{"id": row["id"], **({"variance_approved": True} if row["id"] in line_ids else {})}
            for row in record["lines"]]
    return session.update(entity.name, count_id, {"lines": rows}, version=version)


# --- reconciling and submitting -------------------------------------------------------------------------------


def refresh_expected(session: Any, count_id: int, *, version: int) -> Record:
    """Set each line's expected_qty to the books now (the snapshot plus what moved since), and save."""
    entity = count_entity(session)
    session.access.require(entity, "write")
    with session.transaction() as (connection, context):
        record, old = _load_draft(session, connection, entity, count_id, version)
        changes = _reconcile(session, connection, record)
        Lifecycle(session)._recheck(connection, context, entity, record)
        now = session.records.clock.now()
        record.update(modified_at=now, modified_by=session.user.id, version=version + 1)
        session.records.store.update(connection, entity, record, old, expected_version=version)
        audit.record_change(connection, session.records.schema, at=now, user_id=session.user.id,
                            entity=entity.name, record_id=count_id, action="update", changes=changes,
                            comment="refresh expected quantities")
        return session.access.shown(entity, session._clean(record))


def submit_count(session: Any, count_id: int, *, version: int) -> Record:
    """Reconcile the lines with what moved since the snapshot and submit, in one transaction: the adjustments
    posted are `counted − expected at count time`."""
    entity = count_entity(session)
    session.access.require(entity, "submit")
    workflows = session.records.workflows
    workflows.gate(session, entity, "submit")
    with session.transaction() as (connection, context):
        record, old = _load_draft(session, connection, entity, count_id, version)
        changes = _reconcile(session, connection, record)
        changes |= workflows.direct(entity, record, "submit")
        return Lifecycle(session).submit_loaded(connection, context, entity, record, recheck=True, old=old,
                                                changes=changes)


def _load_draft(session: Any, connection: Connection, entity: Entity, count_id: int, version: int
                ) -> tuple[Record, Record]:
    record = session._load_one(connection, entity, count_id, lock=True)
    if record["docstatus"] != "draft":
        raise LifecycleError(say(session.app.locale, f"盘点单 {record.get('doc_no') or count_id} 已{_status(record)}",
                                 f"stock count {record.get('doc_no') or count_id} is {record['docstatus']}"))
    session._check_version(connection, entity, record, version)
    old = {key: ([dict(row) for row in value] if key == "lines" else value) for key, value in record.items()}
    return record, old


def _status(record: Record) -> str:
    return {"submitted": "提交", "cancelled": "作废"}.get(record["docstatus"], record["docstatus"])


def _reconcile(session: Any, connection: Connection, record: Record) -> dict[str, Any]:
    """expected_qty := the books now, on every line (balance rows locked); the changes, for the audit log."""
    lines = record.get("lines") or []
    book = book_quantities(connection, session.records.schema.stock, record["warehouse"],
                           (LineKey.of(row) for row in lines), lock=True)
    moved: dict[str, Any] = {}
    for row in lines:
        now = book[LineKey.of(row)]
        if row.get("expected_qty") != now:
            moved[str(row["id"])] = {"expected_qty": [_text(row.get("expected_qty")), _text(now)]}
            row["expected_qty"] = now
    return {"lines": moved} if moved else {}


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


# --- the checks of a submit (the stock plugin's veto) -------------------------------------------------------


def count_problems(session: Any, record: Record, connection: Connection) -> list[str]:
    """Why the count cannot be submitted as it is (empty: it can). Lines against stale books are not judged
    against the tolerance: their difference is not yet the real one."""
    app = session.app
    lines = record.get("lines") or []
    problems: list[str] = []
    titles = _item_titles(session, connection, {row["item"] for row in lines if row.get("item")})
    where = {number: say(app.locale, f"第 {number} 行（{titles.get(row['item'], row['item'])}）",
                         f"line {number} ({titles.get(row['item'], row['item'])})")
             for number, row in enumerate(lines, start=1)}
    seen: dict[LineKey, int] = {}
    for number, row in enumerate(lines, start=1):
        key = LineKey.of(row)
        if key in seen:
            problems.append(say(app.locale, f"{where[number]}与第 {seen[key]} 行是同一物料、库位和批次，请合并",
                                f"{where[number]} counts the same item, location and batch as line {seen[key]}; "
                                "merge them"))
        seen.setdefault(key, number)
        if row.get("counted_qty") is None:
            problems.append(say(app.locale, f"{where[number]}还没有实盘数量", f"{where[number]} has not been counted"))
    if problems:
        return problems
    book = book_quantities(connection, session.records.schema.stock, record["warehouse"], seen, lock=True)
    stale = [number for number, row in enumerate(lines, start=1)
             if book[LineKey.of(row)] != (row.get("expected_qty") or ZERO)]
    if stale:
        shown = ", ".join(str(number) for number in stale)
        if record.get("snapshot_at") is None:  # made by hand: the books were never read
            return [say(app.locale, f"第 {shown} 行的账面数量与账面不符：请刷新账面数量后再提交",
                        f"lines {shown} do not show the books' quantities: refresh the expected quantities, "
                        "then submit")]
        return [say(app.locale, f"盘点期间库存有变动（第 {shown} 行）：请刷新账面数量后再提交",
                    f"stock moved while counting (lines {shown}): refresh the expected quantities, then submit")]
    limit = tolerance(app)
    for number, row in enumerate(lines, start=1):
        off = variance(row.get("expected_qty") or ZERO, row["counted_qty"])
        if abs(off) > limit and not row.get("variance_approved"):
            problems.append(say(
                app.locale, f"{where[number]}差异 {_percent(off)} 超出 ±{_percent(limit)} 的容差：请复盘或批准差异",
                f"{where[number]} is off by {_percent(off)}, beyond the ±{_percent(limit)} tolerance: "
                "recount it or approve the difference"))
    return problems


def _percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).normalize():f}%"


def _item_titles(session: Any, connection: Connection, ids: set[int]) -> dict[int, str]:
    from sqlalchemy import select

    if not ids:
        return {}
    item = session.app.entities[session.app.stock.item]
    table = session.records.schema.tables[item.name]
    rows = connection.execute(select(table).where(table.c.id.in_(sorted(ids)))).mappings()
    return {row["id"]: session._title(item, dict(row)) for row in rows}
