"""The formula type checker: names and labels, types, and errors with a column and a hint."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl.formula import ir
from dsl.formula import types as t
from dsl.formula.catalog import Catalog, EntityInfo, FieldInfo
from dsl.formula.checker import Checker, check
from dsl.formula.errors import FormulaError
from dsl.formula.functions import NUMBER, SPECIAL_FORMS, TEXT, FunctionSpec, Param, builtin_registry, record_of
from dsl.formula.parser import parse

REGISTRY = builtin_registry()

CATALOG = Catalog.build([
    EntityInfo.build("region", [FieldInfo("name", t.TEXT, ("名称",))]),
    EntityInfo.build("customer", [
        FieldInfo("name", t.TEXT, ("名称", "Name")),
        FieldInfo("credit_limit", t.DECIMAL, ("信用额度",)),
        FieldInfo("region", t.record("region"), ("地区",)),
    ]),
    EntityInfo.build("product", [FieldInfo("code", t.TEXT)]),
    EntityInfo.build("sales_order", [
        FieldInfo("qty", t.INT, ("数量", "Qty")),
        FieldInfo("price", t.DECIMAL, ("单价", "Unit Price")),
        FieldInfo("total", t.DECIMAL, ("金额",)),
        FieldInfo("remark", t.TEXT, ("备注",)),
        FieldInfo("approved", t.BOOL),
        FieldInfo("order_date", t.DATE, ("日期",)),
        FieldInfo("expiry", t.DATE, ("日期",)),  # the label 日期 is ambiguous on purpose
        FieldInfo("created_at", t.DATETIME),
        FieldInfo("customer", t.record("customer"), ("客户",)),
        FieldInfo("product", t.record("product")),
        FieldInfo("tags", t.list_of(t.TEXT)),
        FieldInfo("regions", t.list_of(t.record("region"))),
        FieldInfo("lines", t.rows("sales_order_line"), ("明细",)),
        FieldInfo("payments", t.rows("payment")),
    ]),
    EntityInfo.build("sales_order_line", [
        FieldInfo("qty", t.INT, ("数量",)),
        FieldInfo("amount", t.DECIMAL, ("金额",)),
        FieldInfo("expiry", t.DATE),
        FieldInfo("product", t.TEXT),
    ], parent="sales_order"),
    EntityInfo.build("payment", [FieldInfo("amount", t.DECIMAL)], parent="sales_order"),
])


def typed(text: str, entity: str | None = "sales_order", registry=REGISTRY) -> ir.Expr:
    return check(text, CATALOG, registry, entity)


def error_of(text: str, entity: str | None = "sales_order", registry=REGISTRY) -> FormulaError:
    with pytest.raises(FormulaError) as caught:
        typed(text, entity, registry)
    return caught.value


# --- types -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("1", t.INT), ("1.5", t.DECIMAL), ('"a"', t.TEXT), ("TRUE", t.BOOL),
    ("qty * 2", t.INT), ("qty + qty", t.INT), ("qty * price", t.DECIMAL), ("qty / 2", t.DECIMAL),
    ("qty ^ 2", t.INT), ("qty ^ -1", t.DECIMAL), ("price ^ 2", t.DECIMAL), ("-qty", t.INT), ("+price", t.DECIMAL),
    ("qty%", t.DECIMAL), ('"a" & qty', t.TEXT), ("qty > 1", t.BOOL), ("qty IN (1, 2)", t.BOOL),
    ("NOT approved", t.BOOL), ("approved AND qty > 1", t.BOOL),
    ("order_date + 30", t.DATE), ("30 + order_date", t.DATE), ("order_date - 1", t.DATE),
    ("order_date - expiry", t.INT), ("TODAY()", t.DATE), ("NOW()", t.DATETIME),
    ("ROUND(price)", t.INT), ("ROUND(price, 0)", t.INT), ("ROUND(price, -2)", t.INT), ("ROUND(price, 2)", t.DECIMAL),
    ("ROUNDUP(price, 1)", t.DECIMAL), ("ROUNDDOWN(price)", t.INT), ("ABS(qty)", t.INT), ("ABS(price)", t.DECIMAL),
    ("MOD(qty, 3)", t.INT), ("MOD(price, 3)", t.DECIMAL), ("POWER(2, 10)", t.INT),
    ("MIN(qty, 2)", t.INT), ("MAX(qty, price)", t.DECIMAL), ("MAX(order_date, TODAY())", t.DATE),
    ("IF(approved, 1, 2)", t.INT), ("IF(approved, 1, 2.5)", t.DECIMAL), ("IF(approved, 1)", t.INT),
    ('IF(approved, "a", BLANK())', t.TEXT), ("IF(approved, order_date, created_at)", t.DATETIME),
    ('IFS(qty > 1, "a", TRUE, "b")', t.TEXT), ('SWITCH(qty, 1, "a", "b")', t.TEXT),
    ('COALESCE(remark, "-")', t.TEXT), ("COALESCE(qty, price)", t.DECIMAL),
    ("LEN(remark)", t.INT), ("TEXT(price, \"0.00\")", t.TEXT), ('CONTAINS(remark, "x")', t.BOOL),
    ("DATE(2026, 1, 31)", t.DATE), ("YEAR(created_at)", t.INT), ("DATEADD(order_date, 1)", t.DATE),
    ('DATEADD(created_at, 1, "month")', t.DATETIME), ("EDATE(created_at, 1)", t.DATE),
    ("DAYS_BETWEEN(order_date, created_at)", t.INT), ("WEEKDAY(order_date, 2)", t.INT),
    ("ISBLANK(customer)", t.BOOL), ("BLANK()", t.NULL),
    ("SUM(lines.amount)", t.DECIMAL), ("SUM(lines.qty)", t.INT), ("AVG(lines.qty)", t.DECIMAL),
    ("COUNT(lines)", t.INT), ("COUNT(lines.amount)", t.INT), ("MAX(lines.expiry)", t.DATE),
    ("MIN(lines.product)", t.TEXT), ("customer", t.record("customer")), ("customer.credit_limit", t.DECIMAL),
    ("customer.region.name", t.TEXT), ('"x" IN tags', t.BOOL),
])
def test_types(text, expected):
    assert typed(text).type == expected


def test_a_formula_may_be_about_no_record():
    assert typed("ROUND(1 / 3, 2)", entity=None).type == t.DECIMAL
    error = error_of("qty + 1", entity=None)
    assert (error.position, error.message) == (0, "'qty' cannot be used here: this formula is not about a record")


def test_unknown_entity_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown entity"):
        Checker(CATALOG, REGISTRY, "nope")


# --- names, labels, links, parents, rows -------------------------------------------------------------------


def test_labels_resolve_to_fields():
    expr = typed("{数量} * {单价}")
    assert isinstance(expr, ir.Op)
    assert [(arg.field, arg.level) for arg in expr.args] == [("qty", 0), ("price", 0)]  # type: ignore[attr-defined]
    assert typed("{ unit price }").field == "price"  # type: ignore[attr-defined]
    assert typed("{QTY}").field == "qty"  # type: ignore[attr-defined]


def test_labels_after_a_dot_and_over_several_hops():
    expr = typed("{客户}.{地区}.{名称}")
    assert isinstance(expr, ir.Follow) and expr.field == "name" and expr.entity == "region"
    assert isinstance(expr.base, ir.Follow) and expr.base.field == "region"
    assert isinstance(expr.base.base, ir.FieldRef) and expr.base.base.field == "customer"


def test_ambiguous_and_unknown_labels():
    error = error_of("{日期} + 1")
    assert error.position == 0
    assert "used by several fields of sales_order (order_date, expiry)" in error.message
    error = error_of("qty * {单 价}")
    assert (error.position, error.message) == (6, "sales_order has no field labelled {单 价}")
    assert error.hint == "did you mean '单价'?"


def test_parent_from_child_rows():
    expr = typed("parent.customer.credit_limit - amount", entity="sales_order_line")
    assert expr.type == t.DECIMAL
    follow = expr.args[0]  # type: ignore[attr-defined]
    assert isinstance(follow.base.base, ir.ParentRef) and follow.base.base.entity == "sales_order"
    error = error_of("parent.qty")
    assert error.message == "sales_order has no field 'parent'"


def test_aggregates_resolve_rows_and_outer_fields():
    expr = typed("SUM(lines.amount * qty, lines.qty > qty)")
    assert isinstance(expr, ir.Aggregate)
    assert (expr.table, expr.child, expr.entity) == ("lines", "sales_order_line", "sales_order")
    value = expr.value
    assert isinstance(value, ir.Op)
    assert [(arg.field, arg.level) for arg in value.args] == [("amount", 1), ("qty", 0)]  # type: ignore[attr-defined]
    labelled = typed("SUM({明细}.{金额}, {明细}.{数量} > 0)")
    assert isinstance(labelled, ir.Aggregate) and labelled.table == "lines"
    counted = typed("COUNT(lines, lines.qty > 0)")
    assert isinstance(counted, ir.Aggregate) and counted.value is None and counted.where is not None
    scalar = typed("MAX(qty, 3)")
    assert isinstance(scalar, ir.Call) and scalar.function.name == "MAX"


# --- errors: columns, messages and hints -----------------------------------------------------------------


@pytest.mark.parametrize(("text", "position", "message"), [
    ('qty + "a"', 6, '+ needs a number, but "a" is text'),
    ("price * remark", 8, "* needs a number, but remark is text"),
    ("IF(qty, 1, 2)", 3, "IF's condition needs TRUE/FALSE (a condition), but qty is a whole number"),
    ('IF(approved, 1, "a")', 16, "IF's results must all be of one kind, but text and a whole number mix"),
    ("approved AND qty", 13, "AND needs TRUE/FALSE (a condition), but qty is a whole number"),
    ("NOT remark", 4, "NOT needs TRUE/FALSE (a condition), but remark is text"),
    ('qty = "1"', 4, "cannot compare a whole number with text"),
    ('order_date > "2026-01-01"', 11, "cannot compare a date with text"),
    ("customer < customer", 9, "records can only be compared with = and <>"),
    ("created_at + 1", 11, "arithmetic on a date and time is not supported"),
    ("order_date * 2", 11, "cannot use * on a date and a whole number"),
    ('ROUND("a")', 6, "ROUND's number must be a number, but \"a\" is text"),
    ("MONTH(qty)", 6, "MONTH's date must be a date, but qty is a whole number"),
    ("ROUND(1, 2, 3)", 0, "ROUND takes 1 to 2 arguments, but 3 were given"),
    ("TODAY(1)", 0, "TODAY takes 0 arguments, but 1 were given"),
    ("MID(remark, 1)", 0, "MID takes 3 arguments, but 2 were given"),
    ("IF(TRUE)", 0, "IF takes 2 to 3 arguments, but 1 were given"),
    ("IFS(TRUE)", 0, "IFS needs pairs of condition and value"),
    ("SWITCH(qty, 1)", 0, "SWITCH needs an expression and at least one value and result"),
    ('SWITCH(qty, "a", 1)', 12, "cannot compare a whole number with text"),
    ("AND()", 0, "AND needs at least one condition"),
    ("COALESCE()", 0, "COALESCE needs at least one value"),
    ('COALESCE(qty, "x")', 14, "COALESCE's values must all be of one kind, but text and a whole number mix"),
    ("MIN(qty, remark)", 9, "MIN and MAX compare values of one kind, but text and a whole number mix"),
    ("lines", 0, "lines is a table; use SUM, COUNT, AVG, MIN or MAX over it"),
    ("lines.amount > 0", 0, "lines is a table with many rows; use an aggregate such as SUM(lines.amount)"),
    ("SUM(lines)", 4, "SUM needs a column of the table, like lines.amount"),
    ("SUM(qty)", 4, "SUM works on the rows of a table, like SUM(table.column, [condition])"),
    ("SUM(lines.product)", 4, "SUM needs a number, but lines.product is text"),
    ("SUM(lines.amount, lines.qty)", 18, "SUM's condition needs TRUE/FALSE (a condition), but lines.qty is a whole "
                                         "number"),
    ("SUM(lines.amount + SUM(lines.qty))", 19, "SUM cannot be used inside another aggregate"),
    ("SUM(lines.amount + payments.amount)", 4, "SUM can only go over one table at a time, but this uses lines and "
                                               "payments"),
    ("SUM(lines.amount, TRUE, TRUE)", 0, "SUM takes a table column and an optional condition"),
    ("(1, 2)", 0, "a list in parentheses can only follow IN, like x IN (1, 2, 3)"),
    ('qty IN (1, "a")', 11, "cannot compare a whole number with text"),
    ("qty IN lines", 7, "IN needs a list, like (1, 2, 3), but this is the rows of sales_order_line"),
    ("qty IN tags", 7, "cannot look for a whole number in a list of text"),
    ("remark IN regions", 10, "cannot look for text in a list of a region record"),
    ("price IN regions", 9, "cannot look for a number in a list of a region record"),
    ("qty.total", 0, "'.total' needs a record before it, but this is a whole number"),
    ("customer.nope", 9, "customer has no field 'nope'"),
    ("customer . nope", 11, "customer has no field 'nope'"),
    ("1 + customer.region.nme", 20, "region has no field 'nme'"),
    ("customer.{不存在}", 9, "customer has no field labelled {不存在}"),
])
def test_type_errors_point_at_the_column(text, position, message):
    error = error_of(text)
    assert error.message == message
    assert error.position == position


def test_the_column_counts_the_leading_equals_sign():
    assert error_of('= qty + "a"').position == 8


@pytest.mark.parametrize(("text", "hint"), [
    ("qyt * price", "did you mean 'qty'?"),
    ("cusotmer.name", "did you mean 'customer'?"),
    ("customer.credit_limt", "did you mean 'credit_limit'?"),
    ("Qty + 1", "did you mean 'qty'?"),
    ("ROUDN(price)", "did you mean 'ROUND' or 'ROUNDUP'?"),
    ("COUNTT(lines)", "did you mean 'COUNT' or 'CONCAT'?"),
    ("TODAY", "to call the function TODAY, write TODAY(…)"),
    ("today > order_date", "to call the function TODAY, write TODAY(…)"),
    ("ROUND(1, 2, 3)", "write it as ROUND(number, [digits])"),
    ("IF(TRUE)", "write it as IF(condition, value_if_true, [value_if_false])"),
    ('qty = "1"', 'numbers and text differ: write the number without quotes, or compare text with "…"'),
    ('order_date = "2026-01-31"', "write the date as DATE(2026, 1, 31)"),
    ("created_at - order_date", 'use DATEADD(value, n, "day") or DAYS_BETWEEN(start, end)'),
])
def test_hints(text, hint):
    assert error_of(text).hint == hint


def test_unknown_function_message_and_position():
    error = error_of("qty + STOCK(product)")
    assert (error.position, error.message) == (6, "unknown function STOCK")


# --- plugin functions ------------------------------------------------------------------------------------


def stock(context, item, warehouse):
    return context.fetch("stock", (item["code"], warehouse))["on_hand"]


STOCK = FunctionSpec(
    "STOCK", (Param("item", record_of("product")), Param("warehouse", TEXT, optional=True)), t.DECIMAL, stock,
    "The quantity on hand.", 'STOCK(product, "WH1")', needs_context=True, volatile=True, plugin="inventory")
DOUBLE = FunctionSpec("DOUBLE", (Param("number", NUMBER),), t.DECIMAL, lambda x: x * 2, "Twice the number.",
                      "DOUBLE(2) → 4", plugin="demo")
PLUGINS = REGISTRY.with_functions([STOCK, DOUBLE])


def test_plugin_functions_are_checked_like_built_ins():
    expr = typed('qty - STOCK(product, "WH1")', registry=PLUGINS)
    assert expr.type == t.DECIMAL
    assert typed("double(qty)", registry=PLUGINS).type == t.DECIMAL
    assert STOCK.signature() == "STOCK(item, [warehouse])"
    assert "STOCK" in PLUGINS.names() and REGISTRY.get("STOCK") is None  # the original is untouched


@pytest.mark.parametrize(("text", "position", "message", "hint"), [
    ('STOCK(qty, "WH1")', 6, "STOCK's item must be a product record, but qty is a whole number", None),
    ('STOCK(customer, "WH1")', 6, "STOCK's item must be a product record, but customer is a customer record", None),
    ("STOCK(product, 1)", 15, "STOCK's warehouse must be text, but 1 is a whole number", None),
    ("STOCK()", 0, "STOCK takes 1 to 2 arguments, but 0 were given", "write it as STOCK(item, [warehouse])"),
    ('DOUBLE("2")', 7, "DOUBLE's number must be a number, but \"2\" is text", None),
    ("STOKC(product)", 0, "unknown function STOKC", "did you mean 'STOCK'?"),
])
def test_plugin_function_type_errors(text, position, message, hint):
    error = error_of(text, registry=PLUGINS)
    assert (error.position, error.message, error.hint) == (position, message, hint)


def test_plugins_cannot_redefine_functions_or_special_forms():
    with pytest.raises(ValueError, match="defined twice"):
        PLUGINS.with_functions([DOUBLE])
    with pytest.raises(ValueError, match="built-in form"):
        REGISTRY.with_functions([FunctionSpec("IF", (), t.INT, lambda: 1, "", "", plugin="evil")])
    with pytest.raises(ValueError, match="defined twice"):
        REGISTRY.with_functions([FunctionSpec("ROUND", (), t.INT, lambda: 1, "", "", plugin="evil")])


def test_special_forms_are_all_known_names():
    assert set(SPECIAL_FORMS) <= set(REGISTRY.names())


# --- safety: nothing reaches Python objects ---------------------------------------------------------------


@pytest.mark.parametrize("text", [
    '__import__("os")', '__import__("os").system("ls")', "qty.__class__", "qty.__class__.__bases__",
    "remark.__len__", "customer.__dict__", "customer.__class__", "lines.__len__", '"".join', 'EVAL("1")',
    'EXEC("1")', 'GETATTR(qty, "real")', "OPEN(\"/etc/passwd\")", "__builtins__", "globals", "r0", "c",
    "_follow", "SUM(lines.__class__)", "parent.__class__", "customer.region.__init__",
])
def test_python_is_out_of_reach(text):
    with pytest.raises(FormulaError):
        typed(text)


# --- property: the checker fails only with FormulaError ----------------------------------------------------

TOKENS = [
    "qty", "price", "remark", "approved", "order_date", "created_at", "customer", "product", "tags", "lines",
    "payments", "parent", "{数量}", "{日期}", "{明细}", "nope", ".", ".name", ".region", ".amount", ".qty",
    ".{金额}", "1", "0", "2.5", '"a"', '""', "TRUE", "BLANK()", "TODAY()", "(", ")", ",", "+", "-", "*", "/",
    "^", "&", "%", "=", "<>", "<", ">=", "AND", "OR", "NOT", "IN", "SUM(", "COUNT(", "AVG(", "MIN(", "MAX(",
    "IF(", "IFS(", "SWITCH(", "COALESCE(", "AND(", "OR(", "ROUND(", "MOD(", "LEFT(", "TEXT(", "DATE(",
    "DATEADD(", "EDATE(", "ISBLANK(", "CONCAT(", "POWER(", "STOCK(", "x",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14).map(" ".join),
       st.sampled_from(["sales_order", "sales_order_line", None]))
def test_checker_raises_only_formula_errors(text, entity):
    try:
        node = parse(text)
    except FormulaError:
        return
    try:
        expr = Checker(CATALOG, PLUGINS, entity).check(node)
    except FormulaError as error:
        assert 0 <= error.position <= len(text)
        return
    assert expr.type.kind is not t.Kind.ROWS


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_checker_raises_only_formula_errors_on_any_text(text):
    with contextlib.suppress(FormulaError):
        check(text, CATALOG, PLUGINS, "sales_order")


def test_a_whole_number_is_looked_for_among_records_by_their_ids():
    """`id IN CURRENT_USER().warehouses` in a row rule: an id among linked records."""
    assert typed("qty IN regions").type == t.BOOL
    assert typed("customer.region IN regions").type == t.BOOL
