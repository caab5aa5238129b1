"""Platform messages on a page read in the user's language: a workflow refusal and a link typed as text that
matches no record or several are Chinese on a zh-CN page and English on an English page; and every
`Message("...")` template in engine/ and dsl/ (the formula language's runtime errors) has a Chinese translation,
so no new one reaches a zh-CN page in English."""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from dsl.formula import types as t
from dsl.formula.errors import FormulaError
from dsl.formula.parser import parse
from dsl.messages import Message
from engine.web.i18n import LOCALE_DIR, load
from tests.web_helpers import Web, app_folder, start_on, visible_text
from tests.web_no_stock import Shop, errors_at, no_stock_shop, send

ENGINE = Path(__file__).parent.parent / "engine"
DSL = ENGINE.parent / "dsl"


@pytest.fixture
def shop(db_engine) -> Iterator[Shop]:
    shop = no_stock_shop(db_engine)
    yield shop
    shop.web.close()


def _requested_order(shop: Shop) -> tuple[int, str]:
    """A purchase order cai made and sent for approval; its version as a form would post it."""
    web = shop.web
    web.login("cai")
    made = send(web, "/e/purchase_order/new", {
        "supplier": str(shop.supplier), "order_date": "2026-03-05", "lines[0].item": str(shop.bolt),
        "lines[0].qty": "10"})
    assert made.status_code == 303, visible_text(made.text)[:1500]
    order_id = int(made.headers["location"].rsplit("/", 1)[1])
    shop.as_user("cai").transition("purchase_order", order_id, "request", version=1)
    return order_id, str(shop.system.get("purchase_order", order_id)["version"])


def _refusal(page: str) -> str:
    """The refusal shown above the form (the text of its alert)."""
    found = re.search(r'<div[^>]*data-message>(.*?)</div>', page, re.S)
    assert found, visible_text(page)[:1500]
    return html.unescape(found.group(1)).strip()


def test_a_transition_by_a_user_without_its_role_is_refused_in_the_users_language(shop: Shop) -> None:
    order_id, version = _requested_order(shop)
    web = shop.web  # cai is a purchaser; approving is the purchase manager's
    refused = send(web, f"/e/purchase_order/{order_id}/do/approve", {"version": version})
    assert refused.status_code == 403
    chinese = _refusal(refused.text)
    assert "无权对采购订单（purchase_order）执行 批准 (approve)；该操作属于：" in chinese, chinese
    assert "may not" not in chinese and "that is for" not in chinese

    web.client.cookies.set("jxc_lang", "en")
    refused = send(web, f"/e/purchase_order/{order_id}/do/approve", {"version": version})
    assert refused.status_code == 403
    english = _refusal(refused.text)
    assert "cai may not 批准 (approve) 采购订单 (purchase_order); that is for " in english, english
    assert shop.system.get("purchase_order", order_id)["workflow_state"] == "pending"  # nothing happened


def test_a_transition_from_the_wrong_state_is_refused_in_the_users_language(shop: Shop) -> None:
    order_id, version = _requested_order(shop)
    web = shop.web
    refused = send(web, f"/e/purchase_order/{order_id}/do/request", {"version": version})  # asked already
    assert refused.status_code == 409
    chinese = _refusal(refused.text)
    assert "只能从这些状态执行" in chinese and "is taken from" not in chinese, chinese

    web.client.cookies.set("jxc_lang", "en")
    refused = send(web, f"/e/purchase_order/{order_id}/do/request", {"version": version})
    english = _refusal(refused.text)
    assert " is taken from: " in english and "只能" not in english, english


def test_a_refusal_in_the_inbox_lists_its_problems_in_the_users_language(shop: Shop) -> None:
    order_id, version = _requested_order(shop)
    web = shop.web
    web.client.post("/logout", data={"csrf_token": web.token("/")})
    web.login("jing")  # the purchase manager rejects without the reason a rejection needs
    reject = {"entity": "purchase_order", "id": str(order_id), "action": "reject", "version": version}
    refused = web.post("/inbox/act", reject, token_from="/inbox")
    assert refused.status_code == 422
    shown = visible_text(refused.text)
    assert "1 个问题：comment: 驳回 (reject) 需要填写意见（原因）" in shown and "needs a comment" not in shown
    assert f"采购订单 草稿 #{order_id}" in shown  # the waiting order's title, in Chinese too

    web.client.cookies.set("jxc_lang", "en")
    refused = web.post("/inbox/act", reject, token_from="/inbox")
    shown = visible_text(refused.text)
    assert "1 problem: comment: 驳回 (reject) needs a comment (the reason)" in shown, shown
    assert f"采购订单 draft #{order_id}" in shown
    assert shop.system.get("purchase_order", order_id)["workflow_state"] == "pending"


def _order_with_texts(shop: Shop, supplier: str, item: str) -> dict[str, str]:
    return {"supplier": "", "supplier__text": supplier, "order_date": "2026-03-05",
            "lines[0].item": "", "lines[0].item__text": item, "lines[0].qty": "1"}


