"""The inventory engine's own tables (created by migration for apps with `stock:` settings).

- jxc_stock_ledger: append-only; one row per movement of one item in one warehouse (and batch): signed qty,
  unit cost and value change, and the document line it comes from. Cancelling writes reversing rows. No
  running totals: a backdated entry would have to rewrite every later row; balances (now) and closed
  periods plus the entries after them (as of a date) give the same answers.
- jxc_stock_balance: on hand, reserved and available per item × warehouse × batch (batch_key 0: none),
  and the stock value; formulas read it as `stock_balance`. The batch_key 0 row of an item × warehouse
  always exists once stock moved there: postings lock it first (one lock per item × warehouse) and
  reservations are held on it (they are not per batch).
- jxc_stock_batch: batches (number, item, dates, supplier); formulas read it as `stock_batch`.
- jxc_stock_reservation: stock held for a document line until it is fulfilled or cancelled.
- jxc_stock_layer: FIFO cost layers (what is left of each receipt) for items valued first in, first out.
- jxc_stock_period / jxc_stock_period_balance: closed months and the balances frozen at their end.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    Table,
    UniqueConstraint,
    literal_column,
)

from dsl.model import App
from dsl.sqltypes import ExactDecimal

QTY = ExactDecimal(18, 6)
COST = ExactDecimal(18, 6)
MONEY = ExactDecimal(18, 2)


def add_stock_tables(app: App, schema: Any) -> None:
    """Add the inventory tables to `schema` (engine.schema.Schema) when the app keeps stock."""
    stock = app.stock
    if stock is None:
        return
    from engine.schema import ID_TYPE, USER_TABLE

    metadata = schema.metadata
    item, warehouse = f"{stock.item}.id", f"{stock.warehouse}.id"
    location = f"{stock.location}.id" if stock.location else None
    batch = Table(
        "jxc_stock_batch", metadata,
        Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        Column("item", ID_TYPE, ForeignKey(item, ondelete="RESTRICT"), nullable=False),
        Column("batch_no", String(64), nullable=False),
        Column("production_date", Date),
        Column("expiry", Date, index=True),
        Column("supplier", BigInteger),
        Column("supplier_batch", String(64)),
        Column("on_hand", QTY, nullable=False, default=0),
        Column("created_at", DateTime, nullable=False),
        UniqueConstraint("item", "batch_no"),
        sqlite_autoincrement=True,
    )
    balance = Table(
        "jxc_stock_balance", metadata,
        Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        Column("item", ID_TYPE, ForeignKey(item, ondelete="RESTRICT"), nullable=False),
        Column("warehouse", ID_TYPE, ForeignKey(warehouse, ondelete="RESTRICT"), nullable=False, index=True),
        Column("batch", ID_TYPE, ForeignKey("jxc_stock_batch.id", ondelete="RESTRICT")),
        Column("batch_key", BigInteger, nullable=False, default=0),  # the batch id, 0 without: one key per row
        Column("on_hand", QTY, nullable=False, default=0),
        Column("reserved", QTY, nullable=False, default=0),
        Column("available", QTY, nullable=False, default=0),
        Column("value", MONEY, nullable=False, default=0),
        Column("updated_at", DateTime),
        UniqueConstraint("item", "warehouse", "batch_key"),
        sqlite_autoincrement=True,
    )
    ledger_columns = [
        Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        Column("posted_at", DateTime, nullable=False),  # the posting time (backdated entries keep theirs)
        Column("item", ID_TYPE, ForeignKey(item, ondelete="RESTRICT"), nullable=False),
        Column("warehouse", ID_TYPE, ForeignKey(warehouse, ondelete="RESTRICT"), nullable=False),
        Column("location", ID_TYPE, ForeignKey(location, ondelete="RESTRICT")) if location else
        Column("location", BigInteger),
        Column("batch", ID_TYPE, ForeignKey("jxc_stock_batch.id", ondelete="RESTRICT")),
        Column("qty", QTY, nullable=False),  # signed: + in, - out
        Column("unit_cost", COST),
        Column("value_change", MONEY, nullable=False, default=0),
        Column("source_entity", String(63), nullable=False),
        Column("source_id", BigInteger, nullable=False),
        Column("source_line", BigInteger),
        Column("doc_no", String(64)),
        Column("reverses", BigInteger, ForeignKey("jxc_stock_ledger.id", ondelete="RESTRICT")),
        Column("created_at", DateTime, nullable=False),
        Column("created_by", ID_TYPE, ForeignKey(f"{USER_TABLE}.id", ondelete="RESTRICT")),
    ]
    ledger = Table("jxc_stock_ledger", metadata, *ledger_columns, sqlite_autoincrement=True)
    # Covering: as-of balances and backdated revaluation read an item × warehouse's entries in time order and
    # sum qty and value from the index alone (not the table: ~10 s instead of < 1 s for a million rows on
    # SQLite). A new name, so that migrating an existing database creates it and drops the narrower one.
    Index("ix_jxc_stock_ledger_item_cover", ledger.c.item, ledger.c.warehouse, ledger.c.posted_at, ledger.c.id,
          ledger.c.batch, ledger.c.qty, ledger.c.value_change)
    # The issues alone, in time order: a backdated receipt finds the first later issue in one step however many
    # receipts came after it. The literal 0 (also 0 as SQLite's scaled integer) lets both planners match it.
    issues_only = ledger.c.qty < literal_column("0")
    Index("ix_jxc_stock_ledger_issues", ledger.c.item, ledger.c.warehouse, ledger.c.posted_at, ledger.c.id,
          postgresql_where=issues_only, sqlite_where=issues_only)
    # The reversals by the entry they undo ("is this entry cancelled?" without reading the ledger); only
    # reversals have one, so the index holds nothing else.
    Index("ix_jxc_stock_ledger_reversal", ledger.c.reverses, postgresql_where=ledger.c.reverses.is_not(None),
          sqlite_where=ledger.c.reverses.is_not(None))
    Index("ix_jxc_stock_ledger_source", ledger.c.source_entity, ledger.c.source_id)
    Index("ix_jxc_stock_ledger_time", ledger.c.posted_at)
    reservation = Table(
        "jxc_stock_reservation", metadata,
        Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        Column("item", ID_TYPE, ForeignKey(item, ondelete="RESTRICT"), nullable=False),
        Column("warehouse", ID_TYPE, ForeignKey(warehouse, ondelete="RESTRICT"), nullable=False),
        Column("qty", QTY, nullable=False),
        Column("released", QTY, nullable=False, default=0),
        Column("source_entity", String(63), nullable=False),
        Column("source_id", BigInteger, nullable=False),
        Column("source_line", BigInteger),
        Column("active", Boolean(create_constraint=False), nullable=False, default=True),
        Column("created_at", DateTime, nullable=False),
        Index("ix_jxc_stock_reservation_source", "source_entity", "source_id"),
        Index("ix_jxc_stock_reservation_item", "item", "warehouse"),
        sqlite_autoincrement=True,
    )
    layer = Table(
        "jxc_stock_layer", metadata,
        Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        Column("item", ID_TYPE, ForeignKey(item, ondelete="RESTRICT"), nullable=False),
        Column("warehouse", ID_TYPE, ForeignKey(warehouse, ondelete="RESTRICT"), nullable=False),
        Column("ledger", ID_TYPE, ForeignKey("jxc_stock_ledger.id", ondelete="RESTRICT"), nullable=False),
        Column("posted_at", DateTime, nullable=False),
        Column("qty_left", QTY, nullable=False),
        Column("unit_cost", COST, nullable=False),
        Index("ix_jxc_stock_layer_open", "item", "warehouse", "posted_at", "id"),
        sqlite_autoincrement=True,
    )
    period = Table(
        "jxc_stock_period", metadata,
        Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        Column("closed_until", Date, nullable=False, unique=True),  # entries up to and including this day
        Column("closed_at", DateTime, nullable=False),
        Column("closed_by", ID_TYPE, ForeignKey(f"{USER_TABLE}.id", ondelete="RESTRICT")),
        sqlite_autoincrement=True,
    )
    period_balance = Table(
        "jxc_stock_period_balance", metadata,
        Column("period", ID_TYPE, ForeignKey("jxc_stock_period.id", ondelete="CASCADE"), primary_key=True),
        Column("item", ID_TYPE, ForeignKey(item, ondelete="RESTRICT"), primary_key=True),
        Column("warehouse", ID_TYPE, ForeignKey(warehouse, ondelete="RESTRICT"), primary_key=True),
        Column("batch_key", BigInteger, primary_key=True),
        Column("qty", QTY, nullable=False),
        Column("value", MONEY, nullable=False),
        Column("rate", COST, nullable=False),
    )
    schema.stock = {"batch": batch, "balance": balance, "ledger": ledger, "reservation": reservation,
                    "layer": layer, "period": period, "period_balance": period_balance}
    # Formulas (alerts, dashboards) read balances and batches as the entities stock_balance and stock_batch.
    schema.system_tables["stock_balance"] = balance
    schema.system_tables["stock_batch"] = batch


