"""docs/formulas.md is checked: every example loads and gives exactly the documented result, on the sample
record the page itself describes, and every function of the language is documented with its real signature
and summary (so the page and the code cannot drift apart).

Examples are written `formula` → `result`, `formula` → error `message` (computing fails) or
`formula` → load error `message` (checking fails), optionally followed by (hint: `hint`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dsl.formula import types as t
from dsl.formula.catalog import Catalog, EntityInfo, FieldInfo
from dsl.formula.checker import check
from dsl.formula.context import SimpleContext
from dsl.formula.errors import FormulaError, FormulaRuntimeError
from dsl.formula.functions import SPECIAL_FORMS, Registry, builtin_registry
from dsl.formula.pycompile import compile_python
from dsl.formula.runtime import number_text

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "formulas.md"
DOC = DOC_PATH.read_text(encoding="utf-8")
REGISTRY = builtin_registry()

EXAMPLE = re.compile(r"(?<![^\s>])`(?P<formula>[^`]+)` → (?:(?P<kind>load error|error) )?`(?P<result>[^`]*)`"
                     r"(?: \(hint: `(?P<hint>[^`]*)`\))?")
EXAMPLES_ON = re.compile(r"<!-- examples on: (?P<entity>\w+) row (?P<row>\d+) -->")
PLUGIN_SECTION = "## Adding functions (plugins)"


# --- reading the page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    formula: str
    kind: str  # "value", "error" or "load error"
    result: str
    hint: str | None
    section: str
    line: int
    on_row: tuple[str, int] | None  # (child entity, 1-based row) when not about the sample order


def sections(text: str) -> dict[str, str]:
    """Level-2 sections by heading line."""
    found: dict[str, str] = {}
    heading = ""
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line
        found[heading] = found.get(heading, "") + line + "\n"
    return found


def examples(text: str = DOC) -> list[Example]:
    found, section, on_row, fenced = [], "", None, False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if line.startswith("#"):
            on_row = None
            if line.startswith("## "):
                section = line
        if match := EXAMPLES_ON.search(line):
            on_row = (match["entity"], int(match["row"]))
        for match in EXAMPLE.finditer(line):
            found.append(Example(match["formula"], match["kind"] or "value", match["result"], match["hint"],
                                 section, number, on_row))
    return found


def table_rows(text: str) -> list[list[str]]:
    """The cells of every markdown table row in `text`, separator rows left out."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.fullmatch(r"[|\s:-]+", line):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


# --- the sample record --------------------------------------------------------------------------------

TYPE_NAMES = {"whole number": t.INT, "number": t.DECIMAL, "text": t.TEXT, "TRUE/FALSE": t.BOOL, "date": t.DATE,
              "date and time": t.DATETIME}


def parse_type(text: str) -> t.Type:
    if text.startswith("link to "):
        return t.record(text.removeprefix("link to "))
    if text.startswith("table of "):
        return t.rows(text.removeprefix("table of "))
    return TYPE_NAMES[text]


def parse_value(cell: str, kind: t.Type) -> Any:
    if cell == "blank":
        return None
    assert cell.startswith("`") and cell.endswith("`"), cell
    raw = cell[1:-1]
    match kind.kind:
        case t.Kind.INT:
            return int(raw)
        case t.Kind.DECIMAL:
            return Decimal(raw)
        case t.Kind.TEXT:
            assert raw.startswith('"') and raw.endswith('"'), raw
            return raw[1:-1].replace('""', '"')
        case t.Kind.BOOL:
            return {"TRUE": True, "FALSE": False}[raw]
        case t.Kind.DATE:
            return dt.date.fromisoformat(raw)
        case t.Kind.DATETIME:
            return dt.datetime.fromisoformat(raw)
        case t.Kind.RECORD:
            return raw  # the linked record's id, fetched through the context
    raise AssertionError(cell)


