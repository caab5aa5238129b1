"""The checked, typed form of a formula that both compilers consume.

Names are resolved (labels to fields, links to entities), every node has a static type, and special forms
(IF, AND, aggregates over child rows...) are explicit. Scopes: `level` 0 is the record the formula is about;
inside an aggregate over child rows, the rows get level 1 (and so on for nested aggregates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsl.formula.types import Type

if TYPE_CHECKING:
    from dsl.formula.functions import FunctionSpec


@dataclass(frozen=True, slots=True)
class Expr:
    type: Type
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Const(Expr):
    value: Any  # None, bool, int, Decimal, str (date/datetime constants come from functions)


@dataclass(frozen=True, slots=True)
class FieldRef(Expr):
    """A field of the record at scope `level`."""

    entity: str
    field: str
    level: int


@dataclass(frozen=True, slots=True)
class RecordRef(Expr):
    """The record at scope `level` itself (the row inside an aggregate; rarely needed on its own)."""

    entity: str
    level: int


@dataclass(frozen=True, slots=True)
class ParentRef(Expr):
    """The parent document of the child row at scope `level` (`parent.warehouse`)."""

    entity: str  # the parent entity
    level: int


@dataclass(frozen=True, slots=True)
class Follow(Expr):
    """`base.field` where base is a record (a link value, a parent, a function result)."""

    base: Expr
    entity: str
    field: str


@dataclass(frozen=True, slots=True)
class Op(Expr):
    """Operators. op is one of: + - * / ^ neg % & = <> < <= > >= AND OR NOT IN NOT_IN."""

    op: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class ListExpr(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class If(Expr):
    """IF / IFS / SWITCH all become a chain of (condition, value) pairs and a default."""

    branches: tuple[tuple[Expr, Expr], ...]
    default: Expr | None


@dataclass(frozen=True, slots=True)
class Coalesce(Expr):
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Call(Expr):
    function: FunctionSpec
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Aggregate(Expr):
    """SUM / COUNT / AVG / MIN / MAX over the child rows of table field `table` of the record at `level`.

    `value` and `where` are evaluated per row, with the row at scope level + 1. With `table` None the
    aggregate goes over the records of a query (dashboards): level 0 is then the group of records.
    """

    function: str
    entity: str  # the entity that has the table field (or whose records are aggregated)
    table: str | None  # the table field; None: the query's records
    child: str  # the child entity (or the entity itself)
    level: int
    value: Expr | None
    where: Expr | None


def walk(expr: Expr):
    """Every node of the tree, parents before children."""
    yield expr
    match expr:
        case Follow(base=base):
            yield from walk(base)
        case Op(args=args) | Coalesce(args=args) | Call(args=args) | ListExpr(items=args):
            for arg in args:
                yield from walk(arg)
        case If(branches=branches, default=default):
            for condition, value in branches:
                yield from walk(condition)
                yield from walk(value)
            if default is not None:
                yield from walk(default)
        case Aggregate(value=value, where=where):
            if value is not None:
                yield from walk(value)
            if where is not None:
                yield from walk(where)
