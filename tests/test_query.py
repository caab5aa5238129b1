"""Lists: filters in the formula language run as SQL, search, sorting with blanks last, and keyset pages that
never repeat or skip a record (equal sort values, blanks, records added meanwhile). SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.errors import InvalidQuery
from engine.query import _encode
from tests.service_helpers import NOW, make_user

pytest_plugins = ["tests.service_fixtures"]
pytestmark = pytest.mark.both_dbs

TODAY = NOW.date()

# code, name, area, rank, price, since (days before today), region
ITEMS = [
    ("A01", "六角螺栓", "east", 2, "45.00", 1, "E"),
    ("A02", "六角螺母", "west", 1, "18.00", 3, "W"),
    ("A03", "平垫圈", None, 2, "3.50", None, None),
    ("A04", "弹簧垫圈", "east", None, "3.50", 10, "E"),
    ("A05", "不锈钢管", "west", 2, "38.50", 1, None),
    ("A06", "紫铜排", "east", 3, "86.00", 30, "W"),
    ("A07", "手电钻", None, None, "199.00", None, "E"),
    ("A08", "钻头_10%", "east", 1, "12.00", 3, None),
    ("A09", "扳手", "west", 2, "25.00", 1, "E"),
    ("A10", "卷尺", "east", None, "9.90", 7, None),
    ("A11", "胶带", None, 2, "4.00", 3, "W"),
    ("A12", "手套", "east", 1, "4.00", None, None),
    ("A13", "安全帽", "west", 3, "35.00", 1, "E"),
]


@pytest.fixture
def items(toy):
    session = toy.system()
    regions = {code: session.create("region", {"code": code, "name": code})["id"] for code in ("E", "W")}
    for code, name, area, rank, price, days, region in ITEMS:
        session.create("item", {"code": code, "name": name, "area": area, "rank": rank, "price": price,
                                "since": TODAY - dt.timedelta(days=days) if days is not None else None,
                                "region": regions.get(region)})
    return session


def codes(page) -> list[str]:
    return [row["code"] for row in page.rows]


def every_page(session, entity="item", limit=3, **options) -> list[str]:
    seen, cursor = [], None
    for _ in range(100):
        page = session.list(entity, limit=limit, after=cursor, **options)
        seen += codes(page) if entity == "item" else [row["id"] for row in page.rows]
        cursor = page.next
        if cursor is None:
            return seen
    raise AssertionError("the pages never end")


def test_filters_in_the_formula_language_run_in_the_database(items):
    def matching(text):
        return codes(items.list("item", filter=text, sort="code"))

    assert matching("price > 30") == ["A01", "A05", "A06", "A07", "A13"]
    assert matching('area = "east" AND rank <= 1') == ["A08", "A12"]
    assert matching("ISBLANK(area)") == ["A03", "A07", "A11"]
    assert matching("rank IN (1, 3)") == ["A02", "A06", "A08", "A12", "A13"]
    assert matching('region.code = "W"') == ["A02", "A06", "A11"]
    assert matching('since >= DATEADD(TODAY(), -3, "day")') == ["A01", "A02", "A05", "A08", "A09", "A11", "A13"]
    assert matching('CONTAINS(name, "垫圈") OR LEFT(code, 3) = "A13"') == ["A03", "A04", "A13"]
    assert matching("price * 2 = 7 AND NOT ISBLANK(rank)") == ["A03"]
    assert matching("FALSE") == []


def test_filters_over_document_rows_and_state(toy):
    session = toy.system()
    item = session.create("item", {"code": "A", "name": "螺栓", "price": "10"})
    small = session.create("purchase_order", {"supplier": "东方", "lines": [{"item": item["id"], "qty": "1"}]})
    large = session.create("purchase_order", {"supplier": "西方", "lines": [{"item": item["id"], "qty": "5"},
                                                                           {"item": item["id"], "qty": "5"}]})
    session.submit("purchase_order", large["id"], version=large["version"])

    def matching(text):
        return [row["id"] for row in session.list("purchase_order", filter=text).rows]

    assert matching("SUM(lines.qty) > 2") == [large["id"]]
    assert matching('docstatus = "draft"') == [small["id"]]
    assert matching('doc_no = "PO-2026-00001"') == [large["id"]]
    assert matching("COUNT(lines) = 1 AND gross = 10") == [small["id"]]


def test_search_finds_text_in_the_searched_fields_literally(items):
    assert codes(items.list("item", search="垫圈", sort="code")) == ["A03", "A04"]
    assert codes(items.list("item", search="a1", sort="code")) == ["A10", "A11", "A12", "A13"]  # any case
    assert codes(items.list("item", search="_10%")) == ["A08"]  # % and _ are not wildcards
    assert codes(items.list("item", search="%")) == ["A08"]


def test_sorting_keeps_blanks_last_both_ways_and_breaks_ties_by_id(items):
    assert codes(items.list("item", sort="rank")) \
        == ["A02", "A08", "A12", "A01", "A03", "A05", "A09", "A11", "A06", "A13", "A04", "A07", "A10"]
    assert codes(items.list("item", sort="-rank")) \
        == ["A13", "A06", "A11", "A09", "A05", "A03", "A01", "A12", "A08", "A02", "A10", "A07", "A04"]
    assert codes(items.list("item", sort=["area", "-price"])) \
        == ["A06", "A01", "A08", "A10", "A12", "A04", "A05", "A13", "A09", "A02", "A07", "A11", "A03"]
    assert codes(items.list("item")) == [code for code, *_ in ITEMS]  # master data: oldest first
    page = items.list("item", sort="-since", limit=2)
    assert (codes(page), page.sort) == (["A13", "A09"], ["-since", "-id"])  # ties: newest first, like the key


def test_pages_never_repeat_or_skip_a_record(items):
    for sort in ("rank", "-rank", "area,-price", "-area,rank", "since", "-since,price", "name", "-region,code"):
        everything = codes(items.list("item", sort=sort, limit=500))
        assert sorted(everything) == [code for code, *_ in ITEMS]
        for limit in (1, 2, 5):
            assert every_page(items, sort=sort, limit=limit) == everything, (sort, limit)


def test_a_page_continues_where_the_last_one_ended_when_records_are_added_meanwhile(items, toy):
    first = items.list("item", sort="rank", limit=4)
    assert codes(first) == ["A02", "A08", "A12", "A01"]
    items.create("item", {"code": "A00", "name": "新品", "rank": 1})  # sorts before the cursor
    items.create("item", {"code": "A99", "name": "新品二", "rank": 2})  # ties with the cursor's rank, later id
    rest = []
    cursor = first.next
    while cursor:
        page = items.list("item", sort="rank", limit=4, after=cursor)
        rest += codes(page)
        cursor = page.next
    assert rest == ["A03", "A05", "A09", "A11", "A99", "A06", "A13", "A04", "A07", "A10"]

    # documents: newest first; pages of a row-limited role see only their rows
    session = toy.system()
    item = session.create("item", {"code": "B", "name": "螺母", "price": "1"})
    ids = [session.create("purchase_order", {"supplier": "东方" if n % 3 else "西方",
                                             "lines": [{"item": item["id"], "qty": "1"}]})["id"] for n in range(8)]
    local = toy.session(make_user(toy, "dong", "east"))
    assert every_page(local, "purchase_order", limit=2) == [i for n, i in enumerate(ids) if n % 3][::-1]


def test_bad_filters_sorts_and_cursors_are_refused_with_clear_messages(items):
    def refused(**options):
        with pytest.raises(InvalidQuery) as caught:
            items.list("item", **options)
        return caught.value.message

    assert refused(filter="price >") == "filter, column 8: the formula ends too early"
    assert refused(filter="prise > 10") == "filter, column 1: item has no field 'prise' (did you mean 'price'?)"
    assert refused(filter='price > "ten"') == ("filter, column 7: cannot compare a number with text (numbers and text "
                                               'differ: write the number without quotes, or compare text with "…")')
    assert refused(filter="price + 1") == "the filter must be a condition (TRUE/FALSE), but it gives a number"
    assert refused(sort="colour") == "cannot sort by 'colour': item has no such column"
    assert refused(limit=0) == "a page holds 1 to 500 records, not 0"
    assert refused(limit=501) == "a page holds 1 to 500 records, not 501"
    assert refused(after="not a cursor!") == "the page cursor is not valid; start again from the first page"
    assert refused(after="bm9wZQ") == "the page cursor is not valid; start again from the first page"  # "nope"
    assert refused(after=_encode(["x"])) == "the page cursor is not valid; start again from the first page"
    assert refused(after=_encode([{"d": "many"}, 2]), sort="price") \
        == "the page cursor is not valid; start again from the first page"
    assert refused(after=_encode([{"t": "yesterday"}, 2]), sort="since") \
        == "the page cursor is not valid; start again from the first page"
    cursor = items.list("item", sort="rank", limit=2).next
    assert refused(after=cursor, sort="rank,price") \
        == "the page cursor does not fit this sort order; start again from the first page"
