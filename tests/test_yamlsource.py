"""dsl.yamlsource: what an admin sees for every kind of YAML file, good or bad."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable
from decimal import Decimal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl import yamlsource
from dsl.problems import Location, Problem
from dsl.yamlsource import MAX_BYTES, SourceFile, Span, read_yaml

FILE = "apps/food/entities.yaml"
Reader = Callable[[str, bytes], tuple[SourceFile | None, list[Problem]]]


def _python_only(path: str, raw: bytes) -> tuple[SourceFile | None, list[Problem]]:
    return yamlsource._read(path, raw, fast=False)


# Every behaviour must hold with libyaml (used when present) and with the pure-Python parser.
@pytest.fixture(params=["libyaml", "python"], scope="module")
def reader(request: pytest.FixtureRequest) -> Reader:
    return read_yaml if request.param == "libyaml" else _python_only


def ok(text: str, reader: Reader = read_yaml) -> SourceFile:
    source, problems = reader(FILE, text.encode())
    assert problems == [], "\n".join(map(str, problems))
    assert source is not None
    return source


def problems_of(text: str | bytes, reader: Reader = read_yaml) -> list[Problem]:
    source, problems = reader(FILE, text.encode() if isinstance(text, str) else text)
    assert source is None
    assert problems
    return problems


def one_problem(text: str | bytes, reader: Reader = read_yaml) -> Problem:
    problems = problems_of(text, reader)
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def at(problem: Problem) -> tuple[int, int]:
    assert problem.location is not None
    assert problem.location.file == FILE
    return problem.location.line, problem.location.column


# --- 1. size ---------------------------------------------------------------------------------------------


def test_a_file_over_4_mb_is_refused_without_parsing() -> None:
    problem = one_problem(b"[" * (10 * 1024 * 1024))  # would be "nested too deeply" if it were parsed
    assert problem.message == "the file is 10.0 MB; the limit is 4 MB"
    assert at(problem) == (1, 1)


def test_just_over_the_limit_names_the_bytes() -> None:
    problem = one_problem(b"#" * (MAX_BYTES + 1))
    assert problem.message == "the file is 4,194,305 bytes; the limit is 4 MB (4,194,304 bytes)"


def test_exactly_the_limit_is_read() -> None:
    assert ok("#" * MAX_BYTES).data is None


# --- 2. encoding -----------------------------------------------------------------------------------------


def test_a_utf8_bom_is_stripped_and_columns_ignore_it(reader: Reader) -> None:
    source, problems = reader(FILE, b"\xef\xbb\xbfname: \xe7\x89\xa9\xe6\x96\x99\n")
    assert problems == []
    assert source is not None
    assert source.data == {"name": "物料"}
    assert source.key_span(("name",)) == Span(1, 1, "")
    assert source.value_span(("name",)) == Span(1, 7, "")


def test_gbk_bytes_are_reported_with_a_hint(reader: Reader) -> None:
    problem = one_problem("app: food\n名称: 物料\n".encode("gbk"), reader)
    assert problem.message == "the file is not UTF-8 text: byte 0xC3 cannot be decoded"
    assert at(problem) == (2, 1)
    assert problem.hint == "the file looks like GBK/GB18030; save it as UTF-8"


def test_other_bad_bytes_are_located_without_the_gbk_hint(reader: Reader) -> None:
    problem = one_problem("a: 物料\nb: café\n".encode()[:-3] + b"\xe9\n", reader)
    assert problem.message == "the file is not UTF-8 text: byte 0xE9 cannot be decoded"
    assert at(problem) == (2, 7)
    assert problem.hint is None


def test_utf16_is_recognised(reader: Reader) -> None:
    with_bom = one_problem("a: 1\n".encode("utf-16"), reader)
    assert with_bom.message.startswith("the file is not UTF-8 text")
    assert with_bom.hint == "the file is saved as UTF-16 ('Unicode'); save it as UTF-8"
    without_bom = one_problem("a: 1\n".encode("utf-16-le"), reader)
    assert without_bom.message == "the file contains a NUL character (byte 0x00), which YAML does not allow"
    assert at(without_bom) == (1, 2)
    assert without_bom.hint == "the file looks like UTF-16; save it as UTF-8"


def test_nul_and_control_characters_are_located(reader: Reader) -> None:
    nul = one_problem(b"a: 1\nb: x\x00y\n", reader)
    assert nul.message == "the file contains a NUL character (byte 0x00), which YAML does not allow"
    assert at(nul) == (2, 5)
    bell = one_problem("a: 1\n名称: x\x07\n", reader)
    assert bell.message == "the file contains the control character U+0007, which YAML does not allow"
    assert at(bell) == (2, 6)


# --- 3. syntax errors ------------------------------------------------------------------------------------


def test_tab_indentation(reader: Reader) -> None:
    problem = one_problem("entities:\n\titem: {}\n", reader)
    assert problem.message == "a tab is used for indentation; use spaces"
    assert at(problem) == (2, 1)
    after_spaces = one_problem("a:\n  b:\n  \tc: 1\n", reader)
    assert after_spaces.message == "a tab is used for indentation; use spaces"
    assert at(after_spaces) == (3, 3)


def test_a_formula_starting_with_a_brace_must_be_quoted(reader: Reader) -> None:
    problem = one_problem("fields:\n  total:\n    formula: {数量} * {单价}\n", reader)
    assert problem.location is not None and problem.location.line == 3
    assert problem.hint == 'a value that starts with { must be quoted, e.g. formula: "{数量} * {单价}"'
    other = one_problem("formula: {a} b\n", reader)
    assert other.message.startswith("unexpected text after a complete value")
    assert at(other) == (1, 14)
    assert other.hint == 'a value that starts with { must be quoted, e.g. formula: "{a} b"'


def test_unclosed_quote_points_at_the_opening_quote(reader: Reader) -> None:
    problem = one_problem('a: 1\nlabel: "物料\nb: 2\n', reader)
    assert problem.message == 'the text in quotes that starts here is never closed: the closing " is missing'
    assert at(problem) == (2, 8)
    single = one_problem("label: 'x\n", reader)
    assert "the closing ' is missing" in single.message


def test_unclosed_bracket_points_at_the_bracket(reader: Reader) -> None:
    problem = one_problem("a:\n  - [1, 2\n", reader)
    assert problem.message == "the '[' that starts here is never closed with ']'"
    assert at(problem) == (2, 5)


def test_bad_indentation_keeps_pyyaml_words(reader: Reader) -> None:
    problem = one_problem("item:\n  label: x\n type: text\n", reader)
    assert problem.message == (
        "this line does not line up with the lines above (expected <block end>, but found '<block mapping start>')"
    )
    assert at(problem) == (3, 2)


def test_other_syntax_errors_are_located(reader: Reader) -> None:
    colon = one_problem("label: a: b\n", reader)
    assert colon.message == "a ':' is not allowed here"
    assert at(colon) == (1, 9)
    alias = one_problem("a: 1\nprice: *cost\n", reader)
    assert alias.message == "'*cost' refers to an anchor '&cost' that is not defined above"
    assert at(alias) == (2, 8)
    assert alias.hint == 'a value that starts with * must be quoted, e.g. price: "*cost"'
    anchor = one_problem("a: &x 1\nb: &x 2\n", reader)
    assert anchor.message == "the anchor '&x' is defined twice (first defined at line 1)"
    assert at(anchor) == (2, 4)
    at_sign = one_problem("email: @home\n", reader)
    assert at_sign.message.startswith("invalid YAML: found character '@' that cannot start any token")
    assert at(at_sign) == (1, 8)
    assert at_sign.hint == 'a value that starts with @ must be quoted, e.g. email: "@home"'
    top_level = one_problem("{a} b\n", reader)
    assert top_level.hint == 'a value that starts with { must be quoted, e.g. "{a} b"'
    after_quote = one_problem("a: 'x' y\n", reader)
    assert after_quote.message.startswith("unexpected text after a complete value")
    assert at(after_quote) == (1, 8)


# --- 4. documents, keys, merges, scalars, tags -----------------------------------------------------------


def test_only_one_document(reader: Reader) -> None:
    problem = one_problem("a: 1\n---\nb: 2\n", reader)
    assert problem.message == "a file may hold only one YAML document, but a second one starts here"
    assert at(problem) == (2, 1)
    assert ok("---\na: 1\n...\n", reader).data == {"a": 1}


@pytest.mark.parametrize("text", ["", "# only a comment\n\n   # another\n", "---\n", "\n\n", "\ufeff"])
def test_empty_file_gives_none(reader: Reader, text: str) -> None:
    source = ok(text, reader)
    assert source.data is None
    assert source.value_span(("anything",)) is None
    assert source.locate(("anything",)).file == FILE


def test_duplicate_keys_are_errors(reader: Reader) -> None:
    text = "fields:\n  code: {type: text}\n  name: {type: text}\n  qty: 1\n  price: 2\n  qty: 3\n"
    problem = one_problem(text, reader)
    assert problem.message == "duplicate key 'qty' (first defined at line 4)"
    assert at(problem) == (6, 3)
    assert problem.path == "fields.qty"
    flow = one_problem("a: {x: 1, x: 2}\n", reader)
    assert flow.message == "duplicate key 'x' (first defined at line 1)"
    assert at(flow) == (1, 11)


def test_every_duplicate_is_reported_at_once(reader: Reader) -> None:
    problems = problems_of("a: 1\nb: 2\na: 3\nb: 4\n", reader)
    assert [(p.message, at(p)) for p in problems] == [
        ("duplicate key 'a' (first defined at line 1)", (3, 1)),
        ("duplicate key 'b' (first defined at line 2)", (4, 1)),
    ]


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("1: a\n", "keys must be text; quote it: '1'", 1),
        ("x:\n  true: a\n", "keys must be text; quote it: 'true'", 3),
        ("x:\n  2026-01-01: a\n", "keys must be text; quote it: '2026-01-01'", 3),
        ("x:\n  1.50: a\n", "keys must be text; quote it: '1.50'", 3),
        ("x:\n  ~: a\n", "keys must be text; quote it: '~'", 3),
        ("x:\n  [a, b]: 1\n", "keys must be text, not a list", 3),
        ("x:\n  {a: 1}: 1\n", "keys must be text, not a mapping", 3),
        ("x:\n  : 1\n", "a key is missing before ':'", 3),
    ],
)
def test_keys_must_be_text(reader: Reader, text: str, message: str, column: int) -> None:
    problem = one_problem(text, reader)
    assert problem.message == message
    assert at(problem) == (text.count("\n"), column)


def test_keys_that_yaml_11_would_turn_into_booleans_stay_text(reader: Reader) -> None:
    source = ok("yes: 1\nno: 2\non: 3\noff: 4\n'1': 5\n\"true\": 6\n", reader)
    assert source.data == {"yes": 1, "no": 2, "on": 3, "off": 4, "1": 5, "true": 6}


def test_merge_keys(reader: Reader) -> None:
    text = (
        "defaults: &defaults\n"
        "  type: text\n"
        "  required: false\n"
        "extra: &extra {max: 20, required: true}\n"
        "fields:\n"
        "  code:\n"
        "    label: 编码\n"
        "    <<: [*defaults, *extra]\n"
        "    required: true\n"
    )
    source = ok(text, reader)
    code = source.data["fields"]["code"]
    # explicit keys win; among merged mappings the first listed wins; merged keys land where `<<` stands
    assert code == {"label": "编码", "type": "text", "max": 20, "required": True}
    assert list(code) == ["label", "type", "max", "required"]
    # a merged key's positions are those of the mapping it came from
    assert source.key_span(("fields", "code", "type")) == Span(2, 3, "")
    assert source.value_span(("fields", "code", "max")) == Span(4, 21, "")
    assert source.key_span(("fields", "code", "required")) == Span(9, 5, "")


def test_merge_of_a_single_mapping_and_nested_merges(reader: Reader) -> None:
    text = "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc:\n  <<: *b\n  x: 9\n"
    assert ok(text, reader).data["c"] == {"y": 2, "x": 9}


def test_bad_merges(reader: Reader) -> None:
    scalar = one_problem("a: &a 1\nb:\n  <<: *a\n", reader)
    assert scalar.message == "'<<' merges a mapping or a list of mappings into this one"
    assert at(scalar) == (1, 4)
    twice = one_problem("a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n", reader)
    assert twice.message == "duplicate key '<<' (first defined at line 3)"
    assert twice.hint == "merge several mappings with <<: [*one, *two]"
    itself = one_problem("a: &a\n  x: 1\n  <<: *a\n", reader)
    assert itself.message == "the anchor '&a' is used inside itself ('*a'), so its value would never end"
    assert at(itself) == (1, 4)
    quoted = ok("a: {'<<': 1}\n", reader)
    assert quoted.data == {"a": {"<<": 1}}


def test_yaml_11_words_stay_strings(reader: Reader) -> None:
    words = ["yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "OFF"]
    source = ok("".join(f"k{i}: {word}\n" for i, word in enumerate(words)), reader)
    assert list(source.data.values()) == words


def test_booleans_and_nulls(reader: Reader) -> None:
    source = ok("a: [true, True, TRUE, false, False, FALSE, tRUE]\nb: [null, Null, NULL, ~, nil, '']\nc:\n", reader)
    assert source.data == {
        "a": [True, True, True, False, False, False, "tRUE"],
        "b": [None, None, None, None, "nil", ""],
        "c": None,
    }


def test_integers(reader: Reader) -> None:
    source = ok("a: [12, -3, +4, 0, 0x1F, 0o17, 007, 1:30, 1_000, 0b101, 1,000]\n", reader)
    # YAML 1.1 would give 5400 for 1:30 and 1000 for 1_000; a comma in a [list] separates items
    assert source.data == {"a": [12, -3, 4, 0, 31, 15, 7, "1:30", "1_000", "0b101", 1, 0]}
    assert all(type(value) is int for value in source.data["a"][:7])


def test_decimals_are_exact_and_never_floats(reader: Reader) -> None:
    source = ok("a: [12.50, 0.1, 1e3, -2.5E-2, .5, 3., 1.]\n", reader)
    values = source.data["a"]
    assert all(isinstance(value, Decimal) for value in values)
    assert [str(value) for value in values] == ["12.50", "0.1", "1E+3", "-0.025", "0.5", "3", "1"]
    assert values[2] == Decimal("1E+3")


@pytest.mark.parametrize("word", [".inf", "-.inf", "+.INF", ".nan", ".NaN"])
def test_infinity_and_nan_are_refused(reader: Reader, word: str) -> None:
    problem = one_problem(f"price:\n  max: {word}\n", reader)
    assert problem.message == "infinite or not-a-number values are not allowed"
    assert at(problem) == (2, 8)
    assert problem.path == "price.max"
    assert ok(f"a: '{word}'\nb: inf\n", reader).data == {"a": word, "b": "inf"}


def test_dates_and_times(reader: Reader) -> None:
    text = (
        "d: 2026-01-05\n"
        "t1: 2026-01-05 10:30:00\n"
        "t2: 2026-01-05T10:30:00\n"
        "t3: 2026-01-05T10:30:00.25+08:00\n"
        "t4: 2026-01-05 10:30:00Z\n"
        "t5: 2026-01-05 10:30\n"
        "s: '2026-01-05'\n"
    )
    data = ok(text, reader).data
    assert data["d"] == dt.date(2026, 1, 5) and type(data["d"]) is dt.date
    assert data["t1"] == data["t2"] == dt.datetime(2026, 1, 5, 10, 30)
    assert data["t1"].tzinfo is None
    assert data["t3"] == dt.datetime(2026, 1, 5, 10, 30, 0, 250000, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert data["t4"] == dt.datetime(2026, 1, 5, 10, 30, tzinfo=dt.UTC)
    assert data["t5"] == dt.datetime(2026, 1, 5, 10, 30)
    assert data["s"] == "2026-01-05"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-02-30", "'2026-02-30' is not a valid date: day is out of range for month"),
        ("2026-13-01", "'2026-13-01' is not a valid date: month must be in 1..12"),
        ("2026-01-05 25:00:00", "'2026-01-05 25:00:00' is not a valid date and time: hour must be in 0..23"),
    ],
)
def test_impossible_dates_are_located(reader: Reader, value: str, message: str) -> None:
    problem = one_problem(f"orders:\n  - due: {value}\n", reader)
    assert problem.message == message
    assert at(problem) == (2, 10)
    assert problem.path == "orders[0].due"


def test_quoted_and_block_scalars_are_always_strings(reader: Reader) -> None:
    text = "a: '12'\nb: \"true\"\nc: 'null'\nd: |\n  12\ne: >\n  2026-01-05\nf: ''\n"
    assert ok(text, reader).data == {"a": "12", "b": "true", "c": "null", "d": "12\n", "e": "2026-01-05\n", "f": ""}


def test_tags_are_refused_except_str(reader: Reader) -> None:
    text = (
        "a: !!python/object/apply:os.system ['echo hi']\n"
        "b: !custom 3\n"
        "c: !!int '3'\n"
        "d: !!binary aGk=\n"
        "e: !!str 12\n"
        "f: !!set {x: null}\n"
    )
    problems = problems_of(text, reader)
    assert [(p.message, at(p)) for p in problems] == [
        ("tags are not allowed: '!!python/object/apply:os.system'", (1, 4)),
        ("tags are not allowed: '!custom'", (2, 4)),
        ("tags are not allowed: '!!int'", (3, 4)),
        ("tags are not allowed: '!!binary'", (4, 4)),
        ("tags are not allowed: '!!set'", (6, 4)),
    ]
    assert problems[0].hint == "remove the tag; to make a value text, put it in quotes"
    source = ok("e: !!str 12\nf: !!str true\ng: !!map {a: 1}\nh: !!seq [1]\n", reader)
    assert source.data == {"e": "12", "f": "true", "g": {"a": 1}, "h": [1]}
    assert source.value_span(("e",)) == Span(1, 10, "")  # the text itself, after the tag
    on_a_list = one_problem("a: !!str [1]\n", reader)
    assert on_a_list.message == "'!!str' applies to a single value, not to a list or mapping"


def test_the_global_safe_loader_is_untouched() -> None:
    assert yaml.safe_load("a: yes\nb: 1:30\n") == {"a": True, "b": 90}
    assert "y" in yaml.SafeLoader.yaml_implicit_resolvers


# --- 5. bombs and cycles ---------------------------------------------------------------------------------

BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]",
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]",
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]",
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]",
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]",
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]",
        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]",
    ]
)


def test_billion_laughs_is_refused(reader: Reader) -> None:
    problem = one_problem(BILLION_LAUGHS, reader)  # 9**9 values if expanded: refused by counting first
    assert problem.message == (
        "the file expands to more than 1,000,000 values (through anchors and aliases) — this looks like a YAML bomb"
    )
    assert at(problem) == (7, 4)  # g is the first anchor that alone expands beyond the limit (10**6 + ...)


def test_merge_bombs_are_counted_too(reader: Reader) -> None:
    lines = ["k0: &k0 {" + ", ".join(f"x{i}: [1, 2, 3, 4, 5, 6, 7, 8]" for i in range(10)) + "}"]
    lines += [f"k{n}: &k{n} {{a: {{<<: *k{n - 1}}}, b: {{<<: *k{n - 1}}}}}" for n in range(1, 20)]
    problem = one_problem("\n".join(lines), reader)
    assert "this looks like a YAML bomb" in problem.message


def test_the_walk_counts_even_when_the_precount_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsource, "MAX_VALUES", 1000)
    monkeypatch.setattr(yamlsource, "_MAYBE_ALIAS", yamlsource.re.compile(r"(?!)"))
    problem = one_problem(BILLION_LAUGHS)
    assert problem.message == "the file holds more than 1,000 values; the limit is 1,000"


def test_the_limit_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsource, "MAX_VALUES", 12)
    # root + 3 keys + a's list (1 + 3) + b, c as aliases (4 each) = 16 > 12; without c: 12
    assert ok("a: &a [1, 2, 3]\nb: *a\n").data == {"a": [1, 2, 3], "b": [1, 2, 3]}
    assert "YAML bomb" in one_problem("a: &a [1, 2, 3]\nb: *a\nc: *a\n").message


def test_a_huge_file_without_aliases_is_not_called_a_bomb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsource, "MAX_VALUES", 5)
    problem = one_problem("a: [1, 2, 3, 4, 5]\n")
    assert problem.message == "the file holds more than 5 values; the limit is 5"
    assert problem.hint == "split it into several files"


def test_aliases_are_expanded(reader: Reader) -> None:
    source = ok("unit: &unit {name: 个, scale: 0}\na: *unit\nb: [*unit]\n", reader)
    assert source.data["a"] == source.data["b"][0] == {"name": "个", "scale": 0}
    assert source.data["a"] is not source.data["unit"]  # a copy each time, so no one edits two at once
    assert source.value_span(("b", 0, "name")) == Span(1, 20, "")


def test_a_value_that_contains_itself(reader: Reader) -> None:
    problem = one_problem("a: 1\nb: &loop [1, *loop]\n", reader)
    assert problem.message == "the anchor '&loop' is used inside itself ('*loop'), so its value would never end"
    assert at(problem) == (2, 4)
    assert one_problem("a: &m {b: *m}\n", reader).message.startswith("the anchor '&m' is used inside itself")


# --- 6. depth --------------------------------------------------------------------------------------------


def test_a_hundred_thousand_brackets() -> None:
    # libyaml stops at its own limit of 1000 levels, then the pure-Python loader reports ours
    problem = one_problem("[" * 100_000)
    assert problem.message == "nested too deeply (more than 64 levels)"
    assert at(problem) == (1, 65)


def test_depth_limit_is_64(reader: Reader) -> None:
    assert ok("[" * 64 + "]" * 64, reader).data is not None
    assert at(one_problem("[" * 65 + "]" * 65, reader)) == (1, 65)
    block = "".join("  " * level + f"k{level}:\n" for level in range(65)) + "  " * 65 + "v: 1\n"
    problem = one_problem(block, reader)
    assert problem.message == "nested too deeply (more than 64 levels)"
    assert at(problem) == (65, 129)


def test_depth_through_aliases(reader: Reader) -> None:
    text = "a: &deep " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 30 + "*deep" + "]" * 30 + "\n"
    problem = one_problem(text, reader)
    assert problem.message == "nested too deeply (more than 64 levels)"


# --- 7. strings and order --------------------------------------------------------------------------------


def test_key_order_and_types(reader: Reader) -> None:
    source = ok("z: 1\na: 2\nm:\n  y: 采购\n  b: 销售\n", reader)
    assert list(source.data) == ["z", "a", "m"]
    assert list(source.data["m"]) == ["y", "b"]
    assert type(source.data) is dict and type(source.data["m"]["y"]) is str


# --- 8. the unforeseen -----------------------------------------------------------------------------------


def test_too_many_digits(reader: Reader) -> None:
    problem = one_problem("qty: " + "9" * 5000 + "\n", reader)
    assert problem.message == "this number has too many digits (5000)"
    assert at(problem) == (1, 6)


def test_an_unexpected_bug_becomes_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: object, root: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(yamlsource._Builder, "build", boom)
    problem = one_problem("a: 1\n")
    assert problem.message == "could not read this file: RuntimeError: boom"
    assert at(problem) == (1, 1)


def test_an_unmarked_yaml_error_becomes_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(text: str, *, fast: bool) -> None:
        raise yaml.YAMLError("something odd")

    monkeypatch.setattr(yamlsource, "_compose", fail)
    assert one_problem("a: 1\n").message == "could not read this file: something odd"


def test_the_number_of_problems_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsource, "MAX_PROBLEMS", 3)
    problems = problems_of("a: 1\n" * 10)
    assert [p.message for p in problems] == [
        *["duplicate key 'a' (first defined at line 1)"] * 3,
        "more than 3 problems; fix these first to see the rest",
    ]
    assert [at(p) for p in problems[:3]] == [(2, 1), (3, 1), (4, 1)]


def test_garbage_collection_is_restored() -> None:
    assert gc.isenabled()
    read_yaml(FILE, b"a: 1\n")
    assert gc.isenabled()
    gc.disable()
    try:
        read_yaml(FILE, b"a: 1\n")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_works_without_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsource, "_FAST_LOADER", None)
    assert ok("a: [1, 2.5, yes]\n").data == {"a": [1, Decimal("2.5"), "yes"]}


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    source, problems = read_yaml(FILE, raw)
    assert (source is None) != (problems == [])
    assert all(problem.location is not None and problem.location.file == FILE for problem in problems)


YAMLISH = st.text(alphabet=list(" \n\t-:?,[]{}'\"#&*!|>%@`<=.~0123456789abxyz数量eE+_\\"), max_size=300)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(YAMLISH, st.integers(min_value=-5, max_value=400))
def test_random_yaml_like_text_never_raises(text: str, offset: int) -> None:
    for read in (read_yaml, _python_only):
        source, problems = read(FILE, text.encode())
        assert (source is None) != (problems == [])
        if source is not None:
            for path in _paths(source.data):
                assert isinstance(source.formula_location(path, offset), Location)
                assert isinstance(source.locate(path, key=True), Location)


def _paths(data: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out: list[tuple[str | int, ...]] = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*prefix, index))
    return out


# --- 9. performance --------------------------------------------------------------------------------------


def _app_file(size: int) -> str:
    parts = ["app: food\nentities:\n"]
    total, number = len(parts[0]), 0
    while total < size:
        part = (
            f"  item{number}:\n"
            f"    label: 物料 {number}\n"
            "    fields:\n"
            "      code: {type: text, required: true, max: 20}\n"
            "      qty:\n"
            "        type: decimal\n"
            "        default: 12.50\n"
            "      total:\n"
            '        formula: "{数量} * {单价}"\n'
            "      status:\n"
            "        type: choice\n"
            "        choices: [draft, confirmed, done]\n"
            "        help: >\n"
            "          What state the order is in; only a manager may move it back from done.\n"
        )
        parts.append(part)
        total += len(part.encode())
        number += 1
    return "".join(parts)


def test_a_1_mb_app_file_reads_completely() -> None:
    text = _app_file(1024 * 1024)
    source = ok(text)
    assert source.data["entities"]["item7"]["fields"]["qty"]["default"] == Decimal("12.50")


def test_libyaml_and_python_agree() -> None:
    text = _app_file(20_000) + "positions:\n" + "".join(f"  {line}\n" for line in _POSITIONS.splitlines())
    fast, slow = ok(text), ok(text, _python_only)
    assert fast.data == slow.data
    assert fast._values == slow._values
    assert fast._keys == slow._keys


# --- positions -------------------------------------------------------------------------------------------

_POSITIONS = """\
# positions
app: 进销存
entities:
  item:
    label: "物料"
    fields:
      code: {type: text, required: true}
      qty:
        type: decimal
        default:
      total:
        formula: "{数量} * {单价}"
      plain:
        formula: 数量 * 单价
      literal:
        formula: |
          {数量} *
            {单价}
      folded:
        formula: >
          {数量}
          * {单价}

          + {税}
      plain_lines: first line
        second {x} line
      quoted_lines: "ab
        {cd}"
      single: 'it''s {x}'
      escaped: "a\\tb\\u00e9 {x}"
      anchored: &f "{a} + {b}"
    tags: [a, b]
    list:
      - one
      - two: 2
        three: 3
      -
      - - nested
