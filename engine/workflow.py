"""Workflows at run time: the state a record is in, the transitions a user may take, and each user's inbox.

    session.actions("purchase_order", 12)          # what this user may do with it now
    order = session.transition("purchase_order", 12, "approve", version=order["version"], comment="同意")
    session.inbox()                                # the documents waiting for this user

The state is kept in the workflow's field (`workflow_state` unless `field:` names another). A new record starts
in the initial state; a plain save never changes the state; only a transition does, in one transaction with
everything it brings: the fields it fills in, the submit or cancel of the document when the new state says so
(numbering, fulfilment, plugins' effects) and one audit entry (the action, the comment, `[from, to]`).

Each transition, from each of its source states, is one of three kinds, worked out from the states:

- a *request* leaves the initial state (it may leave others too: request from draft and from rejected);
- a *step back* goes to the initial state, to a `cancel: true` state, or, before submission, farther from a
  `submit: true` state (counted in transitions): withdraw, reject, cancel;
- every other transition is a *step forward*. Taken while the document is a draft (master data: always) a
  step forward is an *approval* (approve, escalate, approve_gm); after submission it is progress (start,
  complete).

The creator of a record may not take an approval (unless the workflow says `allow_self_approval: true`); a
user's inbox holds the records on which they may take a step forward now, and, for their own records sent
back to them (rejected), a request.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, false, func, or_, select, true
from sqlalchemy.engine import Connection

from dsl.formula.errors import FormulaRuntimeError
from dsl.formula.sqlcompile import NoSqlForm
from dsl.model import App, Entity, Transition, Workflow
from dsl.problems import did_you_mean
from engine import audit
from engine.context import EngineContext
from engine.errors import FieldProblem, LifecycleError, NotFound, PermissionDenied, ValidationFailed
from engine.messages import Message
from engine.store import Record

REQUEST, FORWARD, BACK = "request", "forward", "back"
COMMENT_LIMIT = 4000
_CHUNK = 500  # ids per IN (...) when reading the audit log for an inbox


@dataclass(frozen=True)
class Plan:
    """One workflow, prepared for run time: its transitions by action and the kind of each step."""

    workflow: Workflow
    by_action: Mapping[str, Transition]
    kinds: Mapping[tuple[str, str], str]  # (action, source state) → request | forward | back
    submit_state: str | None  # where a document submitted directly (by jxc itself) goes
    cancel_state: str | None

    @property
    def field(self) -> str:
        return self.workflow.state_field

    @property
    def initial(self) -> str:
        return self.workflow.initial

    def kind(self, step: Transition, source: str) -> str:
        return self.kinds[(step.action, source)]

    def into(self, flag: str) -> list[Transition]:
        """The transitions into a state that submits (flag "submit") or cancels ("cancel") the document."""
        return [step for step in self.workflow.transitions if getattr(self.workflow.states[step.target], flag)]


def plan_of(workflow: Workflow) -> Plan:
    states = workflow.states
    # steps from each state to the nearest submit: true state (None: none can be reached)
    distance: dict[str, int | None] = {name: (0 if state.submit else None) for name, state in states.items()}
    queue = deque(name for name, state in states.items() if state.submit)
    while queue:
        reached = queue.popleft()
        for step in workflow.transitions:
            if step.target != reached:
                continue
            for source in step.sources:
                if distance[source] is None:
                    distance[source] = (distance[reached] or 0) + 1
                    queue.append(source)
    kinds: dict[tuple[str, str], str] = {}
    for step in workflow.transitions:
        target = states[step.target]
        for source in step.sources:
            before, after = distance[source], distance[step.target]
            farther = before is not None and not states[source].submit and (after is None or after > before)
            if workflow.initial in step.sources:
                kind = REQUEST
            elif step.target == workflow.initial or target.cancel or farther:
                kind = BACK
            else:
                kind = FORWARD
            kinds[(step.action, source)] = kind
    first = {flag: next((name for name, state in states.items() if getattr(state, flag)), None)
             for flag in ("submit", "cancel")}
    return Plan(workflow, {step.action: step for step in workflow.transitions}, kinds, first["submit"],
                first["cancel"])


class Workflows:
    """The app's workflows, by the entity they belong to; the run-time rules are here."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.plans = {workflow.entity: plan_of(workflow) for workflow in app.workflows.values()}

    def of(self, entity: Entity) -> Plan | None:
        return self.plans.get(entity.name)

    # --- what the rest of the service layer asks -----------------------------------------------------------

    def start(self, entity: Entity, record: Record) -> None:
        """A new record starts in the initial state."""
        plan = self.of(entity)
        if plan is not None:
            record[plan.field] = plan.initial

    def state_problem(self, entity: Entity) -> str:
        plan = self.of(entity)
        assert plan is not None
        actions = ", ".join(_named(step.label, step.action, self.app.locale) for step in plan.workflow.transitions)
        return Message("is the state of workflow {workflow} and changes only through its actions: {actions}",
                       workflow=_named(plan.workflow.label, plan.workflow.name, self.app.locale), actions=actions)

    def state_field(self, entity: Entity) -> str | None:
        plan = self.of(entity)
        return plan.field if plan is not None else None

    def gate(self, session: Any, entity: Entity, verb: str) -> None:
        """submit() and cancel() are the workflow's to do when it has a state that does it; jxc itself (demo
        data) may still submit and cancel directly."""
        plan = self.of(entity)
        if plan is None or session.user.system:
            return
        steps = plan.into(verb)
        if not steps:
            return
        locale = self.app.locale
        params = {"label": entity.label.get(locale), "entity": entity.name,
                  "workflow": _named(plan.workflow.label, plan.workflow.name, locale),
                  "actions": _either(_named(step.label, step.action, locale) for step in steps)}
        if verb == "submit":
            raise LifecycleError(Message("{label} ({entity}) follows workflow {workflow}: it is submitted by its "
                                         "action {actions}, not by submit", **params))
        raise LifecycleError(Message("{label} ({entity}) follows workflow {workflow}: it is cancelled by its action "
                                     "{actions}, not by cancel", **params))

    def direct(self, entity: Entity, record: Record, verb: str) -> dict[str, Any]:
        """jxc itself submits or cancels directly: the record goes into the workflow's first submit (cancel)
        state; the change for the audit log."""
        plan = self.of(entity)
        target = None if plan is None else plan.submit_state if verb == "submit" else plan.cancel_state
        if plan is None or target is None or record.get(plan.field) == target:
            return {}
        before = record.get(plan.field)
        record[plan.field] = target
        return {plan.field: [before, target]}

    def source_note(self, entity: Entity, record: Record) -> str:
        """For a document not yet submitted that has a workflow: where it is and what submits it."""
        plan = self.of(entity)
        if plan is None or not plan.into("submit"):
            return ""
        locale = self.app.locale
        state = plan.workflow.states.get(record.get(plan.field) or "")
        where = _named(state.label, state.name, locale) if state else str(record.get(plan.field))
        return Message(" (workflow {workflow}: it is {state}; {actions} submits it)",
                       workflow=_named(plan.workflow.label, plan.workflow.name, locale), state=where,
                       actions=_either(_named(step.label, step.action, locale) for step in plan.into("submit")))


