"""Migration: the model compared with the live database, safe changes applied in one transaction, data kept."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import inspect, select

from dsl.loader import load_app
from engine import cli
from engine.migrate import MIGRATION_TABLE, MigrationError, MigrationRefused, apply, migrate, plan
from engine.schema import build_schema

NO_STOCK = Path(__file__).parent.parent / "apps" / "no_stock"
NOW = dt.datetime(2026, 1, 5, 9, 0)

V1 = """
entities:
  customer:
    fields:
      code: {type: string, unique: true}
      name: string
      phone: {type: string, max_length: 30, index: true}
      remark: {type: string, max_length: 40}
      credit: {type: decimal, precision: 10, scale: 2}
      visits: int
  sales_order:
    kind: document
    fields:
      customer: {type: link, link: customer}
      note: {type: string, max_length: 40}
      lines:
        type: table
        fields:
          item: string
          qty: {type: decimal, scale: 3}
"""

V2 = """
entities:
  customer:
    indexes: [[name, phone]]
    unique: [[name, phone]]
    fields:
      code: {type: string, unique: true}
      name: string
      phone: {type: string, max_length: 30, index: true}
      remark: {type: string, max_length: 500}
      credit: {type: decimal, precision: 14, scale: 4}
      visits: {type: decimal, scale: 2}
      grade: {type: choice, options: {a: A, b: B}}
  sales_order:
    kind: document
    fields:
      customer: {type: link, link: customer}
      note: {type: string, max_length: 200}
      lines:
        type: table
        fields:
          item: string
          qty: {type: decimal, scale: 3}
  warehouse:
    fields:
      code: {type: string, unique: true}
      manager: {type: link, link: customer}
