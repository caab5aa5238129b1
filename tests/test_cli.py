"""The jxc command line as an admin uses it: messages and exit codes, never a traceback."""

from __future__ import annotations

import pytest

from engine.cli import main
from tests.conftest import PG_URL

APP = """
entities:
  item:
    label: 物料
    fields:
      code: {type: string, label: 编码}
  sales_order:
    kind: document
    fields:
      customer: string
      lines:
        type: table
        label: 明细
        fields:
          item: {type: link, link: item}
          qty: {type: decimal, scale: 3, label: 数量}
          price: {type: money, label: 单价}
          amount: {type: money, formula: "{数量} * {单价}"}
      total: {type: money, formula: SUM(lines.amount)}
"""


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_prints_a_summary_for_a_good_app(shop, capsys):
    shop.write(APP)
    code, out, _ = run(capsys, "check", "apps/shop")
    assert code == 0
    assert "app shop: 小店" in out
    assert "entities       2 (1 documents, 1 master data), 1 tables of rows" in out
    assert "OK: no problems found" in out


def test_check_lists_every_problem_and_exits_1(shop, capsys):
    shop.write(APP.replace("qty: {type: decimal", "qty: {type: decimel").replace("SUM(lines.amount)", "SUM(lines.amout)"))
    code, out, err = run(capsys, "check", "apps/shop")
    assert code == 1
    assert f"{shop.at('decimel')}: error: 'decimel' is not a known field type" in out
    assert f"{shop.at('amout')}: error: sales_order_lines has no field 'amout'" in out
    assert "2 problems in apps/shop" in err
    assert "Traceback" not in out + err


def test_check_print_shows_the_assembled_app(shop, capsys):
    shop.write(APP)
    code, out, _ = run(capsys, "check", "apps/shop", "--print")
    assert code == 0
    assert "sales_order:\n    kind: document" in out
    assert "formula: '{数量} * {单价}'" in out


def test_check_of_a_missing_folder(shop, capsys):
    (shop.root / "apps" / "shop").mkdir(parents=True)
    code, _, err = run(capsys, "check", "apps/shpo")
    assert code == 1
    assert "jxc: there is no app folder apps/shpo (did you mean 'shop'?)" in err


def test_formula_without_an_app(capsys):
    code, out, _ = run(capsys, "formula", 'ROUND(2.5, 0) & "个"')
    assert (code, out.strip()) == (0, '= "3个"    (text)')


def test_formula_error_is_located_with_a_caret(capsys):
    code, out, _ = run(capsys, "formula", "ROUND(2.5,, 0)")
    assert code == 1
    assert out.splitlines() == ["formula:1:11: error: unexpected ','", "    ROUND(2.5,, 0)", "              ^"]
    _, out, _ = run(capsys, "formula", "{数量}*2 + {价格")
    assert out.splitlines() == ["formula:1:10: error: this {label} has no closing }", "    {数量}*2 + {价格",
                                "               ^"]  # wide characters count twice, so the caret lines up


def test_formula_on_a_record(shop, capsys):
    shop.write(APP)
    code, out, _ = run(capsys, "formula", "{数量} * {单价}", "--app", "apps/shop", "--entity", "sales_order_lines",
                       "--record", '{"qty": 2.5, "price": "3.10"}')
    assert (code, out.strip()) == (0, "= 7.75    (a number)")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_formula_runs_in_the_database_too(shop, capsys, database):
    shop.write(APP)
    url = f"sqlite:///{shop.root / 'try.sqlite'}" if database == "sqlite" else PG_URL
    code, out, _ = run(capsys, "formula", "SUM(lines.amount) / 3", "--app", "apps/shop", "--entity", "sales_order",
                       "--record", '{"lines": [{"qty": 1, "price": 1, "amount": "10.00"}, {"amount": "0.01"}]}',
                       "--db", url)
    assert code == 0
    assert out.splitlines() == ["= 3.3366666667    (a number)",
                                f"SQL ({database}): 3.3366666667    (same as Python)"]


def test_formula_division_by_zero_is_an_error_not_a_crash(capsys):
    code, out, _ = run(capsys, "formula", "1 / (2 - 2)")
    assert (code, out.strip()) == (1, "error: division by zero")


@pytest.mark.parametrize(("args", "message"), [
    (["formula", "qty", "--entity", "item"], "jxc: --entity needs --app"),
    (["formula", "1", "--record", "{}"], "jxc: --record needs --app and --entity"),
    (["formula", "1", "--today", "31/01/2026"], "jxc: --today must be a date like 2026-01-31"),
    (["formula", "1", "--db", "mysql://localhost/x"], "jxc: jxc runs on SQLite or PostgreSQL, not mysql"),
])
def test_formula_argument_mistakes(capsys, args, message):
    code, _, err = run(capsys, *args)
    assert code == 1
    assert err.startswith(message)


def test_bad_record_json_names_the_problem(shop, capsys):
    shop.write(APP)
    code, _, err = run(capsys, "formula", "qty", "--app", "apps/shop", "--entity", "sales_order_lines",
                       "--record", '{"qty": "lots"}')
    assert code == 1
    assert err.strip() == 'jxc: --record: qty must be a number (e.g. "12.50")'
    code, _, err = run(capsys, "formula", "qty", "--app", "apps/shop", "--entity", "sales_order_lines",
                       "--record", '{"qty": 1')
    assert err.startswith("jxc: --record is not valid JSON: Expecting ',' delimiter at line 1 column 10")


def test_unknown_command_and_help(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["bogus"])
    assert exited.value.code == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "jxc builds purchase, sales and inventory (进销存) apps" in capsys.readouterr().out


def test_demo_loads_once_and_user_add_checks_roles(tmp_path, monkeypatch, capsys):
    import shutil
    from pathlib import Path

    repo = Path(__file__).parent.parent
    shutil.copytree(repo / "apps", tmp_path / "apps", ignore=shutil.ignore_patterns("data"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JXC_DB", raising=False)
    code, out, err = run(capsys, "demo", "apps/no_stock")
    assert code == 0
    assert out.strip().startswith("demo data: created 3 item_category, 3 customer")
    assert "database updated:" in err and "demo data: 23/23 records" in err
    code, out, _ = run(capsys, "demo", "apps/no_stock")
    assert (code, out.strip()) == (0, "demo data: created nothing new; 23 already loaded")
    assert (tmp_path / "apps" / "no_stock" / "data" / "jxc.sqlite").exists()

    code, out, _ = run(capsys, "user", "add", "zhang", "--role", "purchaser", "--full-name", "张三",
                       "--app", "apps/no_stock")
    assert (code, out.strip()) == (0, "added user zhang (purchaser)")
    code, _, err = run(capsys, "user", "add", "li", "--role", "buyer", "--app", "apps/no_stock")
    assert code == 1
    assert "jxc: 1 problem: roles: the app has no role 'buyer'" in err
    code, _, err = run(capsys, "user", "add", "zhang", "--app", "apps/no_stock")
    assert "there is already a user 'zhang'" in err
    code, out, _ = run(capsys, "user", "list", "--app", "apps/no_stock")
    assert (code, out.strip()) == (0, "zhang 张三: purchaser")
