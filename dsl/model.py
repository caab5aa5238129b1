"""The checked app definition: immutable, typed, what the engine consumes.

Built by dsl.loader from the YAML files; dsl.dump turns it back into YAML data (the visual designer of the
roadmap edits the same YAML). Every part remembers where it was declared (`origin`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from dsl.formula import ir
from dsl.formula.catalog import Catalog
from dsl.formula.functions import Registry
from dsl.formula.types import Type
from dsl.problems import Location


@dataclass(frozen=True, slots=True)
class Label:
    zh: str | None = None
    en: str | None = None

    def get(self, locale: str = "zh-CN") -> str:
        if locale.startswith("en"):
            return self.en or self.zh or ""
        return self.zh or self.en or ""

    def all(self) -> tuple[str, ...]:
        return tuple(text for text in (self.zh, self.en) if text)

    def __str__(self) -> str:
        return self.get()


@dataclass(frozen=True, slots=True)
class Formula:
    """A checked formula: its text, where it is written, its typed tree and its Python callable."""

    source: str
    origin: Location | None = field(compare=False)
    expr: ir.Expr = field(compare=False, repr=False)
    python: Callable[..., Any] = field(compare=False, repr=False)
    sql_missing: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def type(self) -> Type:
        return self.expr.type


class FieldType(StrEnum):
    STRING = "string"
    TEXT = "text"
    INT = "int"
    DECIMAL = "decimal"
    MONEY = "money"
    PERCENT = "percent"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"
    LINK = "link"
    TABLE = "table"
    ATTACHMENT = "attachment"


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: Label


@dataclass(frozen=True, slots=True)
class Validation:
    rule: Formula
    message: Label | None


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: FieldType
    label: Label
    origin: Location | None = field(compare=False)
    help: Label | None = None
    required: bool = False
    unique: bool = False
    index: bool = False
    read_only: bool = False
    default: Formula | None = None
    formula: Formula | None = None
    validations: tuple[Validation, ...] = ()
    required_if: Formula | None = None
    visible_if: Formula | None = None
    precision: int | None = None
    scale: int | None = None
    max_length: int | None = None
    options: tuple[Choice, ...] = ()
    link: str | None = None
    many: bool = False
    table: str | None = None  # table fields: the child entity holding the rows
    renamed_from: str | None = None
    value_type: Type | None = field(default=None, compare=False)  # the type formulas see

    @property
    def computed(self) -> bool:
        return self.formula is not None

    @property
    def is_numeric(self) -> bool:
        return self.type in (FieldType.INT, FieldType.DECIMAL, FieldType.MONEY, FieldType.PERCENT)


class EntityKind(StrEnum):
    MASTER = "master"
    DOCUMENT = "document"
    CHILD = "child"  # the rows of a table field


@dataclass(frozen=True, slots=True)
class NamingSeries:
    pattern: str
    reset: str  # yearly | monthly | never


@dataclass(frozen=True, slots=True)
class LineMapping:
    source_table: str
    target_table: str
    fields: Mapping[str, Formula]
    fulfil: str | None = None  # source line field that the target's quantity adds to (received_qty)
    qty: str | None = None  # target line field that counts
    limit: str | None = None  # source line field with the ordered quantity that fulfil may reach
    tolerance: Decimal = Decimal(0)  # percent of over-fulfilment allowed


@dataclass(frozen=True, slots=True)
class Progress:
    percent: str | None = None
    status: str | None = None
    partial: str | None = None
    complete: str | None = None


@dataclass(frozen=True, slots=True)
class MakeFrom:
    source: str
    label: Label
    fields: Mapping[str, Formula]
    lines: LineMapping | None
    progress: Progress | None
    origin: Location | None = field(compare=False)


@dataclass(frozen=True, slots=True)
class StockEffect:
    table: str
    direction: str  # in | out | transfer
    item: Formula
    qty: Formula
    warehouse: Formula
    origin: Location | None = field(compare=False)
    to_warehouse: Formula | None = None
    location: Formula | None = None
    to_location: Formula | None = None
    batch: Formula | None = None
    expiry: Formula | None = None
    production_date: Formula | None = None
    unit_cost: Formula | None = None
    supplier: Formula | None = None
    supplier_batch: Formula | None = None
    date: Formula | None = None  # the posting date (the document's date); none: the time of submit


@dataclass(frozen=True, slots=True)
class Reservation:
    table: str
    item: Formula
    qty: Formula
    warehouse: Formula
    origin: Location | None = field(compare=False)


@dataclass(frozen=True, slots=True)
class Entity:
    name: str
    kind: EntityKind
    label: Label
    fields: Mapping[str, Field]
    origin: Location | None = field(compare=False)
    module: str | None = field(default=None, compare=False)  # the module that defines it (None: the app)
    help: Label | None = None
    group: Label | None = None
    parent: str | None = None  # child entities: the entity whose table they are
    parent_field: str | None = None
    key: str | None = None
    title: str | None = None
    list_columns: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    validations: tuple[Validation, ...] = ()
    naming: NamingSeries | None = None
    amend: bool = True
    make_from: Mapping[str, MakeFrom] = field(default_factory=dict)
    stock: tuple[StockEffect, ...] = ()
    reservations: tuple[Reservation, ...] = ()
    computed_order: tuple[str, ...] = ()  # computed fields in the order they must be evaluated

    @property
    def is_document(self) -> bool:
        return self.kind is EntityKind.DOCUMENT


@dataclass(frozen=True, slots=True)
class State:
    name: str
    label: Label
    initial: bool = False
    submit: bool = False
    cancel: bool = False


@dataclass(frozen=True, slots=True)
class Transition:
    action: str
    label: Label
    sources: tuple[str, ...]
    target: str
    roles: tuple[str, ...] = ()
    guard: Formula | None = None
    requires: tuple[str, ...] = ()
    comment: str = "optional"  # none | optional | required


@dataclass(frozen=True, slots=True)
class Workflow:
    name: str
    entity: str
    label: Label
    state_field: str
    states: Mapping[str, State]
    transitions: tuple[Transition, ...]
    initial: str
    origin: Location | None = field(compare=False)
    allow_self_approval: bool = False


@dataclass(frozen=True, slots=True)
class Schedule:
    text: str  # as written
    cron: str  # the same as a 5-field cron line


@dataclass(frozen=True, slots=True)
class Alert:
    name: str
    label: Label
    scope: str
    condition: Formula
    trigger: str  # change | schedule
    message: str
    origin: Location | None = field(compare=False)
    schedule: Schedule | None = None
    repeat: dt.timedelta | None = None
    roles: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    channels: tuple[str, ...] = ("inbox",)


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    label: Label
    permissions: Mapping[str, frozenset[str]]
    field_access: Mapping[str, Mapping[str, str]]  # entity → field → hidden | read_only
    row_rules: Mapping[str, tuple[Formula, ...]]  # entity → rules that must all hold (an extension adds more)
    origin: Location | None = field(compare=False)


@dataclass(frozen=True, slots=True)
class Widget:
    type: str  # metric | bar | line | table
    title: Label
    entity: str
    values: Mapping[str, Formula]
    filter: Formula | None = None
    group_by: Mapping[str, Formula] = field(default_factory=dict)
    sort: str | None = None
    limit: int | None = None
    thresholds: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Dashboard:
    name: str
    label: Label
    widgets: tuple[Widget, ...]
    origin: Location | None = field(compare=False)
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PrintFormat:
    name: str
    entity: str
    label: Label
    template: str  # path as written
    template_source: str = field(compare=False, repr=False)
    origin: Location | None = field(compare=False, default=None)
    paper: str = "A4"
    default: bool = False


@dataclass(frozen=True, slots=True)
class DemoRecord:
    entity: str
    values: Mapping[str, Any]
    origin: Location | None = field(compare=False)
    submit: bool = False


@dataclass(frozen=True, slots=True)
class StockSettings:
    item: str
    warehouse: str
    location: str | None = None
    negative_stock: bool = False
    valuation: str = "moving_average"
    safety_stock: str | None = None
    reorder_level: str | None = None
    batch_required: str | None = None
    shelf_life_days: str | None = None
    valuation_field: str | None = None  # an item choice field: moving_average or fifo for that item
    allow_negative_field: str | None = None  # an item bool field: true lets that item's stock go below zero
    min_shelf_life_field: str | None = None  # an item int field: that item's minimum remaining shelf life to ship
    min_remaining_shelf_life_days: int | None = None
    count_tolerance: Decimal = Decimal(3)


@dataclass(frozen=True, slots=True)
class App:
    name: str
    title: Label
    version: str
    locale: str
    timezone: str
    modules: tuple[str, ...]
    plugins: Mapping[str, Mapping[str, Any]]
    entities: Mapping[str, Entity]
    workflows: Mapping[str, Workflow]
    alerts: Mapping[str, Alert]
    roles: Mapping[str, Role]
    dashboards: Mapping[str, Dashboard]
    print_formats: Mapping[str, PrintFormat]
    demo: Mapping[str, tuple[DemoRecord, ...]]
    stock: StockSettings | None
    catalog: Catalog = field(compare=False, repr=False)
    registry: Registry = field(compare=False, repr=False)
    description: Label | None = None
    source_dir: str | None = field(default=None, compare=False)
    user_fields: Mapping[str, Field] = field(default_factory=dict)  # fields the app adds to its users

    def formulas(self):
        """Every checked formula of the app, with a human path to where it is."""
        from dsl.summary import iter_formulas

        return iter_formulas(self)
