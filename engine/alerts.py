"""Alerts at run time: a condition over the records of a scope, checked set-wise in SQL, in episodes.

An alert fires when its condition becomes true for a record, is not repeated while it stays true (unless
`repeat:` has passed since it was last sent), and re-arms when the condition clears; jxc_alert_state keeps
the episode of each record. One evaluation of a rule is a handful of statements whatever the number of
records:

1. the records where the condition holds and that are due (no episode yet, a cleared one, or a repeat that
   is due): one SELECT, the condition compiled to SQL, left-joined with jxc_alert_state;
2. episodes whose condition no longer holds are closed: one UPDATE … WHERE NOT EXISTS (condition);
3. episode rows for what fired: one INSERT and up to two UPDATEs (executemany);
4. the messages: linked records' titles (one SELECT per link field), the recipients (one SELECT), the inbox
   and outbox rows (one INSERT each).

A condition with a function that has no SQL form (a plugin's) is evaluated in Python, record by record.

- `trigger: schedule` alerts are run by the scheduler (engine.scheduler) over all records of the scope.
- `trigger: change` alerts are checked for the changed record inside the transaction that changes it: the
  built-in plugin `notify` calls `on_records_changed` after every save, submit and cancel; the inventory
  engine calls it for `stock_balance` / `stock_batch` after posting. An alert that fails (e.g. a division by
  zero in its condition) never stops the save: it is rolled back to a savepoint and its error is kept in
  jxc_job (`jxc outbox APP` shows it).
"""

from __future__ import annotations

import datetime as dt
import logging
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, exists, insert, literal, or_, select, update
from sqlalchemy.engine import Connection

from dsl.formula import ir
from dsl.formula.errors import FormulaRuntimeError
from dsl.formula.sqlcompile import NoSqlForm, SqlCompiler, sql_form_missing
from dsl.formula.types import Kind
from dsl.model import Alert
from engine.context import SYSTEM, Clock, EngineContext
from engine.notify.queue import Notification, Queue, recipients, setup_for
from engine.notify.render import Presenter, Renderer, record_path, record_url
from engine.notify.tables import notify_tables
from engine.query import compiler_for

log = logging.getLogger("jxc.alerts")
_STATE = "jxc_state_record"
_ACTIVE = "jxc_state_active"
_EPISODE = "jxc_state_episode"
_TIMES = "jxc_state_times"
_STATE_COLUMNS = (_STATE, _ACTIVE, _EPISODE, _TIMES)


@dataclass
class Evaluation:
    alert: str
    fired: int = 0  # new episodes (first time, or again after the condition had cleared)
    repeated: int = 0  # episodes still on whose repeat interval had passed
    cleared: int = 0  # episodes closed because the condition no longer holds
    inbox: int = 0
    outbox: int = 0
    in_python: bool = False  # the condition had no SQL form and was evaluated record by record

    def text(self) -> str:
        return (f"{self.fired} fired, {self.repeated} repeated, {self.cleared} cleared; {self.inbox} inbox and "
                f"{self.outbox} outbox notifications")


