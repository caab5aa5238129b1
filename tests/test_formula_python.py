"""The Python compiler and the run-time semantics of formulas, checked against Excel where Excel has the same
function (ROUND, MOD, TRIM, EDATE, WEEKDAY, DATE, LEFT/RIGHT/MID, TEXT...)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl.formula import types as t
from dsl.formula.catalog import Catalog, EntityInfo, FieldInfo
from dsl.formula.checker import check
from dsl.formula.context import SimpleContext
from dsl.formula.errors import FormulaError, FormulaRuntimeError
from dsl.formula.functions import TEXT, FunctionSpec, Param, builtin_registry, record_of
from dsl.formula.pycompile import compile_python
from dsl.formula.runtime import to_text

REGISTRY = builtin_registry()
CLOCK = dt.datetime(2026, 11, 25, 9, 30, 15)  # a Wednesday
CONTEXT = SimpleContext(now=CLOCK)

CATALOG = Catalog.build([
    EntityInfo.build("region", [FieldInfo("name", t.TEXT)]),
    EntityInfo.build("customer", [
        FieldInfo("name", t.TEXT, ("名称",)),
        FieldInfo("credit_limit", t.DECIMAL, ("信用额度",)),
        FieldInfo("region", t.record("region")),
    ]),
    EntityInfo.build("product", [FieldInfo("code", t.TEXT)]),
    EntityInfo.build("sales_order", [
        FieldInfo("qty", t.INT, ("数量",)),
        FieldInfo("price", t.DECIMAL, ("单价",)),
        FieldInfo("discount", t.DECIMAL),
        FieldInfo("remark", t.TEXT),
        FieldInfo("approved", t.BOOL),
        FieldInfo("urgent", t.BOOL),
        FieldInfo("order_date", t.DATE),
        FieldInfo("due_date", t.DATE),
        FieldInfo("created_at", t.DATETIME),
        FieldInfo("customer", t.record("customer"), ("客户",)),
        FieldInfo("product", t.record("product")),
        FieldInfo("regions", t.list_of(t.record("region"))),
        FieldInfo("lines", t.rows("sales_order_line"), ("明细",)),
    ]),
    EntityInfo.build("sales_order_line", [
        FieldInfo("qty", t.INT, ("数量",)),
        FieldInfo("amount", t.DECIMAL, ("金额",)),
        FieldInfo("expiry", t.DATE),
        FieldInfo("product", t.TEXT),
    ], parent="sales_order"),
])

ORDER: dict[str, Any] = {
    "qty": 10, "price": D("12.50"), "discount": None, "remark": "  urgent   order ", "approved": True,
    "urgent": None, "order_date": dt.date(2026, 11, 20), "due_date": dt.date(2026, 12, 31),
    "created_at": dt.datetime(2026, 11, 20, 14, 5, 9),
    "customer": {"name": "华东五金", "credit_limit": D("50000.00"), "region": {"name": "East"}},
    "product": {"code": "P-1"},
    "lines": [
        {"qty": 2, "amount": D("10.50"), "expiry": dt.date(2026, 12, 1), "product": "bolt"},
        {"qty": 0, "amount": None, "expiry": None, "product": "nut"},
        {"qty": -1, "amount": D("4.25"), "expiry": dt.date(2027, 1, 15), "product": "washer"},
    ],
}


def run(text: str, record: dict[str, Any] | None = None, *, entity: str | None = "sales_order",
        context: Any = CONTEXT, registry=REGISTRY) -> Any:
    function = compile_python(check(text, CATALOG, registry, entity))
    return function(ORDER if record is None else record, context)


def same(value: Any, expected: Any) -> bool:
    """Equal and of the same kind (a Decimal 3 is a number like int 3, but never a float, text or bool)."""
    if isinstance(expected, bool) or expected is None or isinstance(value, bool):
        return value is expected
    if isinstance(expected, int | D):
        return isinstance(value, int | D) and value == expected
    if isinstance(expected, dt.date) and not isinstance(expected, dt.datetime):
        return type(value) is dt.date and value == expected
    return type(value) is type(expected) and value == expected


def check_all(cases: list[tuple[str, Any]], record: dict[str, Any] | None = None) -> None:
    failures = [(text, run(text, record), expected) for text, expected in cases
                if not same(run(text, record), expected)]
    assert not failures


def runtime_error(text: str, record: dict[str, Any] | None = None, **options: Any) -> FormulaRuntimeError:
    with pytest.raises(FormulaRuntimeError) as caught:
        run(text, record, **options)
    return caught.value


# --- operators and precedence ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("-2^2", 4), ("2^3^2", 64), ("1+2*3", 7), ("(1+2)*3", 9), ("10-4-3", 3), ("2*3^2", 18), ("-(2^2)", -4),
    ('"a" & 1+2', "a3"), ('"a" & 1 = "a1"', True), ("2^-2", D("0.25")), ("7/2", D("3.5")),
    ("50%", D("0.5")), ("200 * 15%", D("30")), ("1 + 1 > 1 AND 2 > 1", True), ("NOT 1 > 2 OR FALSE", True),
    ("TRUE OR FALSE AND FALSE", True), ("=1+1", 2), ("3 IN (1, 2, 3)", True), ("3 NOT IN (1, 2)", True),
    ('"b" IN ("a")', False),
])
def test_precedence_and_operators(text, expected):
    assert same(run(text), expected)


def test_arithmetic_is_exact_decimal_never_float():
    check_all([
        ("0.1 + 0.2", D("0.3")), ("0.1 + 0.2 = 0.3", True), ("1.1 * 1.1", D("1.21")), ("qty * price", D("125")),
        ("price - 0.5", D("12.00")), ("3 * 0.1 - 0.3", D("0")), ("123456789012345678 * 10", 1234567890123456780),
        ("99999999999999.99 + 0.01", D("100000000000000.00")),
    ])
    for text in ("qty * price", "qty / 3", "price * 1.5", "SUM(lines.amount)", "AVG(lines.qty)", "ROUND(price)",
                 "price%", "POWER(price, 2)", "MOD(price, 3)", "ABS(-price)"):
        assert not isinstance(run(text), float), text


def test_division_rounds_to_ten_places_half_away_from_zero():
    check_all([
        ("1/3", D("0.3333333333")), ("2/3", D("0.6666666667")), ("-2/3", D("-0.6666666667")),
        ("1/3*3", D("0.9999999999")), ("10/4", D("2.5")), ("qty / 4", D("2.5")),
        ("1/16000000000", D("0.0000000001")), ("1/32000000000", D("0")),
    ])


def test_division_by_zero_is_a_runtime_error_not_a_crash():
    for text in ("1/0", "qty / (qty - 10)", "price / 0.0", "MOD(qty, 0)", "MOD(price, 0)", "0 ^ -1",
                 "AVG(lines.qty) / 0"):
        assert runtime_error(text).message == "division by zero", text
    # The engine adds the field whose formula failed, and the user sees it first.
    error = runtime_error("1/0")
    error.field = "unit_cost"
    assert str(error) == "unit_cost: division by zero"
    assert str(FormulaRuntimeError("division by zero", field="单价")) == "单价: division by zero"


def test_blank_operands_skip_the_division():
    assert run("discount / 0") is None  # a blank divided by anything is blank, even by zero


# --- rounding, as in Excel -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("ROUND(2.5)", 3), ("ROUND(-2.5)", -3), ("ROUND(0.5, 0)", 1), ("ROUND(1.5)", 2), ("ROUND(-1.5)", -2),
    ("ROUND(2.345, 2)", D("2.35")), ("ROUND(-2.345, 2)", D("-2.35")), ("ROUND(2.675, 2)", D("2.68")),
    ("ROUND(1.005, 2)", D("1.01")), ("ROUND(1234.5, -2)", 1200), ("ROUND(1250, -2)", 1300),
    ("ROUND(-1250, -2)", -1300), ("ROUND(49, -2)", 0), ("ROUND(2.5, 0.9)", 3), ("ROUND(1.25, 1.9)", D("1.3")),
    ("ROUNDUP(3.2, 0)", 4), ("ROUNDUP(-3.2)", -4), ("ROUNDUP(-1.21, 1)", D("-1.3")), ("ROUNDUP(31415.9, -2)", 31500),
    ("ROUNDUP(3.0001, 2)", D("3.01")), ("ROUNDDOWN(3.9)", 3), ("ROUNDDOWN(-3.9)", -3),
    ("ROUNDDOWN(-1.29, 1)", D("-1.2")), ("ROUNDDOWN(31415.9, -2)", 31400), ("ROUND(7)", 7),
    ("ROUND(1.5, 100)", D("1.5")), ("ROUND(123456.25, 1)", D("123456.3")), ("ROUND(1, -100)", 0),
])
def test_rounding_like_excel(text, expected):
    assert same(run(text), expected)


def test_rounded_whole_numbers_print_without_exponent():
    assert to_text(run("ROUND(1234.5, -2)")) == "1200"
    assert run('"" & ROUND(123456, -3)') == "123000"


# --- MOD, ABS, POWER, MIN, MAX ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("MOD(3, 2)", 1), ("MOD(-3, 2)", 1), ("MOD(3, -2)", -1), ("MOD(-3, -2)", -1), ("MOD(6, 3)", 0),
    ("MOD(5.5, 2)", D("1.5")), ("MOD(-5.5, 2)", D("0.5")), ("MOD(5.5, -2)", D("-0.5")), ("MOD(-4, 2)", 0),
    ("MOD(-4.0, 2)", D("0")), ("ABS(-3)", 3), ("ABS(-price)", D("12.50")), ("ABS(0)", 0),
    ("POWER(2, 10)", 1024), ("2^10", 1024), ("POWER(-2, 3)", -8), ("POWER(0, 0)", 1), ("0^0", 1),
    ("POWER(1.5, 2)", D("2.25")), ("POWER(2, -2)", D("0.25")), ("POWER(10, 2.0)", 100), ("POWER(4, 0.5 * 2)", 4),
    ("MIN(3, 1, 2)", 1), ("MAX(3, 1, 2)", 3), ("MIN(qty, price)", D("10")), ("MAX(2, discount)", 2),
    ("MIN(discount, discount)", None), ('MAX("apple", "pear")', "pear"),
    ("MAX(order_date, due_date)", dt.date(2026, 12, 31)),
])
def test_math_functions(text, expected):
    assert same(run(text), expected)


def test_power_limits():
    assert runtime_error("POWER(2, 0.5)").message == "POWER needs a whole-number exponent"
    assert runtime_error("2 ^ 101").message == "POWER's exponent must be between -100 and 100"
    assert "too large" in runtime_error("2^100^100^100^100^100").message  # never eats all memory


# --- text ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ('LEFT("ABC-01", 3)', "ABC"), ('LEFT("abc")', "a"), ('LEFT("abc", 0)', ""), ('LEFT("abc", 10)', "abc"),
    ('LEFT("abc", 2.9)', "ab"), ('LEFT("螺丝钉", 2)', "螺丝"), ("LEFT(12345, 2)", "12"), ('LEFT("", 3)', ""),
    ('RIGHT("ABC-01", 2)', "01"), ('RIGHT("abc")', "c"), ('RIGHT("abc", 0)', ""), ('RIGHT("abc", 10)', "abc"),
    ('RIGHT("abc", 1.9)', "c"), ('MID("ABC-01", 2, 3)', "BC-"), ('MID("abc", 1, 1)', "a"), ('MID("abc", 3, 5)', "c"),
    ('MID("abc", 4, 1)', ""), ('MID("abc", 5, 2)', ""), ('MID("abc", 2, 0)', ""), ('MID("abc", 1.9, 2)', "ab"),
    ('LEN("螺丝钉")', 3), ('LEN("")', 0), ("LEN(1.50)", 3), ("LEN(remark)", 17),
    ('UPPER("ab-1")', "AB-1"), ('UPPER("straße")', "STRAßE"), ('LOWER("AB")', "ab"), ('UPPER("ǅ")', "Ǆ"),
    ('TRIM("  a   b ")', "a b"), ("TRIM(remark)", "urgent order"), ('TRIM("a\tb")', "a\tb"), ('TRIM("   ")', ""),
    ('TRIM("a\u3000 b")', "a\u3000 b"),
    ('CONTAINS("不锈钢管", "钢")', True), ('CONTAINS("Steel", "steel")', False), ('CONTAINS("abc", "")', True),
    ('CONCAT("PO-", 12)', "PO-12"), ('CONCAT("a", discount, "b")', "ab"), ("CONCAT(1.50, TRUE)", "1.5TRUE"),
    ('CONCAT(order_date, " ", created_at)', "2026-11-20 2026-11-20 14:05:09"), ("CONCAT(discount)", ""),
    ('"a" & discount & "b"', "ab"), ('"x" & 0.10', "x0.1"), ('"x" & -0.0', "x0"), ('"x" & FALSE', "xFALSE"),
    ('"ab" < "b"', True), ('"a" < "B"', False), ('"A" = "a"', False), ('"苹果" <> "苹果 "', True),
])
def test_text_functions(text, expected):
    assert same(run(text), expected)


def test_text_function_errors():
    assert "cannot be negative" in runtime_error('LEFT("abc", -1)').message
    assert "cannot be negative" in runtime_error('RIGHT("abc", -1)').message
    assert "cannot be negative" in runtime_error('MID("abc", 1, -1)').message
    assert "start position must be 1 or more" in runtime_error('MID("abc", 0, 2)').message


@pytest.mark.parametrize(("text", "expected"), [
    ('TEXT(1234.5, "#,##0.00")', "1,234.50"), ('TEXT(-1234.5, "#,##0")', "-1,235"),
    ('TEXT(1234567, "#,##0")', "1,234,567"),
    ('TEXT(0.5, "#,##0.00")', "0.50"), ('TEXT(0.5, "#.00")', ".50"), ('TEXT(2.5, "0")', "3"), ('TEXT(-2.5, "0")', "-3"),
    ('TEXT(7, "000")', "007"), ('TEXT(-7, "000")', "-007"), ('TEXT(12, "PO-0000")', "PO-0012"),
    ('TEXT(1234, "0,000,000")', "0,001,234"), ('TEXT(0, "#")', ""), ('TEXT(1000, "#,###")', "1,000"),
    ('TEXT(0.125, "0%")', "13%"), ('TEXT(0.125, "0.0%")', "12.5%"), ('TEXT(price, "¥#,##0.00")', "¥12.50"),
    ('TEXT(999.995, "#,##0.00")', "1,000.00"), ('TEXT(price, "0.00 元")', "12.50 元"),
    ('TEXT(order_date, "yyyy-mm-dd")', "2026-11-20"), ('TEXT(order_date, "yyyy/m/d")', "2026/11/20"),
    ('TEXT(DATE(2026, 3, 5), "yy.m.d")', "26.3.5"), ('TEXT(DATE(2026, 3, 5), "yyyy年m月d日")', "2026年3月5日"),
    ('TEXT(created_at, "yyyy-mm-dd hh:mm:ss")', "2026-11-20 14:05:09"), ('TEXT(created_at, "h:mm")', "14:05"),
    ('TEXT(created_at, "mm:ss")', "05:09"), ('TEXT(DATE(2026, 3, 5), "mm")', "03"), ('TEXT("abc", "0.00")', "abc"),
    ('TEXT(TRUE, "0")', "TRUE"), ('TEXT(discount, "0.00")', None),
])
def test_text_formats_like_excel(text, expected):
    assert same(run(text), expected)


def test_text_format_errors():
    assert "cannot read the number format" in runtime_error('TEXT(1, "abc")').message


# --- dates -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("TODAY()", dt.date(2026, 11, 25)), ("NOW()", CLOCK),
    ("DATE(2026, 1, 31)", dt.date(2026, 1, 31)), ("DATE(2026, 13, 1)", dt.date(2027, 1, 1)),
    ("DATE(2026, 0, 0)", dt.date(2025, 11, 30)), ("DATE(2026, 2, 29)", dt.date(2026, 3, 1)),
    ("DATE(2026, 1, 0)", dt.date(2025, 12, 31)), ("DATE(2026, -1, 1)", dt.date(2025, 11, 1)),
    ("DATE(2026, 1, 400)", dt.date(2027, 2, 4)), ("DATE(2024, 2, 29)", dt.date(2024, 2, 29)),
    ("DATE(2026.9, 1.9, 1.9)", dt.date(2026, 1, 1)),
    ("YEAR(order_date)", 2026), ("MONTH(order_date)", 11), ("DAY(order_date)", 20), ("YEAR(created_at)", 2026),
    ("EDATE(DATE(2026, 1, 31), 1)", dt.date(2026, 2, 28)), ("EDATE(DATE(2024, 3, 31), -1)", dt.date(2024, 2, 29)),
    ("EDATE(DATE(2024, 1, 31), 1)", dt.date(2024, 2, 29)), ("EDATE(DATE(2026, 1, 15), 12)", dt.date(2027, 1, 15)),
    ("EDATE(DATE(2026, 1, 15), -13)", dt.date(2024, 12, 15)), ("EDATE(DATE(2026, 3, 31), 1.9)", dt.date(2026, 4, 30)),
    ("EDATE(created_at, 1)", dt.date(2026, 12, 20)),
    ('DATEADD(DATE(2026, 1, 31), 1, "month")', dt.date(2026, 2, 28)),
    ("DATEADD(order_date, 10)", dt.date(2026, 11, 30)),
    ('DATEADD(order_date, 2, "week")', dt.date(2026, 12, 4)),
    ('DATEADD(DATE(2024, 2, 29), 1, "year")', dt.date(2025, 2, 28)),
    ('DATEADD(order_date, -1, "day")', dt.date(2026, 11, 19)), ("DATEADD(order_date, 1.9)", dt.date(2026, 11, 21)),
    ("DATEADD(order_date, -1.9)", dt.date(2026, 11, 19)),
    ('DATEADD(created_at, 1, "month")', dt.datetime(2026, 12, 20, 14, 5, 9)),
    ("DAYS_BETWEEN(DATE(2026, 1, 1), DATE(2026, 1, 31))", 30),
    ("DAYS_BETWEEN(DATE(2026, 1, 31), DATE(2026, 1, 1))", -30),
    ("DAYS_BETWEEN(TODAY(), due_date)", 36), ("DAYS_BETWEEN(TODAY(), due_date) <= 30", False),
    ("DAYS_BETWEEN(order_date, created_at)", 0), ("DAYS_BETWEEN(created_at, NOW())", 5),
    ("WEEKDAY(DATE(2026, 11, 25))", 4), ("WEEKDAY(DATE(2026, 11, 25), 1)", 4), ("WEEKDAY(DATE(2026, 11, 25), 2)", 3),
    ("WEEKDAY(DATE(2026, 11, 25), 3)", 2), ("WEEKDAY(DATE(2026, 11, 29))", 1), ("WEEKDAY(DATE(2026, 11, 29), 2)", 7),
    ("WEEKDAY(DATE(2026, 11, 29), 3)", 6), ("WEEKDAY(DATE(2026, 11, 28))", 7), ("WEEKDAY(DATE(2026, 11, 23), 2)", 1),
    ("WEEKDAY(DATE(2026, 11, 23), 3)", 0),
    ("order_date + 30", dt.date(2026, 12, 20)), ("30 + order_date", dt.date(2026, 12, 20)),
    ("order_date - 1", dt.date(2026, 11, 19)), ("due_date - order_date", 41),
    ("order_date + 1.9", dt.date(2026, 11, 21)),
    ("order_date < due_date", True), ("order_date = DATE(2026, 11, 20)", True), ("created_at > order_date", True),
    ("order_date = DATE(2026, 11, 20) AND created_at >= order_date", True),
    ("DATE(2026, 11, 20) = created_at", False), ("TODAY() < NOW()", True),
])
def test_dates(text, expected):
    assert same(run(text), expected)


def test_date_errors():
    assert runtime_error("WEEKDAY(order_date, 4)").message == "WEEKDAY: the type must be 1, 2 or 3"
    assert "year must be between 0 and 9999" in runtime_error("DATE(10000, 1, 1)").message
    assert runtime_error("DATE(-1, 1, 1)").message == "DATE: the year must be between 0 and 9999"
    assert compile_python(check("DATE(26, 1, 1)", CATALOG, REGISTRY, "sales_order"))({}) == dt.date(1926, 1, 1)
    assert "unknown unit 'decade'" in runtime_error('DATEADD(order_date, 1, "decade")').message
    assert "out of range" in runtime_error("DATE(9999, 12, 31) + 1").message
    assert "out of range" in runtime_error("EDATE(DATE(9999, 12, 1), 1)").message


def test_in_compares_dates_and_date_times_as_equal_does():
    record = dict(ORDER, created_at=dt.datetime(2026, 11, 20))
    for text in ("order_date = created_at", "order_date IN (created_at)", "created_at IN (due_date, order_date)"):
        assert run(text, record) is True, text
    assert run("order_date NOT IN (created_at)", record) is False
    assert run("order_date IN (created_at)") is False  # 14:05 is not midnight


def test_the_clock_comes_from_the_context():
    other = SimpleContext("UTC", now=dt.datetime(2030, 1, 1, 0, 0))
    assert run("TODAY()", context=other) == dt.date(2030, 1, 1)
    assert type(run("TODAY()", context=SimpleContext("Asia/Shanghai"))) is dt.date
    assert run("NOW()", context=SimpleContext("Asia/Shanghai")).tzinfo is None


# --- logic and blanks ---------------------------------------------------------------------------------------

T, F, B = True, False, None
AND_TABLE = [(T, T, T), (T, F, F), (T, B, B), (F, T, F), (F, F, F), (F, B, F), (B, T, B), (B, F, F), (B, B, B)]
OR_TABLE = [(T, T, T), (T, F, T), (T, B, T), (F, T, T), (F, F, F), (F, B, B), (B, T, T), (B, F, B), (B, B, B)]


@pytest.mark.parametrize(("a", "b", "expected"), AND_TABLE)
def test_and_is_three_valued(a, b, expected):
    record = dict(ORDER, approved=a, urgent=b)
    assert run("approved AND urgent", record) is expected
    assert run("AND(approved, urgent)", record) is expected


@pytest.mark.parametrize(("a", "b", "expected"), OR_TABLE)
def test_or_is_three_valued(a, b, expected):
    record = dict(ORDER, approved=a, urgent=b)
    assert run("approved OR urgent", record) is expected
    assert run("OR(approved, urgent)", record) is expected


def test_not_and_single_argument_forms():
    for value, expected in ((T, F), (F, T), (B, B)):
        record = dict(ORDER, urgent=value)
        assert run("NOT urgent", record) is expected
        assert run("NOT(urgent)", record) is expected
        assert run("AND(urgent)", record) is value
        assert run("OR(urgent)", record) is value
    assert run("AND(TRUE, TRUE, FALSE)") is False
    assert run("OR(FALSE, FALSE, urgent, TRUE)") is True


def test_and_or_stop_early():
    assert run("FALSE AND 1/0 > 1") is False
    assert run("TRUE OR 1/0 > 1") is True


@pytest.mark.parametrize(("text", "expected"), [
    ("discount + 1", None), ("discount * 0", None), ("-discount", None), ("discount%", None), ("discount > 1", None),
    ("discount = discount", None), ('ROUND(discount, 2)', None), ("ABS(discount)", None), ("LEN(discount)", None),
    ("YEAR(DATE(2026, 1, discount))", None), ("discount IN (1, 2)", None), ("qty IN (1, discount)", None),
    ("qty IN (10, discount)", True), ("qty NOT IN (1, discount)", None), ("BLANK() + 1", None),
    ("IF(discount > 0, 1, 2)", 2), ("IF(urgent, 1, 2)", 2), ("IF(qty > 100, 1)", None), ("IF(qty > 1, 1)", 1),
    ('IFS(qty > 100, "big", qty > 50, "mid")', None), ('IFS(qty > 100, "big", TRUE, "small")', "small"),
    ('SWITCH(qty, 1, "one", 10, "ten")', "ten"), ('SWITCH(qty, 1, "one", "other")', "other"),
    ('SWITCH(qty, 1, "one")', None), ('SWITCH(discount, 1, "one", "other")', "other"),
    ("COALESCE(discount, 0)", 0), ("COALESCE(discount, BLANK())", None), ("COALESCE(discount, price, 1)", D("12.50")),
    ("ISBLANK(discount)", True), ('ISBLANK("")', False), ("ISBLANK(0)", False), ("ISBLANK(remark)", False),
    ("ISBLANK(FALSE)", False), ("ISBLANK(customer)", False), ("MIN(discount, 3)", 3),
    ('discount & ""', ""), ('LEFT(discount, 1)', None), ('CONTAINS(remark, discount)', None),
])
def test_blanks(text, expected):
    assert same(run(text), expected)


def test_if_evaluates_only_the_branch_taken():
    assert run("IF(qty > 0, qty, 1/0)") == 10
    assert run("IF(qty = 0, 1/0, 2)") == 2
    assert run("COALESCE(qty, 1/0)") == 10


# --- aggregates over child rows ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("SUM(lines.amount)", D("14.75")), ("SUM(lines.qty)", 1), ("SUM(lines.amount, lines.qty > 0)", D("10.50")),
    ("SUM(lines.amount * lines.qty)", D("16.75")), ("SUM(lines.qty * qty)", 10),
    ("SUM(lines.amount, lines.qty > 5)", 0),
    ("COUNT(lines)", 3), ("COUNT(lines.amount)", 2), ("COUNT(lines, lines.qty > 0)", 1),
    ("COUNT(lines, ISBLANK(lines.amount))", 1), ("COUNT(lines.expiry, lines.qty <> 0)", 2),
    ("AVG(lines.amount)", D("7.375")), ("AVG(lines.qty)", D("0.3333333333")),
    ("AVG(lines.amount, lines.qty > 5)", None),
    ("MAX(lines.expiry)", dt.date(2027, 1, 15)), ("MIN(lines.expiry)", dt.date(2026, 12, 1)), ("MIN(lines.qty)", -1),
    ("MAX(lines.product)", "washer"), ("MIN(lines.amount, lines.qty < 0)", D("4.25")),
    ("MAX(lines.expiry, lines.qty > 5)", None),
    ("SUM({明细}.{金额})", D("14.75")), ("COUNT({明细}, {明细}.{数量} > 0)", 1),
    ("SUM(lines.{金额}, lines.qty >= 0)", D("10.50")),
    ("SUM(lines.amount) / COUNT(lines.amount)", D("7.375")), ("price * SUM(lines.qty)", D("12.50")),
    ("MIN(lines.expiry) - TODAY()", 6), ("COUNT(lines, CONTAINS(lines.product, \"t\"))", 2),
])
def test_aggregates(text, expected):
    assert same(run(text), expected)


@pytest.mark.parametrize("lines", [[], None])
def test_aggregates_over_no_rows(lines):
    record = dict(ORDER, lines=lines)
    check_all([("SUM(lines.amount)", 0), ("SUM(lines.qty)", 0), ("COUNT(lines)", 0), ("COUNT(lines.amount)", 0),
               ("AVG(lines.amount)", None), ("MAX(lines.expiry)", None), ("MIN(lines.qty)", None)], record)


def test_aggregates_over_blank_values():
    record = dict(ORDER, lines=[{"qty": None, "amount": None, "expiry": None, "product": None}])
    check_all([("SUM(lines.amount)", 0), ("COUNT(lines)", 1), ("COUNT(lines.qty)", 0), ("AVG(lines.qty)", None),
               ("MAX(lines.expiry)", None), ("SUM(lines.qty, lines.qty > 0)", 0)], record)


def test_sum_of_whole_numbers_stays_whole():
    assert type(run("SUM(lines.qty)")) is int
    assert run("SUM(lines.amount)") == D("14.75")


# --- links and parents ---------------------------------------------------------------------------------------


def test_links_as_nested_records():
    check_all([("customer.credit_limit - qty * price", D("49875.00")), ("customer.region.name", "East"),
               ("{客户}.{信用额度}", D("50000.00")), ('customer.name & "/" & customer.region.name', "华东五金/East")])


def test_links_as_ids_fetched_through_the_context():
    context = SimpleContext(now=CLOCK, records={
        "customer": {7: {"name": "华东五金", "credit_limit": D("800"), "region": "R1"}},
        "region": {"R1": {"name": "East"}},
    })
    record = dict(ORDER, customer=7)
    assert run("customer.credit_limit", record, context=context) == D("800")
    assert run("customer.region.name", record, context=context) == "East"
    error = runtime_error("customer.name", dict(ORDER, customer=8), context=context)
    assert error.message == "the linked customer record 8 is not available here"


def test_blank_links_give_blanks():
    record = dict(ORDER, customer=None)
    assert run("customer.region.name", record) is None
    assert run("customer.credit_limit - 1", record) is None
    assert run("ISBLANK(customer)", record) is True
    assert run("customer.region.name", dict(ORDER, customer={"name": "x", "region": None})) is None


def test_parent_from_child_rows():
    line = {"qty": 2, "amount": D("3"), "expiry": None, "product": "bolt", "parent": ORDER}
    assert run("amount / parent.qty", line, entity="sales_order_line") == D("0.3")
    assert run("parent.customer.region.name", line, entity="sales_order_line") == "East"
    context = SimpleContext(now=CLOCK, records={"sales_order": {1: ORDER}})
    by_id = dict(line, parent=1)
    assert run("parent.price * qty", by_id, entity="sales_order_line", context=context) == D("25.00")
    assert run("parent.price", dict(line, parent=None), entity="sales_order_line") is None


def test_a_link_equals_the_current_user_by_id():
    catalog = Catalog.build([EntityInfo.build("user", [FieldInfo("name", t.TEXT)]),
                             EntityInfo.build("note", [FieldInfo("created_by", t.record("user"))])])
    function = compile_python(check("created_by = CURRENT_USER()", catalog, REGISTRY, "note"))
    context = SimpleContext(now=CLOCK, user={"id": 7, "name": "wangfang"})
    assert function({"created_by": 7}, context) is True


def test_a_missing_field_is_a_runtime_error():
    assert runtime_error("qty + 1", {}).message == "the record has no value for 'qty'"


# --- plugin functions ----------------------------------------------------------------------------------------


def test_a_plugin_function_runs_with_the_context():
    def stock(context, item, warehouse="MAIN"):
        return context.fetch("stock", (item["code"], warehouse))["on_hand"]

    spec = FunctionSpec("STOCK", (Param("item", record_of("product")), Param("warehouse", TEXT, optional=True)),
                        t.DECIMAL, stock, "The quantity on hand.", 'STOCK(product, "WH1")', needs_context=True,
                        volatile=True, plugin="inventory")
    registry = REGISTRY.with_functions([spec])
    context = SimpleContext(now=CLOCK, records={"stock": {("P-1", "WH1"): {"on_hand": D("7")},
                                                          ("P-1", "MAIN"): {"on_hand": D("2")}}})
    assert run('qty - STOCK(product, "WH1")', context=context, registry=registry) == D("3")
    assert run("STOCK(product)", context=context, registry=registry) == D("2")
    assert run("STOCK(product)", dict(ORDER, product=None), context=context, registry=registry) is None
    with pytest.raises(FormulaError, match="STOCK's item must be a product record"):
        run("STOCK(customer)", registry=registry)


def test_long_and_deep_formulas_compile_and_compute():
    record = {"qty": D("1.5")}
    cases = {
        " + ".join(["qty"] * 300): D("450.0"),
        " - ".join(["qty"] * 120): D("-177.0"),
        " * ".join(["2"] * 60): 2**60,
        " & ".join(['"a"'] * 200): "a" * 200,
        "ABS(" * 63 + "-qty" + ")" * 63: D("1.5"),
        "-" * 150 + "qty": D("1.5"),
        "IF(qty > 1, " * 60 + "qty" + ", 0)" * 60: D("1.5"),
    }
    for text, expected in cases.items():
        assert compile_python(check(text, CATALOG, REGISTRY, "sales_order"))(record) == expected, text[:40]


# --- safety: user text never becomes code --------------------------------------------------------------------

PAYLOADS = [
    '""); import os; (""', "'); import os; ('", "\\", "\\\\'", '"""', "'''", "\n__import__('os').system('id')\n",
    "{qty}", "{0.__class__}", "%(x)s", "r0['qty']", "c.fetch", "__builtins__", "\x00", "' + str(1/0) + '",
    "\"; raise SystemExit; \"", "# comment", "\\N{BULLET}", "\\x41", "lambda: 0",
]


def quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def source_of(formula: str) -> str:
    return compile_python(check(formula, CATALOG, REGISTRY, "sales_order")).__jxc_source__  # type: ignore


@pytest.mark.parametrize("payload", PAYLOADS)
def test_user_text_never_reaches_the_generated_source(payload):
    for template in ("{s} & qty", 'IF(qty > 1, {s}, "x")', "SWITCH(remark, {s}, 1, 2)", "CONTAINS({s}, remark)",
                     "{s} IN (remark, {s})", "remark IN ({s}, {s})", "COALESCE(remark, {s})", "TEXT(order_date, {s})",
                     "CONCAT({s}, 1)", "LEN({s})"):
        source = source_of(template.format(s=quoted(payload)))
        harmless = source_of(template.format(s=quoted("harmless")))
        # The source does not depend on the text at all: it is the same as for a harmless word.
        assert source == harmless, template
        assert repr(payload) not in source
        if len(payload.strip()) > 2 and payload.strip() not in harmless:  # (r0['qty'] is the compiler's own)
            assert payload.strip() not in source, (template, source)
    assert run(quoted(payload) + " & qty") == payload + "10"
    assert run(f"IF(qty > 1, {quoted(payload)})") == payload


def test_generated_source_holds_no_literal_text_at_all():
    source = source_of('IF(remark = "secret-Ω", "ans-Ω", LEFT("text-Ω", 2)) & "Ω"')
    assert "Ω" not in source and "secret" not in source


