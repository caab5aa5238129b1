"""The syntax tree a formula parses to, before names and types are resolved.

Every node carries `start` and `end`: character offsets into the formula text, so that errors can point at
the exact column.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Node:
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Number(Node):
    value: int | Decimal


@dataclass(frozen=True, slots=True)
class String(Node):
    value: str


@dataclass(frozen=True, slots=True)
class Boolean(Node):
    value: bool


@dataclass(frozen=True, slots=True)
class Name(Node):
    """A bare name (`qty`) or a label in braces (`{数量}`)."""

    name: str
    is_label: bool = False


@dataclass(frozen=True, slots=True)
class Member(Node):
    """`base.name`: a field of a linked record, of a child row, or of a function's record result."""

    base: Node
    name: str
    is_label: bool = False


@dataclass(frozen=True, slots=True)
class Call(Node):
    function: str  # upper-cased
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # "-", "+", "NOT", "%"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str  # + - * / ^ & = <> < <= > >= AND OR
    left: Node
    right: Node
    op_start: int  # where the operator itself stands, for messages


@dataclass(frozen=True, slots=True)
class In(Node):
    value: Node
    options: Node  # a ListNode or any list-typed expression
    negated: bool


@dataclass(frozen=True, slots=True)
class ListNode(Node):
    items: tuple[Node, ...]


def children(node: Node) -> tuple[Node, ...]:
    match node:
        case Member(base=base):
            return (base,)
        case Call(args=args):
            return args
        case Unary(operand=operand):
            return (operand,)
        case Binary(left=left, right=right):
            return (left, right)
        case In(value=value, options=options):
            return (value, options)
        case ListNode(items=items):
            return items
    return ()
