"""Property test: a formula gives the same result in Python, in SQLite and in PostgreSQL.

Hypothesis writes well-typed formula text over a small fixed catalog (a sales order with decimals of several
scales, an int, text, a flag, a date, a date and time, a link to a customer that links to a region, and a
table of lines) and one or two random orders, stores them in both databases (one SQLite file and one
PostgreSQL schema for the whole module, refilled per example), and checks that the Python compiler and the
SQL compiler on each database agree for every order: equal values (numbers compared numerically, dates,
text, TRUE/FALSE, blank), or a FormulaRuntimeError everywhere; and, for conditions, that a WHERE selects
exactly the orders whose value is TRUE. A formula that a database cannot run must be refused when it is
compiled (`sql_form_missing`), never give a different answer; the generator only writes formulas that run.

Two limits are accepted, and reported as hypothesis events, because the three cannot agree today:
- a whole number beyond 64 bits: both databases stop with "a whole number is too large", Python computes
  it exactly (until Python checks whole-number results too);
- a decimal needing 60 significant digits or more: Python (and so SQLite) rounds it, PostgreSQL does not.
Both are accepted only when Python confirms such a number inside the formula.

FORMULA_EXAMPLES=2000 runs a longer search.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, ForeignKey, MetaData, String, Table, select
from sqlalchemy.engine import Engine

from dsl.formula import ir
from dsl.formula import runtime as rt
from dsl.formula import types as t
from dsl.formula.catalog import Catalog, EntityInfo, FieldInfo
from dsl.formula.checker import check
from dsl.formula.context import SimpleContext
from dsl.formula.errors import FormulaRuntimeError
from dsl.formula.functions import builtin_registry
from dsl.formula.pycompile import compile_python
from dsl.formula.sqlcompile import SqlCompiler, sql_form_missing
from dsl.formula.sqlsupport import translate_database_error
from dsl.sqltypes import ExactDecimal
from engine.db import create_engine, prepare_database

PG_URL = os.environ.get("JXC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CLOCK = dt.datetime(2026, 11, 25, 9, 30, 15)
CONTEXT = SimpleContext(now=CLOCK)
REGISTRY = builtin_registry()

# --- the catalog and its tables -------------------------------------------------------------------------

METADATA = MetaData()
REGION = Table("region", METADATA,
               Column("id", BigInteger, primary_key=True),
               Column("name", String),
               Column("rate", ExactDecimal(10, 4)))
CUSTOMER = Table("customer", METADATA,
                 Column("id", BigInteger, primary_key=True),
                 Column("name", String),
                 Column("credit_limit", ExactDecimal(18, 2)),
                 Column("level", BigInteger),
                 Column("active", Boolean),
                 Column("since", Date),
                 Column("region", BigInteger, ForeignKey("region.id")))
ORDER = Table("so", METADATA,
              Column("id", BigInteger, primary_key=True),
              Column("qty", ExactDecimal(18, 3)),
              Column("price", ExactDecimal(18, 2)),
              Column("rate", ExactDecimal(12, 6)),
              Column("total", ExactDecimal(18, 0)),
              Column("count", BigInteger),
              Column("note", String),
              Column("code", String),
              Column("flag", Boolean),
              Column("due", Date),
              Column("stamp", DateTime),
              Column("customer", BigInteger, ForeignKey("customer.id")))
LINES = Table("so_lines", METADATA,
              Column("id", BigInteger, primary_key=True),
              Column("parent_id", BigInteger, ForeignKey("so.id")),
              Column("amount", ExactDecimal(18, 2)),
              Column("unit_price", ExactDecimal(18, 4)),
              Column("qty", BigInteger),
              Column("sku", String),
              Column("ship", Date),
              Column("ok", Boolean))
TABLES = {"region": REGION, "customer": CUSTOMER, "so": ORDER, "so_lines": LINES}


class Tables:
    def table(self, entity: str) -> Table:
        return TABLES[entity]


def _decimal_field(name: str, scale: int, *labels: str) -> FieldInfo:
    return FieldInfo(name, t.DECIMAL, labels, scale)


CATALOG = Catalog.build([
    EntityInfo.build("region", [FieldInfo("name", t.TEXT), _decimal_field("rate", 4)]),
    EntityInfo.build("customer", [
        FieldInfo("name", t.TEXT), _decimal_field("credit_limit", 2, "信用额度"), FieldInfo("level", t.INT),
        FieldInfo("active", t.BOOL), FieldInfo("since", t.DATE), FieldInfo("region", t.record("region"))]),
    EntityInfo.build("so", [
        _decimal_field("qty", 3, "数量"), _decimal_field("price", 2, "单价"), _decimal_field("rate", 6),
        _decimal_field("total", 0), FieldInfo("count", t.INT), FieldInfo("note", t.TEXT), FieldInfo("code", t.TEXT),
        FieldInfo("flag", t.BOOL), FieldInfo("due", t.DATE), FieldInfo("stamp", t.DATETIME),
        FieldInfo("customer", t.record("customer")), FieldInfo("lines", t.rows("so_lines"), ("明细",))]),
    EntityInfo.build("so_lines", [
        _decimal_field("amount", 2), _decimal_field("unit_price", 4), FieldInfo("qty", t.INT),
        FieldInfo("sku", t.TEXT), FieldInfo("ship", t.DATE), FieldInfo("ok", t.BOOL)], parent="so"),
])


@dataclass
class Databases:
    engines: dict[str, Engine]


@pytest.fixture(scope="module")
def databases(tmp_path_factory) -> Iterator[Databases]:
    """One SQLite file and one fresh PostgreSQL schema with the tables, shared by every example."""
    sqlite = create_engine(f"sqlite:///{tmp_path_factory.mktemp('formula_property') / 'p.sqlite'}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_URL)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sqlalchemy.exc.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL} (set JXC_TEST_PG_URL): {error.orig}")
    postgres = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        prepare_database(postgres)
        for engine in (sqlite, postgres):
            METADATA.create_all(engine)
        yield Databases({"sqlite": sqlite, "postgresql": postgres})
    finally:
        sqlite.dispose()
        postgres.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


# --- formulas -------------------------------------------------------------------------------------------

# Text as users type it: ASCII letters, digits and spaces, some Chinese, a few accented letters, and the
# characters that trip up naive SQL (quotes, %, _).
ALPHABET = "abcxyzABCXYZ019   螺丝钉钢管仓库éüñÉß-_%'\""
TEXT_VALUES = st.text(st.sampled_from(ALPHABET), max_size=8)

INT, DEC, TEXT, BOOL, DATE, DATETIME = "int", "dec", "text", "bool", "date", "datetime"
NUMBERS = (INT, DEC)
SCALARS = (INT, DEC, TEXT, BOOL, DATE, DATETIME)

# Fields by kind: of the order (anywhere) and of the current line (only inside an aggregate over lines).
ORDER_FIELDS = {
    INT: ["count", "customer.level"],
    DEC: ["qty", "price", "rate", "total", "{数量}", "customer.credit_limit", "customer.{信用额度}",
          "customer.region.rate"],
    TEXT: ["note", "code", "customer.name", "customer.region.name"],
    BOOL: ["flag", "customer.active"],
    DATE: ["due", "customer.since"],
    DATETIME: ["stamp"],
}
LINE_FIELDS = {
    INT: ["lines.qty"],
    DEC: ["lines.amount", "lines.unit_price", "{明细}.amount"],
    TEXT: ["lines.sku"],
    BOOL: ["lines.ok"],
    DATE: ["lines.ship"],
    DATETIME: [],
}
COMPARISONS = ["=", "<>", "<", "<=", ">", ">="]
DATE_UNITS = ['"day"', '"week"', '"month"', '"year"']


class Writer:
    """Writes one random well-typed formula of a given kind, drawing every choice from hypothesis.

    `depth` bounds the nesting; `row` says whether the current line of an aggregate is in scope.
    """

    def __init__(self, draw: Any) -> None:
        self.draw = draw

    def pick(self, options: list[Any]) -> Any:
        return self.draw(st.sampled_from(options))

    def chance(self, p: float) -> bool:
        return self.draw(st.integers(0, 99)) < p * 100

    # --- literals ---------------------------------------------------------------------------------------

    def int_literal(self) -> str:
        n = self.draw(st.one_of(st.integers(-20, 1000), st.sampled_from([0, 1, -1, 12, 31, 365, 2026, 123456789])))
        return f"({n})" if n < 0 else str(n)

    def dec_literal(self) -> str:
        places = self.draw(st.integers(1, 4))
        value = self.draw(st.decimals(min_value=-10000, max_value=10000, places=places))
        text = format(value, "f")
        return f"({text})" if value < 0 else text

    def text_literal(self) -> str:
        return '"' + self.draw(TEXT_VALUES).replace('"', '""') + '"'

    def date_literal(self) -> str:
        d = self.draw(st.dates(dt.date(1990, 1, 1), dt.date(2060, 12, 31)))
        return f"DATE({d.year}, {d.month}, {d.day})"

    def literal(self, kind: str) -> str:
        match kind:
            case "int":
                return self.int_literal()
            case "dec":
                return self.dec_literal()
            case "text":
                return self.text_literal()
            case "bool":
                return self.pick(["TRUE", "FALSE"])
            case "date":
                return self.pick(["TODAY()", self.date_literal()])
        return "NOW()"

    # --- expressions ---------------------------------------------------------------------------------------

    def of(self, kind: str, depth: int, row: bool = False) -> str:
        if depth <= 0 or self.chance(0.3):
            fields = ORDER_FIELDS[kind] + (LINE_FIELDS[kind] if row else [])
            return self.pick(fields) if self.chance(0.6) else self.literal(kind)
        d = depth - 1
        builders = [self.conditional, self.conditional]
        if kind is not BOOL and not row:  # MIN(lines.x, …) inside an aggregate would be a nested aggregate
            builders.append(self.extreme)
        if not row and kind in (INT, DEC, TEXT, DATE):
            builders += [self.aggregate, self.aggregate]
        builders += {INT: [self.int_op] * 6, DEC: [self.dec_op] * 6, TEXT: [self.text_op] * 5,
                     BOOL: [self.bool_op] * 6, DATE: [self.date_op] * 4, DATETIME: [self.datetime_op]}[kind]
        return self.pick(builders)(kind, d, row)

    def number(self, depth: int, row: bool = False) -> str:
        return self.of(self.pick([INT, DEC]), depth, row)

    def scalar(self, depth: int, row: bool = False) -> str:
        """A value of any kind, now and then one that is always blank (BLANK(), IF(c, BLANK())...)."""
        if self.chance(0.05):
            return self.pick(["BLANK()", f"IF({self.of(BOOL, 0, row)}, BLANK())", "COALESCE(BLANK(), BLANK())"])
        return self.of(self.pick(list(SCALARS)), depth, row)

    def datelike(self, depth: int, row: bool = False) -> str:
        return self.of(self.pick([DATE, DATE, DATETIME]), depth, row)

    def count(self, d: int, row: bool) -> str:
        """A character count: mostly small, sometimes any number (negative ones are errors)."""
        return str(self.draw(st.integers(0, 6))) if self.chance(0.7) else self.number(d, row)

    # --- special forms ---------------------------------------------------------------------------------

    def conditional(self, kind: str, d: int, row: bool) -> str:
        """IF, IFS, SWITCH or COALESCE; one of the values has the kind, the others may be BLANK()."""
        typed = self.of(kind, d, row)

        def value() -> str:
            if kind == DATETIME and self.chance(0.4):
                return self.of(DATE, d, row)  # a date where a date and time is expected: its 00:00
            return "BLANK()" if self.chance(0.15) else self.of(kind, d, row)

        form = self.pick(["IF", "IF2", "IFS", "SWITCH", "COALESCE"])
        if form == "IF":
            branches = self.pick([[typed, value()], [value(), typed]])
            return f"IF({self.of(BOOL, d, row)}, {branches[0]}, {branches[1]})"
        if form == "IF2":
            return f"IF({self.of(BOOL, d, row)}, {typed})"
        if form == "IFS":
            values = [typed, *(value() for _ in range(self.draw(st.integers(0, 2))))]
            return "IFS(" + ", ".join(f"{self.of(BOOL, d, row)}, {v}" for v in self.draw(st.permutations(values))) + ")"
        if form == "SWITCH":
            subject = self.pick([INT, DEC, TEXT, DATE])
            parts = [self.of(subject, d, row)]
            for index in range(self.draw(st.integers(1, 3))):
                parts += [self.of(subject, 0, row), typed if index == 0 else value()]
            if self.chance(0.5):
                parts.append(value())
            return f"SWITCH({', '.join(parts)})"
        args = [typed, *(value() for _ in range(self.draw(st.integers(0, 2))))]
        return f"COALESCE({', '.join(self.draw(st.permutations(args)))})"

    def extreme(self, kind: str, d: int, row: bool) -> str:
        args = [self.of(kind, d, row)]
        for _ in range(self.draw(st.integers(0, 2))):
            args.append(self.number(d, row) if kind == DEC else self.of(kind, d, row))
        return f"{self.pick(['MIN', 'MAX'])}({', '.join(args)})"

    def line_value(self, kind: str) -> str:
        """A value per line that names the line (so that the aggregate knows its table)."""
        field = self.pick(LINE_FIELDS[kind])
        if kind in NUMBERS and self.chance(0.4):
            return f"({field} {self.pick(['+', '-', '*'])} {self.number(1, row=True)})"
        return field

    def aggregate(self, kind: str, d: int, row: bool) -> str:
        condition = f", {self.of(BOOL, 1, row=True)}" if self.chance(0.5) else ""
        if kind == INT:
            name = self.pick(["SUM", "COUNT", "COUNT", "MIN", "MAX"])
            if name == "COUNT":
                value = self.pick(["lines", "lines", "lines.amount", "lines.sku", "lines.ship"])
            else:
                value = self.line_value(INT)
        elif kind == DEC:
            name = self.pick(["SUM", "AVG", "MIN", "MAX"])
            value = self.line_value(self.pick([INT, DEC]) if name == "AVG" else DEC)
        else:
            name = self.pick(["MIN", "MAX"])
            value = self.line_value(kind)
        return f"{name}({value}{condition})"

    # --- operators and functions by kind ---------------------------------------------------------------

    def int_op(self, kind: str, d: int, row: bool) -> str:
        ints = lambda: self.of(INT, d, row)  # noqa: E731
        form = self.draw(st.integers(0, 14))
        match form:
            case 0 | 1:
                return f"({ints()} {self.pick(['+', '-', '*'])} {ints()})"
            case 2:
                return f"(-{ints()})"
            case 3:
                return f"({ints()} ^ {self.draw(st.integers(0, 3))})"
            case 4:
                name = self.pick(["ROUND", "ROUNDUP", "ROUNDDOWN"])
                return f"{name}({self.number(d, row)}{self.pick(['', ', 0'])})"
            case 5:
                return f"ABS({ints()})"
            case 6:
                return f"MOD({ints()}, {ints()})"
            case 7:
                return f"LEN({self.scalar(d, row)})"
            case 8:
                return f"{self.pick(['YEAR', 'MONTH', 'DAY'])}({self.datelike(d, row)})"
            case 9:
                return f"DAYS_BETWEEN({self.datelike(d, row)}, {self.datelike(d, row)})"
            case 10:
                return f"({self.of(DATE, d, row)} - {self.of(DATE, d, row)})"
            case 11:
                return f"WEEKDAY({self.datelike(d, row)})"
            case 12:
                return f"WEEKDAY({self.datelike(d, row)}, {self.pick(['1', '2', '3', '4', '2.5'])})"
        return f"({ints()} {self.pick(['+', '-', '*'])} {ints()})"

    def dec_op(self, kind: str, d: int, row: bool) -> str:
        decs = lambda: self.of(DEC, d, row)  # noqa: E731
        nums = lambda: self.number(d, row)  # noqa: E731
        form = self.draw(st.integers(0, 10))
        match form:
            case 0:
                return f"({decs()} {self.pick(['+', '-', '*'])} {nums()})"
            case 1:
                return f"({nums()} {self.pick(['+', '-', '*'])} {decs()})"
            case 2 | 3:
                return f"({nums()} / {nums()})"
            case 4:
                return f"(-{decs()})"
            case 5:
                return f"({nums()})%"
            case 6:
                n = self.draw(st.integers(-2, 4))  # a negative exponent divides: 0 ^ -1 is an error
                return f"({decs()} ^ {n})" if n >= 0 else f"({nums()} ^ ({n}))"
            case 7 | 8:
                name = self.pick(["ROUND", "ROUNDUP", "ROUNDDOWN"])
                digits = self.pick(["1", "2", "3", "4", "(-1)", "(-2)", "0.5", "1.9"])
                return f"{name}({nums()}, {digits})"
            case 9:
                return f"ABS({decs()})"
        return self.pick([f"MOD({nums()}, {decs()})", f"MOD({decs()}, {nums()})"])

    def text_op(self, kind: str, d: int, row: bool) -> str:
        scalar = lambda: self.scalar(d, row)  # noqa: E731
        form = self.draw(st.integers(0, 8))
        match form:
            case 0 | 1:
                return f"({scalar()} & {scalar()})"
            case 2:
                return f"CONCAT({', '.join(scalar() for _ in range(self.draw(st.integers(1, 4))))})"
            case 3:
                return self.pick([f"LEFT({scalar()})", f"LEFT({scalar()}, {self.count(d, row)})"])
            case 4:
                return self.pick([f"RIGHT({scalar()})", f"RIGHT({scalar()}, {self.count(d, row)})"])
            case 5:
                start = str(self.draw(st.integers(1, 5))) if self.chance(0.7) else self.number(d, row)
                return f"MID({scalar()}, {start}, {self.count(d, row)})"
            case 6:
                return f"{self.pick(['UPPER', 'LOWER'])}({scalar()})"
        return f"TRIM({scalar()})"

    def bool_op(self, kind: str, d: int, row: bool) -> str:
        bools = lambda: self.of(BOOL, d, row)  # noqa: E731
        form = self.draw(st.integers(0, 12))
        match form:
            case 0 | 1:
                left, right = self.number(d, row), self.number(d, row) if self.chance(0.6) else self.pick(
                    [self.int_literal(), self.dec_literal()])
                return f"({left} {self.pick(COMPARISONS)} {right})"
            case 2:
                return f"({self.of(TEXT, d, row)} {self.pick(COMPARISONS)} {self.of(TEXT, d, row)})"
            case 3:
                return f"({self.datelike(d, row)} {self.pick(COMPARISONS)} {self.datelike(d, row)})"
            case 4:
                return f"({bools()} {self.pick(['=', '<>'])} {bools()})"
            case 5 | 6:
                return f"({bools()} {self.pick(['AND', 'OR'])} {bools()})"
            case 7:
                args = ", ".join(bools() for _ in range(self.draw(st.integers(1, 3))))
                return f"{self.pick(['AND', 'OR'])}({args})"
            case 8:
                return self.pick([f"(NOT {bools()})", f"(NOT({bools()}))"])
            case 9:
                subject = self.pick([INT, DEC, TEXT, DATE])
                value = {INT: self.number, DEC: self.number, DATE: self.datelike}.get(
                    subject, lambda depth, row: self.of(subject, depth, row))(d, row)
                items = [{INT: self.number, DEC: self.number, DATE: self.datelike}.get(
                    subject, lambda depth, row: self.of(subject, depth, row))(0, row)
                    for _ in range(self.draw(st.integers(1, 4)))]
                return f"({value} {self.pick(['IN', 'NOT IN'])} ({', '.join(items)}))"
            case 10:
                return f"CONTAINS({self.scalar(d, row)}, {self.scalar(d, row)})"
            case 11:
                return f"ISBLANK({self.scalar(d, row)})"
        return f"({self.number(d, row)} {self.pick(COMPARISONS)} {self.number(d, row)})"

    def date_op(self, kind: str, d: int, row: bool) -> str:
        dates = lambda: self.of(DATE, d, row)  # noqa: E731
        nums = lambda: self.number(d, row)  # noqa: E731
        form = self.draw(st.integers(0, 6))
        match form:
            case 0:
                year = str(self.draw(st.integers(1990, 2060))) if self.chance(0.6) else nums()
                month = str(self.draw(st.integers(-14, 26))) if self.chance(0.6) else nums()
                day = str(self.draw(st.integers(-40, 70))) if self.chance(0.6) else nums()
                return f"DATE({year}, {month}, {day})"
            case 1:
                return self.pick([f"({dates()} + {nums()})", f"({nums()} + {dates()})"])
            case 2:
                return f"({dates()} - {nums()})"
            case 3:
                return f"DATEADD({dates()}, {nums()})"
            case 4:
                unit = self.pick([*DATE_UNITS, '"hour"'])  # an unknown unit is an error
                return f"DATEADD({dates()}, {nums()}, {unit})"
        return f"EDATE({self.datelike(d, row)}, {nums()})"

    def datetime_op(self, kind: str, d: int, row: bool) -> str:
        return f"DATEADD({self.of(DATETIME, d, row)}, {self.number(d, row)}, {self.pick(DATE_UNITS)})"


@st.composite
def formulas(draw: Any, kind: str | None = None, depth: int = 3) -> str:
    writer = Writer(draw)
    return writer.of(kind or writer.pick(list(SCALARS)), depth)



# --- records --------------------------------------------------------------------------------------------


def _records(blanks: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Orders with their customer, its region and their lines; with `blanks`, any value may be blank."""

    def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        # Blank about one time in five.
        return st.integers(0, 4).flatmap(lambda n: st.none() if n == 0 else values) if blanks else values

    def decimals(scale: int, limit: int, precision: int = 18) -> st.SearchStrategy[Decimal | None]:
        """Values of a column with `scale` decimals: mostly within ±limit, now and then the largest it holds."""
        quantum = Decimal(1).scaleb(-scale)
        largest = Decimal(10) ** (precision - scale) - quantum
        values = st.decimals(min_value=-limit, max_value=limit, places=scale, allow_nan=False, allow_infinity=False)
        edges = st.sampled_from([Decimal(0), Decimal(1), Decimal("-1"), quantum, largest, -largest])
        return maybe(st.one_of(values, values, values, edges).map(lambda v: v.quantize(quantum)))

    ints = maybe(st.one_of(st.integers(-1000, 100_000), st.sampled_from([0, 1, -1])))
    texts, dates, flags = maybe(TEXT_VALUES), maybe(DATES), maybe(st.booleans())
    region = st.fixed_dictionaries({"name": texts, "rate": decimals(4, 10, precision=10)})
    customer = st.fixed_dictionaries({
        "name": texts, "credit_limit": decimals(2, 10**7), "level": ints, "active": flags, "since": dates,
        "region": st.one_of(st.none(), region, region),  # a link may always be blank
    })
    line = st.fixed_dictionaries({
        "amount": decimals(2, 10**5), "unit_price": decimals(4, 10**4), "qty": ints, "sku": texts, "ship": dates,
        "ok": flags,
    })
    return st.fixed_dictionaries({
        "qty": decimals(3, 10**5), "price": decimals(2, 10**6), "rate": decimals(6, 2, precision=12),
        "total": decimals(0, 10**9), "count": ints, "note": texts, "code": texts, "flag": flags, "due": dates,
        "stamp": maybe(DATETIMES), "customer": st.one_of(st.none(), customer, customer, customer),
        "lines": st.lists(line, max_size=4),
    })