class WorkflowSession:
    """The workflow calls of one session (Session.transition / actions / inbox)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.records = session.records
        self.app = session.app
        self.workflows: Workflows = session.records.workflows
        self.locale = self.app.locale

    # --- looking up --------------------------------------------------------------------------------------

    def _plan(self, entity: Entity) -> Plan:
        plan = self.workflows.of(entity)
        if plan is None:
            raise NotFound(Message("{label} ({entity}) has no workflow", label=entity.label.get(self.locale),
                                   entity=entity.name))
        return plan

    def _step(self, plan: Plan, entity: Entity, action: Any) -> Transition:
        step = plan.by_action.get(action) if isinstance(action, str) else None
        if step is None:
            actions = list(plan.by_action)
            hint = did_you_mean(action, actions) if isinstance(action, str) else None
            workflow = _named(plan.workflow.label, plan.workflow.name, self.locale)
            if hint:
                raise NotFound(Message("workflow {workflow} of {entity} has no action '{action}' ({hint}); its "
                                       "actions: {actions}", workflow=workflow, entity=entity.name, action=action,
                                       hint=hint, actions=", ".join(actions)))
            raise NotFound(Message("workflow {workflow} of {entity} has no action '{action}'; its actions: {actions}",
                                   workflow=workflow, entity=entity.name, action=action, actions=", ".join(actions)))
        return step

    def _verb(self, plan: Plan, step: Transition) -> str:
        """The entity right that stands in for a transition that lists no roles."""
        target = plan.workflow.states[step.target]
        return "submit" if target.submit else "cancel" if target.cancel else "write"

    def may_take(self, entity: Entity, plan: Plan, step: Transition) -> bool:
        user = self.session.user
        if user.is_admin:
            return True
        if not self.session.access.allowed(entity, "read"):
            return False
        if step.roles:
            return bool(user.roles & set(step.roles))
        return self.session.access.allowed(entity, self._verb(plan, step))

    def _who(self, plan: Plan, step: Transition) -> str:
        if not step.roles:
            return Message("those who may {verb} it", verb=Message(self._verb(plan, step)))
        return ", ".join(_named(self.app.roles[name].label, name, self.locale) if name in self.app.roles else name
                         for name in step.roles)

    # --- transition --------------------------------------------------------------------------------------

    def transition(self, entity_name: str, record_id: int, action: str, *, version: int,
                   comment: str | None = None, values: Mapping[str, Any] | None = None) -> Record:
        session = self.session
        entity = self.records.entity(entity_name)
        session.access.require(entity, "read")
        plan = self._plan(entity)
        step = self._step(plan, entity, action)
        name = _named(step.label, step.action, self.locale)
        label = entity.label.get(self.locale)
        if not self.may_take(entity, plan, step):
            raise PermissionDenied(Message("{user} may not {action} {label} ({entity}); that is for {who}",
                                           user=session.user.name, action=name, label=label, entity=entity.name,
                                           who=self._who(plan, step)))
        comment = self._comment(step, name, comment)
        if values is not None and not isinstance(values, Mapping):
            raise ValidationFailed([FieldProblem("", Message("the values must be given as field: value pairs"))])
        values = dict(values or {})
        if values:
            session.access.require(entity, "write")
        with session.transaction() as (connection, context):
            record = session._load_one(connection, entity, record_id, lock=True)
            session._check_version(connection, entity, record, version)
            title = session._title(entity, record)
            current = record.get(plan.field)
            self._check_state(entity, plan, step, record, current, name, title)
            if self._is_approval(entity, plan, step, current, record) and _created_by(record, session.user):
                raise PermissionDenied(Message(
                    "{user} created {label} {title} and may not {action} it themselves; workflow {workflow} does "
                    "not allow self-approval", user=session.user.name, label=label, title=title, action=name,
                    workflow=_named(plan.workflow.label, plan.workflow.name, self.locale)))
            old = _copy(record)
            if values:
                self._fill_in(connection, context, entity, step, record, values, name)
            reason = self._guard_fails(entity, step, record, context)
            if reason is not None:
                others = [_named(other.label, other.action, self.locale)
                          for other in self._available(entity, plan, record, context) if other is not step]
                if others:
                    raise LifecycleError(Message("{action} is not possible for {label} {title}: {reason}; you may: "
                                                 "{others}", action=name, label=label, title=title, reason=reason,
                                                 others=", ".join(others)))
                raise LifecycleError(Message("{action} is not possible for {label} {title}: {reason}", action=name,
                                             label=label, title=title, reason=reason))
            problems = [FieldProblem(field, Message("is required to {action}", action=name))
                        for field in step.requires if _blank(record.get(field))]
            if step.comment == "required" and comment is None:
                problems.append(FieldProblem("comment", Message("{action} needs a comment (the reason)", action=name)))
            if problems:
                raise ValidationFailed(problems)
            return self._apply(connection, context, entity, plan, step, record, old, current, comment,
                               recheck=not values)

    def _comment(self, step: Transition, name: str, comment: Any) -> str | None:
        if comment is None:
            return None
        if not isinstance(comment, str):
            raise ValidationFailed([FieldProblem("comment", Message("must be text"))])
        comment = comment.strip()
        if not comment:
            return None
        if step.comment == "none":
            raise ValidationFailed([FieldProblem("comment", Message("{action} takes no comment", action=name))])
        if len(comment) > COMMENT_LIMIT:
            raise ValidationFailed([FieldProblem("comment", Message("a comment is at most {limit} characters, not "
                                                                    "{length}", limit=COMMENT_LIMIT,
                                                                    length=len(comment)))])
        return comment

    def _check_state(self, entity: Entity, plan: Plan, step: Transition, record: Record, current: Any, name: str,
                     title: str) -> None:
        label = entity.label.get(self.locale)
        states = plan.workflow.states
        if current not in step.sources:
            state = states.get(current or "")
            where = (_named(state.label, state.name, self.locale) if state
                     else Message("in no state ({state})", state=repr(current)))
            sources = ", ".join(_named(states[s].label, s, self.locale) for s in step.sources)
            raise LifecycleError(Message("{label} {title} is {state}; {action} is taken from: {sources}", label=label,
                                         title=title, state=where, action=name, sources=sources))
        if not entity.is_document:
            return
        status = record["docstatus"]
        target = states[step.target]
        if status == "cancelled":
            if entity.amend:
                raise LifecycleError(Message("{label} {title} is cancelled and takes no more workflow actions; amend "
                                             "it to make a corrected copy", label=label, title=title))
            raise LifecycleError(Message("{label} {title} is cancelled and takes no more workflow actions",
                                         label=label, title=title))
        if target.cancel and status != "submitted":
            raise LifecycleError(Message("{action} cancels {label} {title}, and only a submitted document can be "
                                         "cancelled; it is a {state}", action=name, label=label, title=title,
                                         state=Message(status)))

    def _is_approval(self, entity: Entity, plan: Plan, step: Transition, source: str, record: Record) -> bool:
        """A step forward taken before submission (master data: any step forward), when the workflow does not
        allow self-approval."""
        if plan.workflow.allow_self_approval or plan.kind(step, source) != FORWARD:
            return False
        return not entity.is_document or record.get("docstatus") == "draft"

    def _fill_in(self, connection: Connection, context: EngineContext, entity: Entity, step: Transition,
                 record: Record, values: dict[str, Any], name: str) -> None:
        """The fields the transition requires, given on the way: checked like an update."""
        session = self.session
        if entity.is_document and record["docstatus"] != "draft":
            raise LifecycleError(Message("{entity} {title} is {state}; its fields can no longer be changed",
                                         entity=entity.name, title=session._title(entity, record),
                                         state=Message(record["docstatus"])))
        problems: list[FieldProblem] = []
        allowed = ", ".join(step.requires)
        for key in list(values):
            if key not in step.requires:
                problems.append(FieldProblem(str(key), Message("{action} fills in only the fields it requires: "
                                                               "{fields}", action=name, fields=allowed)
                                             if allowed else Message("{action} fills in no fields; save them first",
                                                                     action=name)))
                del values[key]
        given = session._assign(entity, record, values, problems, creating=False, internal=False)
        session._complete(connection, context, entity, record, given, problems, creating=False)
        session._within_rules(entity, record, context)

    def _guard_fails(self, entity: Entity, step: Transition, record: Record, context: EngineContext) -> str | None:
        """Why the guard stops the transition (None: it is met)."""
        if step.guard is None:
            return None
        computer = self.records.computer
        rules = computer.rules(entity)
        computer.link_rows(record, rules)
        try:
            result = step.guard.python(record, context)
        except FormulaRuntimeError as error:
            return Message("the guard {guard} cannot be worked out: {error}", guard=step.guard.source,
                           error=error.message)
        finally:
            computer.unlink_rows(record, rules)
        return None if result is True else Message("the guard {guard} is not met", guard=step.guard.source)

    def _apply(self, connection: Connection, context: EngineContext, entity: Entity, plan: Plan, step: Transition,
               record: Record, old: Record, current: str, comment: str | None, *, recheck: bool) -> Record:
        from engine.lifecycle import Lifecycle

        session = self.session
        target = plan.workflow.states[step.target]
        record[plan.field] = step.target
        tables = session._tables(entity)
        if entity.is_document and target.submit and record["docstatus"] == "draft":
            changes = audit.diff(old, record, tables)
            return Lifecycle(session).submit_loaded(connection, context, entity, record, recheck=recheck,
                                                    old=old, action=step.action, comment=comment, changes=changes)
        if entity.is_document and target.cancel:
            return Lifecycle(session).cancel_loaded(connection, context, entity, record, old=old, action=step.action,
                                                    comment=comment, changes={plan.field: [current, step.target]})
        version = old["version"]
        now = self.records.clock.now()
        record.update(modified_at=now, modified_by=session.user.id, version=version + 1)
        if not self.records.store.update(connection, entity, record, old, expected_version=version):
            session._check_version(connection, entity, old, version, after_write=True)
        audit.record_change(connection, self.records.schema, at=now, user_id=session.user.id, entity=entity.name,
                            record_id=record["id"], action=step.action, changes=audit.diff(old, record, tables),
                            comment=comment)
        hooks = self.records.hooks
        if hooks is not None:
            hooks.jxc_after_save(session=session, entity=entity, record=record, connection=connection)
        return session.access.shown(entity, session._clean(record))

    # --- what a user may do ------------------------------------------------------------------------------

    def actions(self, entity_name: str, record_id: int) -> list[dict[str, Any]]:
        """The transitions the user may take on the record now, with what each needs."""
        session = self.session
        entity = self.records.entity(entity_name)
        session.access.require(entity, "read")
        plan = self._plan(entity)
        with session.transaction() as (connection, context):
            record = session._load_one(connection, entity, record_id)
            steps = self._available(entity, plan, record, context)
        states = plan.workflow.states
        return [{"action": step.action, "label": step.label.get(self.locale), "target": step.target,
                 "target_label": states[step.target].label.get(self.locale),
                 "kind": plan.kind(step, record[plan.field]), "comment": step.comment,
                 "requires": list(step.requires),
                 "missing": [name for name in step.requires if _blank(record.get(name))]}
                for step in steps]

    def _available(self, entity: Entity, plan: Plan, record: Record, context: EngineContext) -> list[Transition]:
        current = record.get(plan.field)
        found = []
        for step in plan.workflow.transitions:
            if current not in step.sources or not self.may_take(entity, plan, step):
                continue
            if entity.is_document and (record["docstatus"] == "cancelled" or (
                    plan.workflow.states[step.target].cancel and record["docstatus"] != "submitted")):
                continue
            if self._is_approval(entity, plan, step, current, record) and _created_by(record, self.session.user):
                continue
            if self._guard_fails(entity, step, record, context) is not None:
                continue
            found.append(step)
        return found

    # --- inbox -------------------------------------------------------------------------------------------

    def inbox(self) -> list[dict[str, Any]]:
        """The records waiting for this user, longest waiting first: those on which they may take a step
        forward now, and their own records sent back to them (a request from a state other than the initial
        one). One query per workflow; guards run in it when they have a SQL form, else on the candidates."""
        items: list[dict[str, Any]] = []
        with self.session.transaction() as (connection, context):
            for plan in self.workflows.plans.values():
                entity = self.app.entities[plan.workflow.entity]
                if self.session.access.allowed(entity, "read"):
                    items += self._waiting(connection, context, entity, plan)
        items.sort(key=lambda item: (item["since"] is None, item["since"] or 0, item["entity"], item["id"]))
        return items

    def _waiting(self, connection: Connection, context: EngineContext, entity: Entity,
                 plan: Plan) -> list[dict[str, Any]]:
        """The records of one workflow waiting for this user, each with every action they may take now."""
        from engine.query import compiler_for

        session = self.session
        user = session.user
        table = self.records.schema.tables[entity.name]
        compiler = compiler_for(connection, self.records.schema, user, self.records.clock)
        column = table.c[plan.field]
        steps: list[tuple[Transition, bool]] = []  # (step, its guard still to check in Python)
        columns, waiting = [], []
        for step in plan.workflow.transitions:
            if not self.may_take(entity, plan, step):
                continue
            can, waits = [], []  # per source state: the user may take it / it waits for them
            for source in step.sources:
                kind = plan.kind(step, source)
                parts = [column == source]
                if entity.is_document:
                    parts.append(table.c.docstatus != "cancelled")
                    if plan.workflow.states[step.target].cancel:
                        parts.append(table.c.docstatus == "submitted")
                if kind == FORWARD and not plan.workflow.allow_self_approval and user.id is not None:
                    not_mine = or_(table.c.created_by.is_(None), table.c.created_by != user.id)
                    parts.append(or_(not_mine, table.c.docstatus != "draft") if entity.is_document else not_mine)
                can.append(and_(*parts))
                if kind == FORWARD and source != plan.initial:
                    waits.append(and_(*parts))
                elif kind == REQUEST and source != plan.initial and user.id is not None:
                    waits.append(and_(*parts, table.c.created_by == user.id))  # sent back to its author
            guard, in_python = self._guard_sql(compiler, connection, step, table)
            index = len(steps)
            steps.append((step, in_python))
            columns.append(case((and_(or_(*can), guard), 1), else_=0).label(f"_a{index}"))
            wait = and_(or_(*waits), guard) if waits else false()
            columns.append(case((wait, 1), else_=0).label(f"_w{index}"))
            waiting.append(wait)
        if not waiting:
            return []
        query = select(table, *columns).where(or_(*waiting), session.access.row_condition(entity, table, connection))
        rows = [dict(row) for row in connection.execute(query).mappings()]
        to_check = {row["id"] for row in rows
                    if any(row[f"_a{index}"] and in_python for index, (_, in_python) in enumerate(steps))}
        loaded = self.records.store.load(connection, entity, sorted(to_check)) if to_check else {}
        states = plan.workflow.states
        found = []
        for row in rows:
            available, waits = [], False
            for index, (step, in_python) in enumerate(steps):
                can, wait = row.pop(f"_a{index}"), row.pop(f"_w{index}")
                if not can or (in_python and self._guard_fails(entity, step, loaded[row["id"]], context)):
                    continue
                available.append(step)
                waits = waits or bool(wait)
            if waits:
                found.append((row, available))
        since = self._since(connection, entity, plan, [row["id"] for row, _ in found])
        items = []
        for row, available in found:
            shown = session.access.shown(entity, dict(row))
            state = states.get(row[plan.field] or "")
            items.append({
                "entity": entity.name, "entity_label": entity.label.get(self.locale), "id": row["id"],
                "title": session._title(entity, shown), "doc_no": row.get("doc_no"), "state": row[plan.field],
                "state_label": state.label.get(self.locale) if state else None, "since": since.get(row["id"]),
                "actions": [{"action": step.action, "label": step.label.get(self.locale)} for step in available],
            })
        return items

    @staticmethod
    def _guard_sql(compiler: Any, connection: Connection, step: Transition, table: Any) -> tuple[Any, bool]:
        """The guard as a SQL condition, or TRUE and whether it is to be checked in Python instead."""
        if step.guard is None:
            return true(), False
        if not step.guard.sql_missing.get(connection.dialect.name):
            try:
                return compiler.condition(step.guard.expr, table), False
            except NoSqlForm:
                pass
        return true(), True

    def _since(self, connection: Connection, entity: Entity, plan: Plan, ids: list[int]) -> dict[int, Any]:
        """When each record came into its state: its last transition (or its creation, or jxc's direct submit
        or cancel)."""
        table = self.records.schema.audit
        assert table is not None
        actions = sorted({*plan.by_action, "create", "submit", "cancel"})
        found: dict[int, Any] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            query = select(table.c.record_id, func.max(table.c.at)).where(
                table.c.entity == entity.name, table.c.record_id.in_(chunk) if chunk else false(),
                table.c.action.in_(actions)).group_by(table.c.record_id)
            found.update({record_id: at for record_id, at in connection.execute(query)})
        return found


def _named(label: Any, name: str, locale: str) -> str:
    """批准 (approve); just `name` when the label is the name itself."""
    text = label.get(locale) if label is not None else ""
    return f"{text} ({name})" if text and text.replace(" ", "_").lower() != name else name


def _either(names: Any) -> str:
    """批准 (approve) or 越级 (escalate): each "or" a Message, so a translation joins them in its own words."""
    shown: str | None = None
    for name in names:
        shown = name if shown is None else Message("{one} or {other}", one=shown, other=name)
    return shown or ""


def _created_by(record: Record, user: Any) -> bool:
    return user.id is not None and record.get("created_by") == user.id


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def _copy(record: Record) -> Record:
    return {key: ([dict(row) if isinstance(row, dict) else row for row in value] if isinstance(value, list)
                  else value) for key, value in record.items()}


__all__ = ["BACK", "FORWARD", "REQUEST", "Plan", "WorkflowSession", "Workflows", "plan_of"]