def test_a_link_that_matches_no_record_or_several_is_a_problem_in_the_users_language(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    page = send(web, "/e/purchase_order/new", _order_with_texts(shop, "不存在", "螺"))
    assert page.status_code == 422
    assert errors_at(page.text, "supplier") == ["没有与“不存在”匹配的供应商"]
    assert errors_at(page.text, "lines[0].item") == ["“螺”匹配到多条：M8 螺栓、M8N 螺母；请选择其中一条"]

    web.client.cookies.set("jxc_lang", "en")
    page = send(web, "/e/purchase_order/new", _order_with_texts(shop, "不存在", "螺"))
    assert page.status_code == 422
    assert errors_at(page.text, "supplier") == ["no 供应商 matches '不存在'"]
    assert errors_at(page.text, "lines[0].item") == ["'螺' matches several: M8 螺栓、M8N 螺母; choose one"]
    assert shop.system.list("purchase_order").rows == []


# A form whose computed fields fail on what the user typed (nobody to share with: division by zero; a negative
# count for LEFT) and whose validation has no message of its own.
SPLIT = """
name: split
title: {zh: 分摊, en: Sharing}
entities:
  share:
    label: {zh: 分摊, en: Share}
    key: code
    fields:
      code: {type: string, required: true}
      total: {type: money, label: {zh: 金额, en: Amount}}
      people: {type: int, label: {zh: 人数, en: People}, validate: people <= 10}
      each: {type: money, label: {zh: 每人, en: Each}, formula: total / people}
      initials: {type: string, label: {zh: 缩写, en: Initials}, formula: "LEFT(code, people - 5)"}
  carton:
    label: {zh: 箱, en: Carton}
    key: code
    fields:
      code: {type: string, required: true}
      boxes: {type: int, label: {zh: 盒数, en: Boxes}}
      pieces: {type: decimal, precision: 3, scale: 0, label: {zh: 件数, en: Pieces}, formula: boxes * 12}
"""


@pytest.fixture
def split(db_engine) -> Iterator[Web]:
    web = Web(start_on(db_engine, app_folder(SPLIT)))
    web.user("boss", "admin")
    web.login("boss")
    yield web
    web.close()


def test_a_formula_failing_on_what_the_user_typed_is_said_in_the_users_language(split: Web) -> None:
    web = split
    nobody = {"code": "A", "total": "100", "people": "0"}
    page = send(web, "/e/share/new", nobody)
    assert page.status_code == 422
    assert errors_at(page.text, "each") == ["无法计算：除数为零"]
    assert errors_at(page.text, "initials") == ["无法计算：LEFT：字符数不能为负数"]
    live = web.client.post("/e/share/compute", data={"csrf_token": web.token("/"), **nobody}).json()
    assert live["errors"] == {"each": ["无法计算：除数为零"], "initials": ["无法计算：LEFT：字符数不能为负数"]}

    web.client.cookies.set("jxc_lang", "en")
    page = send(web, "/e/share/new", nobody)
    assert page.status_code == 422
    assert errors_at(page.text, "each") == ["cannot be computed: division by zero"]
    assert errors_at(page.text, "initials") == ["cannot be computed: LEFT: the number of characters cannot be negative"]
    assert web.started.records.system().list("share").rows == []  # nothing was saved

    shared = send(web, "/e/share/new", {**nobody, "people": "8"})  # corrected: it saves, and computes
    assert shared.status_code == 303, visible_text(shared.text)[:1500]
    assert [(row["each"], row["initials"]) for row in web.started.records.system().list("share").rows] == [
        (Decimal("12.50"), "A")]


def test_a_computed_value_too_large_for_its_field_is_said_in_the_users_language(split: Web) -> None:
    web = split
    page = send(web, "/e/carton/new", {"code": "K", "boxes": "100"})  # 1200 pieces: 3 digits hold at most 999
    assert page.status_code == 422
    assert errors_at(page.text, "pieces") == ["无法保存：1200 的位数超出了这个字段的范围"]

    web.client.cookies.set("jxc_lang", "en")
    page = send(web, "/e/carton/new", {"code": "K", "boxes": "100"})
    assert errors_at(page.text, "pieces") == ["cannot be stored: 1200 has too many digits for this field"]
    assert web.started.records.system().list("carton").rows == []


def test_a_validation_without_a_message_of_its_own_is_said_in_the_users_language(split: Web) -> None:
    web = split
    crowd = {"code": "A", "total": "100", "people": "11"}
    page = send(web, "/e/share/new", crowd)
    assert page.status_code == 422
    assert errors_at(page.text, "people") == ["必须满足 people <= 10"]

    web.client.cookies.set("jxc_lang", "en")
    page = send(web, "/e/share/new", crowd)
    assert errors_at(page.text, "people") == ["must satisfy people <= 10"]
    assert web.started.records.system().list("share").rows == []


def _filter_problem(web: Web, formula: str) -> str:
    """The problem a list page shows above its (empty) table for a filter the user typed."""
    page = web.get("/e/share", params={"filter": formula})
    assert page.status_code == 400, visible_text(page.text)[:1500]
    found = re.search(r'data-problem="query">([^<]*)<', page.text)
    assert found, visible_text(page.text)[:1500]
    return html.unescape(found.group(1)).strip()


def test_a_mistake_in_a_list_filter_is_said_with_its_hint_in_the_users_language(split: Web) -> None:
    web = split
    assert _filter_problem(web, "peeple > 1").endswith("筛选条件第 1 列：share 没有字段“peeple”（是不是想写“people”？）")
    assert _filter_problem(web, 'people > "3"').endswith(
        "筛选条件第 8 列：不能把整数和文本比较（数字和文本不同：数字不要加引号，文本请用 \"…\" 比较）")
    assert _filter_problem(web, "total + people >").endswith("筛选条件第 17 列：公式提前结束")
    assert _filter_problem(web, 'LEFT(code, 1, 2) = "A"').endswith(
        "筛选条件第 1 列：LEFT 需要 1 到 2 个参数，但给了 3 个（写法：LEFT(text, [count])）")

    web.client.cookies.set("jxc_lang", "en")
    assert _filter_problem(web, "peeple > 1").endswith(
        "filter, column 1: share has no field 'peeple' (did you mean 'people'?)")
    assert _filter_problem(web, 'people > "3"').endswith(
        "filter, column 8: cannot compare a whole number with text (numbers and text differ: write the number "
        'without quotes, or compare text with "…")')
    assert _filter_problem(web, "total + people >").endswith("filter, column 17: the formula ends too early")


def test_every_type_and_expected_token_in_a_formula_error_reads_in_chinese() -> None:
    """Types inside a message (a list of records, the rows of a table) and the tokens a parser expected are
    translated as well, not only the sentence around them."""
    i18n = load()
    listed = Message("cannot look for {value} in {options}", value=t.TEXT.describe(),
                     options=t.list_of(t.record("warehouse")).describe())
    assert listed == "cannot look for text in a list of a warehouse record"
    assert i18n.message("zh_CN", listed) == "不能在warehouse 记录的列表中查找文本"
    with pytest.raises(FormulaError) as caught:
        parse("price.")
    assert caught.value.message == "the formula ends too early; expected a field or function name or a {label}"
    assert i18n.message("zh_CN", caught.value.message) == "公式提前结束；这里应为字段名或函数名或{label}"


def _imports_message(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.ImportFrom) and node.module in ("engine.messages", "dsl.messages")
               and any(alias.name == "Message" for alias in node.names) for node in ast.walk(tree))