class AlertEngine:
    """The alerts of one app (Records), ready to evaluate."""

    def __init__(self, records: Any) -> None:
        self.records = records
        self.app = records.app
        self.schema = records.schema
        self.setup = setup_for(records)
        self.renderer = Renderer(self.app)
        self.presenter = Presenter(self.app, self.schema.table)
        self.state = notify_tables(self.schema).alert_state
        self._on_change: dict[str, list[Alert]] = {}
        for alert in self.app.alerts.values():
            if alert.trigger == "change":
                self._on_change.setdefault(alert.scope, []).append(alert)

    def change_alerts(self, scope: str) -> list[Alert]:
        return self._on_change.get(scope, [])

    def evaluate(self, alert: Alert | str, connection: Connection, *, now: dt.datetime | None = None,
                 ids: Sequence[int] | None = None, python: bool = False) -> Evaluation:
        """Check `alert` over every record of its scope (or only `ids`) in the caller's transaction: close
        the episodes that cleared, open or repeat the ones due, queue their notifications. `python`
        evaluates record by record in Python (what a condition without a SQL form needs; benchmarks)."""
        alert = self.app.alerts[alert] if isinstance(alert, str) else alert
        now = now or self.records.clock.now()
        result = Evaluation(alert.name)
        if ids is not None and not ids:
            return result
        in_python = python or sql_form_missing(alert.condition.expr, connection.dialect.name) is not None
        if not in_python:
            try:
                due = self._due_in_sql(alert, connection, now, ids, result)
            except NoSqlForm:
                in_python = True
        if in_python:
            result.in_python = True
            due = self._due_in_python(alert, connection, now, ids, result)
        self._fire(alert, connection, now, due, result)
        return result

    # --- which records are due, in SQL (set-wise) ---------------------------------------------------

    def _joined(self, alert: Alert, source: Any, table: Any) -> Any:
        state = self.state
        return source.outerjoin(state, and_(state.c.alert == alert.name, state.c.entity == alert.scope,
                                           state.c.record_id == table.c.id))

    def _due_filter(self, alert: Alert, now: dt.datetime) -> Any:
        state = self.state
        due = or_(state.c.record_id.is_(None), state.c.active.is_(False))
        if alert.repeat is not None:
            due = or_(due, state.c.last_sent_at <= now - alert.repeat)
        return due

    def _due_in_sql(self, alert: Alert, connection: Connection, now: dt.datetime, ids: Sequence[int] | None,
                    result: Evaluation) -> list[dict[str, Any]]:
        table = self.schema.table(alert.scope)
        clock = Clock(self.app.timezone, fixed=now)
        compiler = compiler_for(connection, self.schema, SYSTEM, clock)
        joining = _JoiningCompiler(self.schema, connection.dialect.name, compiler.context)
        holds = joining.condition(alert.condition.expr, table)
        source = table
        for field_name, alias in joining.joins.items():
            source = source.outerjoin(alias, alias.c.id == table.c[field_name])
        state = self.state
        query = (select(table, state.c.record_id.label(_STATE), state.c.active.label(_ACTIVE),
                        state.c.episode.label(_EPISODE), state.c.times.label(_TIMES))
                 .select_from(self._joined(alert, source, table))
                 .where(holds, self._due_filter(alert, now))
                 .order_by(table.c.id))
        still = (select(literal(1)).select_from(table)
                 .where(table.c.id == state.c.record_id, compiler.condition(alert.condition.expr, table)))
        clear = (update(state).where(state.c.alert == alert.name, state.c.entity == alert.scope,
                                     state.c.active.is_(True), ~exists(still))
                 .values(active=False, cleared_at=now))
        if ids is not None:
            query = query.where(table.c.id.in_(list(ids)))
            clear = clear.where(state.c.record_id.in_(list(ids)))
        result.cleared = connection.execute(clear).rowcount or 0
        return [dict(row) for row in connection.execute(query).mappings()]

    # --- which records are due, in Python (record by record) ------------------------------------------

    def _due_in_python(self, alert: Alert, connection: Connection, now: dt.datetime, ids: Sequence[int] | None,
                       result: Evaluation) -> list[dict[str, Any]]:
        table = self.schema.table(alert.scope)
        query = select(table).order_by(table.c.id)
        if ids is not None:
            query = query.where(table.c.id.in_(list(ids)))
        rows = [dict(row) for row in connection.execute(query).mappings()]
        context = EngineContext(connection, self.schema.table, Clock(self.app.timezone, fixed=now), SYSTEM)
        self._prefetch_links(connection, alert.scope, rows, context)
        holds = []
        for row in rows:
            try:
                if alert.condition.python(row, context) is True:
                    holds.append(row)
            except FormulaRuntimeError as error:  # undecidable for this record: it does not fire
                log.debug("alert %s, %s %s: %s", alert.name, alert.scope, row.get("id"), error)
        state = self.state
        query = select(state.c.record_id, state.c.active, state.c.last_sent_at, state.c.episode, state.c.times).where(
            state.c.alert == alert.name, state.c.entity == alert.scope)
        if ids is not None:
            query = query.where(state.c.record_id.in_(list(ids)))
        states = {row.record_id: row for row in connection.execute(query)}
        true_ids = {row["id"] for row in holds}
        cleared = [{"rid": record_id} for record_id, row in states.items() if row.active and record_id not in true_ids]
        if cleared:
            connection.execute(update(state).where(state.c.alert == alert.name, state.c.entity == alert.scope,
                                                   state.c.record_id == bindparam("rid"))
                               .values(active=False, cleared_at=now), cleared)
        result.cleared = len(cleared)
        due = []
        for row in holds:
            episode = states.get(row["id"])
            if episode is None or not episode.active or (
                    alert.repeat is not None and episode.last_sent_at <= now - alert.repeat):
                due.append({**row, _STATE: episode.record_id if episode else None,
                            _ACTIVE: episode.active if episode else None,
                            _EPISODE: episode.episode if episode else None, _TIMES: episode.times if episode else None})
        return due

    def _prefetch_links(self, connection: Connection, scope: str, rows: list[dict[str, Any]],
                        context: EngineContext) -> None:
        """Linked records in one query per link field, so that formulas following links query nothing."""
        info = self.app.catalog.entity(scope)
        for name, field in (info.fields.items() if info else ()):
            if field.type.kind is not Kind.RECORD or not field.type.entity or name == "id":
                continue
            ids = sorted({row[name] for row in rows if row.get(name) is not None})
            target = self.schema.table(field.type.entity)
            for start in range(0, len(ids), 5000):
                chunk = ids[start:start + 5000]
                found = connection.execute(select(target).where(target.c.id.in_(chunk))).mappings()
                context.prime(field.type.entity, {row["id"]: dict(row) for row in found})

    # --- firing: episodes and messages ----------------------------------------------------------------

    def _fire(self, alert: Alert, connection: Connection, now: dt.datetime, due: list[dict[str, Any]],
              result: Evaluation) -> None:
        if not due:
            return
        state = self.state
        new = [row["id"] for row in due if row[_STATE] is None]
        rearmed = [row["id"] for row in due if row[_STATE] is not None and not row[_ACTIVE]]
        repeated = [row["id"] for row in due if row[_STATE] is not None and row[_ACTIVE]]
        if new:
            connection.execute(insert(state), [
                {"alert": alert.name, "entity": alert.scope, "record_id": record_id, "active": True,
                 "first_fired_at": now, "last_sent_at": now, "cleared_at": None, "episode": 1, "times": 1}
                for record_id in new])
        same = (state.c.alert == alert.name, state.c.entity == alert.scope, state.c.record_id == bindparam("rid"))
        if rearmed:
            connection.execute(update(state).where(*same).values(active=True, first_fired_at=now, last_sent_at=now,
                                                                 cleared_at=None, episode=state.c.episode + 1,
                                                                 times=1),
                               [{"rid": record_id} for record_id in rearmed])
        if repeated:
            connection.execute(update(state).where(*same).values(last_sent_at=now, times=state.c.times + 1),
                               [{"rid": record_id} for record_id in repeated])
        result.fired, result.repeated = len(new) + len(rearmed), len(repeated)
        # what makes each notification unique: the record's episode, and the repeat within it
        keys = {row["id"]: (1, 1) if row[_STATE] is None else (row[_EPISODE] + 1, 1) if not row[_ACTIVE]
                else (row[_EPISODE], row[_TIMES] + 1) for row in due}
        rows = [{key: value for key, value in row.items() if key not in _STATE_COLUMNS} for row in due]
        result.inbox, result.outbox = self._queue(alert, connection, now, rows, keys)

    def _queue(self, alert: Alert, connection: Connection, now: dt.datetime, rows: list[dict[str, Any]],
               keys: Mapping[int, tuple[int, int]]) -> tuple[int, int]:
        presented = self.presenter.present(connection, alert.scope, rows)
        users = recipients(connection, self.schema, alert.roles, alert.users)
        queue = Queue(connection, self.schema, self.setup, now)
        label = alert.label.get(self.app.locale)
        app_info = {"name": self.app.name, "title": self.app.title.get(self.app.locale)}
        items = {row["id"]: row.get("item") for row in rows} if alert.scope in _STOCK_ROWS else {}
        for record in presented:
            path = self._path(alert.scope, record["id"], items)
            variables = {"record": record, "link": record_url(self.setup.base_url, path), "app": app_info,
                         "now": now}
            rendered = self.renderer.render(alert.message, variables)
            title = self.presenter.title(alert.scope, record)
            queue.add(Notification(
                key="alert:{}:{}:{}:episode {}:{}".format(alert.name, alert.scope, record["id"], *keys[record["id"]]),
                subject=f"{label}: {title}", text=rendered["text"], html=rendered["html"],
                markdown=rendered["markdown"], path=path, source=f"alert:{alert.name}",
                data={"alert": alert.name, "entity": alert.scope, "record_id": record["id"]}), alert.channels, users)
        return queue.flush()


    def _path(self, scope: str, record_id: int, items: Mapping[int, Any]) -> str:
        """A record's page; a balance or batch has none of its own, so its item's page (where its stock is)."""
        item = items.get(record_id)
        if item is not None and self.app.stock is not None:
            return record_path(self.app.stock.item, item)
        return record_path(scope, record_id)


