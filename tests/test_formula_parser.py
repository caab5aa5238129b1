"""The formula parser: text → syntax tree, precedence as in Excel, and errors that point at a column."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl.formula import syntax as s
from dsl.formula.errors import FormulaError
from dsl.formula.parser import MAX_FORMULA_LENGTH, parse


def shape(node: s.Node):
    """A compact, position-free picture of a tree: ("+", 1, ("*", 2, 3))."""
    match node:
        case s.Number(value=value) | s.String(value=value) | s.Boolean(value=value):
            return value
        case s.Name(name=name, is_label=True):
            return "{" + name + "}"
        case s.Name(name=name):
            return name
        case s.Member(base=base, name=name, is_label=is_label):
            return (".", shape(base), "{" + name + "}" if is_label else name)
        case s.Unary(op=op, operand=operand):
            return (op, shape(operand))
        case s.Binary(op=op, left=left, right=right):
            return (op, shape(left), shape(right))
        case s.In(value=value, options=options, negated=negated):
            return ("NOT IN" if negated else "IN", shape(value), shape(options))
        case s.ListNode(items=items):
            return ("list", *(shape(item) for item in items))
        case s.Call(function=function, args=args):
            return (function + "()", *(shape(arg) for arg in args))
    raise AssertionError(node)


def error_of(text: str) -> FormulaError:
    with pytest.raises(FormulaError) as caught:
        parse(text)
    return caught.value


# --- precedence and associativity -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("1+2*3", ("+", 1, ("*", 2, 3))),
    ("(1+2)*3", ("*", ("+", 1, 2), 3)),
    ("1-2-3", ("-", ("-", 1, 2), 3)),
    ("8/4/2", ("/", ("/", 8, 4), 2)),
    # Excel: negation binds tighter than ^, so -2^2 is (-2)^2 = 4; ^ groups from the left: 2^3^2 = 64.
    ("-2^2", ("^", ("-", 2), 2)),
    ("2^3^2", ("^", ("^", 2, 3), 2)),
    ("2^-1", ("^", 2, ("-", 1))),
    ("2*3^2", ("*", 2, ("^", 3, 2))),
    ("--1", ("-", ("-", 1))),
    ("+qty", ("+", "qty")),
    # & is below + and above comparisons: "a" & 1+2 is "a" & 3.
    ('"a" & 1+2', ("&", "a", ("+", 1, 2))),
    ('"a" & "b" = "ab"', ("=", ("&", "a", "b"), "ab")),
    ("qty * price > 100", (">", ("*", "qty", "price"), 100)),
    ("NOT a = b", ("NOT", ("=", "a", "b"))),
    ("NOT NOT a", ("NOT", ("NOT", "a"))),
    ("a OR b AND c", ("OR", "a", ("AND", "b", "c"))),
    ("a AND b OR c AND d", ("OR", ("AND", "a", "b"), ("AND", "c", "d"))),
    ("NOT a AND b", ("AND", ("NOT", "a"), "b")),
    ("a < 1 OR b >= 2", ("OR", ("<", "a", 1), (">=", "b", 2))),
    ("50%", ("%", 50)),
    ("qty * 10%", ("*", "qty", ("%", 10))),
    ("-5%", ("-", ("%", 5))),
    ("x IN (1, 2, 3)", ("IN", "x", ("list", 1, 2, 3))),
    ("x NOT IN (1, 2)", ("NOT IN", "x", ("list", 1, 2))),
    ("x IN (1)", ("IN", "x", 1)),
    ("x & y IN (\"ab\")", ("IN", ("&", "x", "y"), "ab")),
    ("NOT x IN (1, 2)", ("NOT", ("IN", "x", ("list", 1, 2)))),
])
def test_precedence(text, expected):
    assert shape(parse(text)) == expected


@pytest.mark.parametrize(("text", "op"), [
    ("a = b", "="), ("a == b", "="), ("a <> b", "<>"), ("a != b", "<>"), ("a < b", "<"), ("a <= b", "<="),
    ("a > b", ">"), ("a >= b", ">="),
])
def test_comparison_operators_are_normalised(text, op):
    assert shape(parse(text)) == (op, "a", "b")


def test_keywords_are_case_insensitive():
    assert shape(parse("a and b Or not c")) == ("OR", ("AND", "a", "b"), ("NOT", "c"))
    assert shape(parse("x in (1, 2)")) == ("IN", "x", ("list", 1, 2))
    assert shape(parse("x Not In (1, 2)")) == ("NOT IN", "x", ("list", 1, 2))
    assert shape(parse("true")) is True
    assert shape(parse("False")) is False


@pytest.mark.parametrize("name", ["order", "orders", "android", "notes", "index", "in_stock", "true_value",
                                  "falsehood", "AND_2", "_x"])
def test_names_that_start_with_a_keyword_are_names(name):
    assert shape(parse(name)) == name


# --- literals, names, labels, calls ------------------------------------------------------------------------


def test_numbers():
    assert parse("12").value == 12 and isinstance(parse("12").value, int)
    assert parse("12.50").value == Decimal("12.50")
    assert str(parse("12.50").value) == "12.50"
    assert parse(".5").value == Decimal("0.5")
    assert parse("5.").value == Decimal("5")
    assert str(parse("1e3").value) == "1000"  # positional, not 1E+3
    assert parse("1.5E-2").value == Decimal("0.015")
    for text in ("12", "12.50", "1e3"):
        assert not isinstance(parse(text).value, float)


def test_strings_double_their_quotes_and_have_no_escapes():
    assert parse('"say ""hi"""').value == 'say "hi"'
    assert parse('""').value == ""
    assert parse(r'"a\nb\"').value == "a\\nb\\"
    assert parse('"多行\n文本"').value == "多行\n文本"
    assert parse("\"it's\"").value == "it's"