# --- property: a checked formula runs to a value or a FormulaRuntimeError --------------------------------------

TOKENS = [
    "qty", "price", "discount", "remark", "approved", "urgent", "order_date", "due_date", "created_at", "customer",
    "customer.credit_limit", "customer.region.name", "lines", "lines.amount", "lines.qty", "lines.expiry", "{数量}",
    "1", "0", "2.5", "-", "3", '"a"', '""', "TRUE", "FALSE", "BLANK()", "TODAY()", "NOW()", "(", ")", ",", "+", "*",
    "/", "^", "&", "%", "=", "<>", "<", ">=", "AND", "OR", "NOT", "IN", "SUM(", "COUNT(", "AVG(", "MIN(", "MAX(",
    "IF(", "IFS(", "SWITCH(", "COALESCE(", "ROUND(", "ROUNDUP(", "MOD(", "POWER(", "LEFT(", "MID(", "TEXT(", "TRIM(",
    "DATE(", "DATEADD(", "EDATE(", "WEEKDAY(", "DAYS_BETWEEN(", "ISBLANK(", "CONCAT(", "LEN(", "ABS(", '"0.00"',
    '"yyyy-mm-dd"', '"month"',
]
RESULT_TYPES = (type(None), bool, int, D, str, dt.date, dt.datetime, dict)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join), st.booleans())
def test_checked_formulas_run_to_a_value_or_a_runtime_error(text, blanks):
    try:
        function = compile_python(check(text, CATALOG, REGISTRY, "sales_order"))
    except FormulaError:
        return
    record = {name: None for name in ORDER} if blanks else ORDER
    try:
        value = function(record, CONTEXT)
    except FormulaRuntimeError:
        return
    assert isinstance(value, RESULT_TYPES)
    assert not isinstance(value, float)


def test_an_id_is_found_among_linked_records_whether_they_are_ids_or_records():
    """`id IN CURRENT_USER().warehouses`: the list may hold ids or fetched records; either way by id."""
    for regions in ([3, 7], [{"id": 3, "name": "East"}, {"id": 7, "name": "West"}]):
        assert run("qty IN regions", {**ORDER, "qty": 7, "regions": regions}) is True
        assert run("qty IN regions", {**ORDER, "qty": 5, "regions": regions}) is False
        assert run("qty NOT IN regions", {**ORDER, "qty": 5, "regions": regions}) is True
    assert run("qty IN regions", {**ORDER, "qty": 7, "regions": []}) is False
