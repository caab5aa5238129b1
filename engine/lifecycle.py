"""Documents: submit (numbered, immutable, effects), cancel (effects reversed), amend (a corrected copy),
and making one document from another with line-by-line fulfilment (PO → goods receipt).

Everything a submit or cancel changes (the document, its number, the source's fulfilled quantities and
progress, plugins' effects, the audit log) happens in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.engine import Connection

from dsl.formula.errors import FormulaRuntimeError
from dsl.model import Entity, FieldType, MakeFrom
from engine import audit
from engine.context import EngineContext
from engine.errors import FieldProblem, LifecycleError, NotFound, ValidationFailed, Vetoed
from engine.messages import Message
from engine.naming import next_number
from engine.store import Record


class Lifecycle:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.records = session.records
        self.app = session.app

    def _document(self, name: str) -> Entity:
        entity = self.records.entity(name)
        if not entity.is_document:
            raise LifecycleError(Message("{entity} is master data; only documents are submitted or cancelled",
                                         entity=entity.name))
        return entity

    # --- submit ---------------------------------------------------------------------------------------

    def submit(self, entity_name: str, record_id: int, *, version: int) -> Record:
        entity = self._document(entity_name)
        self.session.access.require(entity, "submit")
        self.records.workflows.gate(self.session, entity, "submit")
        with self.session.transaction() as (connection, context):
            record = self.session._load_one(connection, entity, record_id, lock=True)
            if record["docstatus"] != "draft":
                raise LifecycleError(Message("{entity} {document} is already {state}", entity=entity.name,
                                             document=record.get("doc_no") or record_id,
                                             state=Message(record["docstatus"])))
            self.session._check_version(connection, entity, record, version)
            return self.submit_loaded(connection, context, entity, record, recheck=True)

    def submit_loaded(self, connection: Connection, context: EngineContext, entity: Entity, record: Record, *,
                      recheck: bool, old: Record | None = None, action: str = "submit", comment: str | None = None,
                      changes: dict[str, Any] | None = None,
                      logged_before: list[dict[str, Any]] | None = None) -> Record:
        """Submit a draft already at hand in this transaction (`recheck`: compute and validate it again,
        needed unless it was just computed and validated in the same transaction).

        A workflow's transition into a submit state passes the record as stored (`old`), its own action and
        comment, and the changes it made (the state, fields filled in): one audit entry says it all. Called
        otherwise, a document with a workflow is submitted only by jxc itself, into the first submit state.
        `logged_before`: audit entries of this transaction not written yet (a save-and-submit's creation)."""
        version = record["version"]
        if old is None:
            workflows = self.records.workflows
            workflows.gate(self.session, entity, "submit")
            # rows copied too: the recheck recomputes them in place, and only what differs from `old` is written
            old = {key: ([dict(row) if isinstance(row, dict) else row for row in value] if isinstance(value, list)
                         else value) for key, value in record.items()}
            changes = workflows.direct(entity, record, "submit")
        if recheck:
            self._recheck(connection, context, entity, record)
        self._check_source(connection, entity, record)
        self._veto(entity, record, connection)
        now = self.records.clock.now()
        record["doc_no"] = self._number(connection, entity, record, now)
        record.update(docstatus="submitted", modified_at=now, modified_by=self.session.user.id, version=version + 1)
        self.records.store.update(connection, entity, record, old, expected_version=version)
        self._fulfil(connection, context, entity, record, sign=1)
        self._hook("jxc_after_submit", entity, record, connection)
        audit.write(connection, self.records.schema, [*(logged_before or ()), audit.entry(
            at=now, user_id=self.session.user.id, entity=entity.name, record_id=record["id"], action=action,
            comment=comment, changes={**(changes or {}), "doc_no": [None, record["doc_no"]],
                                      "docstatus": ["draft", "submitted"]})])
        return self.session.access.shown(entity, self.session._clean(record))

    def _recheck(self, connection: Connection, context: EngineContext, entity: Entity, record: Record) -> None:
        """A document is checked again when submitted: links may have changed since it was saved."""
        problems: list[FieldProblem] = []
        computer = self.records.computer
        rules = computer.rules(entity)
        computer.link_rows(record, rules)
        try:
            computer.prefetch(connection, entity, record, context)
            computer.compute(entity, record, context, problems)
            computer.validate(connection, entity, record, context, problems, formulas=not problems)
        finally:
            computer.unlink_rows(record, rules)
        if problems:
            raise ValidationFailed(problems)

    def _check_source(self, connection: Connection, entity: Entity, record: Record) -> None:
        """A document made from another is submitted only while that one still is (not cancelled since)."""
        source_name, source_id = record.get("made_from_entity"), record.get("made_from_id")
        if not source_name or source_id is None or source_name not in entity.make_from:
            return
        table = self.records.schema.tables[source_name]
        row = connection.execute(select(table.c.doc_no, table.c.docstatus).where(table.c.id == source_id)).first()
        if row is None or row.docstatus != "submitted":
            raise LifecycleError(Message("{entity} cannot be submitted: it was made from {source} {document}, which "
                                         "is {state}", entity=entity.name, source=source_name,
                                         document=row.doc_no if row else source_id,
                                         state=Message(row.docstatus if row else "deleted")))

    def _veto(self, entity: Entity, record: Record, connection: Connection) -> None:
        hooks = self.records.hooks
        if hooks is None:
            return
        refusals = [message for message in hooks.jxc_before_submit(
            session=self.session, entity=entity, record=record, connection=connection) if message]
        if refusals:
            raise Vetoed("; ".join(refusals))

    def _hook(self, name: str, entity: Entity, record: Record, connection: Connection) -> None:
        hooks = self.records.hooks
        if hooks is not None:
            getattr(hooks, name)(session=self.session, entity=entity, record=record, connection=connection)

    def _number(self, connection: Connection, entity: Entity, record: Record, now: Any) -> str:
        if record.get("amended_from"):
            table = self.records.schema.tables[entity.name]
            chain, parent = 0, record["amended_from"]
            root_number = None
            while parent is not None:
                chain += 1
                row = connection.execute(select(table.c.doc_no, table.c.amended_from)
                                         .where(table.c.id == parent)).first()
                root_number, parent = (row.doc_no, row.amended_from) if row else (root_number, None)
            return f"{root_number}-{chain}"  # the first document's number: PO-2026-00012-1, -2, ...
        assert entity.naming is not None
        return next_number(connection, self.records.schema, entity.naming, entity.name, now.date())

    # --- cancel -------------------------------------------------------------------------------------------

    def cancel(self, entity_name: str, record_id: int, *, version: int) -> Record:
        entity = self._document(entity_name)
        self.session.access.require(entity, "cancel")
        self.records.workflows.gate(self.session, entity, "cancel")
        with self.session.transaction() as (connection, context):
            record = self.session._load_one(connection, entity, record_id, lock=True)
            if record["docstatus"] != "submitted":
                raise LifecycleError(Message("only submitted documents can be cancelled; {entity} {document} is "
                                             "{state}", entity=entity.name, document=record.get("doc_no") or record_id,
                                             state=Message(record["docstatus"])))
            self.session._check_version(connection, entity, record, version)
            return self.cancel_loaded(connection, context, entity, record)

    def cancel_loaded(self, connection: Connection, context: EngineContext, entity: Entity, record: Record, *,
                      old: Record | None = None, action: str = "cancel", comment: str | None = None,
                      changes: dict[str, Any] | None = None) -> Record:
        """Cancel a submitted document already at hand (locked, its version checked) in this transaction; a
        workflow's transition into a cancel state passes the record as stored, its action, comment and changes."""
        self._refuse_if_followed(connection, entity, record)
        if old is None:
            self.records.workflows.gate(self.session, entity, "cancel")
            old = dict(record)
            changes = self.records.workflows.direct(entity, record, "cancel")
        version = old["version"]
        now = self.records.clock.now()
        record.update(docstatus="cancelled", modified_at=now, modified_by=self.session.user.id, version=version + 1)
        self.records.store.update(connection, entity, record, old, expected_version=version)
        self._fulfil(connection, context, entity, record, sign=-1)
        self._hook("jxc_after_cancel", entity, record, connection)
        audit.record_change(connection, self.records.schema, at=now, user_id=self.session.user.id,
                            entity=entity.name, record_id=record["id"], action=action, comment=comment,
                            changes={**(changes or {}), "docstatus": ["submitted", "cancelled"]})
        return self.session.access.shown(entity, self.session._clean(record))

    def _refuse_if_followed(self, connection: Connection, entity: Entity, record: Record) -> None:
        """A document that others were made from stays until those are cancelled (their effects depend on it)."""
        followers = []
        for target in self.app.entities.values():
            if entity.name not in target.make_from:
                continue
            table = self.records.schema.tables[target.name]
            rows = connection.execute(select(table.c.doc_no).where(
                table.c.made_from_entity == entity.name, table.c.made_from_id == record["id"],
                table.c.docstatus == "submitted").limit(5)).scalars().all()
            followers += [f"{target.label.get(self.app.locale)} {number}" for number in rows]
        if followers:
            raise LifecycleError(Message("{entity} {document} cannot be cancelled while these made from it are "
                                         "submitted: {followers}; cancel them first", entity=entity.name,
                                         document=record["doc_no"], followers=", ".join(followers)))

    # --- amend ------------------------------------------------------------------------------------------

    def amend(self, entity_name: str, record_id: int) -> Record:
        entity = self._document(entity_name)
        self.session.access.require(entity, "amend")  # the right to amend is the right to make the corrected copy
        with self.session.transaction() as (connection, _):
            record = self.session._load_one(connection, entity, record_id)
        if record["docstatus"] != "cancelled":
            raise LifecycleError(Message("only cancelled documents can be amended; {entity} {document} is {state}",
                                         entity=entity.name, document=record.get("doc_no") or record_id,
                                         state=Message(record["docstatus"])))
        if not entity.amend:
            raise LifecycleError(Message("{entity} cannot be amended; create a new one", entity=entity.name))
        values = _editable_values(entity, record, self.app)
        values.pop(self.records.workflows.state_field(entity) or "", None)  # the copy starts the workflow anew
        made_from = (record["made_from_entity"], record["made_from_id"]) if record.get("made_from_entity") else None
        copy = self.session.create(entity_name, values, _made_from=made_from, _internal=True,
                                   _amended_from=record_id, _verb="amend")
        return copy

    # --- make from --------------------------------------------------------------------------------------

    def draft_from(self, target_name: str, source_name: str, source_id: int) -> dict[str, Any]:
        """The values of a new target document made from the source, not saved (a form to fill in)."""
        target = self._document(target_name)
        link = target.make_from.get(source_name)
        if link is None:
            raise NotFound(Message("{entity} cannot be made from {source}; it can be made from: {sources}",
                                   entity=target.name, source=source_name,
                                   sources=", ".join(target.make_from) or Message("nothing")))
        source = self._document(source_name)
        self.session.access.require(source, "read")
        with self.session.transaction() as (connection, context):
            record = self.session._load_one(connection, source, source_id)
            if record["docstatus"] != "submitted":
                note = self.records.workflows.source_note(source, record) if record["docstatus"] == "draft" else ""
                raise LifecycleError(Message("{entity} {document} is {state}{note}; only a submitted document can be "
                                             "taken further", entity=source.name,
                                             document=record.get("doc_no") or source_id,
                                             state=Message(record["docstatus"]), note=note))
            return self._map(connection, context, link, source, record)

    def make_from(self, target_name: str, source_name: str, source_id: int,
                  values: Mapping[str, Any] | None = None) -> Record:
        """A new draft of the target, made from the source with the app's mappings, saved. `values` fill in what
        the mappings leave to the user (the warehouse a receipt goes into, a line's batch): fields by name, the
        mapped lines by position (`{"warehouse": 3, "lines": [{"batch_no": "B1"}, {}]}`); each is checked like a
        user's save, so read-only and hidden fields cannot be given."""
        target = self._document(target_name)
        self.session.access.require(target, "create")  # refused before any work
        draft = self.draft_from(target_name, source_name, source_id)
        if values:
            draft = self._fill_in(target, draft, values)
        return self.session.create(target_name, draft, _made_from=(source_name, source_id), _internal=True)

    def _fill_in(self, entity: Entity, draft: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(values, Mapping):
            raise ValidationFailed([FieldProblem("", Message("the values must be given as field: value pairs"))])
        writable = self.session._writable
        problems: list[FieldProblem] = []
        merged = dict(draft)
        for name, value in values.items():
            field = entity.fields.get(name)
            problem = writable(entity, name, field, False)
            if problem:
                problems.append(FieldProblem(name, problem))
            elif field is not None and field.type is FieldType.TABLE:
                merged[name] = self._fill_in_rows(entity, name, draft.get(name) or [], value, problems)
            else:
                merged[name] = value
        if problems:
            raise ValidationFailed(problems)
        return merged

    def _fill_in_rows(self, entity: Entity, table: str, rows: list[dict[str, Any]], given: Any,
                      problems: list[FieldProblem]) -> list[dict[str, Any]]:
        """The mapped rows, each updated with the values given at its position; rows given beyond them are new;
        a mapped row given as null is left out (a partial receipt: what was not scanned is not received)."""
        if not isinstance(given, list) or not all(isinstance(row, Mapping) or row is None for row in given):
            problems.append(FieldProblem(table, Message("must be a list of rows (field: value pairs, or null to leave "
                                                        "out)")))
            return rows
        child = self.app.entities[entity.fields[table].table or ""]
        merged = [dict(row) for row in rows] + [{} for _ in given[len(rows):]]
        for index, row in enumerate(given):
            for name, value in (row or {}).items():
                problem = self.session._writable(child, name, child.fields.get(name), False)
                if problem:
                    problems.append(FieldProblem(f"{table}[{index}].{name}", problem))
                else:
                    merged[index][name] = value
        return [row for index, row in enumerate(merged) if index >= len(given) or given[index] is not None]

    def _map(self, connection: Connection, context: EngineContext, link: MakeFrom, source: Entity,
             record: Record) -> dict[str, Any]:
        computer = self.records.computer
        rules = computer.rules(source)
        computer.link_rows(record, rules)
        problems: list[FieldProblem] = []
        try:
            computer.prefetch(connection, source, record, context)
            values: dict[str, Any] = {}
            for name, formula in link.fields.items():
                values[name] = _evaluate(formula, record, context, problems, name)
            lines = link.lines
            if lines is not None:
                rows = []
                for index, line in enumerate(record.get(lines.source_table) or ()):
                    row = {name: _evaluate(formula, line, context, problems, f"{lines.source_table}[{index}].{name}")
                           for name, formula in lines.fields.items()}
                    if lines.qty and lines.fulfil and (row.get(lines.qty) is None or row[lines.qty] <= 0):
                        continue  # fully fulfilled already: only what is still open comes over
                    row["made_from_line"] = line["id"]
                    rows.append(row)
                if lines.fulfil and not rows:
                    raise LifecycleError(Message("{entity} {document} has nothing left to take further: every line "
                                                 "is fulfilled", entity=source.name, document=record.get("doc_no")))
                values[lines.target_table] = rows
        finally:
            computer.unlink_rows(record, rules)
        if problems:
            raise ValidationFailed(problems)
        return {key: _plain(value) for key, value in values.items()}

    # --- fulfilment -----------------------------------------------------------------------------------

    def _fulfil(self, connection: Connection, context: EngineContext, entity: Entity, record: Record, *,
                sign: int) -> None:
        """Add (submit) or take back (cancel) this document's quantities on the source's lines."""
        source_name, source_id = record.get("made_from_entity"), record.get("made_from_id")
        if not source_name or source_id is None or source_name not in entity.make_from:
            return
        link = entity.make_from[source_name]
        lines = link.lines
        if lines is None or not lines.fulfil or not lines.qty:
            return
        source = self.app.entities[source_name]
        child = self.app.entities[source.fields[lines.source_table].table or ""]
        table = self.records.schema.tables[child.name]
        amounts: dict[int, tuple[Decimal, int]] = {}
        for index, row in enumerate(record.get(lines.target_table) or ()):
            line_id = row.get("made_from_line")
            if line_id is None or row.get(lines.qty) is None:
                continue
            total, first = amounts.get(line_id, (Decimal(0), index))
            amounts[line_id] = (total + row[lines.qty], first)
        fulfil = table.c[lines.fulfil]
        limit = table.c[lines.limit or lines.qty]
        problems = []
        moved: dict[str, Any] = {}  # the source's rows, for its audit log
        for line_id, (amount, index) in sorted(amounts.items()):
            change = literal(amount * sign, fulfil.type)
            result = connection.execute(
                update(table).where(table.c.id == line_id, table.c.parent_id == source_id)
                .values({fulfil: func.coalesce(fulfil, literal(0, fulfil.type)) + change})
                .returning(fulfil, limit, table.c.idx)).first()
            if result is None:
                problems.append(FieldProblem(f"{lines.target_table}[{index}]",
                                             Message("its line of {source} no longer exists", source=source_name)))
                continue
            done, ordered, position = result
            moved[str(line_id)] = {lines.fulfil: [_plain(done - amount * sign), _plain(done)]}
            allowed = (ordered or 0) * (1 + lines.tolerance / 100)
            if sign > 0 and done > allowed:
                extra = Message(" (with the {tolerance}% tolerance, at most {allowed})", tolerance=lines.tolerance,
                                allowed=f"{allowed.normalize():f}") if lines.tolerance else ""
                problems.append(FieldProblem(
                    f"{lines.target_table}[{index}].{lines.qty}",
                    Message("this would make line {line} of {source} {done} of {ordered}{tolerance}", line=position,
                            source=source_name, done=f"{done.normalize():f}",
                            ordered=f"{(ordered or 0).normalize():f}", tolerance=extra)))
        if problems:
            raise ValidationFailed(problems)
        changes: dict[str, Any] = {lines.source_table: moved} if moved else {}
        if link.progress is not None:
            changes |= self._progress(connection, context, source, source_id, link, table, fulfil, limit)
        if changes:  # the source changed too: its history says so, and which document did it
            audit.record_change(connection, self.records.schema, at=self.records.clock.now(),
                                user_id=self.session.user.id, entity=source_name, record_id=source_id,
                                action="fulfil" if sign > 0 else "unfulfil", changes=changes,
                                comment=f"{entity.name} {record.get('doc_no')}")

    def _progress(self, connection: Connection, context: EngineContext, source: Entity, source_id: int,
                  link: MakeFrom, lines_table: Any, fulfil: Any, limit: Any) -> dict[str, Any]:
        progress = link.progress
        assert progress is not None
        rows = connection.execute(select(fulfil, limit).where(lines_table.c.parent_id == source_id)).all()
        done = sum((row[0] or Decimal(0) for row in rows), Decimal(0))
        ordered = sum((row[1] or Decimal(0) for row in rows), Decimal(0))
        header = self.records.schema.tables[source.name]
        values: dict[str, Any] = {}
        if progress.percent:
            ratio = min(done / ordered, Decimal(1)) if ordered else Decimal(0)
            values[progress.percent] = ratio.quantize(Decimal(1).scaleb(-(source.fields[progress.percent].scale or 4)))
        if progress.status:
            complete = all((row[0] or 0) >= (row[1] or 0) for row in rows) and rows
            if complete:
                values[progress.status] = progress.complete
            elif done > 0:
                values[progress.status] = progress.partial
            else:
                default = source.fields[progress.status].default
                values[progress.status] = default.python({}, context) if default is not None else None
        if not values:
            return {}
        before = connection.execute(select(*(header.c[name] for name in values))
                                    .where(header.c.id == source_id)).mappings().one()
        connection.execute(update(header).where(header.c.id == source_id).values(
            **values, version=header.c.version + 1, modified_at=self.records.clock.now(),
            modified_by=self.session.user.id))
        return {name: [_plain(before[name]), _plain(value)] for name, value in values.items()
                if before[name] != value}


def _evaluate(formula: Any, record: Record, context: EngineContext, problems: list[FieldProblem], path: str) -> Any:
    try:
        return formula.python(record, context)
    except FormulaRuntimeError as error:
        problems.append(FieldProblem(path, Message("cannot be filled in: {error}", error=error.message)))
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _editable_values(entity: Entity, record: Record, app: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in entity.fields.items():
        if field.computed:
            continue
        if field.type is FieldType.TABLE:
            child = app.entities[field.table]
            values[name] = [{key: row[key] for key, child_field in child.fields.items()
                             if not child_field.computed and key in row} | (
                {"made_from_line": row["made_from_line"]} if row.get("made_from_line") is not None else {})
                for row in record.get(name) or ()]
        elif name in record:
            values[name] = record[name]
    return values
