"""Form views: new and saved records drawn from the model, saved through the service layer (progressively: a
plain post works without JavaScript), the live compute round-trip, link lookups, problems next to their
fields, optimistic locking and CSRF."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.web.widgets import display_text, input_text
from tests.web_helpers import Web, app_folder, start_on, visible_text
from tests.web_no_stock import Shop, buttons, errors_at, no_stock_shop, send


@pytest.fixture
def shop(db_engine) -> Iterator[Shop]:
    shop = no_stock_shop(db_engine)
    yield shop
    shop.web.close()


def order_post(shop: Shop, **extra: str) -> dict[str, str]:
    """A purchase order of 10 bolts at the item's price and 4 nuts at 2.50."""
    return {"supplier": str(shop.supplier), "order_date": "2026-03-05",
            "lines[0].item": str(shop.bolt), "lines[0].qty": "10",
            "lines[1].item": str(shop.nut), "lines[1].qty": "4", "lines[1].price": "2.50", **extra}


def new_id(response) -> int:
    assert response.status_code == 303, visible_text(response.text)[:1500]
    found = re.fullmatch(r"/e/purchase_order/(\d+)", response.headers["location"])
    assert found, response.headers["location"]
    return int(found.group(1))


@pytest.mark.both_dbs
def test_a_purchase_order_with_two_lines_is_saved_and_shown_with_the_totals_the_server_computed(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    form = web.get("/e/purchase_order/new")
    assert form.status_code == 200
    assert 'name="lines[0].item"' in form.text and 'name="order_date"' in form.text
    assert 'name="subtotal"' not in form.text  # computed: shown, never typed

    order_id = new_id(send(web, "/e/purchase_order/new", order_post(shop)))

    stored = shop.system.get("purchase_order", order_id)
    # 10 × 32.00 (the item's purchase price, a default) = 320.00 at 13%; 4 × 2.50 = 10.00 at 9%
    assert [(line["price"], line["amount"], line["tax"]) for line in stored["lines"]] == [
        (Decimal("32.00"), Decimal("320.00"), Decimal("41.60")), (Decimal("2.50"), Decimal("10.00"), Decimal("0.90"))]
    assert (stored["subtotal"], stored["tax"], stored["total"]) == (Decimal("330.00"), Decimal("42.50"),
                                                                     Decimal("372.50"))
    page = web.get(f"/e/purchase_order/{order_id}")
    text = visible_text(page.text)
    assert "金额合计 330.00" in text and "价税合计 372.50" in text
    assert "宁波五金" in page.text and "M8 螺栓" in page.text  # links shown by their records' names


def test_the_compute_endpoint_gives_the_numbers_the_save_then_stores(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    token = web.token("/")
    answer = web.client.post("/e/purchase_order/compute", data={"csrf_token": token, **order_post(shop)})
    assert answer.status_code == 200
    live = answer.json()
    order_id = new_id(send(web, "/e/purchase_order/new", order_post(shop)))
    stored = shop.system.get("purchase_order", order_id)
    assert live["values"]["total"]["text"] == "372.50" and live["values"]["total"]["shown"] == "372.50"
    assert live["values"]["lines[0].price"]["text"] == "32.00"  # the default, for an input still empty
    assert live["values"]["lines[1].amount_with_tax"]["text"] == input_text(
        shop.web.started.app.entities["purchase_order_lines"].fields["amount_with_tax"],
        stored["lines"][1]["amount_with_tax"])
    assert live["errors"] == {}
    assert "supplier" in live["required"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("99999"), places=3),
                                st.decimals(min_value=Decimal("0"), max_value=Decimal("9999"), places=2)),
                      min_size=1, max_size=4))