DATES = st.dates(dt.date(1990, 1, 1), dt.date(2060, 12, 31))
DATETIMES = st.one_of(
    st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2060, 12, 31, 23, 59, 59)).map(
        lambda v: v.replace(microsecond=0)),
    st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2060, 12, 31, 23, 59, 59)),
)
# One or two orders: the first often without any blank value, the second as anything (and a decoy whose own
# lines and customer must not leak into the first one's results).
ORDERS = st.tuples(st.one_of(_records(blanks=False), _records(blanks=True)),
                   st.one_of(st.none(), _records(blanks=True))).map(
    lambda pair: [pair[0]] if pair[1] is None else list(pair))


def _store(engine: Engine, orders: list[dict[str, Any]]) -> None:
    """Replace the tables' rows with the orders (ids 1, 2, ...), their lines, customers and regions."""
    with engine.begin() as connection:
        for table in (LINES, ORDER, CUSTOMER, REGION):
            connection.execute(table.delete())
        line_id = 0
        for number, order in enumerate(orders, start=1):
            customer = order["customer"]
            if customer is not None:
                region = customer["region"]
                if region is not None:
                    connection.execute(REGION.insert(), {"id": number, **region})
                connection.execute(CUSTOMER.insert(), {
                    "id": number, **customer, "region": None if region is None else number})
            fields = {k: v for k, v in order.items() if k not in ("customer", "lines")}
            connection.execute(ORDER.insert(), {"id": number, **fields,
                                                "customer": None if customer is None else number})
            for line in order["lines"]:
                line_id += 1
                connection.execute(LINES.insert(), {"id": line_id, "parent_id": number, **line})