"""


def add(engine, app, entity, *rows):
    """Insert rows (system columns filled in); returns their ids."""
    table = build_schema(app).tables[entity]
    ids = []
    with engine.begin() as connection:
        for row in rows:
            values = dict(row)
            if "created_at" in table.c:
                values.setdefault("created_at", NOW)
                values.setdefault("modified_at", NOW)
                values.setdefault("version", 1)
            if "doc_no" in table.c:
                values.setdefault("doc_no", f"D-{len(ids) + 1}")
                values.setdefault("docstatus", "draft")
            ids.append(connection.execute(table.insert().values(**values)).inserted_primary_key[0])
    return ids


def rows(engine, app, entity, *columns):
    table = build_schema(app).tables[entity]
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            select(*(table.c[name] for name in columns)).order_by(table.c[columns[0]]))]


def raw(engine, sql):
    with engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(sql)]


def tables(engine):
    return set(inspect(engine).get_table_names())


def columns(engine, table):
    return {column["name"]: column for column in inspect(engine).get_columns(table)}


def log(engine):
    return raw(engine, f"SELECT app_name, app_version, kind, description, ddl FROM {MIGRATION_TABLE} ORDER BY id")


@pytest.mark.both_dbs
def test_first_migration_creates_every_table_and_the_second_plans_nothing(db_engine):
    app = load_app(NO_STOCK)
    first = plan(app, db_engine)
    expected = set(build_schema(app).metadata.tables)
    assert {change.table for change in first.changes} == expected | {"jxc_migration", "jxc_column_type"}
    assert {change.kind for change in first.changes} == {"create_table"}
    assert not first.refusals and all(change.safe and change.sql for change in first.changes)
    assert any(sql.startswith("CREATE TABLE customer (") for change in first.changes for sql in change.sql)
    assert tables(db_engine) & expected == set()  # planning changes nothing

    applied = apply(first, db_engine, app_version=app.version)
    assert applied.count == len(first.changes)
    assert expected <= tables(db_engine)
    assert len(log(db_engine)) == len(first.changes)

    again = plan(app, db_engine)
    assert again.changes == [] and not again.record_types
    assert again.text() == "nothing to change: the database matches the app"
    assert migrate(app, db_engine).applied.count == 0


@pytest.mark.both_dbs
def test_a_new_database_gets_every_index_and_a_table_it_already_holds_is_not_overlooked(db_engine):
    """A database without any of the app's tables is planned without a comparison (every table is new); one that
    holds a table of its own is compared, so that table is still found (and only dropped when allowed)."""
    app = load_app(NO_STOCK)
    first = plan(app, db_engine)
    sql = [statement for change in first.changes for statement in change.sql]
    indexes = {index.name for table in build_schema(app).metadata.tables.values() for index in table.indexes}
    assert indexes and all(any(statement.startswith((f"CREATE INDEX {name} ON ", f"CREATE UNIQUE INDEX {name} ON "))
                               for statement in sql) for name in indexes)
    with db_engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE legacy (id INTEGER PRIMARY KEY, note VARCHAR(20))")
    second = plan(app, db_engine)
    (drop,) = [change for change in second.changes if change.kind != "create_table"]
    assert (drop.kind, drop.table) == ("drop_table", "legacy") and drop.refused
    assert [change.description for change in second.changes if change.kind == "create_table"] == \
        [change.description for change in first.changes]
    migrate(app, db_engine, allow_drop=True)
    assert "legacy" not in tables(db_engine) and plan(app, db_engine).changes == []


@pytest.mark.both_dbs
def test_safe_changes_are_applied_and_keep_every_value(db_engine, shop):
    v1 = shop.load(V1)
    migrate(v1, db_engine)
    first, second = add(db_engine, v1, "customer",
                        {"code": "C1", "name": "Ann", "phone": "1", "remark": "x" * 40, "credit": Decimal("12.34"),
                         "visits": 7},
                        {"code": "C2", "name": "Bob", "phone": "2", "remark": None, "credit": Decimal("-99999999.99"),
                         "visits": -3})
    (order,) = add(db_engine, v1, "sales_order", {"customer": first, "note": "first order"})
    add(db_engine, v1, "sales_order_lines", {"parent_id": order, "idx": 0, "item": "tea", "qty": Decimal("1.5")},
        {"parent_id": order, "idx": 1, "item": "cup", "qty": Decimal("2")})

    v2 = shop.load(V2)
    the_plan = plan(v2, db_engine)
    described = [change.description for change in the_plan.changes]
    assert not the_plan.refusals, the_plan.text()
    assert {change.kind for change in the_plan.changes} == {
        "create_table", "add_column", "add_index", "add_unique", "widen_type"}
    assert "create table warehouse for the new entity warehouse" in described
    assert "add field 'grade' to customer" in described
    assert "add an index on customer (name, phone)" in described
    assert "require unique values of (name, phone) in customer" in described
    assert "widen customer.remark from 40 to 500 characters" in described
    assert "widen sales_order.note from 40 to 200 characters" in described
    assert "widen customer.credit from decimal(10,2) to decimal(14,4)" in described
    assert "widen customer.visits from int to decimal(18,2) (checked: every existing value fits, 2 in all)" in described
    assert described.index("create table warehouse for the new entity warehouse") == 0
    assert all(change.safe for change in the_plan.changes)

    applied = migrate(v2, db_engine).applied
    assert applied.count == len(the_plan.changes)
    assert rows(db_engine, v2, "customer", "id", "code", "remark", "credit", "visits", "grade") == [
        (first, "C1", "x" * 40, Decimal("12.3400"), Decimal("7.00"), None),
        (second, "C2", None, Decimal("-99999999.9900"), Decimal("-3.00"), None)]
    if db_engine.dialect.name == "sqlite":  # a decimal is stored as value x 10^scale: the rescale rewrote them
        assert raw(db_engine, "SELECT credit, visits FROM customer ORDER BY id") == [
            (123400, 700), (-999999999900, -300)]
    # the document and its lines survived (on SQLite the tables were copied, with foreign keys off)
    assert rows(db_engine, v2, "sales_order", "id", "customer", "note") == [(order, first, "first order")]
    assert rows(db_engine, v2, "sales_order_lines", "idx", "item", "qty") == [
        (0, "tea", Decimal("1.500")), (1, "cup", Decimal("2.000"))]
    assert plan(v2, db_engine).changes == []

    # foreign keys still hold afterwards: a line without its order, a duplicate, are refused by the database
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        add(db_engine, v2, "sales_order_lines", {"parent_id": 999, "idx": 0, "item": "x"})
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        add(db_engine, v2, "customer", {"code": "C3", "name": "Ann", "phone": "1"})
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        add(db_engine, v2, "warehouse", {"code": "W1", "manager": 999})


@pytest.mark.both_dbs
def test_renamed_from_renames_the_column_and_keeps_the_data(db_engine, shop):
    v1 = shop.load(V1)
    migrate(v1, db_engine)
    ids = add(db_engine, v1, "customer", {"code": "C1", "name": "Ann", "phone": "555-1"}, {"code": "C2", "name": "Bob"})
    renamed = V1.replace("phone: {type: string, max_length: 30, index: true}",
                         "tel: {type: string, max_length: 30, index: true, renamed_from: phone}")
    renamed = renamed.replace("code: {type: string, unique: true}", "number: {type: string, unique: true, renamed_from: code}", 1)
    renamed = renamed.replace("customer: {type: link, link: customer}", "client: {type: link, link: customer, renamed_from: customer}")
    (order,) = add(db_engine, v1, "sales_order", {"customer": ids[1]})
    v2 = shop.load(renamed)
    the_plan = plan(v2, db_engine)
    assert sorted((change.kind, change.description) for change in the_plan.changes) == [
        ("rename_column", "rename field 'code' of customer to 'number' (renamed_from)"),
        ("rename_column", "rename field 'customer' of sales_order to 'client' (renamed_from)"),
        ("rename_column", "rename field 'phone' of customer to 'tel' (renamed_from)")]
    migrate(v2, db_engine)
    assert rows(db_engine, v2, "customer", "id", "number", "tel") == [(ids[0], "C1", "555-1"), (ids[1], "C2", None)]
    assert rows(db_engine, v2, "sales_order", "id", "client") == [(order, ids[1])]
    with pytest.raises(sqlalchemy.exc.IntegrityError):  # the link is still checked
        add(db_engine, v2, "sales_order", {"client": 999})
    assert "phone" not in columns(db_engine, "customer")
    assert {index["name"] for index in inspect(db_engine).get_indexes("customer")} >= {"ix_customer_tel"}
    assert plan(v2, db_engine).changes == []  # index and unique constraint were renamed too
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        add(db_engine, v2, "customer", {"number": "C1", "name": "again"})


@pytest.mark.both_dbs
def test_a_removed_field_is_refused_with_its_row_count_and_backed_up_with_allow_drop(db_engine, shop):
    v1 = shop.load(V1)
    migrate(v1, db_engine)
    ids = add(db_engine, v1, "customer", {"code": "C1", "remark": "keep me"}, {"code": "C2", "remark": "me too"},
              {"code": "C3"})
    v2 = shop.load(V1.replace("      remark: {type: string, max_length: 40}\n", ""))

    refused = plan(v2, db_engine)
    (change,) = refused.changes
    assert change.kind == "drop_column" and not change.safe
    assert change.refused.startswith("dropping field 'remark' from customer would lose the data in 2 rows; run with "
                                     "--allow-drop to keep a backup table jxc_backup_customer_remark_")
    assert change.refused.endswith(" and drop it")
    with pytest.raises(MigrationRefused, match="would lose the data in 2 rows"):
        apply(refused, db_engine)
    with pytest.raises(MigrationRefused, match="1 change refused"):
        migrate(v2, db_engine)
    assert "remark" in columns(db_engine, "customer")

    allowed = plan(v2, db_engine, allow_drop=True)
    (change,) = allowed.changes
    assert change.refused is None and not change.safe
    backup = next(name for name in change.description.split() if name.startswith("jxc_backup_customer_remark_"))
    backup = backup.rstrip(")")
    assert change.sql[0] == f"CREATE TABLE {backup} AS SELECT id, remark FROM customer"
    apply(allowed, db_engine)
    assert "remark" not in columns(db_engine, "customer")
    assert raw(db_engine, f"SELECT id, remark FROM {backup} ORDER BY id") == [
        (ids[0], "keep me"), (ids[1], "me too"), (ids[2], None)]
    assert plan(v2, db_engine).changes == []  # the backup table is jxc's, not the app's


@pytest.mark.both_dbs
def test_a_removed_field_with_a_new_one_hints_at_renamed_from(db_engine, shop):
    migrate(shop.load(V1), db_engine)
    v2 = shop.load(V1.replace("remark: {type: string, max_length: 40}", "comment: {type: string, max_length: 40}"))
    (refusal,) = plan(v2, db_engine).refusals
    assert refusal.refused.startswith("dropping field 'remark' from customer (it holds no values)")
    assert refusal.refused.endswith("(if 'remark' was renamed to 'comment', write 'renamed_from: remark' under field "
                                    "'comment' instead)")


@pytest.mark.both_dbs
def test_a_removed_entity_is_a_drop_with_a_backup_table(db_engine, shop):
    with_extra = V1 + """
  region:
    fields:
      name: string
      upper: {type: link, link: region}
