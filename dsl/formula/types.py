"""The static types of the formula language."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dsl.messages import Message


class Kind(StrEnum):
    TEXT = "text"
    INT = "int"
    DECIMAL = "decimal"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    RECORD = "record"
    ROWS = "rows"
    LIST = "list"
    NULL = "null"


_HUMAN = {
    Kind.TEXT: Message("text"),
    Kind.INT: Message("a whole number"),
    Kind.DECIMAL: Message("a number"),
    Kind.BOOL: Message("TRUE/FALSE"),
    Kind.DATE: Message("a date"),
    Kind.DATETIME: Message("a date and time"),
    Kind.NULL: Message("blank"),
}


@dataclass(frozen=True, slots=True)
class Type:
    kind: Kind
    entity: str | None = None  # RECORD and ROWS: which entity
    item: Type | None = None  # LIST: the type of its items

    def __str__(self) -> str:
        return str.__str__(self.describe())  # the English text, a plain str

    def describe(self) -> Message:
        """How the type reads in a message ("a number", "a list of a warehouse record"), translatable."""
        if self.kind is Kind.RECORD:
            if not self.entity:
                return Message("a record")
            if self.entity[0] in "aeiou":
                return Message("an {entity} record", entity=self.entity)
            return Message("a {entity} record", entity=self.entity)
        if self.kind is Kind.ROWS:
            return Message("the rows of {entity}", entity=self.entity)
        if self.kind is Kind.LIST:
            return Message("a list of {item}", item=self.item.describe() if self.item else "None")
        return _HUMAN[self.kind]

    @property
    def is_number(self) -> bool:
        return self.kind in (Kind.INT, Kind.DECIMAL)

    @property
    def is_scalar(self) -> bool:
        return self.kind not in (Kind.ROWS, Kind.LIST)


TEXT = Type(Kind.TEXT)
INT = Type(Kind.INT)
DECIMAL = Type(Kind.DECIMAL)
BOOL = Type(Kind.BOOL)
DATE = Type(Kind.DATE)
DATETIME = Type(Kind.DATETIME)
NULL = Type(Kind.NULL)


def record(entity: str | None) -> Type:
    return Type(Kind.RECORD, entity=entity)


def rows(entity: str) -> Type:
    return Type(Kind.ROWS, entity=entity)


def list_of(item: Type) -> Type:
    return Type(Kind.LIST, item=item)


def unify(a: Type, b: Type) -> Type | None:
    """The type that can hold values of both a and b (for IF branches, IN lists...), or None."""
    if a == b:
        return a
    if a.kind is Kind.NULL:
        return b
    if b.kind is Kind.NULL:
        return a
    if a.is_number and b.is_number:
        return DECIMAL
    if {a.kind, b.kind} == {Kind.DATE, Kind.DATETIME}:
        return DATETIME
    if a.kind is Kind.RECORD and b.kind is Kind.RECORD and (a.entity is None or b.entity is None):
        return record(a.entity or b.entity)
    return None


def comparable(a: Type, b: Type) -> bool:
    """Whether `a < b` / `a = b` is meaningful."""
    return unify(a, b) is not None and a.is_scalar and b.is_scalar


def assignable(value: Type, target: Type) -> bool:
    """Whether a formula result of type `value` may be stored in a field of type `target`."""
    if value.kind is Kind.NULL or value == target:
        return True
    if target.kind is Kind.DECIMAL and value.kind is Kind.INT:
        return True
    if target.kind is Kind.DATETIME and value.kind is Kind.DATE:
        return True
    if target.kind is Kind.RECORD and value.kind is Kind.RECORD:
        return value.entity is None or target.entity is None or value.entity == target.entity
    if target.kind is Kind.LIST and value.kind is Kind.LIST:
        return target.item is not None and value.item is not None and assignable(value.item, target.item)
    return False