# --- comparing results ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Failed:
    """A formula that stopped with a FormulaRuntimeError (the message is kept for the report)."""

    message: str


def _python(formula: Any, order: dict[str, Any]) -> Any:
    try:
        return formula(order, CONTEXT)
    except FormulaRuntimeError as error:
        return Failed(error.message)


def _sql(engine: Engine, statement: Any) -> Any:
    try:
        with engine.connect() as connection:
            return connection.execute(statement).scalar_one()
    except sqlalchemy.exc.DBAPIError as error:
        translated = translate_database_error(error)
        if translated is None:
            raise AssertionError(f"{engine.dialect.name} raised an error that is not a formula error: {error}"
                                 ) from error
        return Failed(translated.message)


def _same(python: Any, sql: Any) -> bool:
    if isinstance(python, Failed) or isinstance(sql, Failed):
        return isinstance(python, Failed) and isinstance(sql, Failed)
    if python is None or sql is None:
        return python is None and sql is None
    numbers = (int, Decimal)
    if isinstance(python, bool) or isinstance(sql, bool):
        return type(python) is type(sql) and python == sql
    if isinstance(python, numbers) and isinstance(sql, numbers):
        return Decimal(python) == Decimal(sql)
    return type(python) is type(sql) and python == sql


# Two limits where the three cannot agree today (see "open issues" in the module docstring): a whole number
# beyond 64 bits (both databases stop with an error, Python computes it exactly), and a decimal with more
# significant digits than Python's context keeps (Python and SQLite round it, PostgreSQL keeps every digit).
WHOLE_LIMIT = 2**63
DECIMAL_DIGITS = rt.CTX.prec


