"""Formula text → syntax tree (dsl.formula.syntax), with errors that point at a column."""

from __future__ import annotations

from decimal import Context, Decimal
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from dsl.formula import syntax as s
from dsl.formula.errors import FormulaError
from dsl.messages import Message

MAX_FORMULA_LENGTH = 10_000
MAX_NUMBER_DIGITS = 60  # digits before or after the point in a number literal (stored values have 18)

_TERMINAL_NAMES: dict[str, str] = {
    "NAME": Message("a field or function name"),
    "LABEL": Message("a {braces}", braces="{label}"),
    "NUMBER": Message("a number"),
    "STRING": Message('a "text"'),
    "TRUE": "TRUE",
    "FALSE": "FALSE",
    "LPAR": "(",
    "RPAR": ")",
    "COMMA": ",",
    "DOT": ".",
    "ADD_OP": "+ or -",
    "MUL_OP": "* or /",
    "COMP_OP": Message("a comparison"),
    "CARET": "^",
    "AMP": "&",
    "PERCENT": "%",
    "AND": "AND",
    "OR": "OR",
    "NOT": "NOT",
    "IN": "IN",
    "$END": Message("the end of the formula"),
}

# Characters a Chinese input method produces in place of the ASCII ones the language uses.
_FULL_WIDTH = {
    "（": "(",
    "）": ")",
    "，": ",",
    "“": '"',
    "”": '"',
    "‘": '"',
    "’": '"',
    "＋": "+",
    "－": "-",
    "＊": "*",
    "／": "/",
    "＝": "=",
    "＜": "<",
    "＞": ">",
    "％": "%",
    "＆": "&",
    "。": ".",
    "｛": "{",
    "｝": "}",
}


@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("dsl.formula").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _number(text: str, position: int) -> int | Decimal:
    if text.isdigit():
        if len(text.lstrip("0")) > MAX_NUMBER_DIGITS:
            raise FormulaError(Message("this number has more than {most} digits", most=MAX_NUMBER_DIGITS), position)
        return int(text)
    value = Decimal(text)
    exponent = value.as_tuple().exponent
    if (value and value.adjusted() >= MAX_NUMBER_DIGITS) or exponent < -MAX_NUMBER_DIGITS:  # type: ignore[operator]
        raise FormulaError(Message("this number has more than {most} digits before or after the point",
                                   most=MAX_NUMBER_DIGITS), position)
    # 1E3 would print as "1E+3"; keep literals in plain positional form.
    return value.quantize(Decimal(1), context=_LITERALS) if exponent > 0 else value  # type: ignore[operator]


_LITERALS = Context(prec=2 * MAX_NUMBER_DIGITS)


def _string(text: str) -> str:
    return text[1:-1].replace('""', '"')


@v_args(meta=True)
class _Build(Transformer):
    def number(self, meta, children):
        return s.Number(meta.start_pos, meta.end_pos, _number(str(children[0]), meta.start_pos))

    def string(self, meta, children):
        return s.String(meta.start_pos, meta.end_pos, _string(str(children[0])))

    def true(self, meta, children):
        return s.Boolean(meta.start_pos, meta.end_pos, True)

    def false(self, meta, children):
        return s.Boolean(meta.start_pos, meta.end_pos, False)

    def name(self, meta, children):
        return s.Name(meta.start_pos, meta.end_pos, str(children[0]))

    def label(self, meta, children):
        return s.Name(meta.start_pos, meta.end_pos, str(children[0])[1:-1].strip(), is_label=True)

    def member(self, meta, children):
        base, name = children
        return s.Member(meta.start_pos, meta.end_pos, base, str(name))

    def member_label(self, meta, children):
        base, label = children
        return s.Member(meta.start_pos, meta.end_pos, base, str(label)[1:-1].strip(), is_label=True)

    def percent(self, meta, children):
        return s.Unary(meta.start_pos, meta.end_pos, "%", children[0])

    def unary_op(self, meta, children):
        op, operand = children
        return s.Unary(meta.start_pos, meta.end_pos, str(op), operand)

    def not_op(self, meta, children):
        return s.Unary(meta.start_pos, meta.end_pos, "NOT", children[1])

    def binary(self, meta, children):
        left, op, right = children
        text = str(op).upper()
        text = {"==": "=", "!=": "<>"}.get(text, text)
        return s.Binary(meta.start_pos, meta.end_pos, text, left, right, op.start_pos)

    def in_op(self, meta, children):
        return s.In(meta.start_pos, meta.end_pos, children[0], children[2], negated=False)

    def not_in_op(self, meta, children):
        return s.In(meta.start_pos, meta.end_pos, children[0], children[3], negated=True)

    def call(self, meta, children):
        name = children[0]
        args = children[1].children if len(children) > 1 else []
        return s.Call(meta.start_pos, meta.end_pos, str(name).upper(), tuple(args))

    def list(self, meta, children):
        return s.ListNode(meta.start_pos, meta.end_pos, tuple(children))