def test_names_members_and_labels():
    assert shape(parse("customer.region.name")) == (".", (".", "customer", "region"), "name")
    assert shape(parse("{数量} * {单价}")) == ("*", "{数量}", "{单价}")
    assert shape(parse("{ 数量 }")) == "{数量}"  # spaces inside the braces do not count
    assert shape(parse("customer.{信用额度}")) == (".", "customer", "{信用额度}")
    assert shape(parse("{客户}.{信用额度}")) == (".", "{客户}", "{信用额度}")
    label = parse("{Unit Price}")
    assert isinstance(label, s.Name) and label.is_label and label.name == "Unit Price"


def test_calls_upper_case_their_name():
    assert shape(parse("round(price, 2)")) == ("ROUND()", "price", 2)
    assert shape(parse("TODAY()")) == ("TODAY()",)
    assert shape(parse("and(a, b)")) == ("AND()", "a", "b")
    assert shape(parse("OR(a)")) == ("OR()", "a")
    assert shape(parse("SUM(lines.amount, lines.qty > 0)")) == (
        "SUM()", (".", "lines", "amount"), (">", (".", "lines", "qty"), 0))
    assert shape(parse("IF(a, b)")) == ("IF()", "a", "b")


def test_leading_equals_sign_and_whitespace():
    assert shape(parse("=qty*price")) == ("*", "qty", "price")
    assert shape(parse("  = qty")) == "qty"
    assert shape(parse("qty\u3000*\u30002")) == ("*", "qty", 2)  # the full-width space of Chinese input
    assert shape(parse("qty\n  * 2\t")) == ("*", "qty", 2)


def test_positions():
    node = parse("qty + {单价} * 2")
    assert isinstance(node, s.Binary)
    assert (node.start, node.end, node.op_start) == (0, 14, 4)
    assert (node.left.start, node.left.end) == (0, 3)
    assert (node.right.start, node.right.end) == (6, 14)
    assert node.right.op_start == 11
    call = parse("=  ROUND(x, 2)")
    assert (call.start, call.end) == (3, 14)  # columns of the text as written, `=` included
    assert (call.args[1].start, call.args[1].end) == (12, 13)
    member = parse("customer.name")
    assert (member.start, member.end) == (0, 13)


