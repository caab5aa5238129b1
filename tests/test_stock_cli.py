"""`jxc stock ...` as an admin uses it: readable reports, exit 1 on any mismatch or refusal, never a traceback."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, update

from engine.cli import main
from engine.db import create_engine
from engine.schema import build_schema
from tests.service_helpers import APPS
from tests.stock_services_helpers import build_food_world, food_app, trade_september_october

FOOD = str(APPS / "food")


@pytest.fixture
def url(tmp_path) -> str:
    """A SQLite database with the September–October trade of the food world."""
    address = f"sqlite:///{tmp_path / 'food.sqlite'}"
    engine = create_engine(address)
    try:
        trade_september_october(build_food_world(engine))
    finally:
        engine.dispose()
    return address


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["stock", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_says_all_consistent_then_names_a_damaged_balance_and_exits_1(url: str, capsys) -> None:
    code, out, _ = _run(capsys, "verify", FOOD, "--db", url)
    assert code == 0
    assert out.startswith("库存账全部一致（已检查 ")
    schema = build_schema(food_app())
    balance, items = schema.stock["balance"], schema.tables["item"]
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            sugar = connection.execute(select(items.c.id).where(items.c.code == "SUGAR")).scalar_one()
            connection.execute(update(balance).where(balance.c.item == sugar, balance.c.batch_key != 0)
                               .values(on_hand=Decimal(9), available=Decimal(9)))
    finally:
        engine.dispose()
    code, out, err = _run(capsys, "verify", FOOD, "--db", url)
    assert code == 1
    assert "发现 2 处不一致" in out
    assert "物料 SUGAR 白糖, 仓库 A 仓库A, 批次 S1: 库存余额的数量 9 与台账合计 10 不符" in out
    assert "Traceback" not in err


def test_close_period_closes_once_and_refuses_again_or_bad_dates(url: str, capsys) -> None:
    code, out, _ = _run(capsys, "close-period", FOOD, "--db", url, "--until", "2026-09-30")
    assert (code, out) == (0, "已结账至 2026-09-30：保存了 3 条期末余额\n")
    code, _, err = _run(capsys, "close-period", FOOD, "--db", url, "--until", "2026-09-30")
    assert code == 1 and "jxc: 库存已结账至 2026-09-30，不能重复结账 (stock is already closed until 2026-09-30)" in err
    code, _, err = _run(capsys, "close-period", FOOD, "--db", url, "--until", "2026-10-15")
    assert code == 1 and "结账日期必须是月末：2026-10-15 不是（该月月末是 2026-10-31）" in err
    code, _, err = _run(capsys, "close-period", FOOD, "--db", url, "--until", "31.10.2026")
    assert code == 1 and "jxc: --until must be a date like 2026-10-31, not '31.10.2026'" in err
    code, out, _ = _run(capsys, "verify", FOOD, "--db", url)
    assert code == 0 and "1 个已结账期间" in out


def test_trace_prints_the_recall_list_and_explains_unknown_batches_and_items(url: str, capsys) -> None:
    code, out, _ = _run(capsys, "trace", FOOD, "--db", url, "--batch", "F1", "--item", "FLOUR")
    assert code == 0
    assert out.splitlines()[-3:] == ["  召回名单（客户：净收货数量）：", "    C1 永辉超市: 30", "    C2 明达经销: 20"]
    code, _, err = _run(capsys, "trace", FOOD, "--db", url, "--batch", "F1", "--item", "FLOR")
    assert code == 1 and "jxc: 没有编码为 FLOR 的商品/原料 (did you mean 'FLOUR'?)" in err
    code, _, err = _run(capsys, "trace", FOOD, "--db", url, "--batch", "X9")
    assert code == 1 and "jxc: 没有批次号为 X9 的批次" in err


def test_balance_as_of_a_day_lists_item_and_warehouse_with_the_total(url: str, capsys) -> None:
    code, out, _ = _run(capsys, "balance", FOOD, "--db", url, "--as-of", "2026-09-30")
    assert code == 0
    assert out.splitlines() == ["2026-09-30 日终库存：", "  FLOUR 面粉  A 仓库A  150  650.00",
                                "  SUGAR 白糖  A 仓库A  10  30.00", "合计金额 680.00（2 行）"]


def test_an_app_without_stock_is_told_so(tmp_path, capsys) -> None:
    code, _, err = _run(capsys, "verify", str(APPS / "no_stock"), "--db", f"sqlite:///{tmp_path / 'x.sqlite'}")
    assert code == 1 and "keeps no stock: its app.yaml has no stock: settings" in err



def test_close_period_keeps_who_closed_it_and_refuses_an_unknown_user(url: str, capsys) -> None:
    from engine.users import add_user

    engine = create_engine(url)
    try:
        schema = build_schema(food_app())
        add_user(engine, food_app(), schema, "li_kuaiji", roles=["admin"])
        code, _, err = _run(capsys, "close-period", FOOD, "--db", url, "--until", "2026-09-30", "--user", "nobody")
        assert code == 1 and "there is no active user 'nobody'" in err
        period = schema.stock["period"]
        with engine.connect() as connection:
            assert connection.execute(select(period.c.id)).first() is None  # nothing closed
        code, _, _ = _run(capsys, "close-period", FOOD, "--db", url, "--until", "2026-09-30", "--user", "li_kuaiji")
        users = schema.users
        with engine.connect() as connection:
            closed_by = connection.execute(select(users.c.name).join(period, period.c.closed_by == users.c.id)).scalar()
        assert (code, closed_by) == (0, "li_kuaiji")
    finally:
        engine.dispose()