@dataclass
class Sample:
    now: dt.datetime
    subject: str  # the entity the examples are about
    catalog: Catalog
    record: dict[str, Any]
    user: str | None = None  # the signed-in user's id
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # linked records by id
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # child entity → its rows

    def context(self) -> SimpleContext:
        user = self.records["user"][self.user] if self.user else None
        return SimpleContext(now=self.now, records=self.records, user=user)


def sample() -> Sample:
    section = sections(DOC)["## The sample record used in the examples"]
    now = dt.datetime.fromisoformat(re.search(r"it is now `([^`]+)`", section)[1])  # type: ignore[index]
    user = re.search(r"the\s+signed-in\s+user\s+is\s+`([^`]+)`", section)[1]  # type: ignore[index]
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    for part in re.split(r"^### ", section, flags=re.MULTILINE)[1:]:
        name = re.match(r"`(\w+)`", part)[1]  # type: ignore[index]
        header, *rows = table_rows(part)
        assert header[:3] == ["field", "label", "type"], header
        tables.append((name, header[3:], rows))
    subject = tables[0][0]
    parents = {parse_type(row[2]).entity: name for name, _, rows in tables for row in rows
               if parse_type(row[2]).kind is t.Kind.ROWS}
    catalog = Catalog.build([
        EntityInfo.build(name, [FieldInfo(row[0], parse_type(row[2]), (row[1],)) for row in rows], parents.get(name))
        for name, _, rows in tables])
    records: dict[str, list[dict[str, Any]]] = {}
    for name, columns, rows in tables:
        records[name] = [{row[0]: parse_value(row[3 + i], parse_type(row[2])) for row in rows
                          if parse_type(row[2]).kind is not t.Kind.ROWS} for i in range(len(columns))]
    result = Sample(now, subject, catalog, records[subject][0], user)
    for name, columns, _ in tables:
        if name == subject:
            continue
        if name in parents:
            result.rows[name] = records[name]
        else:
            result.records[name] = {key: dict(record, id=key) for key, record in zip(columns, records[name],
                                                                                     strict=True)}
    for row in tables[0][2]:  # the subject's tables
        kind = parse_type(row[2])
        if kind.kind is t.Kind.ROWS:
            result.record[row[0]] = [dict(r, parent=result.record) for r in result.rows[kind.entity]]  # type: ignore
    return result


SAMPLE = sample()


# --- running an example ---------------------------------------------------------------------------------


def render(value: Any) -> str:
    """A value as the page writes results."""
    assert not isinstance(value, float), "a formula gave a float"
    if value is None:
        return "blank"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal):
        return number_text(value)
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    raise AssertionError(f"unexpected result {value!r}")


def plugin_registry() -> Registry:
    """The registry with the functions of the plugin example in the page (its Python block, run as is)."""
    section = sections(DOC)[PLUGIN_SECTION]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)[1]  # type: ignore[index]
    namespace: dict[str, Any] = {}
    exec(compile(code, f"{DOC_PATH}:{PLUGIN_SECTION}", "exec"), namespace)  # the page's own example code
    return REGISTRY.with_functions(namespace["jxc_formula_functions"]())


PLUGINS = plugin_registry()
EXAMPLES = examples()


def evaluate(example: Example) -> tuple[str, str, str | None]:
    """(kind, result or message, hint) as the page would write them."""
    registry = PLUGINS if example.section == PLUGIN_SECTION else REGISTRY
    entity, record = SAMPLE.subject, SAMPLE.record
    if example.on_row is not None:
        entity = example.on_row[0]
        record = dict(SAMPLE.rows[entity][example.on_row[1] - 1], parent=SAMPLE.record)
    try:
        function = compile_python(check(example.formula, SAMPLE.catalog, registry, entity))
    except FormulaError as error:
        return "load error", error.message, error.hint
    try:
        return "value", render(function(record, SAMPLE.context())), None
    except FormulaRuntimeError as error:
        return "error", error.message, None


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"line{e.line}:{e.formula}" for e in EXAMPLES])
def test_example(example):
    kind, result, hint = evaluate(example)
    assert (kind, result) == (example.kind, example.result), f"docs/formulas.md line {example.line}"
    if example.hint is not None:
        assert hint == example.hint, f"docs/formulas.md line {example.line}"


