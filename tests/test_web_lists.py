"""List views: declared columns, search, formula filters, sort, keyset pages, exports safe to open in Excel,
and permissions (an entity the user may not read, hidden fields, row rules)."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from engine.web.export import safe_text, to_csv, to_xlsx
from tests.web_helpers import Web, start_on, visible_text


@pytest.fixture
def web(db_engine) -> Iterator[Web]:
    web = Web(start_on(db_engine))
    web.user("lin", "clerk")
    web.user("dong", "east")
    web.user("bo", "buyer")
    system = web.started.records.system()
    drinks = system.create("category", {"code": "C1", "name": "饮料"})["id"]
    snacks = system.create("category", {"code": "C2", "name": "零食"})["id"]
    for number in range(1, 13):
        system.create("item", {"code": f"I{number:02d}", "name": f"商品{number:02d}", "price": f"{number}.50",
                               "cost": "0.99", "area": "east" if number % 2 else "west",
                               "category": drinks if number <= 6 else snacks})
    system.create("item", {"code": "X01", "name": '=HYPERLINK("http://evil.example","点我")', "price": "-3",
                           "area": "west"})
    yield web
    web.close()


def codes(html: str) -> list[str]:
    """The item codes of the rows, in order."""
    return re.findall(r'<tr data-id="\d+">\s*<td>\s*<a href="/e/item/\d+">([^<]+)</a>', html)


@pytest.mark.both_dbs
def test_list_shows_declared_columns_with_links_to_forms(web: Web) -> None:
    web.login("lin")
    page = web.get("/e/item")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "Code Name Category Price Area Active" in text  # the declared list: columns, in order
    assert "I01 商品01 饮料 1.50 华东 是" in text  # link shown by its title, choice by its label
    assert re.search(r'<a href="/e/item/\d+">I01</a>', page.text)
    assert 'href="/e/item/new"' in page.text  # lin may create items
    assert "0.99" not in text  # cost is hidden from clerks (and not a list column anyway)


@pytest.mark.both_dbs
def test_search_runs_over_the_search_fields(web: Web) -> None:
    web.login("lin")
    assert codes(web.get("/e/item", params={"q": "商品1"}).text) == ["I10", "I11", "I12"]
    assert codes(web.get("/e/item", params={"q": "x0"}).text) == ["X01"]  # case-insensitive
    assert codes(web.get("/e/item", params={"q": "100%"}).text) == []  # % is a character, not a wildcard


@pytest.mark.both_dbs
def test_filter_in_the_formula_language(web: Web) -> None:
    web.login("lin")
    page = web.get("/e/item", params={"filter": 'price > 10 AND area = "east"'})
    assert codes(page.text) == ["I11"]
    page = web.get("/e/item", params={"filter": 'category.name = "零食"', "q": "商品"})
    assert codes(page.text) == ["I07", "I08", "I09", "I10", "I11", "I12"]


def test_a_bad_filter_shows_its_located_message_not_an_error_page(web: Web) -> None:
    web.login("lin")
    for bad, expected in (("price >", "筛选条件第 8 列："), ("pricee > 1", "pricee"),
                          ("price + 1", "筛选条件必须是一个条件（TRUE/FALSE）"),
                          ("cost > 0", "筛选条件第 1 列：item 没有字段“cost”")):  # in the page's language (zh-CN)
        page = web.get("/e/item", params={"filter": bad})
        assert page.status_code == 400
        message = re.search(r'data-problem="query">([^<]*)<', page.text)
        assert message and expected in html.unescape(message.group(1)), bad
        assert "Traceback" not in page.text
        assert f'value="{bad}"' in html.unescape(page.text)  # kept for the user to correct
    hint = web.get("/e/item").text
    assert "<dt><code>price</code></dt><dd>Price</dd>" in hint and "<code>cost</code>" not in hint  # hidden for lin
    page = web.get("/e/item", params={"sort": "nonsense"})
    assert page.status_code == 400 and "不能按“nonsense”排序" in html.unescape(page.text)
    page = web.get("/e/item", params={"after": "not-a-cursor"})
    assert page.status_code == 400 and "翻页位置无效" in page.text
    web.client.cookies.set("jxc_lang", "en")
    page = web.get("/e/item", params={"filter": "cost > 0"})
    assert page.status_code == 400 and "filter, column 1: item has no field 'cost'" in html.unescape(page.text)


@pytest.mark.both_dbs
def test_sort_by_a_column_both_ways(web: Web) -> None:
    web.login("lin")
    up = codes(web.get("/e/item", params={"sort": "price"}).text)
    assert up[:3] == ["X01", "I01", "I02"]
    down = web.get("/e/item", params={"sort": "-price"}).text
    assert codes(down)[:3] == ["I12", "I11", "I10"]
    assert "Price ▼" in visible_text(down)
    link = re.search(r'href="([^"]+)" data-sort="price"', down)
    assert link and "sort=price" in link.group(1).replace("&amp;", "&")  # clicking again sorts up


@pytest.mark.both_dbs
def test_keyset_pages_forward_and_back(web: Web) -> None:
    web.login("lin")
    pages: list[list[str]] = []
    url = "/e/item?sort=-price&size=5"
    while True:
        page = web.get(url).text
        pages.append(codes(page))
        following = re.search(r'href="([^"]+)" rel="next"', page)
        if not following:
            break
        url = html.unescape(following.group(1))
    assert pages == [["I12", "I11", "I10", "I09", "I08"], ["I07", "I06", "I05", "I04", "I03"], ["I02", "I01", "X01"]]
    for expected in (pages[1], pages[0]):  # back, page by page, to the first
        back = re.search(r'href="([^"]+)" rel="prev"', page)
        assert back
        page = web.get(html.unescape(back.group(1))).text
        assert codes(page) == expected
    assert 'rel="prev"' not in page


def test_a_record_added_meanwhile_does_not_shift_the_next_page(web: Web) -> None:
    web.login("lin")
    first = web.get("/e/item?size=5&sort=code").text
    assert codes(first) == ["I01", "I02", "I03", "I04", "I05"]
    following = re.search(r'href="([^"]+)" rel="next"', first)
    assert following
    web.started.records.system().create("item", {"code": "A00", "name": "新来的", "area": "east"})
    second = codes(web.get(following.group(1).replace("&amp;", "&")).text)
    assert second == ["I06", "I07", "I08", "I09", "I10"]  # A00 sorts first: an offset would shift by one


def test_an_entity_the_user_may_not_read_is_neither_listed_nor_opened(web: Web) -> None:
    web.login("lin")
    assert 'data-nav="entity:purchase_order"' not in web.get("/").text
    for url in ("/e/purchase_order", "/e/purchase_order/export.csv", "/e/purchase_order/export.xlsx"):
        page = web.get(url)
        assert page.status_code == 403, url
        assert "您没有权限打开此页面" in page.text
    assert web.get("/e/no_such_entity").status_code == 404
    assert web.get("/e/purchase_order_lines").status_code == 404  # table rows are not an entity of their own


def test_row_rules_and_rights_shape_the_list(web: Web) -> None:
    web.login("dong")
    page = web.get("/e/item").text
    assert codes(page) == ["I01", "I03", "I05", "I07", "I09", "I11"]  # only the east
    assert 'href="/e/item/new"' not in page  # east may read but not create
    assert "饮料" not in visible_text(page)  # dong may not read categories: the link shows no title
    assert "#1" in visible_text(page)


def test_documents_list_with_number_and_status(web: Web) -> None:
    system = web.started.records.system()
    item = web.started.records.system().list("item", search="I01").rows[0]["id"]
    draft = system.create("purchase_order", {"supplier": "东方", "lines": [{"item": item, "qty": "2"}]})
    done = system.create("purchase_order", {"supplier": "西方", "lines": [{"item": item, "qty": "1"}]})
    system.submit("purchase_order", done["id"], version=done["version"])
    web.login("bo")
    text = visible_text(web.get("/e/purchase_order").text)
    assert re.search(r"PO-\d{4}-0001 西方 .*1\.50 已提交", text)  # newest first, total computed
    assert f"#{draft['id']}" in text and "草稿" in text
    web.post("/language", {"language": "en", "next": "/"}, token_from="/")
    assert "Submitted" in visible_text(web.get("/e/purchase_order").text)


@pytest.mark.both_dbs
def test_csv_export_follows_the_list_and_escapes_formulas(web: Web) -> None:
    web.login("lin")
    response = web.get("/e/item/export.csv", params={"filter": "price < 3", "sort": "price"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads the UTF-8 as UTF-8
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["Code", "Name", "Category", "Price", "Area", "Active"]
    assert rows[1] == ["X01", "'=HYPERLINK(\"http://evil.example\",\"点我\")", "", "-3.00", "华西", "TRUE"]
    assert rows[2] == ["I01", "商品01", "饮料", "1.50", "华东", "TRUE"]
    assert len(rows) == 4


def test_xlsx_export_keeps_numbers_and_never_makes_formulas(web: Web) -> None:
    web.login("lin")
    response = web.get("/e/item/export.xlsx", params={"sort": "price"})
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ["Code", "Name", "Category", "Price", "Area", "Active"]
    assert rows[1][1] == "'=HYPERLINK(\"http://evil.example\",\"点我\")"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert rows[1][3] == -3 and rows[2][3] == 1.5  # numbers stay numbers
    assert len(rows) == 14


def test_export_with_a_bad_filter_says_why(web: Web) -> None:
    web.login("lin")
    response = web.get("/e/item/export.csv", params={"filter": "price >"})
    assert response.status_code == 400
    assert "筛选条件第 8 列" in response.text and "Traceback" not in response.text


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_no_exported_text_can_start_a_formula(text: str) -> None:
    escaped = safe_text(text)
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert escaped == text or escaped == "'" + text  # nothing else changes
    rows = list(csv.reader(io.StringIO(to_csv(["h"], [[text]]).decode("utf-8-sig"), newline="")))
    assert rows[1] == [escaped]
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx("t", ["h"], [[text]])))
    cell = book.active.cell(2, 1)
    assert cell.data_type != "f"
    expected = ILLEGAL_CHARACTERS_RE.sub("", escaped).replace("\r\n", "\n").replace("\r", "\n")  # XML line ends
    assert (cell.value or "") == expected
