"""Roles: what each role may do with each entity, which fields it must not see or change, and which records
it sees at all (row rules, formulas such as `created_by = CURRENT_USER()`).

A role defined in a module can be extended by the app (or another module) with `extend: roles:`; the
pieces merge: permissions add up, a field rule may become stricter (read_only → hidden) but never looser,
and row rules add up too: a record is visible only when every rule for its entity holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from dsl.assemble import Raw
from dsl.build.context import BuildContext, EntityShape, label_of
from dsl.formula import types as t
from dsl.formula.functions import Accepts
from dsl.model import Entity, EntityKind, Formula, Label, Role
from dsl.problems import did_you_mean

MASTER_VERBS = ("read", "create", "write", "delete")
DOCUMENT_VERBS = (*MASTER_VERBS, "submit", "cancel", "amend")
DOCUMENT_ONLY = ("submit", "cancel", "amend")
FIELD_ACCESS = ("hidden", "read_only")  # strictest first
_BOOL = Accepts("TRUE/FALSE (a condition)", lambda v: v.kind is t.Kind.BOOL)


def build_roles(ctx: BuildContext, entities: Mapping[str, Entity]) -> dict[str, Role]:
    result: dict[str, Role] = {}
    for name, raw in ctx.assembly.concepts["roles"].items():
        role = RoleBuilder(ctx, name, [raw, *ctx.assembly.role_extensions.get(name, [])]).build()
        if role is not None:
            result[name] = role
    return result


@dataclass
class _Access:
    value: str  # hidden | read_only
    raw: Raw  # where it was written


@dataclass
class RoleBuilder:
    ctx: BuildContext
    name: str
    pieces: list[Raw]  # the role itself, then its extensions in assembly order
    ok: bool = True
    permissions: dict[str, set[str]] = field(default_factory=dict)
    field_access: dict[str, dict[str, _Access]] = field(default_factory=dict)
    row_rules: dict[str, list[Formula]] = field(default_factory=dict)
    # entities that fields: or rows: need to read (a table's rows: its document), with the first place asking
    mentions: dict[str, Raw] = field(default_factory=dict)

    def report(self, raw: Raw, message: str, *parts: str | int, key: bool = False, hint: str | None = None) -> None:
        self.ctx.report(raw, message, *parts, key=key, hint=hint)
        self.ok = False

    def build(self) -> Role | None:
        label: Label | None = None
        for piece in self.pieces:
            if piece.get("label") is not None:
                label = label_of(piece.at("label"))
            for entity, raw in piece.at("permissions").items():
                self._permissions(entity, raw)
            for entity, raw in piece.at("fields").items():
                self._fields(entity, raw, extension=piece is not self.pieces[0])
            for entity, raw in piece.at("rows").items():
                self._rows(entity, raw)
        self._readable()
        if not self.ok:
            return None
        return Role(
            name=self.name, label=label or Label(en=self.name.replace("_", " ").capitalize()),
            permissions=MappingProxyType({e: frozenset(v) for e, v in self.permissions.items()}),
            field_access=MappingProxyType({e: MappingProxyType({f: a.value for f, a in access.items()})
                                           for e, access in self.field_access.items()}),
            row_rules=MappingProxyType({e: tuple(rules) for e, rules in self.row_rules.items()}),
            origin=self.pieces[0].loc(key=True),
        )

    # --- entities ----------------------------------------------------------------------------------------------

    def _entity(self, raw: Raw, name: str, *, rows_of_tables: bool = False) -> EntityShape | None:
        """The entity named by the key of `raw`: an entity of the app (child tables only where allowed)."""
        shapes = self.ctx.shapes
        shape = shapes.get(name)
        if shape is not None and shape.system:
            self.report(raw, f"'{name}' is kept by jxc itself; roles give access to the app's own entities",
                        key=True)
            return None
        if shape is not None and shape.kind is EntityKind.CHILD and not rows_of_tables:
            self.report(raw, f"'{name}' is the table {shape.parent}.{shape.parent_field}; its rows follow the "
                        f"rules of {shape.parent}", key=True, hint=f"write {shape.parent} instead")
            return None
        if shape is None:
            pool = [n for n, s in shapes.items() if not s.system and (rows_of_tables or s.kind is not EntityKind.CHILD)]
            self.report(raw, f"there is no entity '{name}'", key=True, hint=did_you_mean(name, pool))
        return shape

    # --- permissions ---------------------------------------------------------------------------------------------

    def _permissions(self, entity: str, raw: Raw) -> None:
        shape = self._entity(raw, entity)
        if shape is None:
            return
        is_document = shape.kind is EntityKind.DOCUMENT
        verbs: set[str] = set()
        if raw.data == "all":
            verbs.update(DOCUMENT_VERBS if is_document else MASTER_VERBS)
        elif raw.data == "read":
            verbs.add("read")
        else:
            for item in raw.elements():
                verb = item.data
                if verb not in DOCUMENT_VERBS:
                    continue  # the schema has reported it
                if verb in DOCUMENT_ONLY and not is_document:
                    self.report(item, f"'{verb}' only applies to documents, and {entity} is master data",
                                hint=f"allowed on {entity}: {', '.join(MASTER_VERBS)} (or all)")
                    continue
                verbs.add(verb)
        self.permissions.setdefault(entity, set()).update(verbs)

    # --- field access -------------------------------------------------------------------------------------------

    def _fields(self, entity: str, raw: Raw, *, extension: bool) -> None:
        shape = self._entity(raw, entity, rows_of_tables=True)
        if shape is None or not isinstance(raw.data, dict):
            return  # not a mapping: the schema has reported it
        self.mentions.setdefault(shape.parent if shape.kind is EntityKind.CHILD and shape.parent else entity, raw)
        access = self.field_access.setdefault(entity, {})
        for name, item in raw.items():
            found = self.ctx.field_ref(item, shape, "fields", key=True)
            if found is None:
                self.ok = False
                continue
            if item.data not in FIELD_ACCESS:
                continue  # the schema has reported it
            before = access.get(name)
            if before is None or FIELD_ACCESS.index(item.data) < FIELD_ACCESS.index(before.value):
                access[name] = _Access(item.data, item)
            elif extension and item.data != before.value:
                self.report(item, f"role {self.name} already hides {entity}.{name} (at {before.raw.loc()}); an "
                            "extension can make a field stricter, not looser",
                            hint="change the role where it is defined, or leave this line out")

    # --- row rules -----------------------------------------------------------------------------------------------

    def _rows(self, entity: str, raw: Raw) -> None:
        shape = self._entity(raw, entity)
        if shape is None or raw.data is None:
            return
        self.mentions.setdefault(entity, raw)
        rule = self.ctx.formula(raw, entity, "a row rule", expect=_BOOL)
        if rule is None:
            self.ok = False
            return
        self.row_rules.setdefault(entity, []).append(rule)

    def _readable(self) -> None:
        """A field or row rule for an entity the role cannot read is a mistake (most likely a missing line)."""
        for owner, raw in self.mentions.items():
            verbs = self.permissions.get(owner)
            if verbs is None:
                self.report(raw, f"role {self.name} has no permission on {owner}; give it read first", key=True,
                            hint=f"add permissions: {{{owner}: read}}")
            elif "read" not in verbs:
                allowed = ", ".join(sorted(verbs)) or "nothing"
                self.report(raw, f"role {self.name} cannot read {owner} (it may: {allowed}); give it read first",
                            key=True)