def test_the_page_has_examples_everywhere():
    assert len(EXAMPLES) > 150
    for section in sections(DOC):
        if section.startswith("## ") and section not in ("## How to read the examples",
                                                         "## The sample record used in the examples"):
            assert any(e.section == section for e in EXAMPLES), f"no example in {section}"
    assert {e.kind for e in EXAMPLES} == {"value", "error", "load error"}
    assert any(e.on_row for e in EXAMPLES)


def test_the_sample_record_is_read():
    assert SAMPLE.subject == "sales_order"
    assert SAMPLE.record["qty"] == 10 and SAMPLE.record["customer"] == "C001"
    assert len(SAMPLE.record["lines"]) == 3
    assert SAMPLE.records["customer"]["C001"]["region"] == "R01"
    assert SAMPLE.catalog.entity("sales_order_line").parent == "sales_order"  # type: ignore[union-attr]


# --- every function is documented, with its real signature and summary ------------------------------------


def function_rows() -> dict[str, list[tuple[str, str, str]]]:
    """Rows of the function tables: signature (without backticks) → [(description, examples)]."""
    section = sections(DOC)["## Functions"]
    found: dict[str, list[tuple[str, str, str]]] = {}
    for cells in table_rows(section):
        if len(cells) == 3 and cells[0].startswith("`"):
            signature = cells[0].strip("`")
            found.setdefault(signature, []).append((cells[1], cells[2], signature))
    return found


FUNCTION_ROWS = function_rows()


@pytest.mark.parametrize("spec", list(REGISTRY), ids=lambda spec: spec.name)
def test_every_built_in_function_is_documented(spec):
    rows = FUNCTION_ROWS.get(spec.signature())
    assert rows, f"docs/formulas.md has no row for `{spec.signature()}` in ## Functions"
    description, cell, _ = rows[0]
    assert description.startswith(spec.summary), f"the description of {spec.name} must start with its summary"
    documented = [e for e in EXAMPLE.finditer(cell)]
    assert documented, f"{spec.name} has no example"
    assert any(re.match(rf"\W*{spec.name}\(", e["formula"], re.IGNORECASE) or spec.name in e["formula"].upper()
               for e in documented)


@pytest.mark.parametrize("name", list(SPECIAL_FORMS))
def test_every_special_form_is_documented(name):
    rows = FUNCTION_ROWS.get(SPECIAL_FORMS[name])
    assert rows, f"docs/formulas.md has no row for `{SPECIAL_FORMS[name]}` in ## Functions"
    assert any(e["formula"].upper().startswith(name + "(") for e in EXAMPLE.finditer(rows[0][1]))


def test_every_documented_function_exists():
    known = {spec.signature() for spec in REGISTRY} | set(SPECIAL_FORMS.values())
    assert set(FUNCTION_ROWS) <= known, set(FUNCTION_ROWS) - known
    assert all(len(rows) == 1 for rows in FUNCTION_ROWS.values())


# --- the short examples of the code hold too -------------------------------------------------------------------


SPEC_EXAMPLES = [(spec.name, spec.example) for spec in [*REGISTRY, *(s for s in PLUGINS if s.name not in
                                                                    {r.name for r in REGISTRY})]
                 if "→" in spec.example]


@pytest.mark.parametrize(("name", "example"), SPEC_EXAMPLES)
def test_function_spec_examples(name, example):
    formula, expected = (part.strip() for part in example.split("→"))
    registry = PLUGINS if REGISTRY.get(name) is None else REGISTRY
    kind, result, _ = evaluate(Example(formula, "value", "", None, PLUGIN_SECTION if registry is PLUGINS else "",
                                       0, None))
    assert (kind, result) == ("value", expected)