_STOCK_ROWS = frozenset({"stock_balance", "stock_batch"})


class _JoiningCompiler(SqlCompiler):
    """Follows a link of the scope's own records (`item.safety_stock`) through a LEFT JOIN of the linked table
    (one per link field) rather than a subquery per row: PostgreSQL runs a correlated scalar subquery once per
    row, while a join of two tables is one hash join. Same values: no linked record gives blank either way."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.joins: dict[str, Any] = {}  # link field of the scope → alias of the linked table

    def _Follow(self, expr: ir.Follow) -> Any:
        base = expr.base
        if (expr.type.kind in (Kind.LIST, Kind.ROWS) or not isinstance(base, ir.FieldRef) or base.level != 0
                or base.type.kind is not Kind.RECORD):
            return super()._Follow(expr)
        alias = self.joins.get(base.field)
        if alias is None:
            alias = self.joins[base.field] = self.tables.table(expr.entity).alias(f"jxc_link_{len(self.joins)}")
        return self._column(alias, expr.field, expr.type)


_engines: weakref.WeakKeyDictionary[Any, AlertEngine] = weakref.WeakKeyDictionary()


def engine_for(records: Any) -> AlertEngine:
    """The AlertEngine of a Records (engine.records), made once."""
    found = _engines.get(records)
    if found is None:
        found = _engines[records] = AlertEngine(records)
    return found


def on_records_changed(session: Any, connection: Connection, scope: str, ids: Iterable[int]) -> list[Evaluation]:
    """Check the `trigger: change` alerts of `scope` for the records `ids`, inside the caller's transaction
    (what a rolled-back change would have sent is rolled back with it). Called by the built-in plugin
    `notify` after saves, submits and cancels, and by the inventory engine for stock_balance / stock_batch
    after posting. An alert that fails is skipped (its error is kept in jxc_job), never failing the change."""
    alerts = engine_for(session.records)
    wanted = sorted({int(record_id) for record_id in ids})
    results = []
    for alert in alerts.change_alerts(scope):
        try:
            with connection.begin_nested():
                results.append(alerts.evaluate(alert, connection, ids=wanted))
        except Exception as error:  # an alert must never stop a save
            log.warning("alert %s failed on %s %s: %s", alert.name, scope, wanted, error)
            from engine.scheduler import record_error

            record_error(connection, session.records.schema, f"alert:{alert.name}", describe(error),
                         session.records.clock.now())
    return results


def describe(error: BaseException) -> str:
    """An error as an admin reads it (a database error by its first line, not SQL and parameters)."""
    from sqlalchemy.exc import DBAPIError

    from dsl.formula.sqlsupport import translate_database_error

    if isinstance(error, DBAPIError):
        translated = translate_database_error(error)
        if translated is not None:
            return str(translated)
        return f"the database refused: {str(error.orig).strip().splitlines()[0]}"
    return f"{type(error).__name__}: {error}" if not isinstance(error, FormulaRuntimeError) else str(error)


def app_alerts(records: Any, trigger: str) -> Mapping[str, Alert]:
    return {name: alert for name, alert in records.app.alerts.items() if alert.trigger == trigger}