def _beyond_limits(expr: ir.Expr, order: dict[str, Any]) -> set[str]:
    """Which limits some number in the formula (outside per-line values) reaches in Python for `order`."""
    reached: set[str] = set()
    stack: list[ir.Expr] = [expr]
    while stack:
        node = stack.pop()
        if node.type.is_number:
            try:
                value = compile_python(node)(order, CONTEXT)
            except FormulaRuntimeError:
                value = None
            if isinstance(value, int) and not -WHOLE_LIMIT <= value < WHOLE_LIMIT:
                reached.add("whole")
            if isinstance(value, Decimal) and len(value.as_tuple().digits) >= DECIMAL_DIGITS:
                reached.add("digits")
            if node.type.kind is t.Kind.INT and isinstance(value, Decimal) and abs(value) >= WHOLE_LIMIT:
                reached.add("whole")  # ROUND(x) is a whole number
        if not isinstance(node, ir.Aggregate):  # the values inside are per line
            stack.extend(_children(node))
    return reached


def _accepted_difference(expr: ir.Expr, order: dict[str, Any], python: Any, got: Any, dialect: str) -> str | None:
    """Why a difference between Python and a database is one of the two known limits, or None."""
    if isinstance(python, Failed):
        return None
    if dialect == "postgresql" and "digits" in _beyond_limits(expr, order):
        return f"decimal of {DECIMAL_DIGITS} significant digits or more"
    return None


