"""The service layer: the only way the web UI, the REST API, the CLI, plugins and tests change records.

    records = Records(app, engine)
    session = records.session(user)          # or records.system() for jxc's own work
    order = session.create("sales_order", {"customer": 1, "lines": [{"item": 2, "qty": "3"}]})
    order = session.update("sales_order", order["id"], {"remark": "急"}, version=order["version"])

Every call is one transaction. Values are checked and computed on the server (defaults, formulas in order,
validations, required_if, links, uniqueness); all problems come back at once, by field, and nothing is
written while any remains. Permissions are checked on every call (engine.access).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pluggy
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from dsl.model import App, Entity, EntityKind, FieldType
from dsl.problems import did_you_mean
from engine import audit
from engine.access import Access
from engine.coerce import CoercionError, coerce
from engine.compute import Computer, Preview
from engine.context import SYSTEM, Clock, CurrentUser, EngineContext
from engine.errors import (
    Conflict,
    FieldProblem,
    InUse,
    LifecycleError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from engine.lifecycle import Lifecycle
from engine.messages import Message
from engine.plugins import AppHooks, builtin_manager
from engine.schema import Schema, build_schema
from engine.store import Record, Store
from engine.workflow import Workflows, WorkflowSession

SYSTEM_FIELDS = frozenset({"id", "doc_no", "docstatus", "amended_from", "created_at", "created_by", "modified_at",
                           "modified_by", "version", "parent_id", "idx", "made_from_entity", "made_from_id",
                           "made_from_line"})


class Records:
    """The service layer of one app on one database."""

    def __init__(self, app: App, engine: Engine, *, schema: Schema | None = None,
                 plugins: pluggy.PluginManager | None = None, clock: Clock | None = None) -> None:
        self.app = app
        self.engine = engine
        self.schema = schema or build_schema(app)
        self.plugins = plugins if plugins is not None else builtin_manager()
        self.hooks = AppHooks(self.plugins, app.plugins)
        self.clock = clock or Clock(app.timezone)
        self.store = Store(app, self.schema)
        self.computer = Computer(app, self.schema)
        self.workflows = Workflows(app)

    def session(self, user: CurrentUser, *, connection: Connection | None = None) -> Session:
        """A session for `user`; with `connection`, every call runs inside that transaction (as a savepoint)."""
        return Session(self, user, connection)

    def system(self, *, connection: Connection | None = None) -> Session:
        """jxc's own work (demo data, migrations, tests): not subject to the app's permissions."""
        return Session(self, SYSTEM, connection)

    def entity(self, name: str) -> Entity:
        entity = self.app.entities.get(name)
        if entity is None or entity.kind is EntityKind.CHILD:
            hint = did_you_mean(name, [n for n, e in self.app.entities.items() if e.kind is not EntityKind.CHILD])
            if hint:
                raise NotFound(Message("there is no entity '{name}' ({hint})", name=name, hint=hint))
            raise NotFound(Message("there is no entity '{name}'", name=name))
        return entity


class Session:
    def __init__(self, records: Records, user: CurrentUser, connection: Connection | None = None) -> None:
        self.records = records
        self.app = records.app
        self.user = user
        self.access = Access(records.app, records.schema, user)
        self._connection = connection
        # the running transaction's context: what it has read already (hooks such as stock posting reuse it)
        self.context: EngineContext | None = None

    # --- plumbing -------------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[tuple[Connection, EngineContext]]:
        outer = self.context
        try:
            if self._connection is not None:
                with self._connection.begin_nested():
                    self.context = EngineContext(self._connection, self.records.schema.table, self.records.clock,
                                                 self.user)
                    yield self._connection, self.context
                return
            with self.records.engine.begin() as connection:
                self.context = EngineContext(connection, self.records.schema.table, self.records.clock, self.user)
                yield connection, self.context
        finally:
            self.context = outer

    def _load_one(self, connection: Connection, entity: Entity, record_id: int, *, lock: bool = False) -> Record:
        # an id no database can hold (a typed URL) is simply not there; asking would overflow SQLite's INTEGER
        beyond = isinstance(record_id, int) and not 0 < record_id < 2**63
        found = {} if beyond else self.records.store.load(connection, entity, [record_id], lock=lock)
        record = found.get(record_id)
        if record is None or not self.access.can_see(connection, entity, record_id):
            raise NotFound(Message("there is no {entity} with id {id}", entity=entity.name, id=record_id))
        return record

    # --- reading ------------------------------------------------------------------------------------

    def get(self, entity_name: str, record_id: int) -> Record:
        entity = self.records.entity(entity_name)
        self.access.require(entity, "read")
        with self.transaction() as (connection, _):
            return self.access.shown(entity, self._load_one(connection, entity, record_id))

    def history(self, entity_name: str, record_id: int) -> list[dict[str, Any]]:
        entity = self.records.entity(entity_name)
        self.access.require(entity, "read")
        with self.transaction() as (connection, _):
            self._load_one(connection, entity, record_id)
            return [self._shown_changes(entity, entry)
                    for entry in audit.history(connection, self.records.schema, entity.name, record_id)]

    def _shown_changes(self, entity: Entity, entry: dict[str, Any]) -> dict[str, Any]:
        """An audit entry without the fields this user may not see (in table rows too)."""
        if self.user.is_admin:
            return entry
        changes: dict[str, Any] = {}
        for name, change in entry["changes"].items():
            field = entity.fields.get(name)
            if field is not None and self.access.field_access(entity.name, name) == "hidden":
                continue
            if field is not None and field.type is FieldType.TABLE and isinstance(change, dict):
                child = field.table or ""
                change = {row_id: {key: value for key, value in row.items()
                                   if self.access.field_access(child, key) != "hidden" or
                                   key not in self.app.entities[child].fields}
                          for row_id, row in change.items()}
            changes[name] = change
        return {**entry, "changes": changes}

    def list(self, entity_name: str, **options: Any) -> Any:
        from engine.query import list_records

        entity = self.records.entity(entity_name)
        self.access.require(entity, "read")
        with self.transaction() as (connection, context):
            return list_records(self, connection, context, entity, **options)

    # --- writing ------------------------------------------------------------------------------------

    def create(self, entity_name: str, values: Mapping[str, Any], *, submit: bool = False,
               _made_from: tuple[str, int] | None = None, _internal: bool = False, _amended_from: int | None = None,
               _verb: str = "create") -> Record:
        """A new record; with `submit`, a document is also submitted in the same transaction ("save and
        submit": both happen or neither)."""
        entity = self.records.entity(entity_name)
        self.access.require(entity, _verb)
        if submit:
            if not entity.is_document:
                raise LifecycleError(Message("{entity} is master data; only documents are submitted",
                                             entity=entity.name))
            self.access.require(entity, "submit")
            self.records.workflows.gate(self, entity, "submit")
        with self.transaction() as (connection, context):
            record = self.records.store.blank(entity)
            self.records.workflows.start(entity, record)  # before the values: giving the initial state is no change
            given = self._assign(entity, record, values, problems := [], creating=True, internal=_internal)
            if _made_from is not None:
                record["made_from_entity"], record["made_from_id"] = _made_from
            if _amended_from is not None:
                record["amended_from"] = _amended_from
            now = self.records.clock.now()  # set first: formulas and row rules may read who created it
            record.update(created_at=now, created_by=self.user.id, modified_at=now, modified_by=self.user.id,
                          version=1)
            self._complete(connection, context, entity, record, given, problems, creating=True)
            self._within_rules(entity, record, context)
            self.records.store.insert(connection, entity, record)
            created = audit.entry(at=now, user_id=self.user.id, entity=entity.name, record_id=record["id"],
                                  action="create", changes=audit.diff(None, record, self._tables(entity)))
            if not submit:
                audit.write(connection, self.records.schema, [created])
            self._after_save(entity, record, connection)
            if submit:  # the creation is logged with the submission, in one statement
                return Lifecycle(self).submit_loaded(connection, context, entity, record, recheck=False,
                                                     logged_before=[created])
            return self.access.shown(entity, self._clean(record))

    def update(self, entity_name: str, record_id: int, values: Mapping[str, Any], *, version: int) -> Record:
        entity = self.records.entity(entity_name)
        self.access.require(entity, "write")
        with self.transaction() as (connection, context):
            old = self._load_one(connection, entity, record_id)
            if entity.is_document and old["docstatus"] != "draft":
                raise LifecycleError(Message(
                    "{entity} {document} is {state} and can no longer be changed" + (
                        "; amend it to make a corrected copy" if old["docstatus"] == "cancelled" else ""),
                    entity=entity.name, document=old.get("doc_no") or record_id, state=Message(old["docstatus"])))
            self._check_version(connection, entity, old, version)
            record = _copy(old)
            given = self._assign(entity, record, values, problems := [], creating=False, internal=False)
            self._complete(connection, context, entity, record, given, problems, creating=False)
            self._within_rules(entity, record, context)
            now = self.records.clock.now()
            record.update(modified_at=now, modified_by=self.user.id, version=old["version"] + 1)
            if not self.records.store.update(connection, entity, record, old, expected_version=version):
                self._check_version(connection, entity, old, version, after_write=True)
            changes = audit.diff(old, record, self._tables(entity))
            audit.record_change(connection, self.records.schema, at=now, user_id=self.user.id, entity=entity.name,
                                record_id=record_id, action="update", changes=changes)
            self._after_save(entity, record, connection)
            return self.access.shown(entity, self._clean(record))

    def preview(self, entity_name: str, values: Mapping[str, Any], *, record_id: int | None = None) -> Preview:
        """What saving `values` would compute and report, without writing anything: a form's live round-trip
        runs the very steps of create (no `record_id`) or update, so its numbers are the server's."""
        entity = self.records.entity(entity_name)
        self.access.require(entity, "create" if record_id is None else "write")
        with self.transaction() as (connection, context):
            if record_id is None:
                record = self.records.store.blank(entity)
                self.records.workflows.start(entity, record)
            else:
                record = _copy(self._load_one(connection, entity, record_id))
            given = self._assign(entity, record, values, problems := [], creating=record_id is None, internal=False)
            try:
                self._complete(connection, context, entity, record, given, problems, creating=record_id is None)
            except ValidationFailed as failed:
                problems = list(failed.problems)
            hidden, required = self.records.computer.conditions(entity, record, context)
            return Preview(self.access.shown(entity, self._clean(record)), tuple(problems), hidden, required)

    def delete(self, entity_name: str, record_id: int) -> None:
        entity = self.records.entity(entity_name)
        self.access.require(entity, "delete")
        with self.transaction() as (connection, _):
            old = self._load_one(connection, entity, record_id)
            if entity.is_document and old["docstatus"] != "draft":
                raise LifecycleError(Message(
                    "{entity} {document} is {state}; only drafts can be deleted" + (
                        "; cancel it instead" if old["docstatus"] == "submitted" else ""),
                    entity=entity.name, document=old.get("doc_no") or record_id, state=Message(old["docstatus"])))
            referrers = self._referrers(connection, entity, record_id)
            if referrers:
                shown = "; ".join(f"{what} ({', '.join(titles)})" for what, titles in referrers)
                label = entity.label.get(self.app.locale)
                raise InUse(Message("{label} {title} cannot be deleted: it is used by {referrers}", label=label,
                                    title=self._title(entity, old), referrers=shown),
                            [(what, ", ".join(titles)) for what, titles in referrers])
            self.records.store.delete(connection, entity, record_id)
            audit.record_change(connection, self.records.schema, at=self.records.clock.now(), user_id=self.user.id,
                                entity=entity.name, record_id=record_id, action="delete",
                                changes=audit.diff(old, {}, self._tables(entity)))

    # --- documents (engine.lifecycle) -----------------------------------------------------------------

    def submit(self, entity_name: str, record_id: int, *, version: int) -> Record:
        return Lifecycle(self).submit(entity_name, record_id, version=version)

    def cancel(self, entity_name: str, record_id: int, *, version: int) -> Record:
        return Lifecycle(self).cancel(entity_name, record_id, version=version)

    def amend(self, entity_name: str, record_id: int) -> Record:
        return Lifecycle(self).amend(entity_name, record_id)

    def draft_from(self, target: str, source: str, source_id: int) -> dict[str, Any]:
        return Lifecycle(self).draft_from(target, source, source_id)

    def make_from(self, target: str, source: str, source_id: int, values: Mapping[str, Any] | None = None) -> Record:
        return Lifecycle(self).make_from(target, source, source_id, values)

    # --- workflows (engine.workflow) ------------------------------------------------------------------

    def transition(self, entity_name: str, record_id: int, action: str, *, version: int,
                   comment: str | None = None, values: Mapping[str, Any] | None = None) -> Record:
        """Take a workflow action; `values` fills in fields the transition requires on the way."""
        return WorkflowSession(self).transition(entity_name, record_id, action, version=version, comment=comment,
                                                values=values)

    def actions(self, entity_name: str, record_id: int) -> list[dict[str, Any]]:
        """The workflow actions this user may take on the record now."""
        return WorkflowSession(self).actions(entity_name, record_id)

    def inbox(self) -> list[dict[str, Any]]:
        """The records waiting for this user's action, longest waiting first."""
        return WorkflowSession(self).inbox()

    # --- the pipeline ------------------------------------------------------------------------------------

    def _assign(self, entity: Entity, record: Record, values: Mapping[str, Any], problems: list[FieldProblem], *,
                creating: bool, internal: bool) -> set[str]:
        """Put the given values into `record`, checked and converted; what cannot be set is a problem."""
        if not isinstance(values, Mapping):
            raise ValidationFailed([FieldProblem("", Message("the values must be given as field: value pairs"))])
        given: set[str] = set()
        state_field = self.records.workflows.state_field(entity)
        for name, value in values.items():
            field = entity.fields.get(name)
            if name == state_field:  # the workflow's: only its transitions change it
                if value != record.get(name):
                    problems.append(FieldProblem(name, self.records.workflows.state_problem(entity)))
                continue
            problem = self._writable(entity, name, field, internal)
            if problem and self._unchanged(field, value, record.get(name), name):
                continue  # sent back as it was read (a form posts the whole record): nothing to set
            if problem:
                problems.append(FieldProblem(name, problem))
                continue
            assert field is not None
            given.add(name)
            if field.type is FieldType.TABLE:
                self._assign_rows(entity, name, record, value, problems, internal)
                continue
            try:
                record[name] = coerce(field, value, self.records.clock.zone)
            except CoercionError as error:
                problems.append(FieldProblem(name, str(error)))
        return given

    def _unchanged(self, field: Any, value: Any, current: Any, name: str) -> bool:
        """Whether a value for a field that cannot be set equals what the record holds (so can be ignored)."""
        if field is None:
            if name not in SYSTEM_FIELDS:
                return False
            return value == current or (current is not None and str(value) == str(current)) or (
                hasattr(current, "isoformat") and value == current.isoformat())
        if field.type is FieldType.TABLE:
            return False
        try:
            return coerce(field, value, self.records.clock.zone) == current
        except CoercionError:
            return False

    def _writable(self, entity: Entity, name: str, field: Any, internal: bool) -> str | None:
        if field is None:
            if name in SYSTEM_FIELDS:
                return Message("is set by jxc and cannot be given")
            hint = did_you_mean(name, entity.fields)
            if hint:
                return Message("{entity} has no field '{name}' ({hint})", entity=entity.name, name=name, hint=hint)
            return Message("{entity} has no field '{name}'", entity=entity.name, name=name)
        access = None if internal else self.access.field_access(entity.name, name)
        if access == "hidden":  # before anything that would tell the field exists (or its formula)
            return Message("{entity} has no field '{name}'", entity=entity.name, name=name)
        if field.computed:
            return Message("is computed ({formula}) and cannot be given", formula=field.formula.source)
        if internal:
            return None
        if field.read_only:
            return Message("is read-only")
        if access == "read_only":
            return Message("is read-only for you")
        return None

    def _assign_rows(self, entity: Entity, table: str, record: Record, value: Any, problems: list[FieldProblem],
                     internal: bool) -> None:
        child = self.app.entities[entity.fields[table].table or ""]
        if not isinstance(value, list) or not all(isinstance(row, Mapping) for row in value):
            problems.append(FieldProblem(table, Message("must be a list of rows (field: value pairs)")))
            return
        existing = {row["id"]: row for row in record.get(table) or ()}
        rows = []
        for index, given_row in enumerate(value):
            row_id = given_row.get("id")
            if row_id is not None and row_id not in existing:
                problems.append(FieldProblem(f"{table}[{index}]", Message("there is no row with id {id} in this "
                                                                          "{entity}", id=row_id, entity=entity.name)))
                continue
            row = _copy(existing[row_id]) if row_id is not None else self.records.store.blank_row(child)
            row["_new"] = row_id is None
            row["_given"] = set()
            for name, field_value in given_row.items():
                if name == "id" or (name == "made_from_line" and internal):
                    if name == "made_from_line":
                        row[name] = field_value
                    continue
                field = child.fields.get(name)
                problem = self._writable(child, name, field, internal)
                if problem and self._unchanged(field, field_value, row.get(name), name):
                    continue
                if problem:
                    problems.append(FieldProblem(f"{table}[{index}].{name}", problem))
                    continue
                assert field is not None
                try:
                    row[name] = coerce(field, field_value, self.records.clock.zone)
                    row["_given"].add(name)
                except CoercionError as error:
                    problems.append(FieldProblem(f"{table}[{index}].{name}", str(error)))
            rows.append(row)
        record[table] = rows

    def _complete(self, connection: Connection, context: EngineContext, entity: Entity, record: Record,
                  given: set[str], problems: list[FieldProblem], *, creating: bool) -> None:
        """Defaults, computed fields and validation; raises ValidationFailed with every problem."""
        computer = self.records.computer
        rules = computer.rules(entity)
        computer.link_rows(record, rules)
        try:
            computer.prefetch(connection, entity, record, context)
            if creating:
                computer.apply_defaults(entity, record, given, context, problems)
            for table, child in rules.tables.items():
                for index, row in enumerate(record.get(table) or ()):
                    if row.pop("_new", False):
                        computer.apply_defaults(child, row, row.get("_given", set()), context, problems,
                                                table=table, index=index)
                    row.pop("_given", None)
            clean = not problems
            if clean:
                computer.prefetch(connection, entity, record, context)  # defaults may have set links
                computer.compute(entity, record, context, problems)
            computer.validate(connection, entity, record, context, problems, formulas=clean and not problems)
        finally:
            computer.unlink_rows(record, rules)
        if problems:
            raise ValidationFailed(problems)

    def _within_rules(self, entity: Entity, record: Record, context: EngineContext) -> None:
        """A user may not create or change a record into one their row rules would hide from them."""
        if not self.access.check_record(entity, record, context):
            raise PermissionDenied(Message("{user} may only keep {entity} records where {rules}", user=self.user.name,
                                           entity=entity.name, rules=self.access.rules_text(entity)))

    def _check_version(self, connection: Connection, entity: Entity, old: Record, version: int, *,
                       after_write: bool = False) -> None:
        if not after_write and old["version"] == version:
            return
        table = self.records.schema.tables[entity.name]
        row = connection.execute(select(table.c.version, table.c.modified_by, table.c.modified_at)
                                 .where(table.c.id == old["id"])).first()
        who: str = Message("someone")
        if row is not None and row.modified_by is not None:
            users = self.records.schema.users
            assert users is not None
            name = connection.execute(select(users.c.full_name, users.c.name).where(users.c.id == row.modified_by)
                                      ).first()
            who = (name.full_name or name.name) if name else who
        when = (Message(" at {time}", time=f"{row.modified_at:%Y-%m-%d %H:%M}")
                if row is not None and row.modified_at else "")
        raise Conflict(Message("{entity} {title} was changed by {who}{when} after you opened it (your version "
                               "{version}, now {now}); reload it and make your change again", entity=entity.name,
                               title=self._title(entity, old), who=who, when=when, version=version,
                               now=row.version if row else "?"))

    def _referrers(self, connection: Connection, entity: Entity, record_id: int) -> list[tuple[str, list[str]]]:
        # ("2 销售订单", ["SO-2026-0001", "#12"]) per referring entity
        """The records that point at this one (through links, rows' links, many-links, amendments), by the
        entity a user knows them as: a document's line counts as its document."""
        schema = self.records.schema
        target = schema.tables[entity.name]
        owners = {table.name: entity_name for entity_name, table in schema.tables.items()}
        junction_owners = {table.name: owner for (owner, _), table in schema.junctions.items()}
        found: dict[str, set[Any]] = {}
        for table in schema.metadata.sorted_tables:
            for key in table.foreign_keys:
                if key.column.table is not target or key.ondelete == "CASCADE":
                    continue  # rows and junction entries go with the record
                referring = owners.get(table.name) or junction_owners.get(table.name)
                if referring is None:
                    continue  # jxc's own tables (the audit log keeps its user ids, not records)
                owner = self.app.entities[referring]
                if owner.parent:  # a document's row: name the document
                    query = select(table.c.parent_id).where(key.parent == record_id).distinct()
                    ids = connection.execute(query).scalars().all()
                    found.setdefault(owner.parent, set()).update(ids)
                else:
                    id_column = table.c.owner_id if table.name in junction_owners else table.c.id
                    ids = connection.execute(select(id_column).where(key.parent == record_id).distinct()).scalars()
                    found.setdefault(referring, set()).update(ids)
        result = []
        for name, ids in found.items():
            if not ids:
                continue
            referring = self.app.entities[name]
            table = schema.tables[name]
            rows = connection.execute(select(table).where(table.c.id.in_(sorted(ids)[:5]))).mappings()
            titles = [self._title(referring, dict(row)) for row in rows] + (["…"] if len(ids) > 5 else [])
            result.append((f"{len(ids)} {referring.label.get(self.app.locale)}", titles))
        return result

    # --- helpers ------------------------------------------------------------------------------------------

    def _after_save(self, entity: Entity, record: Record, connection: Connection) -> None:
        """Plugins' jxc_after_save (change-triggered alerts), in the save's transaction."""
        if self.records.hooks is not None:
            self.records.hooks.jxc_after_save(session=self, entity=entity, record=record, connection=connection)

    def _tables(self, entity: Entity) -> list[str]:
        return [name for name, field in entity.fields.items() if field.type is FieldType.TABLE]

    @staticmethod
    def _title(entity: Entity, record: Record) -> str:
        for key in (entity.title, entity.key, "doc_no"):
            if key and record.get(key):
                return str(record[key])
        if entity.is_document and record.get("docstatus") == "draft":
            return Message("draft #{id}", id=record.get("id"))
        return f"#{record.get('id')}"

    @staticmethod
    def _clean(record: Record) -> Record:
        for value in record.values():
            if isinstance(value, list):
                for row in value:
                    if isinstance(row, dict):
                        row.pop("parent", None)
        return record


def _copy(record: Record) -> Record:
    copied = dict(record)
    for key, value in record.items():
        if isinstance(value, list):
            copied[key] = [dict(row) if isinstance(row, dict) else row for row in value]
    return copied


__all__ = ["PermissionDenied", "Preview", "Records", "Session"]
