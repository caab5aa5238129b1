"""Formulas compiled to SQL, on SQLite and PostgreSQL: filters, values, errors, and what cannot run in SQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.engine import Engine

from dsl.formula import types as t
from dsl.formula.catalog import Catalog, EntityInfo, FieldInfo
from dsl.formula.checker import check
from dsl.formula.context import SimpleContext
from dsl.formula.errors import FormulaRuntimeError
from dsl.formula.functions import TEXT as TEXT_PARAM
from dsl.formula.functions import FunctionSpec, Param, builtin_registry
from dsl.formula.pycompile import compile_python
from dsl.formula.sqlcompile import NoSqlForm, SqlCompiler, sql_form_missing
from dsl.formula.sqlsupport import translate_database_error
from dsl.sqltypes import ExactDecimal
from engine.web.i18n import load as load_languages

CLOCK = dt.datetime(2026, 11, 25, 9, 30)
I18N = load_languages()  # the web layer's catalogs: what a formula error reads as on a page
CONTEXT = SimpleContext(now=CLOCK)

METADATA = MetaData()
REGION = Table("region", METADATA, Column("id", BigInteger, primary_key=True), Column("name", String))
CUSTOMER = Table("customer", METADATA,
                 Column("id", BigInteger, primary_key=True),
                 Column("name", String),
                 Column("credit_limit", ExactDecimal(18, 2)),
                 Column("region", BigInteger, ForeignKey("region.id")))
ORDER = Table("so", METADATA,
              Column("id", BigInteger, primary_key=True),
              Column("price", ExactDecimal(18, 2)),
              Column("qty", ExactDecimal(18, 3)),
              Column("count", BigInteger),
              Column("note", String),
              Column("urgent", Boolean),
              Column("due", Date),
              Column("customer", BigInteger, ForeignKey("customer.id")),
              Index("so_price", "price"))
LINES = Table("so_lines", METADATA,
              Column("id", BigInteger, primary_key=True),
              Column("parent_id", BigInteger, ForeignKey("so.id")),
              Column("amount", ExactDecimal(18, 2)),
              Column("qty", BigInteger))
TABLES = {table.name: table for table in (REGION, CUSTOMER, ORDER, LINES)}

CATALOG = Catalog.build([
    EntityInfo.build("region", [FieldInfo("name", t.TEXT)]),
    EntityInfo.build("customer", [FieldInfo("name", t.TEXT), FieldInfo("credit_limit", t.DECIMAL, scale=2),
                                  FieldInfo("region", t.record("region"))]),
    EntityInfo.build("so", [
        FieldInfo("price", t.DECIMAL, ("单价",), 2), FieldInfo("qty", t.DECIMAL, ("数量",), 3),
        FieldInfo("count", t.INT), FieldInfo("note", t.TEXT), FieldInfo("urgent", t.BOOL),
        FieldInfo("due", t.DATE), FieldInfo("customer", t.record("customer")),
        FieldInfo("lines", t.rows("so_lines"), ("明细",))]),
    EntityInfo.build("so_lines", [FieldInfo("amount", t.DECIMAL, scale=2), FieldInfo("qty", t.INT)], parent="so"),
])


def _stock(context: Any, item: str) -> Decimal:  # pragma: no cover - only its SQL form is in question
    return Decimal(0)


STOCK = FunctionSpec("STOCK", (Param("item", TEXT_PARAM),), t.DECIMAL, _stock, "Stock on hand.", 'STOCK("A")',
                     needs_context=True, plugin="stock")
REGISTRY = builtin_registry().with_functions([STOCK])


class Tables:
    def table(self, entity: str) -> Table:
        return TABLES[entity]


REGIONS = [{"id": 1, "name": "华东"}, {"id": 2, "name": "华北"}]
CUSTOMERS = [
    {"id": 1, "name": "ACME", "credit_limit": Decimal("1000.00"), "region": 1},
    {"id": 2, "name": "Bolt", "credit_limit": Decimal("50.00"), "region": 2},
]
ORDERS = [
    {"id": 1, "price": Decimal("12.50"), "qty": Decimal("2.000"), "count": 4, "note": "rush", "urgent": True,
     "due": dt.date(2026, 11, 30), "customer": 1},
    {"id": 2, "price": Decimal("12.35"), "qty": Decimal("0.125"), "count": 0, "note": "", "urgent": False,
     "due": dt.date(2027, 1, 15), "customer": 2},
    {"id": 3, "price": None, "qty": None, "count": None, "note": None, "urgent": None, "due": None,
     "customer": None},
    {"id": 4, "price": Decimal("-1.50"), "qty": Decimal("1.500"), "count": 3, "note": "Rush", "urgent": True,
     "due": dt.date(2026, 11, 25), "customer": 1},
]
LINE_ROWS = [
    {"id": 1, "parent_id": 1, "amount": Decimal("10.50"), "qty": 2},
    {"id": 2, "parent_id": 1, "amount": Decimal("1.25"), "qty": 0},
    {"id": 3, "parent_id": 1, "amount": None, "qty": 5},
    {"id": 4, "parent_id": 2, "amount": Decimal("99.99"), "qty": 1},
    {"id": 5, "parent_id": 4, "amount": Decimal("0.01"), "qty": 7},
]


@pytest.fixture
def db(db_engine: Engine) -> Engine:
    METADATA.create_all(db_engine)
    with db_engine.begin() as connection:
        connection.execute(REGION.insert(), REGIONS)
        connection.execute(CUSTOMER.insert(), CUSTOMERS)
        connection.execute(ORDER.insert(), ORDERS)
        connection.execute(LINES.insert(), LINE_ROWS)
    return db_engine


def _compiler(engine: Engine, context: Any = CONTEXT) -> SqlCompiler:
    return SqlCompiler(Tables(), engine.dialect.name, context)


def _checked(source: str):
    return check(source, CATALOG, REGISTRY, "so")


def select_ids(engine: Engine, source: str) -> list[int]:
    """The ids of the orders a formula selects as a filter."""
    condition = _compiler(engine).condition(_checked(source), ORDER)
    with engine.connect() as connection:
        return list(connection.execute(select(ORDER.c.id).where(condition).order_by(ORDER.c.id)).scalars())


def value_of(engine: Engine, source: str, order_id: int, context: Any = CONTEXT) -> Any:
    value = _compiler(engine, context).value(_checked(source), ORDER)
    with engine.connect() as connection:
        return connection.execute(select(value).where(ORDER.c.id == order_id)).scalar_one()


def sql_error(engine: Engine, statement: Any) -> FormulaRuntimeError:
    with pytest.raises(sqlalchemy.exc.DBAPIError) as raised, engine.connect() as connection:
        connection.execute(statement).all()
    translated = translate_database_error(raised.value)
    assert translated is not None, f"not a formula error: {raised.value}"
    return translated


# --- filters ----------------------------------------------------------------------------------------------


@pytest.mark.both_dbs
@pytest.mark.parametrize(("source", "ids"), [
    ("price > 12.4", [1]),
    ("price >= 12.35", [1, 2]),
    ("price > 12.345", [1, 2]),  # more decimals than the column holds
    ("price < 12.355", [2, 4]),
    ("price = 12.5", [1]),
    ("price = 12.500", [1]),
    ("12.5 = price", [1]),
    ("price < -1.499", [4]),
    ("price = -1.5", [4]),
    ("price <> 12.5", [2, 4]),
    ("price > 12", [1, 2]),
    ("price IN (12.5, -1.5)", [1, 4]),
    ("qty > price / 10", [1, 4]),
    ("qty * price > 20", [1]),
    ("{数量} >= 1.5", [1, 4]),
    ("qty = 0.125", [2]),
    ("qty = 1.5 AND price < 0", [4]),
    ("qty < price", [1, 2]),  # two columns of different scales
    ("price * 1 > qty * 10", [2]),
])
def test_decimal_filters_select_the_right_rows(db: Engine, source: str, ids: list[int]) -> None:
    assert select_ids(db, source) == ids


@pytest.mark.both_dbs
@pytest.mark.parametrize("source", ["price > 12.4", "price >= 12", "price = -1.5", "price < 12.345678",
                                    "12.3456 <= price"])
def test_decimal_comparisons_with_constants_can_use_an_index(db: Engine, source: str) -> None:
    """On SQLite a decimal column is a scaled integer; comparing it with a constant of any scale compares the
    column itself, so the index on it serves the filter (as it does on PostgreSQL's NUMERIC)."""
    condition = _compiler(db).condition(_checked(source), ORDER)
    compiled = select(ORDER.c.id).where(condition).compile(db, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN QUERY PLAN" if db.dialect.name == "sqlite" else "EXPLAIN"
    with db.connect() as connection:
        if db.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")  # four rows: a scan would always win
        plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(f"{explain} {compiled}"))
    assert "so_price" in plan, plan


@pytest.mark.both_dbs
@pytest.mark.parametrize(("source", "ids"), [
    ("SUM(lines.amount) > 10", [1, 2]),
    ("SUM(lines.amount, lines.qty > 1) > 10", [1]),
    ("SUM(lines.amount, lines.qty > 1) = 0", [2, 3]),  # no line passes: SUM is 0, not blank
    ("COUNT(lines) = 0", [3]),
    ("COUNT(lines, lines.qty >= count) >= 1", [1, 2, 4]),
    ("COUNT(lines.amount) = 2", [1]),
    ("ISBLANK(AVG(lines.amount))", [3]),
    ("MAX(lines.qty) > count", [1, 2, 4]),
    ("SUM({明细}.amount * lines.qty) > 20", [1, 2]),
])
def test_aggregates_over_lines_in_filters(db: Engine, source: str, ids: list[int]) -> None:
    assert select_ids(db, source) == ids


@pytest.mark.both_dbs
@pytest.mark.parametrize(("source", "order_id", "expected"), [
    ("SUM(lines.amount, lines.qty > 1)", 1, Decimal("10.50")),
    ("SUM(lines.amount, lines.qty > 100)", 1, Decimal(0)),
    ("AVG(lines.amount)", 1, Decimal("5.875")),
    ("AVG(lines.amount)", 3, None),
    ("MIN(lines.qty, lines.amount > 2)", 1, 2),
    ("COUNT(lines, ISBLANK(lines.amount))", 1, 1),
])
def test_aggregate_values(db: Engine, source: str, order_id: int, expected: Any) -> None:
    assert value_of(db, source, order_id) == expected


@pytest.mark.both_dbs
def test_links_two_hops_deep(db: Engine) -> None:
    # Each order must see its own customer's region (a subquery correlated with the wrong table would
    # return several rows on PostgreSQL, and on SQLite silently the first one).
    assert select_ids(db, 'customer.region.name = "华东"') == [1, 4]
    assert select_ids(db, 'customer.region.name = "华北"') == [2]
    assert value_of(db, "customer.region.name", 2) == "华北"
    assert value_of(db, "customer.region.name", 3) is None
    assert select_ids(db, "COUNT(lines, customer.credit_limit > lines.amount) > 0") == [1, 4]


@pytest.mark.both_dbs
def test_in_a_list_of_one_linked_value(db: Engine) -> None:
    # `x IN ((SELECT …))` would be IN over the subquery's rows: TRUE for NOT IN when the link is blank.
    assert value_of(db, '"ACME" NOT IN (customer.name)', 1) is False
    assert value_of(db, '"ACME" NOT IN (customer.name)', 2) is True
    assert value_of(db, '"ACME" NOT IN (customer.name)', 3) is None
    assert select_ids(db, '"ACME" IN (customer.name)') == [1, 4]


@pytest.mark.both_dbs
@pytest.mark.parametrize(("source", "ids"), [
    ("price > 0", [1, 2]),
    ("NOT (price > 0)", [4]),  # blank > 0 is unknown, and so is NOT unknown
    ("price <> 12.5", [2, 4]),
    ("ISBLANK(price)", [3]),
    ("ISBLANK(note)", [3]),  # as in Excel, an empty text is not blank
    ("price > 0 OR urgent", [1, 2, 4]),
    ("urgent OR price > 0", [1, 2, 4]),
    ("NOT urgent", [2]),
    ("ISBLANK(NOT urgent)", [3]),  # not NOT ISBLANK(urgent)
    ("IF(price > 0, TRUE, NOT urgent)", [1, 2]),  # a blank condition takes the else branch
    ("COALESCE(urgent, TRUE)", [1, 3, 4]),
    ("count IN (0, 3)", [2, 4]),
    ("count NOT IN (0, 3)", [1]),
    ("note = \"rush\"", [1]),  # text compares case-sensitively
    ("note < \"r\"", [2, 4]),  # by code point: "R" < "r"
    ("CONTAINS(note, \"us\")", [1, 4]),
    ("due <= TODAY() + 5", [1, 4]),
])
def test_blank_semantics_in_filters(db: Engine, source: str, ids: list[int]) -> None:
    assert select_ids(db, source) == ids
    # ... and the filter selects exactly the records whose formula is TRUE in Python.
    formula = compile_python(_checked(source))
    customers = {c["id"]: {**c, "region": next((r for r in REGIONS if r["id"] == c["region"]), None)}
                 for c in CUSTOMERS}
    records = [{**o, "customer": customers.get(o["customer"]),
                "lines": [line for line in LINE_ROWS if line["parent_id"] == o["id"]]} for o in ORDERS]
    assert [r["id"] for r in records if formula(r, CONTEXT) is True] == ids


# --- errors -----------------------------------------------------------------------------------------------


@pytest.mark.both_dbs
@pytest.mark.parametrize(("source", "message", "chinese"), [
    ("qty / count > 1", "division by zero", "除数为零"),
    ("MOD(count, count - count) = 0", "division by zero", "除数为零"),
    ("LEFT(note, count - 5) = \"\"", "LEFT: the number of characters cannot be negative", "LEFT：字符数不能为负数"),
    ('DATEADD(due, 1, "days") > due', "DATEADD: unknown unit 'days'; use one of day, week, month, year",
     "DATEADD：未知的单位“days”；请使用以下之一：day, week, month, year"),
    ("DATE(10000, 1, count) > due", "DATE: the year must be between 0 and 9999", "DATE：年份必须在 0 到 9999 之间"),
    ("due + count * 10000000 > due", "the date is out of range", "日期超出范围"),
    ("count * 3037000500 * 3037000500 > 0", "a whole number is too large (more than 18 digits)",
     "整数太大（超过 18 位）"),
])
def test_errors_in_sql_become_formula_errors(db: Engine, source: str, message: str, chinese: str) -> None:
    condition = _compiler(db).condition(_checked(source), ORDER)
    error = sql_error(db, select(ORDER.c.id).where(condition))
    assert error.message == message
    assert I18N.message("zh_CN", error.message) == chinese  # a page in Chinese says it in Chinese, either database


@pytest.mark.both_dbs
def test_a_guard_protects_what_follows_it(db: Engine) -> None:
    assert select_ids(db, "count <> 0 AND qty / count > 0.1") == [1, 4]
    assert select_ids(db, "count = 0 OR qty / count > 0.4") == [1, 2, 4]
    assert select_ids(db, "IF(count = 0, FALSE, qty / count > 0.4)") == [1, 4]
    assert value_of(db, "IF(count = 0, BLANK(), qty / count)", 2) is None


@pytest.mark.both_dbs
def test_blank_arguments_give_blank_rather_than_errors(db: Engine) -> None:
    # As in Python: a blank argument makes the result blank before the function could fail.
    assert value_of(db, "qty / (count - count)", 3) is None
    assert value_of(db, "MOD(price, 0)", 3) is None
    assert value_of(db, "LEFT(note, -1)", 3) is None
    assert value_of(db, 'DATEADD(due, 1, "fortnight")', 3) is None


# --- what cannot run in SQL -------------------------------------------------------------------------------


@pytest.mark.both_dbs
def test_text_formats_only_on_sqlite(db: Engine) -> None:
    expr = _checked('TEXT(price, "#,##0.00")')
    if db.dialect.name == "postgresql":
        assert sql_form_missing(expr, "postgresql") == "TEXT has no SQL form for PostgreSQL"
        with pytest.raises(NoSqlForm, match="TEXT"):
            _compiler(db).value(expr, ORDER)
    else:
        assert sql_form_missing(expr, "sqlite") is None  # SQLite runs the Python function itself
        assert value_of(db, 'TEXT(price, "#,##0.00")', 1) == "12.50"


@pytest.mark.both_dbs
def test_functions_that_need_the_running_system_have_no_sql_form(db: Engine) -> None:
    expr = _checked('STOCK(note) > 0')
    reason = sql_form_missing(expr, db.dialect.name)
    assert reason is not None and "STOCK" in reason
    with pytest.raises(NoSqlForm, match="STOCK"):
        _compiler(db).condition(expr, ORDER)
    assert sql_form_missing(_checked("price > 0 AND TODAY() > due"), db.dialect.name) is None


@pytest.mark.both_dbs
def test_power_with_a_variable_exponent_is_refused_on_postgresql(db: Engine) -> None:
    expr = _checked("price ^ count")
    reason = sql_form_missing(expr, db.dialect.name)
    if db.dialect.name == "postgresql":
        assert reason is not None and "POWER" in reason
    else:
        assert reason is None
        assert value_of(db, "price ^ count", 1) == Decimal("24414.0625")
    assert value_of(db, "price ^ 2", 4) == Decimal("2.25")


# --- the clock ----------------------------------------------------------------------------------------


class MovingClock:
    def __init__(self, now: dt.datetime) -> None:
        self.moment = now

    def now(self) -> dt.datetime:
        return self.moment

    def today(self) -> dt.date:
        return self.moment.date()

    def fetch(self, entity: str, key: Any) -> None:  # pragma: no cover - not used in SQL
        return None


@pytest.mark.both_dbs
def test_today_and_now_come_from_the_context_when_the_query_runs(db: Engine) -> None:
    clock = MovingClock(CLOCK)
    compiler = _compiler(db, clock)
    days = compiler.value(_checked("DAYS_BETWEEN(TODAY(), due)"), ORDER)
    overdue = compiler.condition(_checked("due < TODAY()"), ORDER)
    stamp = compiler.value(_checked("NOW()"), None)
    with db.connect() as connection:
        assert connection.execute(select(days).where(ORDER.c.id == 1)).scalar_one() == 5
        assert connection.execute(select(stamp)).scalar_one() == CLOCK
        assert connection.execute(select(ORDER.c.id).where(overdue)).scalars().all() == []
        clock.moment = dt.datetime(2026, 12, 1, 8, 0)  # the same compiled statements, a day later
        assert connection.execute(select(days).where(ORDER.c.id == 1)).scalar_one() == -1
        assert connection.execute(select(stamp)).scalar_one() == dt.datetime(2026, 12, 1, 8, 0)
        assert connection.execute(select(ORDER.c.id).where(overdue).order_by(ORDER.c.id)).scalars().all() == [1, 4]


# --- values read back exactly ------------------------------------------------------------------------


@pytest.mark.both_dbs
@pytest.mark.parametrize(("source", "expected"), [
    ("qty * price", Decimal("25")),
    ("price / 3", Decimal("4.1666666667")),
    ("ROUND(price / 3, 2)", Decimal("4.17")),
    ("ROUND(2.5)", 3),
    ("ROUND(-2.5)", -3),
    ("ROUNDUP(-1.21, 1)", Decimal("-1.3")),
    ("ROUNDDOWN(qty * price, -1)", 20),
    ("ROUNDDOWN(qty * price, 1)", Decimal("25")),
    ("MOD(-3, 2)", 1),
    ("MOD(3.5, -2)", Decimal("-0.5")),
    ("-2 ^ 2", 4),
    ("1.1 ^ 5", Decimal("1.61051")),
    ("2 ^ -2", Decimal("0.25")),
    ("13%", Decimal("0.13")),
    ('price & "/" & qty & "/" & urgent & "/" & due', "12.5/2/TRUE/2026-11-30"),
    ('CONCAT("PO-", count, BLANK())', "PO-4"),
    ('RIGHT("0000", 5)', "0000"),
    ("DATE(2026, 13, 0)", dt.date(2026, 12, 31)),
    ('DATEADD(DATE(2026, 1, 31), 1, "month")', dt.date(2026, 2, 28)),
    ("EDATE(due, -11)", dt.date(2025, 12, 30)),
    ("due + 1.9", dt.date(2026, 12, 1)),
    ("due - 1.9", dt.date(2026, 11, 29)),
    ("WEEKDAY(due, 2)", 1),
    ('IF(urgent, due, NOW()) & ""', "2026-11-30 00:00:00"),  # a date where a date and time is expected
    ("due IN (NOW(), DATE(2026, 11, 30))", True),
])
def test_values_read_back_as_exact_python_values(db: Engine, source: str, expected: Any) -> None:
    got = value_of(db, source, 1)
    assert (got == expected and type(got) is type(expected)) or (
        isinstance(expected, int) and isinstance(got, Decimal) and got == expected), (got, expected)
    assert not isinstance(got, float)
    assert compile_python(_checked(source))(
        {**ORDERS[0], "customer": None, "lines": []}, CONTEXT) == expected


# --- ExactDecimal -------------------------------------------------------------------------------------------

NUMBERS = Table("numbers", MetaData(), Column("id", BigInteger, primary_key=True),
                Column("small", ExactDecimal(6, 3)), Column("big", ExactDecimal(18, 0)))


@pytest.mark.both_dbs
@pytest.mark.parametrize(("stored", "column", "read"), [
    (Decimal("123.456"), "small", Decimal("123.456")),
    (Decimal("-0.0005"), "small", Decimal("-0.001")),  # rounded half away from zero to the scale
    (Decimal("0.0004"), "small", Decimal("0.000")),
    (Decimal("999.9994"), "small", Decimal("999.999")),
    (7, "small", Decimal("7.000")),
    (Decimal("999999999999999999"), "big", Decimal("999999999999999999")),
    (Decimal("-999999999999999999"), "big", Decimal("-999999999999999999")),
    (None, "small", None),
])
def test_exact_decimal_round_trip(db_engine: Engine, stored: Any, column: str, read: Any) -> None:
    NUMBERS.metadata.create_all(db_engine)
    with db_engine.begin() as connection:
        connection.execute(NUMBERS.insert(), {"id": 1, column: stored})
        got = connection.execute(select(NUMBERS.c[column])).scalar_one()
    assert got == read
    if read is not None:
        assert isinstance(got, Decimal) and got.as_tuple().exponent == read.as_tuple().exponent


@pytest.mark.both_dbs
@pytest.mark.parametrize(("stored", "column", "error", "message"), [
    (1.5, "small", TypeError, "never float"),
    (Decimal("1000"), "small", ValueError, "more than 3 digits before the decimal point"),
    (Decimal("999.9995"), "small", ValueError, "more than 3 digits"),  # rounds up to 1000.000
    (Decimal("1E+18"), "big", ValueError, "more than 18 digits"),
])
def test_exact_decimal_refuses_floats_and_too_many_digits(db_engine: Engine, stored: Any, column: str,
                                                          error: type[Exception], message: str) -> None:
    NUMBERS.metadata.create_all(db_engine)
    with pytest.raises(sqlalchemy.exc.StatementError) as raised, db_engine.begin() as connection:
        connection.execute(NUMBERS.insert(), {"id": 1, column: stored})
    assert isinstance(raised.value.orig, error) and message in str(raised.value.orig)
    with db_engine.connect() as connection:
        assert connection.execute(select(NUMBERS.c.id)).all() == []


def test_exact_decimal_precision_is_limited_to_what_sqlite_holds() -> None:
    with pytest.raises(ValueError, match="at most 18"):
        ExactDecimal(19, 2)
    with pytest.raises(ValueError, match="at least its scale"):
        ExactDecimal(4, 5)
