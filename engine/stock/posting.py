"""Posting documents to the stock ledger, inside their submit or cancel transaction.

Public API (the built-in plugin `stock` calls these; other stock services may too):

    post_document(session, connection, entity, record)      # submit: ledger rows, balances, batches, holds
    reverse_document(session, connection, entity, record)   # cancel: reversing rows, everything restored
    StockRefused, NotEnoughStock                            # engine.stock.refusals: the user-facing refusals

A posting evaluates the document's stock effects row by row (engine.stock.moves), locks the balance rows of
every item × warehouse it touches in one global order (engine.stock.positions), values each movement
(moving average or FIFO, engine.stock.valuation), allocates batches first-expired-first-out where a line
names none (engine.stock.fefo), holds or releases reservations (engine.stock.reservations), and writes the
ledger, balances, batches and FIFO layers with a handful of statements. A movement dated before later ones
(backdated) revalues the later issues of that item × warehouse (engine.stock.backdate). Any refusal raises
before anything is written, with every problem located on its line.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from dsl.model import Entity, FieldType
from engine import alerts
from engine.context import EngineContext
from engine.errors import FieldProblem
from engine.stock import backdate, reservations
from engine.stock.batches import Batches
from engine.stock.fefo import Candidate, plan
from engine.stock.items import Catalog
from engine.stock.moves import Move, MoveReader
from engine.stock.periods import ensure_open
from engine.stock.positions import Positions
from engine.stock.refusals import NotEnoughStock, StockRefused, Wording
from engine.stock.valuation import ZERO, FifoLayers, PairState, issued_cost, money

MAX_VALUE = Decimal(10) ** 16  # the ledger keeps 16 digits of money before the point

__all__ = ["NotEnoughStock", "StockRefused", "post_document", "reverse_document"]


def post_document(session: Any, connection: Any, entity: Entity, record: dict[str, Any]) -> None:
    if entity.stock or entity.reservations or _follows_reserving(session.app, entity, record):
        Posting(session, connection, entity, record).submit()


def reverse_document(session: Any, connection: Any, entity: Entity, record: dict[str, Any]) -> None:
    if entity.stock or entity.reservations or _follows_reserving(session.app, entity, record):
        Posting(session, connection, entity, record).cancel()


def _follows_reserving(app: Any, entity: Entity, record: dict[str, Any]) -> bool:
    source = record.get("made_from_entity")
    return bool(source and source in entity.make_from and app.entities[source].reservations)


def writes_off(entity: Entity, record: dict[str, Any]) -> bool:
    """A write-off: a stock count (it books what is really there) or an issue whose purpose is scrap (the stock
    module's 报废). Only these may take an expired batch out of stock; everything else is refused it."""
    return entity.name == "stock_count" or record.get("purpose") == "scrap"


def ships_to_customer(app: Any, entity: Entity) -> bool:
    """A document that sends stock to a customer (a delivery): it links to the entity named customer. Its
    issues must leave the app's minimum remaining shelf life."""
    return any(field.type is FieldType.LINK and field.link == "customer" for field in entity.fields.values())


class Posting:
    def __init__(self, session: Any, connection: Any, entity: Entity, record: dict[str, Any]) -> None:
        records = session.records
        self.session, self.connection, self.entity, self.record = session, connection, entity, record
        self.app, self.schema = records.app, records.schema
        self.stock = records.schema.stock
        self.now = records.clock.now()
        shared = getattr(session, "context", None)  # the transaction's: the items formulas read are cached there
        self.context = shared if shared is not None and shared.connection is connection else EngineContext(
            connection, records.schema.table, records.clock, session.user)
        self.words = Wording(self.app.locale)
        self.problems: list[FieldProblem] = []
        self.shortages = 0
        self.balance_ids: list[int] = []
        self.batch_ids: list[int] = []
        self.positions = Positions(connection, self.stock, self.now)
        self.catalog = Catalog(self.app, records.schema, connection, self.context)
        self.batches = Batches(connection, self.stock)
        self.fifo = FifoLayers(connection, self.stock)
        self.states: dict[tuple[int, int], PairState] = {}
        self.later: dict[tuple[int, int], Any] = {}  # pairs with entries after this document's backdated moves
        self.ledger: list[dict[str, Any]] = []
        self.batch_changes: dict[int, Decimal] = defaultdict(Decimal)

    # --- submit ---------------------------------------------------------------------------------------

    def submit(self) -> None:
        moves, holds = self._read()
        follower = reservations.follower_holds(self.connection, self.stock, self.app, self.entity, self.record, 1)
        if self.problems:
            raise StockRefused(self.problems)
        if not moves and not holds and not follower:
            return
        if moves:
            ensure_open(self.connection, self.stock, min(move.posted_at for move in moves))
        self.catalog.load({move.item for move in moves} | {hold.item for hold in holds})
        shelf_life = {item: rules.shelf_life_days for item, rules in self.catalog.items.items()}
        self.batches.resolve(moves, shelf_life, self.now)
        self.positions.lock({move.key for move in moves} | {(h.item, h.warehouse) for h in holds + follower},
                            {(move.item, move.warehouse, move.batch) for move in moves if move.batch})
        later = self.later = backdate.later_pairs(self.connection, self.stock, moves, self.now)
        for hold in follower:  # what the source reserved for these lines is this document's to take
            self.positions.change(hold.item, hold.warehouse, 0, reserved=hold.qty)
        for move in moves:
            self._move(move, later)
        for hold in holds:
            self._hold(hold)
        self._refuse()
        reservations.insert_holds(self.connection, self.stock, self.entity.name, self.record["id"], holds, self.now)
        reservations.record_releases(self.connection, self.stock, follower)
        self._write()
        fixed = frozenset(name for name, entity in self.app.entities.items()
                          if any(effect.direction == "out" and effect.unit_cost is not None for effect in entity.stock))
        for pair, start in later.items():
            if pair in self.states:
                backdate.revalue(self.connection, self.stock, self.positions, pair, start, self.states[pair], fixed)
        self._signal()

    def _read(self) -> tuple[list[Move], list[reservations.Hold]]:
        computer = self.session.records.computer
        rules = computer.rules(self.entity)
        computer.link_rows(self.record, rules)
        try:
            computer.prefetch(self.connection, self.entity, self.record, self.context)
            reader = MoveReader(self.entity, self.context, self.now, ships_to_customer(self.app, self.entity),
                                writes_off(self.entity, self.record))
            moves = reader.read(self.record)
            self.problems += reader.problems
            holds = reservations.wanted(self.entity, self.record, self.context, self.problems)
        finally:
            computer.unlink_rows(self.record, rules)
        return moves, holds

    def state(self, item: int, warehouse: int) -> PairState:
        pair = (item, warehouse)
        found = self.states.get(pair)
        if found is None:
            found = self.states[pair] = PairState(self.positions.on_hand(item, warehouse),
                                                  self.positions.value(item, warehouse))
            if found.qty <= 0:
                found.last_rate = backdate.last_rate(self.connection, self.stock, pair, self.now)
        return found

    def _move(self, move: Move, later: dict[tuple[int, int], Any]) -> None:
        rules = self.catalog.item(move.item)
        if move.key in later:
            if rules.fifo:
                self.problems.append(self.words.fifo_backdated(move.path, rules.name))
                return
            if move.key not in self.states:
                transfers = [name for name, entity in self.app.entities.items()
                             if any(effect.direction == "transfer" for effect in entity.stock)]
                doc_no = backdate.later_transfer(self.connection, self.stock, move.key, later[move.key], transfers)
                if doc_no is not None:
                    self.problems.append(self.words.transfer_after(move.path, rules.name,
                                                                   self.catalog.warehouse(move.warehouse), doc_no))
                    return
                self.states[move.key] = backdate.state_at(self.connection, self.stock, move.key, later[move.key])
        if move.batch_no and move.batch is None and move.carried_from is None and move.sign < 0:
            self.problems.append(self.words.unknown_batch(f"{move.path}", rules.name, move.batch_no))
            return
        if move.sign > 0:
            self._receive(move, rules)
        else:
            self._issue(move, rules)

    def _receive(self, move: Move, rules: Any) -> None:
        if move.carried_from is not None:  # a transfer's in-leg: the same batches at the same cost
            for batch, qty, value, rate in move.carried_from.legs:
                self._entry(move, batch, qty, -value, rate, rules)
            return
        if rules.batch_required and move.batch is None:
            self.problems.append(self.words.no_batch(move.path, rules.name))
            return
        state = self.state(move.item, move.warehouse)
        if move.unit_cost is None and move.origin is not None:  # a sales return: at what its shipment cost
            move.unit_cost = issued_cost(self.connection, self.stock["ledger"], move.origin)
        rate = Decimal(move.unit_cost) if move.unit_cost is not None else state.rate()
        value = money(move.qty * rate)
        if abs(value) >= MAX_VALUE or rate < 0:
            self.problems.append(FieldProblem(f"{move.path}.unit_cost", self.words.bad_cost(value, rate)))
            return
        self._entry(move, move.batch or 0, move.qty, value, rate, rules)

    def _issue(self, move: Move, rules: Any) -> None:
        item, warehouse, name = move.item, move.warehouse, rules.name
        house = self.catalog.warehouse(warehouse)
        on_hand = self.positions.on_hand(item, warehouse)
        reserved = self.positions.reserved(item, warehouse)
        free = on_hand - reserved
        if not rules.negative_allowed and move.key in self.later:  # backdated: what there was on its day, less
            # what the later entries need (they may not go negative either)
            dated = self.state(item, warehouse).qty + backdate.lowest_after(self.connection, self.stock, move.key,
                                                                             move.posted_at)
            free = min(free, dated)
        if not rules.negative_allowed and move.qty > free:
            self._short(self.words.short(f"{move.path}.qty", name, house, max(free, ZERO),
                                                  max(reserved, ZERO), move.qty))
            return
        if move.batch is not None:
            legs = [(move.batch, move.qty)]
            if not self._batch_may_leave(move, move.batch, rules):
                return
        elif rules.batch_required or self._has_batches(item, warehouse):
            legs = self._fefo(move, rules, house)
            if legs is None:
                return
        else:
            legs = [(0, move.qty)]
        for batch, qty in legs:
            row = self.positions.row(item, warehouse, batch)
            if batch and not rules.negative_allowed and qty > row.on_hand:
                info = self.batches.by_id.get(batch)
                self._short(self.words.short_batch(f"{move.path}.qty", name, house,
                                                            info.batch_no if info else str(batch), row.on_hand, qty))
                return
        for batch, qty in legs:
            state = self.state(item, warehouse)
            if rules.fifo:
                value, rate = self.fifo.issue(item, warehouse, qty, state.rate())
            elif move.unit_cost is not None:  # declared by the effect: a purchase return leaves at the receipt's
                value, rate = state.issue_at(qty, Decimal(move.unit_cost))
            else:
                value, rate = state.issue(qty)
            move.legs.append((batch, qty, value, rate))
            self._entry(move, batch, qty, value, rate, rules, sign=-1)

    def _has_batches(self, item: int, warehouse: int) -> bool:
        return any(row.batch_key and row.on_hand > 0 for row in self.positions.of_pair(item, warehouse))

    def _batch_may_leave(self, move: Move, batch: int, rules: Any) -> bool:
        self.batches.load([batch])
        info = self.batches.by_id[batch]
        day = move.posted_at.date()
        if move.guarded and info.expiry is not None and info.expiry < day:  # only a write-off may take it
            self.problems.append(self.words.expired(f"{move.path}", rules.name, info.batch_no, info.expiry, day))
            return False
        days = rules.min_shelf_life_days if move.ships else None
        if days and info.expiry is not None and (info.expiry - day).days < days:
            self.problems.append(self.words.near_expiry(f"{move.path}", rules.name, info.batch_no, info.expiry, days))
            return False
        return True

    def _fefo(self, move: Move, rules: Any, house: str) -> list[tuple[int, Decimal]] | None:
        rows = [row for row in self.positions.of_pair(move.item, move.warehouse) if row.batch_key and row.on_hand > 0]
        self.batches.load(row.batch_key for row in rows)
        candidates = [Candidate(row.batch_key, self.batches.by_id[row.batch_key].batch_no,
                                self.batches.by_id[row.batch_key].expiry, row.on_hand) for row in rows]
        days = (rules.min_shelf_life_days or 0) if move.ships else 0
        chosen = plan(candidates, move.qty, move.posted_at.date(), days)
        legs = [(leg.batch, leg.qty) for leg in chosen.legs]
        taken = sum((qty for _, qty in legs), ZERO)
        if taken < move.qty:
            if not rules.negative_allowed:
                self._short(self.words.short_fefo(f"{move.path}.qty", rules.name, house, chosen.usable,
                                                           move.qty, chosen.blocked))
                return None
            legs.append((0, move.qty - taken))
        return legs

    def _entry(self, move: Move, batch: int, qty: Decimal, value: Decimal, rate: Decimal, rules: Any, *,
               sign: int = 1, reverses: int | None = None) -> None:
        signed = qty * sign
        self.positions.change(move.item, move.warehouse, batch, qty=signed, value=value)
        self.state(move.item, move.warehouse).apply(signed, value)
        if batch:
            self.batch_changes[batch] += signed
        if rules.fifo and signed > 0:
            self.fifo.add(move.item, move.warehouse, move.posted_at, signed, rate, len(self.ledger))
        self.ledger.append(self._row(move.posted_at, move.item, move.warehouse, move.location, batch, signed, rate,
                                     value, move.line_id, reverses))

    def _row(self, posted_at: Any, item: int, warehouse: int, location: int | None, batch: int, qty: Decimal,
             rate: Decimal, value: Decimal, line: int | None, reverses: int | None) -> dict[str, Any]:
        return {"posted_at": posted_at, "item": item, "warehouse": warehouse, "location": location,
                "batch": batch or None, "qty": qty, "unit_cost": rate, "value_change": value,
                "source_entity": self.entity.name, "source_id": self.record["id"], "source_line": line,
                "doc_no": self.record.get("doc_no"), "reverses": reverses, "created_at": self.now,
                "created_by": self.session.user.id}

    def _hold(self, hold: reservations.Hold) -> None:
        rules = self.catalog.item(hold.item)
        pair = (hold.item, hold.warehouse)
        on_hand, reserved = self.positions.on_hand(*pair), self.positions.reserved(*pair)
        if not rules.negative_allowed and hold.qty > on_hand - reserved:
            self._short(self.words.short(hold.path, rules.name, self.catalog.warehouse(hold.warehouse),
                                                  max(on_hand - reserved, ZERO), max(reserved, ZERO), hold.qty))
            return
        self.positions.change(hold.item, hold.warehouse, 0, reserved=hold.qty)

    # --- cancel ---------------------------------------------------------------------------------------

    def cancel(self) -> None:
        ledger = self.stock["ledger"]
        entries = self.connection.execute(select(ledger).where(
            ledger.c.source_entity == self.entity.name, ledger.c.source_id == self.record["id"],
            ledger.c.reverses.is_(None)).order_by(ledger.c.id)).all()
        own = reservations.open_holds(self.connection, self.stock, self.entity.name, self.record["id"])
        follower = reservations.follower_holds(self.connection, self.stock, self.app, self.entity, self.record, -1)
        if not entries and not own and not follower:
            return
        self.catalog.load({entry.item for entry in entries})
        self.positions.lock({(entry.item, entry.warehouse) for entry in entries}
                            | {(hold.item, hold.warehouse) for hold in own + follower},
                            {(entry.item, entry.warehouse, entry.batch) for entry in entries if entry.batch})
        for entry in entries:
            self._reverse(entry)
        self._refuse()
        for hold in own + follower:
            self.positions.change(hold.item, hold.warehouse, 0, reserved=hold.qty)
        reservations.close_holds(self.connection, self.stock, self.entity.name, self.record["id"])
        reservations.record_releases(self.connection, self.stock, follower)
        self._write()
        self._signal()

    def _reverse(self, entry: Any) -> None:
        rules = self.catalog.item(entry.item)
        qty, batch = -entry.qty, entry.batch or 0
        if qty < 0 and not rules.negative_allowed:
            pair_on_hand = self.positions.on_hand(entry.item, entry.warehouse)
            row = self.positions.row(entry.item, entry.warehouse, batch)
            house = self.catalog.warehouse(entry.warehouse)
            path = self._line_path(entry.source_line)
            if -qty > pair_on_hand:
                self._short(self.words.short(path, rules.name, house, pair_on_hand, ZERO, -qty))
                return
            if batch and -qty > row.on_hand:
                self.batches.load([batch])
                self._short(self.words.short_batch(path, rules.name, house,
                                                            self.batches.by_id[batch].batch_no, row.on_hand, -qty))
                return
        if rules.fifo:
            if qty < 0:
                self.fifo.take_back(entry.item, entry.warehouse, entry.id, -qty, entry.unit_cost or ZERO)
            else:
                self.fifo.add(entry.item, entry.warehouse, self.now, qty, entry.unit_cost or ZERO, len(self.ledger))
        self.positions.change(entry.item, entry.warehouse, batch, qty=qty, value=-entry.value_change)
        if batch:
            self.batch_changes[batch] += qty
        self.ledger.append(self._row(self.now, entry.item, entry.warehouse, entry.location, batch, qty,
                                     entry.unit_cost, -entry.value_change, entry.source_line, entry.id))

    def _line_path(self, line_id: int | None) -> str:
        for effect in self.entity.stock:
            for index, row in enumerate(self.record.get(effect.table) or ()):
                if row.get("id") == line_id:
                    return f"{effect.table}[{index}].qty"
        return ""

    def _short(self, problem: FieldProblem) -> None:
        self.shortages += 1
        self.problems.append(problem)

    def _refuse(self) -> None:
        if self.problems:
            raise (NotEnoughStock if self.shortages else StockRefused)(self.problems)

    # --- writing --------------------------------------------------------------------------------------

    def _write(self) -> None:
        ledger = self.stock["ledger"]
        ids: list[int] = []
        if self.ledger and self.fifo.new:  # new FIFO layers point at their ledger rows
            ids = list(self.connection.execute(ledger.insert().returning(ledger.c.id, sort_by_parameter_order=True),
                                               self.ledger).scalars())
        elif self.ledger:
            self.connection.execute(ledger.insert(), self.ledger)
        self.fifo.write(ids)
        self.balance_ids = self.positions.write()
        self.batch_ids = self.batches.add(self.batch_changes)

    def _signal(self) -> None:
        """Let `trigger: change` alerts on balances and batches see what moved (low stock, near expiry)."""
        if self.balance_ids:
            alerts.on_records_changed(self.session, self.connection, "stock_balance", self.balance_ids)
        if self.batch_ids:
            alerts.on_records_changed(self.session, self.connection, "stock_batch", self.batch_ids)