# --- errors and their columns --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "position", "message"), [
    ("", 0, "the formula is empty"),
    ("   ", 0, "the formula is empty"),
    ("=", 1, "the formula is empty"),
    ("1 +", 3, "the formula ends too early"),
    ("(1", 2, "the formula ends too early; expected ) or ,"),
    ("ROUND(1, ", 8, "the formula ends too early"),  # just after the last thing written
    ("1)", 1, "unexpected ')'; expected the end of the formula"),
    ("qty price", 4, "unexpected 'price': is an operator or a comma missing?"),
    ('IF(a "b")', 5, "unexpected '\"b\"': is an operator or a comma missing?"),
    ('"abc', 0, 'this text has no closing "'),
    ('qty & "abc', 6, 'this text has no closing "'),
    ("{数量 * 2", 0, "this {label} has no closing }"),
    ("qty # 2", 4, "unexpected character '#'"),
    ("qty $", 4, "unexpected character '$'"),
    ("=1 +", 4, "the formula ends too early"),
])
def test_syntax_errors_point_at_the_column(text, position, message):
    error = error_of(text)
    assert error.position == position
    assert error.message.startswith(message)


@pytest.mark.parametrize(("text", "position", "char", "ascii"), [
    ("ROUND（price, 2)", 5, "（", "("),
    ("ROUND(price，2)", 11, "，", ","),
    ("“a” & b", 0, "“", '"'),
    ("{数量}＊{单价}", 4, "＊", "*"),
    ("qty＞1", 3, "＞", ">"),
    ("IF(a＝b, 1, 2)", 4, "＝", "="),
    ("customer。name", 8, "。", "."),
])
def test_full_width_punctuation_gets_a_hint(text, position, char, ascii):
    error = error_of(text)
    assert error.position == position
    assert error.message == f"'{char}' is a full-width character; use '{ascii}' instead"


def test_chinese_name_without_braces_suggests_a_label():
    error = error_of("数量 * 单价")
    assert error.position == 0
    assert "write it in braces, like {数量}" in error.message


@pytest.mark.parametrize(("text", "position"), [
    ("1 < 2 < 3", 6),
    ("a = b = c", 6),
    ("0 <= qty <= 10", 9),
])
def test_chained_comparisons_are_refused_with_advice(text, position):
    error = error_of(text)
    assert error.position == position
    assert error.message == "comparisons cannot be chained; combine them with AND, like a < b AND b < c"


def test_limits():
    assert "limit is" in error_of("1+" * MAX_FORMULA_LENGTH).message
    assert error_of("-" * 3000 + "1").message == "the formula is nested too deeply"
    assert error_of("ABS(" * 900 + "1" + ")" * 900).message == "the formula is nested too deeply"
    assert error_of("IF(TRUE," * 400 + "1" + ",1)" * 400).message == "the formula is nested too deeply"
    assert "digits" in error_of("1" * 61).message
    assert "digits" in error_of("1e400").message
    assert "digits" in error_of("1e-999999999").message
    assert error_of("qty + 1e99").position == 6
    assert parse("1" * 60).value == int("1" * 60)


@pytest.mark.parametrize("text", [
    "lambda: 1", "[1, 2]", "x[0]", "a if b else c", "f'{x}'", "qty; 1", "import os", "x = 1; y", "a.b()",
    '"".join("a")', "qty.__class__()", "(lambda x: x)(1)", "1 ** 2", "a // b", "a % b", "`a`", "a := 1",
    "x.0", "{a{b}}",
])
def test_python_syntax_is_not_formula_syntax(text):
    error_of(text)


def test_dunder_names_are_just_names():
    # They parse (as names, members and calls); the checker then refuses them (tests/test_formula_checker.py).
    assert shape(parse('__import__("os")')) == ("__IMPORT__()", "os")
    assert shape(parse("qty.__class__")) == (".", "qty", "__class__")


# --- properties --------------------------------------------------------------------------------------------

FORMULA_ALPHABET = st.sampled_from(list(
    "()+-*/^&<>=,.%\"{} \n0123456789eE_aqtyINnotrfalsTRUEFALSdAND数量，（）“”＊ǅ\u3000\x00\\'`#$[]"))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_raises_only_formula_errors_on_any_text(text):
    try:
        parse(text)
    except FormulaError as error:
        assert 0 <= error.position <= len(text)


@settings(max_examples=300, deadline=None)
@given(st.text(FORMULA_ALPHABET, max_size=40))
def test_parse_raises_only_formula_errors_on_formula_like_text(text):
    try:
        node = parse(text)
    except FormulaError as error:
        assert 0 <= error.position <= len(text)
        return
    stack = [node]
    while stack:
        current = stack.pop()
        assert 0 <= current.start <= current.end <= len(text)
        stack.extend(s.children(current))