def engine_templates() -> dict[str, str]:
    """Every literal template given to Message (engine/messages.py, dsl/messages.py) in engine/ and dsl/, with
    where it is."""
    found: dict[str, str] = {}
    for path in [*sorted(ENGINE.rglob("*.py")), *sorted(DSL.rglob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        if not _imports_message(tree):
            continue  # another module's Message (engine/notify) is not this one
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Message" \
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.setdefault(node.args[0].value, f"{path.relative_to(ENGINE.parent)}:{node.lineno}")
    return found


def test_every_message_template_in_the_engine_has_a_chinese_translation() -> None:
    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "jxc.po").open("rb") as source:
        catalog = read_po(source, locale="zh_CN")
    translated = {str(entry.id) for entry in catalog if entry.id and entry.string}
    templates = engine_templates()
    assert len(templates) > 80  # the scan sees the engine's messages (workflow, records, lifecycle, forms...)
    assert "{user} may not {action} {label} ({entity}); that is for {who}" in templates
    assert templates["division by zero"].startswith("dsl/formula/")  # the formula runtime's errors are seen too
    assert "must satisfy {rule}" in templates
    missing = {template: where for template, where in templates.items() if template not in translated}
    assert missing == {}


def test_each_message_is_in_each_catalog_once() -> None:
    """Babel keeps one of two entries with the same msgid silently: a second translation would never show."""
    for language in ("zh_CN", "en"):
        text = (LOCALE_DIR / language / "LC_MESSAGES" / "jxc.po").read_text(encoding="utf-8")
        ids = [i for i in re.findall(r'^msgid (".*")$', text, re.M) if i != '""']  # "": the header, or wrapped
        assert sorted({i for i in ids if ids.count(i) > 1}) == [], language


def test_a_missing_page_or_record_is_said_in_the_users_language(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    nowhere = web.get("/nowhere")
    assert nowhere.status_code == 404
    assert "Not Found" not in visible_text(nowhere.text)  # Starlette's default detail, English
    missing = web.get("/e/purchase_order/999")
    assert missing.status_code == 404 and "不存在 id 为 999 的 purchase_order" in visible_text(missing.text)
    unknown = web.get("/e/nonsense/new")
    assert unknown.status_code == 404 and "没有实体“nonsense”" in visible_text(unknown.text)

    web.client.cookies.set("jxc_lang", "en")
    missing = web.get("/e/purchase_order/999")
    assert "there is no purchase_order with id 999" in visible_text(missing.text)