def test_live_totals_equal_the_saved_totals_for_any_quantities_and_prices(shop: Shop, lines) -> None:
    web = shop.web
    if "jxc_session" not in web.client.cookies:
        web.login("cai")
    data = {"supplier": str(shop.supplier), "order_date": "2026-03-05"}
    for index, (qty, price) in enumerate(lines):
        data |= {f"lines[{index}].item": str(shop.bolt), f"lines[{index}].qty": str(qty),
                 f"lines[{index}].price": str(price)}
    token = web.token("/")
    live = web.client.post("/e/purchase_order/compute", data={"csrf_token": token, **data}).json()
    stored = shop.system.get("purchase_order", new_id(send(web, "/e/purchase_order/new", data)))
    fields = shop.web.started.app.entities["purchase_order"].fields
    for name in ("subtotal", "tax", "total"):
        assert live["values"][name]["shown"] == display_text(fields[name], stored[name], "zh-CN")


def test_every_problem_is_shown_next_to_its_field_and_nothing_is_written(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    data = order_post(shop, supplier="", **{"lines[1].qty": "-1"})
    page = send(web, "/e/purchase_order/new", data)

    assert page.status_code == 422
    assert errors_at(page.text, "supplier") == ["必填"]  # the platform's own messages in the user's language too
    assert errors_at(page.text, "lines[1].qty") == ["数量必须大于 0"]
    assert 'value="-1"' in page.text  # what was typed, to correct it
    unreadable = send(web, "/e/purchase_order/new", order_post(shop, **{"lines[0].price": "abc"}))
    assert errors_at(unreadable.text, "lines[0].price") == ["“abc”不是数字"]
    assert 'value="abc"' in unreadable.text
    assert shop.system.list("purchase_order").rows == []
    live = web.client.post("/e/purchase_order/compute",
                           data={"csrf_token": web.token("/"), **data}).json()
    assert live["errors"]["lines[1].qty"] == ["数量必须大于 0"]  # the same problems, live
    assert live["errors"]["supplier"] == ["必填"]


def test_the_platforms_problems_read_in_english_when_the_user_chose_english(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    web.client.cookies.set("jxc_lang", "en")
    data = order_post(shop, supplier="", order_date="31/01/2026", **{"lines[1].price": "abc"})
    page = send(web, "/e/purchase_order/new", data)
    assert page.status_code == 422
    assert errors_at(page.text, "supplier") == ["is required"]
    assert errors_at(page.text, "order_date") == ["'31/01/2026' is not a date; write it as 2026-01-31"]
    assert errors_at(page.text, "lines[1].price") == ["'abc' is not a number"]
    web.client.cookies.set("jxc_lang", "zh-CN")
    page = send(web, "/e/purchase_order/new", data)
    assert errors_at(page.text, "order_date") == ["“31/01/2026”不是日期，请写成 2026-01-31"]
    assert shop.system.list("purchase_order").rows == []


def test_a_link_typed_as_text_is_found_by_search_and_an_unclear_one_is_a_problem_at_its_field(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    data = order_post(shop, supplier="", supplier__text="宁波")
    data |= {"lines[0].item": "", "lines[0].item__text": "螺栓"}
    order_id = new_id(send(web, "/e/purchase_order/new", data))
    stored = shop.system.get("purchase_order", order_id)
    assert (stored["supplier"], stored["lines"][0]["item"]) == (shop.supplier, shop.bolt)

    unclear = send(web, "/e/purchase_order/new", order_post(shop, **{"lines[0].item": "",
                                                                   "lines[0].item__text": "螺"}))
    assert unclear.status_code == 422
    assert errors_at(unclear.text, "lines[0].item") == ["“螺”匹配到多条：M8 螺栓、M8N 螺母；请选择其中一条"]
    exact = send(web, "/e/purchase_order/new", order_post(shop, **{"lines[0].item": "",
                                                                 "lines[0].item__text": "M8"}))
    assert shop.system.get("purchase_order", new_id(exact))["lines"][0]["item"] == shop.bolt  # its code, exactly
    nothing = send(web, "/e/purchase_order/new", order_post(shop, supplier="", supplier__text="不存在"))
    assert errors_at(nothing.text, "supplier") == ["没有与“不存在”匹配的供应商"]


def test_lookup_finds_records_by_their_search_fields_for_those_who_may_read_them(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    found = web.get("/lookup/item?q=螺")
    assert found.status_code == 200
    assert found.json() == [{"id": shop.bolt, "title": "M8 螺栓"}, {"id": shop.nut, "title": "M8N 螺母"}]
    assert web.get("/lookup/item?q=M8N").json() == [{"id": shop.nut, "title": "M8N 螺母"}]
    web.client.post("/logout", data={"csrf_token": web.token("/")})
    web.login("xiao")  # sales: no right to read suppliers
    refused = web.get("/lookup/supplier?q=宁波")
    assert refused.status_code == 403 and "宁波" not in refused.text


def test_rows_are_reordered_removed_and_added_through_the_form(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    order_id = new_id(send(web, "/e/purchase_order/new", order_post(shop)))
    stored = shop.system.get("purchase_order", order_id)
    bolt_row, nut_row = (line["id"] for line in stored["lines"])
    page = web.get(f"/e/purchase_order/{order_id}")
    assert f'name="lines[0].id" value="{bolt_row}"' in page.text
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)

    # the nut first, the bolt removed, a new line of 3 bolts added (a form without JavaScript posts the same)
    response = send(web, f"/e/purchase_order/{order_id}", {
        "version": version, "supplier": str(shop.supplier), "order_date": "2026-03-05",
        "lines[0].id": str(nut_row), "lines[0].item": str(shop.nut), "lines[0].qty": "4",
        "lines[1].id": str(bolt_row), "lines[1].item": str(shop.bolt), "lines[1].qty": "10",
        "lines[1]._delete": "on",
        "lines[2].item": str(shop.bolt), "lines[2].qty": "3",
        "lines[3].item": "", "lines[3].qty": "", "lines[3].price": ""})  # the spare row left blank
    assert response.status_code == 303, visible_text(response.text)[:800]
    lines = shop.system.get("purchase_order", order_id)["lines"]
    assert [(line["id"] == nut_row, line["qty"], line["amount"]) for line in lines] == [
        (True, Decimal("4.000"), Decimal("10.00")), (False, Decimal("3.000"), Decimal("96.00"))]


def test_a_save_based_on_an_old_version_is_refused_with_who_changed_it_and_keeps_what_was_typed(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    order_id = new_id(send(web, "/e/purchase_order/new", order_post(shop)))
    jing = shop.as_user("jing")
    current = jing.get("purchase_order", order_id)
    jing.update("purchase_order", order_id, {"buyer": "经理改的"}, version=current["version"])

    page = send(web, f"/e/purchase_order/{order_id}", {"version": str(current["version"]), "buyer": "我改的"})
    assert page.status_code == 409
    assert "已被 经理" in html.unescape(page.text)  # who changed it, said in the page's language
    assert 'value="我改的"' in page.text
    assert shop.system.get("purchase_order", order_id)["buyer"] == "经理改的"


def test_a_post_without_the_csrf_token_changes_nothing(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    refused = web.client.post("/e/purchase_order/new", data=order_post(shop))
    assert refused.status_code == 403
    assert shop.system.list("purchase_order").rows == []
    assert web.client.post("/e/purchase_order/compute", data=order_post(shop)).status_code == 403


def test_what_a_user_may_not_do_or_see_is_not_on_the_form(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    order_id = new_id(send(web, "/e/purchase_order/new", order_post(shop)))
    web.client.post("/logout", data={"csrf_token": web.token("/")})
    web.login("cw")  # finance: may read purchase orders, not change them
    page = web.get(f"/e/purchase_order/{order_id}")
    assert page.status_code == 200
    assert "save" not in buttons(page.text) and 'name="supplier"' not in page.text
    assert "372.50" in page.text
    assert web.get("/e/purchase_order/new").status_code == 403
    refused = send(web, f"/e/purchase_order/{order_id}", {"version": "1", "buyer": "x"})
    assert refused.status_code == 403
    assert shop.system.get("purchase_order", order_id)["buyer"] is None


def test_hidden_fields_are_not_drawn_and_unknown_records_are_a_404(db_engine) -> None:
    web = Web(start_on(db_engine))  # the SHOP of web_helpers: clerks may not see an item's cost
    web.user("lin", "clerk")
    item = web.started.records.system().create("item", {"code": "A1", "name": "可乐", "cost": "1.23"})
    web.login("lin")
    page = web.get(f"/e/item/{item['id']}")
    assert page.status_code == 200 and 'name="name"' in page.text
    assert "cost" not in page.text and "1.23" not in page.text
    assert web.get("/e/item/999").status_code == 404
    assert web.get("/e/no_such_thing/new").status_code == 404
    web.close()


CONDITIONS = """
name: cond
title: 条件
entities:
  customer:
    label: 客户
    key: code
    fields:
      code: {type: string, required: true}
      status: {type: choice, options: {active: 正常, stopped: 停用}, default: '"active"'}
      stop_reason: {type: text, label: 停用原因, required_if: status = "stopped", visible_if: status = "stopped"}
"""


def test_required_if_and_visible_if_follow_the_values_being_typed(db_engine) -> None:
    web = Web(start_on(db_engine, app_folder(CONDITIONS)))
    web.user("boss", "admin")
    web.login("boss")
    form = web.get("/e/customer/new")
    assert re.search(r'<div class="field[^"]*" data-field="stop_reason" hidden>', form.text)
    token = web.token("/")
    active = web.client.post("/e/customer/compute", data={"csrf_token": token, "code": "C1",
                                                          "status": "active"}).json()
    stopped = web.client.post("/e/customer/compute", data={"csrf_token": token, "code": "C1",
                                                           "status": "stopped"}).json()
    assert "stop_reason" in active["hidden"] and "stop_reason" not in active["required"]
    assert "stop_reason" not in stopped["hidden"] and "stop_reason" in stopped["required"]
    assert stopped["errors"] == {"stop_reason": ['当 status = "stopped" 时必填']}
    page = send(web, "/e/customer/new", {"code": "C1", "status": "stopped"})
    assert page.status_code == 422
    assert errors_at(page.text, "stop_reason") == ['当 status = "stopped" 时必填']
    assert re.search(r'<div class="field[^"]*" data-field="stop_reason">', page.text)  # shown: it applies now
    web.close()


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_what_an_input_shows_reads_back_as_the_same_value(data) -> None:
    from engine.coerce import coerce
    from tests.web_no_stock import _loaded

    app, _ = _loaded()
    lines = app.entities["purchase_order_lines"].fields
    field = data.draw(st.sampled_from([lines["qty"], lines["price"], lines["tax_rate"],
                                       app.entities["purchase_order"].fields["order_date"]]))
    if field.type.value == "date":
        value = data.draw(st.dates())
    else:
        scale = field.scale if field.scale is not None else 2
        value = data.draw(st.decimals(min_value=-10**6, max_value=10**6, places=scale, allow_nan=False))
    assert coerce(field, input_text(field, value)) == value


def test_master_data_with_every_kind_of_input_is_created_and_changed_through_the_form(db_engine) -> None:
    web = Web(start_on(db_engine))  # the SHOP of web_helpers: text, link, money, choice, bool, date, long text
    web.user("lin", "clerk")
    category = web.started.records.system().create("category", {"code": "C1", "name": "饮料"})["id"]
    web.login("lin")
    form = web.get("/e/item/new")
    assert re.search(r'<input type="checkbox" id="f-active" name="active"[^>]* value="true" checked>', form.text)
    assert '<option value="east">华东</option>' in form.text and 'type="date"' in form.text

    response = send(web, "/e/item/new", {"code": "A1", "name": "可乐", "category__text": "饮料", "price": "3.5",
                                         "area": "east", "active": ["false", "true"], "since": "2026-03-01",
                                         "note": "<b>冰</b>"})
    assert response.status_code == 303, visible_text(response.text)[:800]
    item_id = int(response.headers["location"].rsplit("/", 1)[1])
    item = web.started.records.system().get("item", item_id)
    assert (item["category"], item["price"], item["area"], item["active"], str(item["since"]), item["note"]) == (
        category, Decimal("3.50"), "east", True, "2026-03-01", "<b>冰</b>")
    page = web.get(f"/e/item/{item_id}")
    assert "&lt;b&gt;冰&lt;/b&gt;" in page.text and "<b>冰</b>" not in page.text  # text is escaped, never markup

    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    send(web, f"/e/item/{item_id}", {"version": version, "active": "false", "area": ""})  # the box unticked
    item = web.started.records.system().get("item", item_id)
    assert (item["active"], item["area"], item["name"]) == (False, None, "可乐")
    web.close()


def test_the_form_speaks_the_users_language(shop: Shop) -> None:
    web = shop.web
    web.login("cai")
    web.client.cookies.set("jxc_lang", "en")
    page = web.get("/e/purchase_order/new")
    text = visible_text(page.text)
    assert "Supplier" in text and "Unit price (excl. VAT)" in text and "Save" in text
    assert "供应商" not in text


TAGS = """
name: tags
title: 标签
entities:
  tag:
    label: 标签
    key: name
    fields:
      name: {type: string, required: true}
  product:
    label: 产品
    key: code
    fields:
      code: {type: string, required: true}
      tags: {type: link, link: tag, many: true, label: 标签}
"""


def test_a_many_link_keeps_the_ticked_records_and_adds_one_typed_by_name(db_engine) -> None:
    web = Web(start_on(db_engine, app_folder(TAGS)))
    web.user("boss", "admin")
    system = web.started.records.system()
    hot, new, cheap = (system.create("tag", {"name": name})["id"] for name in ("热销", "新品", "特价"))
    web.login("boss")
    response = send(web, "/e/product/new", {"code": "P1", "tags": ["", str(hot), str(new)]})
    product = int(response.headers["location"].rsplit("/", 1)[1])
    assert sorted(system.get("product", product)["tags"]) == sorted([hot, new])
    page = web.get(f"/e/product/{product}")
    assert re.search(rf'<input type="checkbox" name="tags" value="{hot}" checked> 热销', page.text)

    # 新品 unticked (only the blank marker and 热销 are posted), 特价 typed by name
    send(web, f"/e/product/{product}", {"version": "1", "tags": ["", str(hot)], "tags__text": "特价"})
    assert sorted(system.get("product", product)["tags"]) == sorted([hot, cheap])
    web.close()


_KEYS = st.sampled_from(["supplier", "supplier__text", "order_date", "expected_date", "buyer", "total", "doc_no",
                         "docstatus", "workflow_state", "lines[0].item", "lines[0].item__text", "lines[0].qty",
                         "lines[0].price", "lines[0].tax_rate", "lines[0].amount", "lines[0]._delete",
                         "lines[7].qty", "lines[99999].qty", "lines[0].id", "lines[x].qty", "lines[1].nope",
                         "nope", "version"])
_VALUES = st.one_of(st.text(max_size=30), st.sampled_from(["", "1", "-1", "0", "1e999", "NaN", "13%", "2026-02-30",
                                                           "99999999999999999999", "1,000.5", "true", "\x00"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.dictionaries(_KEYS, st.one_of(_VALUES, st.lists(_VALUES, max_size=3)), max_size=8))
def test_any_form_post_is_saved_or_answered_with_problems_never_a_server_error(shop: Shop, form) -> None:
    web = shop.web
    if "jxc_session" not in web.client.cookies:
        web.login("cai")
    token = web.token("/")
    before = len(shop.system.list("purchase_order").rows)
    saved = web.client.post("/e/purchase_order/new", data={"csrf_token": token, **form})
    assert saved.status_code in (303, 400, 403, 404, 409, 422), visible_text(saved.text)[:500]
    after = len(shop.system.list("purchase_order").rows)
    assert after == before + (1 if saved.status_code == 303 else 0)  # all or nothing
    live = web.client.post("/e/purchase_order/compute", data={"csrf_token": token, **form})
    assert live.status_code in (200, 400, 403, 404, 409, 422)
    assert isinstance(live.json(), dict)
    first = shop.system.list("purchase_order", sort="id", limit=1).rows
    if first:
        old = shop.system.get("purchase_order", first[0]["id"])
        changed = web.client.post(f"/e/purchase_order/{old['id']}", data={"csrf_token": token,
                                                                            "version": str(old["version"]), **form})
        assert changed.status_code in (303, 400, 403, 404, 409, 422), visible_text(changed.text)[:500]
        if changed.status_code != 303:
            assert shop.system.get("purchase_order", old["id"]) == old  # refused: nothing changed


REGIONS = """
name: regions
title: 区域
entities:
  shop:
    label: 门店
    key: code
    fields:
      code: {type: string, required: true}
      area: {type: choice, options: {east: 华东, west: 华西}}
roles:
  east_clerk:
    label: 华东文员
    permissions:
      shop: [read, create, write]
    rows:
      shop: area = "east"
"""


def test_a_new_record_the_user_could_not_keep_is_refused_on_the_form_with_what_was_typed(db_engine) -> None:
    web = Web(start_on(db_engine, app_folder(REGIONS)))
    web.user("dong", "east_clerk")
    web.login("dong")
    refused = send(web, "/e/shop/new", {"code": "W01", "area": "west"})
    assert refused.status_code == 403
    assert 'dong 只能保存满足以下条件的 shop 记录：area = "east"' in html.unescape(refused.text)
    assert 'value="W01"' in refused.text and "<form" in refused.text  # the form again, to correct it
    assert web.started.records.system().list("shop").rows == []
    assert send(web, "/e/shop/new", {"code": "E01", "area": "east"}).status_code == 303
    web.close()


def test_values_read_as_an_accountant_writes_them() -> None:
    from tests.web_no_stock import _loaded

    app, _ = _loaded()
    lines = app.entities["purchase_order_lines"].fields
    order = app.entities["purchase_order"].fields
    assert display_text(lines["qty"], Decimal("1234567.500"), "zh-CN") == "1,234,567.5"
    assert display_text(lines["qty"], Decimal("-0.500"), "zh-CN") == "-0.5"
    assert display_text(lines["price"], Decimal("-1234.50"), "zh-CN") == "-1,234.50"
    assert display_text(lines["tax_rate"], Decimal("0.0900"), "zh-CN") == "9%"
    assert display_text(order["receipt_status"], "partial", "zh-CN") == "部分收货"
    assert display_text(order["receipt_status"], "partial", "en") == "Partly received"
    assert display_text(order["supplier"], 7, "zh-CN", {("supplier", 7): "S01 宁波五金"}) == "S01 宁波五金"
    assert display_text(order["supplier"], 8, "zh-CN", {}) == "#8"  # a record the user may not read


@pytest.mark.parametrize("form", [
    {"supplier": "99999999999999999999", "supplier__text": "东方"},  # an id beyond 64 bits
    {"supplier": "²", "supplier__text": "东方"},  # a digit to str.isdigit, not a number
    {"version": "99999999999999999999"},
    {"lines[0].id": "99999999999999999999", "lines[0].qty": "1"},
])
def test_ids_and_versions_no_database_can_hold_are_answered_not_a_server_error(shop: Shop, form) -> None:
    web = shop.web
    web.login("cai")
    before = len(shop.system.list("purchase_order").rows)
    saved = web.client.post("/e/purchase_order/new", data={"csrf_token": web.token("/"), **form})
    assert saved.status_code in (303, 400, 404, 409, 422), visible_text(saved.text)[:500]
    assert len(shop.system.list("purchase_order").rows) == before + (1 if saved.status_code == 303 else 0)
    assert web.get("/e/purchase_order/99999999999999999999").status_code == 404
