"""What every builder step shares: problems, the catalog, and helpers to resolve references and formulas."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dsl.assemble import Assembly, FieldDraft, Raw
from dsl.formula import types as t
from dsl.formula.catalog import Catalog
from dsl.formula.checker import Checker
from dsl.formula.errors import FormulaError
from dsl.formula.functions import Accepts, Registry
from dsl.formula.parser import parse
from dsl.formula.pycompile import compile_python
from dsl.formula.sqlcompile import sql_form_missing
from dsl.model import Choice, EntityKind, FieldType, Formula, Label, StockSettings
from dsl.problems import Problem, did_you_mean


@dataclass
class FieldShape:
    """A field's structure, known before any formula is checked."""

    name: str
    type: FieldType | None  # None: the definition is broken (already reported)
    draft: FieldDraft | None  # None for system columns
    link: str | None = None
    many: bool = False
    table: str | None = None  # child entity of a table field
    options: tuple[Choice, ...] = ()
    scale: int | None = None
    precision: int | None = None

    @property
    def value_type(self) -> t.Type:
        return shape_type(self)


@dataclass
class EntityShape:
    name: str
    kind: EntityKind
    raw: Raw | None  # None for system entities
    fields: dict[str, FieldShape] = field(default_factory=dict)
    module: str | None = None
    parent: str | None = None
    parent_field: str | None = None
    system: bool = False


_TEXTUAL = (FieldType.STRING, FieldType.TEXT, FieldType.CHOICE, FieldType.ATTACHMENT)
_DECIMALS = (FieldType.DECIMAL, FieldType.MONEY, FieldType.PERCENT)


def shape_type(shape: FieldShape) -> t.Type:
    kind = shape.type
    if kind is None:
        return t.NULL  # broken definitions must not cause a second wave of errors
    if kind in _TEXTUAL:
        return t.TEXT
    if kind is FieldType.INT:
        return t.INT
    if kind in _DECIMALS:
        return t.DECIMAL
    if kind is FieldType.BOOL:
        return t.BOOL
    if kind is FieldType.DATE:
        return t.DATE
    if kind is FieldType.DATETIME:
        return t.DATETIME
    if kind is FieldType.LINK:
        return t.list_of(t.record(shape.link)) if shape.many else t.record(shape.link)
    if kind is FieldType.TABLE:
        return t.rows(shape.table or "")
    raise ValueError(kind)


def label_of(raw: Raw, default: str | None = None) -> Label | None:
    value = raw.data
    if isinstance(value, str):
        return Label(zh=value) if any(ord(c) > 127 for c in value) else Label(zh=value, en=value)
    if isinstance(value, dict):
        zh, en = value.get("zh"), value.get("en")
        return Label(zh=zh if isinstance(zh, str) else None, en=en if isinstance(en, str) else None)
    if default is None:
        return None
    return Label(en=default.replace("_", " ").capitalize())