def _children(node: ir.Expr) -> list[ir.Expr]:
    match node:
        case ir.Follow(base=base):
            return [base]
        case ir.Op(args=args) | ir.Coalesce(args=args) | ir.Call(args=args) | ir.ListExpr(items=args):
            return list(args)
        case ir.If(branches=branches, default=default):
            return [part for branch in branches for part in branch] + ([default] if default else [])
    return []


def _check_formula(databases: Databases, source: str, orders: list[dict[str, Any]]) -> None:
    note(f"formula: {source}")
    expr = check(source, CATALOG, REGISTRY, "so")
    compiled = compile_python(expr)
    expected = [_python(compiled, order) for order in orders]
    note(f"python: {expected}")
    for python in expected:
        event("python: " + ("error" if isinstance(python, Failed) else "blank" if python is None else "value"))
    for dialect, engine in databases.engines.items():
        missing = sql_form_missing(expr, dialect)
        assert missing is None, f"{source} is refused on {dialect}: {missing}"
        compiler = SqlCompiler(Tables(), dialect, CONTEXT)
        value = compiler.value(expr, ORDER)
        exempt = False
        for number, python in enumerate(expected, start=1):
            got = _sql(engine, select(value).where(ORDER.c.id == number))
            if not _same(python, got):
                reason = _accepted_difference(expr, orders[number - 1], python, got, dialect)
                if reason is not None:
                    event(reason)
                    exempt = True
                    continue
            assert _same(python, got), (
                f"{source}\n  order {number}: python {python!r} but {dialect} {got!r}")
        if expr.type.kind is t.Kind.BOOL and not exempt and not any(isinstance(p, Failed) for p in expected):
            # As a filter: the rows whose value is TRUE (blank and FALSE select nothing).
            statement = select(ORDER.c.id).where(compiler.condition(expr, ORDER)).order_by(ORDER.c.id)
            with engine.connect() as connection:
                selected = connection.execute(statement).scalars().all()
            wanted = [number for number, python in enumerate(expected, start=1) if python is True]
            assert selected == wanted, f"{source}\n  WHERE on {dialect} selects {selected}, python {wanted}"


@settings(max_examples=int(os.environ.get("FORMULA_EXAMPLES", "300")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(source=formulas(),
       orders=ORDERS)
def test_python_sqlite_and_postgresql_agree(databases: Databases, source: str, orders: list[dict[str, Any]]) -> None:
    for engine in databases.engines.values():
        _store(engine, orders)
    _check_formula(databases, source, orders)