"""
    v1 = shop.load(with_extra)
    migrate(v1, db_engine)
    north, south = add(db_engine, v1, "region", {"name": "north"}, {"name": "south"})
    v2 = shop.load(V1)
    (change,) = plan(v2, db_engine).changes
    assert change.kind == "drop_table"
    assert change.refused.startswith("removing entity 'region' would drop table region and lose its 2 rows; run with "
                                     "--allow-drop to keep a backup table jxc_backup_region_")
    migrate(v2, db_engine, allow_drop=True)
    assert "region" not in tables(db_engine)
    (backup,) = [name for name in tables(db_engine) if name.startswith("jxc_backup_region_")]
    assert raw(db_engine, f"SELECT id, name FROM {backup} ORDER BY id") == [(north, "north"), (south, "south")]
    assert plan(v2, db_engine).changes == []


@pytest.mark.both_dbs
def test_narrowing_checks_every_existing_value_first(db_engine, shop):
    v1 = shop.load(V1)
    migrate(v1, db_engine)
    ids = add(db_engine, v1, "customer", {"code": "short"}, {"code": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
              {"code": "twenty-one characters"}, {"code": None})
    v2 = shop.load(V1.replace("code: {type: string, unique: true}", "code: {type: string, max_length: 20, unique: true}"))
    (change,) = plan(v2, db_engine).changes
    assert change.kind == "narrow_type"
    assert change.refused == ("narrowing customer.code from 140 to 20 characters: 2 existing values are longer "
                              f"(first: 'ABCDEFGHIJKL…' in record {ids[1]})")
    with pytest.raises(MigrationRefused):
        migrate(v2, db_engine)

    with db_engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE customer SET code = 'A-Z' WHERE id = {ids[1]}")
    (change,) = plan(v2, db_engine).changes
    assert change.refused == ("narrowing customer.code from 140 to 20 characters: value 'twenty-one c…' in record "
                              f"{ids[2]} is longer")
    with db_engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE customer SET code = 'twenty' WHERE id = {ids[2]}")
    (change,) = plan(v2, db_engine).changes
    assert change.refused is None and change.safe
    assert change.description == ("narrow customer.code from 140 to 20 characters (checked: every existing value "
                                  "fits, 3 in all)")
    migrate(v2, db_engine)
    assert columns(db_engine, "customer")["code"]["type"].length == 20
    assert rows(db_engine, v2, "customer", "id", "code") == [
        (ids[0], "short"), (ids[1], "A-Z"), (ids[2], "twenty"), (ids[3], None)]
    assert plan(v2, db_engine).changes == []


@pytest.mark.both_dbs
def test_narrowing_a_decimal_keeps_exact_values_only(db_engine, shop):
    v1 = shop.load(V1.replace("{type: decimal, precision: 10, scale: 2}", "{type: decimal, precision: 18, scale: 4}"))
    migrate(v1, db_engine)
    ids = add(db_engine, v1, "customer", {"code": "A", "credit": Decimal("1.25")},
              {"code": "B", "credit": Decimal("1.2345")}, {"code": "C", "credit": Decimal("-7")})
    v2 = shop.load(V1)  # decimal(10,2)
    (change,) = plan(v2, db_engine).changes
    assert change.refused == ("narrowing customer.credit from decimal(18,4) to decimal(10,2): value 1.2345 in record "
                              f"{ids[1]} has more than 2 decimal places")
    with db_engine.begin() as connection:
        table = build_schema(v1).tables["customer"]
        connection.execute(table.update().where(table.c.id == ids[1]).values(credit=Decimal("1.23")))
    migrate(v2, db_engine)
    assert rows(db_engine, v2, "customer", "id", "credit") == [
        (ids[0], Decimal("1.25")), (ids[1], Decimal("1.23")), (ids[2], Decimal("-7.00"))]
    if db_engine.dialect.name == "sqlite":
        assert raw(db_engine, "SELECT credit FROM customer ORDER BY id") == [(125,), (123,), (-700,)]
    assert plan(v2, db_engine).changes == []


@pytest.mark.both_dbs
def test_text_to_decimal_names_the_first_value_that_is_not_a_number(db_engine, shop):
    v1 = shop.load(V1 + "  item:\n    fields:\n      weight: text\n")
    migrate(v1, db_engine)
    ids = add(db_engine, v1, "item", {"weight": "1.5"}, {"weight": "heavy"}, {"weight": " 2 "}, {"weight": ""},
              {"weight": None})
    v2 = shop.load(V1 + "  item:\n    fields:\n      weight: decimal\n")
    (change,) = plan(v2, db_engine).changes
    assert change.kind == "change_type"
    assert change.refused == (f"changing item.weight from text to decimal(18,2): value 'heavy' in record {ids[1]} is "
                              "not a number")
    with db_engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE item SET weight = '-0.25' WHERE id = {ids[1]}")
    migrate(v2, db_engine)
    assert rows(db_engine, v2, "item", "id", "weight") == [
        (ids[0], Decimal("1.50")), (ids[1], Decimal("-0.25")), (ids[2], Decimal("2.00")), (ids[3], None),
        (ids[4], None)]
    assert plan(v2, db_engine).changes == []

    back = shop.load(V1 + "  item:\n    fields:\n      weight: {type: string, max_length: 10}\n")
    (change,) = plan(back, db_engine).changes
    assert change.description == ("change item.weight from decimal(18,2) to string(10) (checked: every existing value "
                                  "fits, 3 in all)")
    migrate(back, db_engine)
    assert rows(db_engine, back, "item", "id", "weight") == [
        (ids[0], "1.50"), (ids[1], "-0.25"), (ids[2], "2.00"), (ids[3], None), (ids[4], None)]


@pytest.mark.both_dbs
def test_a_new_unique_rule_with_duplicates_is_refused(db_engine, shop):
    v1 = shop.load(V1)
    migrate(v1, db_engine)
    ids = add(db_engine, v1, "customer", {"code": "A", "name": "Ann"}, {"code": "B", "name": "Bob"},
              {"code": "C", "name": "Ann"}, {"code": "D"}, {"code": "E"})
    v2 = shop.load(V1.replace("name: string", "name: {type: string, unique: true}"))
    (change,) = plan(v2, db_engine).changes
    assert change.kind == "add_unique"
    assert change.refused == f"making (name) unique in customer: value 'Ann' appears in 2 records ({ids[0]}, {ids[2]})"


@pytest.mark.both_dbs
def test_unique_rules_over_new_and_renamed_fields_check_the_values_there_are(db_engine, shop):
    v1 = shop.load(V1)
    migrate(v1, db_engine)
    ids = add(db_engine, v1, "customer", {"code": "A", "name": "Ann", "phone": "1"},
              {"code": "B", "name": "Ann", "phone": "1"})
    changed = V1.replace("phone: {type: string, max_length: 30, index: true}",
                         "tel: {type: string, max_length: 30, renamed_from: phone}\n      grade: string")
    changed = changed.replace("  customer:\n    fields:", "  customer:\n    unique: [[name, grade], [tel, name]]\n    fields:")
    v2 = shop.load(changed)
    refusals = plan(v2, db_engine).refusals
    assert [change.refused for change in refusals] == [
        f"making (tel, name) unique in customer: value '1', 'Ann' appears in 2 records ({ids[0]}, {ids[1]})"]
    with db_engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE customer SET phone = '2' WHERE id = {ids[1]}")
    migrate(v2, db_engine)  # (name, grade) holds: every grade is blank
    assert rows(db_engine, v2, "customer", "id", "tel", "grade") == [(ids[0], "1", None), (ids[1], "2", None)]
    assert plan(v2, db_engine).changes == []


@pytest.mark.both_dbs
def test_a_failing_change_rolls_back_the_whole_plan(db_engine, shop):
    v1 = shop.load(V1)
    migrate(v1, db_engine)
    logged = len(log(db_engine))
    v2 = shop.load(V1.replace("      visits: int\n", "      visits: int\n      grade: string\n")
                   + "  warehouse:\n    fields:\n      code: string\n")
    the_plan = plan(v2, db_engine)
    assert [change.kind for change in the_plan.changes] == ["create_table", "add_column"]
    with db_engine.begin() as connection:  # someone adds the column behind jxc's back: the second change fails
        connection.exec_driver_sql("ALTER TABLE customer ADD COLUMN grade VARCHAR(10)")
    with pytest.raises(MigrationError, match=r"change 2 of 2 \(add field 'grade' to customer\) failed: .*"
                                             r"the database was not changed \(everything was rolled back\)"):
        apply(the_plan, db_engine)
    assert "warehouse" not in tables(db_engine)
    assert len(log(db_engine)) == logged
    if db_engine.dialect.name == "sqlite":  # foreign keys are on again for the connections that follow
        assert raw(db_engine, "PRAGMA foreign_keys") == [(1,)]


@pytest.mark.both_dbs
def test_a_failure_inside_a_table_copy_rolls_back_too(db_engine, shop):
    v1 = shop.load(V1)
    migrate(v1, db_engine)
    add(db_engine, v1, "customer", {"code": "A", "remark": "kept"})
    v2 = shop.load(V1.replace("max_length: 40}", "max_length: 400}"))
    the_plan = plan(v2, db_engine)
    assert [change.kind for change in the_plan.changes] == ["widen_type", "widen_type"]

    def boom(do):
        do.sql("UPDATE customer SET remark = 'changed'")
        raise RuntimeError("disk full")

    the_plan.changes[1] = the_plan.changes[1].__class__(**{**the_plan.changes[1].__dict__, "run": boom})
    with pytest.raises(MigrationError, match=r"change 2 of 2 .* failed: disk full"):
        apply(the_plan, db_engine)
    assert columns(db_engine, "customer")["remark"]["type"].length == 40
    assert raw(db_engine, "SELECT remark FROM customer") == [("kept",)]


@pytest.mark.both_dbs
def test_the_log_records_each_change_with_its_ddl(db_engine, shop):
    migrate(shop.load(V1), db_engine)
    v2 = shop.load(V1.replace("      visits: int\n", "      visits: int\n      grade: string\n"))
    migrate(v2, db_engine)
    name, version, kind, description, ddl = log(db_engine)[-1]
    assert (name, version, kind, description) == ("shop", v2.version, "add_column", "add field 'grade' to customer")
    assert ddl == "ALTER TABLE customer ADD COLUMN grade VARCHAR(140);"
    first = [entry for entry in log(db_engine) if entry[3] == "create table customer for the new entity customer"]
    assert first and first[0][4].startswith("CREATE TABLE customer (")


def test_jxc_own_tables_are_created_when_missing_and_never_dropped(shop, tmp_path):
    from engine.db import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'own.sqlite'}")
    try:
        app = shop.load(V1)
        migrate(app, engine)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE jxc_user_role")
            connection.exec_driver_sql("CREATE TABLE jxc_something (id INTEGER)")
        (change,) = plan(app, engine).changes
        assert (change.kind, change.table) == ("create_table", "jxc_user_role")
        migrate(app, engine)
        assert {"jxc_user_role", "jxc_something"} <= tables(engine)
    finally:
        engine.dispose()


@pytest.mark.both_dbs
def test_changing_a_document_keeps_its_lines(db_engine, shop):
    """On SQLite the document's table is copied and dropped: with foreign keys on, ON DELETE CASCADE would take
    its lines with it."""
    v1 = shop.load(V1)
    migrate(v1, db_engine)
    (order,) = add(db_engine, v1, "sales_order", {"note": "n"})
    add(db_engine, v1, "sales_order_lines", {"parent_id": order, "idx": 0, "item": "tea", "qty": Decimal("1")})
    v2 = shop.load(V1.replace("note: {type: string, max_length: 40}", "note: {type: string, max_length: 41}"))
    migrate(v2, db_engine)
    assert rows(db_engine, v2, "sales_order_lines", "parent_id", "item") == [(order, "tea")]
    with db_engine.begin() as connection:  # and the cascade still works afterwards
        connection.exec_driver_sql(f"DELETE FROM sales_order WHERE id = {order}")
    assert rows(db_engine, v2, "sales_order_lines", "parent_id", "item") == []


def test_sqlite_plan_shows_the_table_copy(shop, tmp_path):
    from engine.db import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'copy.sqlite'}")
    try:
        migrate(shop.load(V1), engine)
        (change,) = plan(shop.load(V1.replace("note: {type: string, max_length: 40}",
                                              "note: {type: string, max_length: 41}")), engine).changes
        assert change.sql[0].startswith("CREATE TABLE _alembic_tmp_sales_order (")
        assert change.sql[1].startswith("INSERT INTO _alembic_tmp_sales_order (")
        assert change.sql[2:4] == ("DROP TABLE sales_order", "ALTER TABLE _alembic_tmp_sales_order RENAME TO sales_order")
        assert "CREATE INDEX ix_sales_order_customer ON sales_order (customer)" in change.sql
    finally:
        engine.dispose()


def test_sqlite_table_copy_keeps_triggers_and_refuses_to_leave_broken_links(shop, tmp_path):
    from engine.db import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'links.sqlite'}")
    try:
        v1 = shop.load(V1)
        migrate(v1, engine)
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TRIGGER customer_touch AFTER UPDATE OF name ON customer "
                "BEGIN UPDATE customer SET version = version + 1 WHERE id = NEW.id; END")
        (customer,) = add(engine, v1, "customer", {"code": "A", "name": "Ann"})
        v2 = shop.load(V1.replace("max_length: 40}", "max_length: 50}", 1))
        the_plan = plan(v2, engine)
        (change,) = the_plan.changes
        assert change.sql[-1].startswith("CREATE TRIGGER customer_touch AFTER UPDATE OF name ON customer")
        original = change.run

        def also_break_a_link(do):
            original(do)
            do.sql("INSERT INTO sales_order (doc_no, docstatus, created_at, modified_at, version, customer) "
                   "VALUES ('X', 'draft', '2026-01-01', '2026-01-01', 1, 999)")

        the_plan.changes[0] = change.__class__(**{**change.__dict__, "run": also_break_a_link})
        with pytest.raises(MigrationError, match="would leave record 1 of sales_order pointing to a missing customer"):
            apply(the_plan, engine)
        assert raw(engine, "SELECT count(*) FROM sales_order") == [(0,)]

        migrate(v2, engine)
        with engine.begin() as connection:
            connection.exec_driver_sql(f"UPDATE customer SET name = 'Anna' WHERE id = {customer}")
        assert raw(engine, "SELECT version FROM customer") == [(2,)]
        assert columns(engine, "customer")["remark"]["type"].length == 50
    finally:
        engine.dispose()


def test_sqlite_table_copy_keeps_autoincrement_and_its_counter(tmp_path):
    from sqlalchemy import String

    from engine.db import create_engine
    from engine.migrate import _Do, _operations  # the table copy itself

    engine = create_engine(f"sqlite:///{tmp_path / 'counter.sqlite'}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, note VARCHAR(10))")
            connection.exec_driver_sql("INSERT INTO log (note) VALUES ('a'), ('b'), ('c')")
            connection.exec_driver_sql("DELETE FROM log WHERE id = 3")
            do = _Do(_operations(connection, sqlalchemy.MetaData()), True, connection.dialect)
            with do.batch("log") as batch:
                batch.alter_column("note", type_=String(20), existing_type=String(10))
            connection.exec_driver_sql("INSERT INTO log (note) VALUES ('d')")
        assert "AUTOINCREMENT" in raw(engine, "SELECT sql FROM sqlite_master WHERE name = 'log'")[0][0]
        assert raw(engine, "SELECT id, note FROM log ORDER BY id") == [(1, "a"), (2, "b"), (4, "d")]
    finally:
        engine.dispose()


# --- the command line ----------------------------------------------------------------------------------------


def test_cli_dry_run_prints_the_plan_and_changes_nothing(shop, tmp_path, capsys):
    shop.load(V1)
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    assert cli.main(["migrate", "apps/shop", "--db", url]) == 0
    out = capsys.readouterr().out
    assert ". create table jxc_column_type (jxc's own)\n       CREATE TABLE jxc_column_type (\n" in out
    assert out.rstrip().endswith("changes")
    assert "applied" in out.splitlines()[-1]

    shop.load(V2)
    assert cli.main(["migrate", "apps/shop", "--db", url, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "widen customer.remark from 40 to 500 characters\n" in out
    assert "add field 'grade' to customer\n       ALTER TABLE customer ADD COLUMN grade VARCHAR(64);\n" in out
    assert out.splitlines()[-1].startswith("dry run: nothing was changed")
    engine = sqlalchemy.create_engine(url)
    try:
        assert "warehouse" not in tables(engine)
        assert "grade" not in columns(engine, "customer")
    finally:
        engine.dispose()
    assert cli.main(["migrate", "apps/shop", "--db", url]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "applied 8 changes"
    assert cli.main(["migrate", "apps/shop", "--db", url]) == 0
    assert capsys.readouterr().out.strip() == "nothing to change: the database matches the app"


def test_cli_refuses_a_destructive_change_with_its_explanation(shop, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("JXC_DB", raising=False)
    shop.load(V1)
    assert cli.main(["migrate", "apps/shop"]) == 0  # default database: the app's data folder
    assert (tmp_path / "apps" / "shop" / "data" / "jxc.sqlite").exists()
    capsys.readouterr()
    shop.load(V1.replace("      visits: int\n", ""))
    for extra in (["--dry-run"], []):
        assert cli.main(["migrate", "apps/shop", *extra]) == 1
        captured = capsys.readouterr()
        assert "  1. REFUSED: drop field 'visits' from customer" in captured.out
        assert "refused 1 change; the database was not changed:" in captured.out
        assert "- dropping field 'visits' from customer (it holds no values); run with --allow-drop to keep a backup " \
               "table jxc_backup_customer_visits_" in captured.out
    assert cli.main(["migrate", "apps/shop", "--allow-drop"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "applied 1 change"


def test_cli_explains_a_bad_database_or_app(shop, capsys):
    shop.load(V1)
    assert cli.main(["migrate", "apps/shop", "--db", "mysql://x/y"]) == 1
    assert "jxc runs on SQLite or PostgreSQL" in capsys.readouterr().err
    assert cli.main(["migrate", "apps/nowhere", "--db", "sqlite://"]) == 1
    assert "there is no app folder apps/nowhere" in capsys.readouterr().err


def test_cli_help_is_for_admins(capsys):
    with pytest.raises(SystemExit):
        cli.main(["migrate", "--help"])
    out = capsys.readouterr().out
    assert "--allow-drop" in out and "backup" in out and "--dry-run" in out