def formula_text(value: Any) -> str | None:
    """YAML may give a formula as a number or true/false; formulas are text."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    if value is not None and hasattr(value, "as_tuple"):  # Decimal
        return format(value, "f")
    return None


class BuildContext:
    def __init__(self, assembly: Assembly, registry: Registry, channels: Iterable[str]) -> None:
        self.assembly = assembly
        self.registry = registry
        self.channels = frozenset(channels)
        self.problems: list[Problem] = []
        self.shapes: dict[str, EntityShape] = {}
        self.catalog: Catalog = Catalog.build([])
        self.stock: StockSettings | None = None
        self._checkers: dict[tuple[str | None, bool], Checker] = {}

    # --- problems -----------------------------------------------------------------------------------

    def report(self, raw: Raw, message: str, *parts: str | int, key: bool = False, hint: str | None = None) -> None:
        self.problems.append(raw.problem(message, *parts, key=key, hint=hint))

    # --- references -------------------------------------------------------------------------------------

    def top_entities(self) -> dict[str, EntityShape]:
        return {n: s for n, s in self.shapes.items() if s.kind is not EntityKind.CHILD}

    def entity_ref(self, raw: Raw, what: str, *, documents_only: bool = False,
                   include_system: bool = False) -> EntityShape | None:
        """Resolve an entity name written at `raw`; report it if unknown."""
        name = raw.data
        if not isinstance(name, str):
            return None
        pool = {n: s for n, s in self.top_entities().items() if include_system or not s.system}
        shape = pool.get(name)
        if shape is None:
            self.report(raw, f"{what}: there is no entity '{name}'", hint=did_you_mean(name, pool))
            return None
        if not self.visible(raw, shape):
            return None
        if documents_only and shape.kind is not EntityKind.DOCUMENT:
            self.report(raw, f"{what}: '{name}' is master data, not a document",
                        hint=f"add kind: document to entity {name}")
            return None
        return shape

    def visible(self, raw: Raw, shape: EntityShape) -> bool:
        """Whether the module (or app) that wrote `raw` may use `shape`; reports it if not."""
        modules = self.assembly.visible_modules(raw.module)
        if shape.system or shape.module == raw.module or shape.module in modules:
            return True
        if shape.module is None:
            self.report(raw, f"'{shape.name}' is defined by the app, and module {raw.module} cannot use it",
                        hint="a module only uses its own entities and those of the modules it includes")
            return False
        owner = f"module {raw.module}" if raw.module else "the app"
        self.report(raw, f"'{shape.name}' comes from module {shape.module}, which {owner} does not include",
                    hint=f"add {shape.module} to include: in {owner}'s {'module' if raw.module else 'app'}.yaml")
        return False

    def field_ref(self, raw: Raw, entity: EntityShape, what: str, *, key: bool = False,
                  allow_system: bool = True) -> FieldShape | None:
        name = raw.data if not key else raw.path[-1]
        if not isinstance(name, str):
            return None
        shape = entity.fields.get(name)
        if shape is None or (not allow_system and shape.draft is None):
            pool = [n for n, f in entity.fields.items() if allow_system or f.draft is not None]
            self.report(raw, f"{what}: {entity.name} has no field '{name}'", key=key,
                        hint=did_you_mean(name, pool))
            return None
        return shape

    def role_ref(self, raw: Raw, what: str) -> str | None:
        name = raw.data
        if not isinstance(name, str):
            return None
        roles = self.assembly.concepts["roles"]
        if name not in roles:
            self.report(raw, f"{what}: there is no role '{name}'", hint=did_you_mean(name, roles))
            return None
        module = roles[name].module
        if module != raw.module and module not in self.assembly.visible_modules(raw.module):
            owner = f"module {raw.module}" if raw.module else "the app"
            where = f"module {module}" if module else "the app"
            self.report(raw, f"{what}: role '{name}' comes from {where}, which {owner} does not include",
                        hint=f"add {module} to include:" if module else
                        "a module only uses its own roles and those of the modules it includes")
            return None
        return name

    # --- formulas ---------------------------------------------------------------------------------------

    def _checker(self, entity: str | None, records: bool) -> Checker:
        key = (entity, records)
        checker = self._checkers.get(key)
        if checker is None:
            checker = Checker(self.catalog, self.registry, entity, aggregate_records=records)
            self._checkers[key] = checker
        return checker

    def formula(self, raw: Raw, entity: str | None, what: str, *, expect: t.Type | Accepts | None = None,
                records: bool = False) -> Formula | None:
        """Check the formula written at `raw` in the scope of `entity`; report problems at their column."""
        source = formula_text(raw.data)
        if source is None:
            return None
        try:
            expr = self._checker(entity, records).check(parse(source))
        except FormulaError as error:
            self._formula_problem(raw, source, error)
            return None
        if expect is not None and not _fits(expr.type, expect):
            wanted = expect.name if isinstance(expect, Accepts) else str(expect)
            self.problems.append(Problem(f"{what} must give {wanted}, but this formula gives {expr.type}",
                                         raw.loc(), raw.where(), _conversion_hint(expr.type, expect)))
            return None
        python = compile_python(expr, raw.where())
        missing = {dialect: reason for dialect in ("sqlite", "postgresql")
                   if (reason := sql_form_missing(expr, dialect))}
        return Formula(source, raw.loc(), expr, python, missing)

    def _formula_problem(self, raw: Raw, source: str, error: FormulaError) -> None:
        hint = error.hint
        if isinstance(raw.data, str):
            location = raw.source.formula_location(raw.path, min(error.position, max(len(source) - 1, 0)))
            span = raw.source.value_span(raw.path)
            if span is not None and span.style == "" and error.message.startswith("the formula ends too early"):
                hint = "inside { … } a comma ends the value: put the whole formula in quotes"
        else:
            location = raw.loc()
        self.problems.append(Problem(error.message, location, raw.where(), hint))


def _fits(value: t.Type, expect: t.Type | Accepts) -> bool:
    if isinstance(expect, Accepts):
        return expect(value)
    return t.assignable(value, expect)


def _conversion_hint(value: t.Type, expect: t.Type | Accepts) -> str | None:
    target = expect if isinstance(expect, t.Type) else None
    if target is not None and target.kind is t.Kind.INT and value.kind is t.Kind.DECIMAL:
        return "round it to a whole number, e.g. ROUND(…, 0)"
    if target is not None and target.kind is t.Kind.TEXT and value.is_scalar:
        return 'turn it into text with & "" or TEXT(…, "0.00")'
    if isinstance(expect, Accepts) and expect.name.startswith("TRUE/FALSE"):
        return "write a condition, e.g. qty > 0"
    return None



def visible(ctx: BuildContext, raw: Raw, shape: EntityShape) -> bool:
    return ctx.visible(raw, shape)