"""
F = ("entities", "item", "fields")


@pytest.fixture(scope="module")
def positions() -> SourceFile:
    return ok(_POSITIONS)


def test_value_and_key_spans(positions: SourceFile) -> None:
    assert positions.value_span(()) == Span(2, 1, None)
    assert positions.key_span(()) is None
    assert positions.key_span(("app",)) == Span(2, 1, "")
    assert positions.value_span(("app",)) == Span(2, 6, "")
    assert positions.value_span(("entities",)) == Span(4, 3, None)
    assert positions.value_span(("entities", "item", "label")) == Span(5, 12, '"')
    assert positions.value_span((*F, "code")) == Span(7, 13, None)
    assert positions.value_span((*F, "code", "required")) == Span(7, 36, "")
    assert positions.key_span((*F, "code", "required")) == Span(7, 26, "")
    assert positions.value_span((*F, "qty", "default")) == Span(10, 17, "")  # empty: just after the colon
    assert positions.value_span((*F, "literal", "formula")) == Span(16, 18, "|")
    assert positions.value_span((*F, "folded", "formula")) == Span(20, 18, ">")
    assert positions.value_span((*F, "single")) == Span(29, 15, "'")
    assert positions.value_span((*F, "anchored")) == Span(31, 20, '"')  # after the anchor
    assert positions.value_span(("entities", "item", "tags", 1)) == Span(32, 15, "")
    assert positions.key_span(("entities", "item", "tags", 1)) is None
    assert positions.value_span(("entities", "item", "list", 1)) == Span(35, 9, None)
    assert positions.key_span(("entities", "item", "list", 1, "three")) == Span(36, 9, "")
    assert positions.value_span(("entities", "item", "list", 3, 0)) == Span(38, 11, "")
    assert positions.value_span(("entities", "missing")) is None
    assert positions.value_span(("entities", ["unhashable"])) is None  # type: ignore[list-item]


def test_locate_falls_back_to_the_nearest_ancestor(positions: SourceFile) -> None:
    assert positions.locate((*F, "qty", "type")) == Location(FILE, 9, 15)
    assert positions.locate((*F, "qty", "type"), key=True) == Location(FILE, 9, 9)
    assert positions.locate((*F, "qty", "scale")) == Location(FILE, 8, 7)  # the `qty:` line
    assert positions.locate((*F, "qty", "scale", "deeper")) == Location(FILE, 8, 7)
    assert positions.locate(("entities", "item", "tags", 1), key=True) == Location(FILE, 32, 15)
    assert positions.locate(("nowhere",)) == Location(FILE, 2, 1)  # the root mapping
    assert positions.locate([]) == Location(FILE, 2, 1)


def _point(source: SourceFile, path: tuple[str | int, ...], needle: str) -> str:
    """The source text at formula_location of `needle` in the value at `path`."""
    value = source.data
    for part in path:
        value = value[part]
    location = source.formula_location(path, value.index(needle))
    return _POSITIONS.split("\n")[location.line - 1][location.column - 1 :]


@pytest.mark.parametrize(
    ("field", "needle", "line"),
    [
        ("total", "{单价}", 12),
        ("plain", "单价", 14),
        ("literal", "{数量}", 17),
        ("literal", "{单价}", 18),
        ("folded", "{单价}", 22),
        ("folded", "{税}", 24),
    ],
)
def test_formula_location_in_formulas(positions: SourceFile, field: str, needle: str, line: int) -> None:
    path = (*F, field, "formula")
    assert _point(positions, path, needle).startswith(needle)
    value = positions.data["entities"]["item"]["fields"][field]["formula"]
    assert positions.formula_location(path, value.index(needle)).line == line


@pytest.mark.parametrize(
    ("field", "needle"),
    [("plain_lines", "{x}"), ("plain_lines", "second"), ("quoted_lines", "{cd}"), ("single", "{x}"),
     ("escaped", "{x}"), ("anchored", "{b}")],
)  # fmt: skip
def test_formula_location_in_other_scalars(positions: SourceFile, field: str, needle: str) -> None:
    assert _point(positions, (*F, field), needle).startswith(needle)


def test_formula_location_exact_columns(positions: SourceFile) -> None:
    # plain: column + offset; quoted: column + 1 + offset
    assert positions.formula_location((*F, "plain", "formula"), 0) == Location(FILE, 14, 18)
    assert positions.formula_location((*F, "plain", "formula"), 5) == Location(FILE, 14, 23)
    assert positions.formula_location((*F, "total", "formula"), 0) == Location(FILE, 12, 19)
    assert positions.formula_location((*F, "total", "formula"), 7) == Location(FILE, 12, 26)
    # offsets past either end are clamped; non-strings and unknown paths fall back to locate()
    assert positions.formula_location((*F, "plain", "formula"), -3) == Location(FILE, 14, 18)
    assert positions.formula_location((*F, "plain", "formula"), 999) == Location(FILE, 14, 25)
    assert positions.formula_location((*F, "code"), 2) == Location(FILE, 7, 13)
    assert positions.formula_location((*F, "nope"), 2) == Location(FILE, 6, 5)


def test_formula_location_at_the_end_of_a_folded_block() -> None:
    source = ok("a: >\n  x {y}\n  z\n\nb: 1\n")
    assert source.data["a"] == "x {y} z\n"
    assert source.formula_location(("a",), 2) == Location(FILE, 2, 5)
    assert source.formula_location(("a",), 6) == Location(FILE, 3, 3)
    assert source.formula_location(("a",), 8) == Location(FILE, 3, 4)  # past the text: just after it


def test_formula_location_for_a_block_with_an_indentation_indicator() -> None:
    source = ok("f: |2\n    {a}\n   {b}\n")
    assert source.data == {"f": "  {a}\n {b}\n"}
    assert source.formula_location(("f",), source.data["f"].index("{b}")).line == 3
