"""Workflows: the states a record goes through and the transitions between them (an action, who may take it,
a guard formula, fields that must be filled in, whether a comment is asked for).

Approval routing is written with guards: from the same state, `approve` with guard `total <= 50000` ends the
approval while `escalate` with guard `total > 50000` sends the order on to the general manager. Entering a
`submit: true` state submits a document, entering a `cancel: true` state cancels it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from dsl.assemble import Raw
from dsl.build.context import BuildContext, EntityShape, label_of
from dsl.build.entities import effective
from dsl.build.names import reserved_reason
from dsl.formula import types as t
from dsl.formula.functions import Accepts
from dsl.model import Entity, EntityKind, FieldType, State, Transition, Workflow
from dsl.problems import did_you_mean

DEFAULT_FIELD = "workflow_state"
_BOOL = Accepts("TRUE/FALSE (a condition)", lambda v: v.kind is t.Kind.BOOL)


def build_workflows(ctx: BuildContext, entities: Mapping[str, Entity]) -> dict[str, Workflow]:
    result: dict[str, Workflow] = {}
    owners: dict[str, tuple[str, Raw]] = {}  # entity → the workflow that has it
    for name, raw in ctx.assembly.concepts["workflows"].items():
        workflow = WorkflowBuilder(ctx, name, raw, owners).build()
        if workflow is not None:
            result[name] = workflow
    return result


class WorkflowBuilder:
    def __init__(self, ctx: BuildContext, name: str, raw: Raw, owners: dict[str, tuple[str, Raw]]) -> None:
        self.ctx = ctx
        self.name = name
        self.raw = raw
        self.owners = owners
        self.ok = True  # False once anything is reported: no Workflow is returned then

    def report(self, raw: Raw, message: str, *parts: str | int, key: bool = False, hint: str | None = None) -> None:
        self.ctx.report(raw, message, *parts, key=key, hint=hint)
        self.ok = False

    def build(self) -> Workflow | None:
        raw = self.raw
        entity = self._entity()
        state_field = self._state_field(entity)
        states, state_raws = self._states(entity)
        initial = self._initial(states, state_raws)
        transitions, complete = self._transitions(entity, states)
        if initial is not None and complete and raw.get("transitions") is not None:
            self._reachable(initial, states, state_raws, transitions)
        if entity is not None and state_field is not None:
            self._choice_options(entity, state_field, state_raws)
        if not self.ok or entity is None or state_field is None or initial is None:
            return None
        states = {name: State(s.name, s.label, initial=name == initial, submit=s.submit, cancel=s.cancel)
                  for name, s in states.items()}
        return Workflow(
            name=self.name, entity=entity.name, label=label_of(raw.at("label"), self.name), state_field=state_field,
            states=MappingProxyType(states), transitions=tuple(transitions), initial=initial,
            origin=raw.loc(key=True), allow_self_approval=raw.get("allow_self_approval") is True,
        )

    # --- the entity and the field that stores the state ------------------------------------------------------

    def _entity(self) -> EntityShape | None:
        raw = self.raw.at("entity")
        shape = self.ctx.entity_ref(raw, "workflow entity")
        if shape is None:
            return None
        other = self.owners.get(shape.name)
        if other is not None:
            other_name, other_raw = other
            self.report(raw, f"{shape.name} already has workflow '{other_name}' (at {other_raw.origin_text()}); "
                        f"workflow '{self.name}' cannot be a second one", hint="an entity has at most one workflow")
            return None
        self.owners[shape.name] = (self.name, self.raw)
        return shape

    def _state_field(self, entity: EntityShape | None) -> str | None:
        raw = self.raw.at("field")
        name = raw.data if raw.data is not None else DEFAULT_FIELD
        if not isinstance(name, str):
            return None  # the schema has reported it
        if name != DEFAULT_FIELD and (reason := reserved_reason(name)) is not None:
            self.report(raw, f"field: '{name}' {reason}; the state needs a field of its own",
                        hint=f"leave field: out to keep the state in {DEFAULT_FIELD}")
            return None
        if entity is None:
            return name
        shape = entity.fields.get(name)
        if shape is not None and shape.draft is not None and shape.type not in (FieldType.STRING, FieldType.CHOICE,
                                                                                 None):
            self.report(raw, f"field: {entity.name}.{name} is of type {shape.type}; the state is kept in a string "
                        "or choice field")
            return None
        if shape is not None and shape.draft is not None and "formula" in effective(shape.draft).data:
            self.report(raw, f"field: {entity.name}.{name} is computed by its formula; the workflow sets the state "
                        "itself", hint="name a field without formula:, or leave field: out")
            return None
        return name

    def _choice_options(self, entity: EntityShape, name: str, state_raws: dict[str, Raw]) -> None:
        shape = entity.fields.get(name)
        if shape is None or shape.draft is None or shape.type is not FieldType.CHOICE:
            return
        options = [choice.value for choice in shape.options]
        for state, raw in state_raws.items():
            if state not in options:
                self.report(raw, f"state '{state}' is not an option of {entity.name}.{name}", key=True,
                            hint=f"add {state} to the options of {name}; options: {', '.join(options)}")

    # --- states ---------------------------------------------------------------------------------------------

    def _states(self, entity: EntityShape | None) -> tuple[dict[str, State], dict[str, Raw]]:
        states: dict[str, State] = {}
        raws: dict[str, Raw] = {}
        is_document = entity is None or entity.kind is EntityKind.DOCUMENT
        for name, raw in self.raw.at("states").items():
            raws[name] = raw
            submit, cancel = raw.get("submit") is True, raw.get("cancel") is True
            for flag, value in (("submit", submit), ("cancel", cancel)):
                if value and not is_document:
                    assert entity is not None
                    self.report(raw, f"only documents are submitted and cancelled, and {entity.name} is master "
                                "data", flag, key=True, hint=f"add kind: document to entity {entity.name}")
            if submit and cancel:
                self.report(raw, f"state '{name}' cannot both submit and cancel the document; make them two "
                            "states", "cancel", key=True)
            states[name] = State(name, label_of(raw.at("label"), name), initial=raw.get("initial") is True,
                                 submit=submit, cancel=cancel)
        return states, raws

    def _initial(self, states: dict[str, State], raws: dict[str, Raw]) -> str | None:
        if not states:
            return None  # the schema requires at least one
        marked = [name for name, state in states.items() if state.initial]
        for extra in marked[1:]:
            self.report(raws[extra], f"a workflow has one initial state, and '{marked[0]}' already is "
                        f"(at {raws[marked[0]].loc('initial', key=True)})", "initial", key=True,
                        hint="remove initial: true from one of them")
        initial = marked[0] if marked else next(iter(states))
        state = states[initial]
        if state.submit or state.cancel:
            flag = "submit" if state.submit else "cancel"
            self.report(raws[initial], f"the initial state '{initial}' cannot {flag} the document: a new "
                        "document starts as a draft", flag, key=True,
                        hint="add a draft state before it" if not marked else None)
        return initial

    # --- transitions ----------------------------------------------------------------------------------------

    def _transitions(self, entity: EntityShape | None,
                     states: dict[str, State]) -> tuple[list[Transition], bool]:
        """The transitions, and whether every from/to named a state (reachability is only checked then)."""
        result: list[Transition] = []
        actions: dict[str, Raw] = {}
        complete = True
        for raw in self.raw.at("transitions").elements():
            action = raw.get("action")
            if not isinstance(action, str):
                complete = False
                continue
            if action in actions:
                self.report(raw.at("action"), f"workflow '{self.name}' already has an action '{action}' "
                            f"(at {actions[action].loc()})", hint="give each transition its own action name")
            else:
                actions[action] = raw.at("action")
            from_raw = raw.at("from")
            source_raws = list(from_raw.elements()) if isinstance(from_raw.data, list) else [from_raw]
            sources = [s for item in source_raws if (s := self._state_ref(item, states, "from")) is not None]
            target = self._state_ref(raw.at("to"), states, "to")
            if target is None or len(sources) != len(source_raws):
                complete = False
            roles = tuple(r for item in raw.at("roles").elements()
                          if (r := self.ctx.role_ref(item, f"transition {action}: roles")) is not None)
            if len(roles) != len(raw.get("roles") or ()):
                self.ok = False
            guard = None
            if raw.get("guard") is not None and entity is not None:
                guard = self.ctx.formula(raw.at("guard"), entity.name, f"the guard of {action}", expect=_BOOL)
                if guard is None:
                    self.ok = False
            requires = self._requires(raw.at("requires"), entity, action)
            comment = raw.get("comment", "optional")
            if target is None:
                continue
            result.append(Transition(
                action=action, label=label_of(raw.at("label"), action), sources=tuple(dict.fromkeys(sources)),
                target=target, roles=tuple(dict.fromkeys(roles)), guard=guard, requires=requires,
                comment=comment if comment in ("none", "optional", "required") else "optional",
            ))
        return result, complete

    def _state_ref(self, raw: Raw, states: dict[str, State], what: str) -> str | None:
        name = raw.data
        if not isinstance(name, str):
            return None
        if name not in states:
            self.report(raw, f"{what}: workflow '{self.name}' has no state '{name}'",
                        hint=did_you_mean(name, states) or "states: " + ", ".join(states))
            return None
        return name

    def _requires(self, raw: Raw, entity: EntityShape | None, action: str) -> tuple[str, ...]:
        names: list[str] = []
        for item in raw.elements():
            if entity is None:
                continue
            found = self.ctx.field_ref(item, entity, f"transition {action}: requires", allow_system=False)
            if found is None:
                self.ok = False
            elif found.name not in names:
                names.append(found.name)
        return tuple(names)

    def _reachable(self, initial: str, states: dict[str, State], raws: dict[str, Raw],
                   transitions: list[Transition]) -> None:
        seen = {initial}
        frontier = [initial]
        while frontier:
            state = frontier.pop()
            for transition in transitions:
                if state in transition.sources and transition.target not in seen:
                    seen.add(transition.target)
                    frontier.append(transition.target)
        for name in states:
            if name not in seen:
                self.report(raws[name], f"state '{name}' cannot be reached from the initial state '{initial}'",
                            key=True, hint=f"add a transition with to: {name} from a state that is reached, or "
                            "remove the state")