_BUILD = _Build()


def parse(text: str) -> s.Node:
    """Parse a formula. A leading `=` (as typed in Excel) is allowed. Raises FormulaError."""
    if len(text) > MAX_FORMULA_LENGTH:
        raise FormulaError(Message("the formula is {length} characters long; the limit is {most}", length=len(text),
                                   most=MAX_FORMULA_LENGTH), 0)
    offset = 0
    stripped = text.lstrip(" \t\r\n\u3000")
    if stripped.startswith("="):
        offset = len(text) - len(stripped) + 1
        text = " " * offset + stripped[1:]
    if not text.strip(" \t\r\n\u3000"):
        raise FormulaError(Message("the formula is empty"), offset)
    try:
        tree = _lark().parse(text)
        return _BUILD.transform(tree)
    except UnexpectedInput as error:
        raise _syntax_error(text, error) from None
    except VisitError as error:  # raised while building the tree: lark wraps what the builder raises
        if isinstance(error.orig_exc, FormulaError):
            raise error.orig_exc from None
        if isinstance(error.orig_exc, RecursionError):
            raise FormulaError(Message("the formula is nested too deeply"), 0) from None
        raise
    except RecursionError:
        raise FormulaError(Message("the formula is nested too deeply"), 0) from None


def _syntax_error(text: str, error: UnexpectedInput) -> FormulaError:
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream
        char = text[position]
        if char in _FULL_WIDTH:
            return FormulaError(Message("'{char}' is a full-width character; use '{ascii}' instead", char=char,
                                        ascii=_FULL_WIDTH[char]), position)
        if char == '"':
            return FormulaError(Message('this text has no closing "'), position)
        if char == "{":
            return FormulaError(Message("this {braces} has no closing {close}", braces="{label}", close="}"),
                                position)
        if not char.isascii() and char.isprintable():
            return FormulaError(
                Message("unexpected '{char}'; to refer to a field by its label, write it in braces, like {example}",
                        char=char, example="{数量}"),
                position,
            )
        return FormulaError(Message("unexpected character '{char}'", char=char), position)
    if isinstance(error, UnexpectedEOF):
        return FormulaError(_ends_too_early(error.expected), len(text.rstrip()))
    if isinstance(error, UnexpectedToken):
        token: Token = error.token
        if token.type == "$END":
            return FormulaError(_ends_too_early(error.expected), len(text.rstrip()))
        position = token.start_pos or 0
        if token.type == "COMP_OP" and "COMP_OP" not in error.expected:
            return FormulaError(
                Message("comparisons cannot be chained; combine them with AND, like a < b AND b < c"), position
            )
        if token.type in ("NAME", "LABEL", "NUMBER", "STRING") and "RPAR" in error.expected:
            return FormulaError(Message("unexpected '{token}': is an operator or a comma missing?", token=str(token)),
                                position)
        expected = _expected(error.expected)
        if expected is None:
            return FormulaError(Message("unexpected '{token}'", token=str(token)), position)
        return FormulaError(Message("unexpected '{token}'; expected {expected}", token=str(token), expected=expected),
                            position)
    return FormulaError(str(error), 0)


def _ends_too_early(terminals: set[str] | frozenset[str]) -> Message:
    expected = _expected(terminals)
    if expected is None:
        return Message("the formula ends too early")
    return Message("the formula ends too early; expected {expected}", expected=expected)


def _expected(terminals: set[str] | frozenset[str]) -> str | None:
    """What may come next ("a number, ( or a field or function name"), each name and "or" translatable; None
    when there is nothing to say or too much."""
    names = sorted({_TERMINAL_NAMES.get(t, t) for t in terminals if not t.startswith("__")})
    if not names or len(names) > 6:
        return None
    if len(names) == 1:
        return names[0]
    listed: str = names[0]
    for name in names[1:-1]:
        listed = Message("{first}, {second}", first=listed, second=name)
    return Message("{first} or {last}", first=listed, last=names[-1])
