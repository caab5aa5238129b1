"""Read one admin-written YAML file: plain Python data plus the position of every node, or located problems.

Not `yaml.safe_load`, because that follows YAML 1.1 (`yes`/`on` become booleans, `1:30` an integer, `12.50`
a binary float), keeps the last of two duplicate keys silently, builds objects from tags, and expands alias
bombs before anyone can count them. PyYAML only scans, parses and composes here; the Python values are
built by walking the node graph, which is where positions are recorded and the rules are enforced: one
document, text keys without duplicates, `<<` merges, YAML 1.2-like scalars (decimals kept exact as
`Decimal`), no tags but `!!str`, at most 64 levels of nesting and 1,000,000 values after alias expansion.

`read_yaml` never raises: whatever the bytes, the caller gets a `SourceFile` or a list of `Problem`s.
"""

from __future__ import annotations

import datetime as dt
import decimal
import gc
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import yaml
from yaml.composer import Composer
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from dsl.problems import Location, Problem, format_path

# libyaml composes ~6x faster and gives the same nodes and marks; it is only more lenient with tabs used as
# separators (YAML 1.2 allows them). On any error the pure-Python loader re-reads the text: its messages
# are more specific and it carries our own checks (one document, nesting depth).
try:
    from yaml._yaml import CParser as _CParser
    from yaml._yaml import get_version as _libyaml_version
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    _CParser = None

MAX_BYTES = 4 * 1024 * 1024
MAX_VALUES = 1_000_000
MAX_DEPTH = 64
MAX_PROBLEMS = 200  # a file pasted twice would otherwise yield one "duplicate key" per line, slowly

PathKey = tuple[str | int, ...]
_Where = tuple[int, int, str | None]  # a Span's fields: a plain tuple is 4x cheaper to make per node

_UTF8_BOM = b"\xef\xbb\xbf"
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML (and so every Mark) counts as a line end
# What PyYAML's Reader refuses (Reader.NON_PRINTABLE); checked up front to word the message better.
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Could `*name` (an alias) occur? Misses nothing, may over-match; it only decides whether to count first.
_MAYBE_ALIAS = re.compile(r"(?:^|[\s\[\]{},:])\*[^\s\[\]{},]")
_CJK = re.compile("[\u3400-\u9fff\uf900-\ufaff]")

_YAML_TAG = "tag:yaml.org,2002:"
_STR_TAG = _YAML_TAG + "str"
_SEQ_TAG = _YAML_TAG + "seq"
_MAP_TAG = _YAML_TAG + "map"
# Implicit (untagged plain) scalars get private tags, so an explicit `!!int` can be told apart and refused.
_JXC_TAG = "tag:jxc.local,2026:"
_NULL_TAG = _JXC_TAG + "null"
_BOOL_TAG = _JXC_TAG + "bool"
_INT_TAG = _JXC_TAG + "int"
_DECIMAL_TAG = _JXC_TAG + "decimal"
_NOT_FINITE_TAG = _JXC_TAG + "not-finite"
_DATE_TAG = _JXC_TAG + "date"
_DATETIME_TAG = _JXC_TAG + "datetime"
_MERGE_TAG = _JXC_TAG + "merge"

_DATE = r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
_DATE_RE = re.compile(_DATE + r"\Z")
_DATETIME_RE = re.compile(
    _DATE
    + r"(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]*))?)?"
    + r"(?:[ \t]*(Z|z|[-+][0-9]{1,2}(?::?[0-9]{2})?))?\Z"
)
_DIGITS = list("0123456789")
# YAML 1.2 core schema, minus what an admin would trip over (see the module docstring). Every pattern is
# anchored with \Z because Resolver uses re.match.
_IMPLICIT: list[tuple[str, str, list[str]]] = [
    (_NULL_TAG, r"(?:~|null|Null|NULL|)\Z", ["~", "n", "N", ""]),
    (_BOOL_TAG, r"(?:true|True|TRUE|false|False|FALSE)\Z", list("tTfF")),
    (_INT_TAG, r"(?:[-+]?[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+)\Z", ["-", "+", *_DIGITS]),
    (_DECIMAL_TAG, r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z", ["-", "+", ".", *_DIGITS]),
    (_NOT_FINITE_TAG, r"(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z", ["-", "+", "."]),
    (_DATE_TAG, _DATE + r"\Z", _DIGITS),
    (_DATETIME_TAG, _DATETIME_RE.pattern, _DIGITS),
    (_MERGE_TAG, r"<<\Z", ["<"]),
]
_IMPLICIT_TAGS = frozenset(tag for tag, _, _ in _IMPLICIT)
# `[` is left out: an unclosed list is far likelier than a formula starting with it.
_QUOTE_HINT_STARTS = "{*&!@`%|>"


@dataclass(frozen=True, slots=True)
class Span:
    line: int  # 1-based
    column: int  # 1-based
    style: str | None  # scalars: "" plain, "'" or '"' quoted, "|" or ">" block; None for mappings/sequences


class SourceFile:
    """One YAML file read successfully: `data` plus where each value and key stands in the text."""

    def __init__(
        self,
        path: str,
        data: Any,
        values: dict[PathKey, _Where],
        keys: dict[PathKey, _Where],
        lines: list[str],
    ) -> None:
        self.path = path
        self.data = data
        self._values = values
        self._keys = keys
        self._lines = lines

    def __repr__(self) -> str:
        return f"SourceFile({self.path!r}, {len(self._values)} values)"

    def value_span(self, path: Iterable[str | int]) -> Span | None:
        return _span(self._values, path)

    def key_span(self, path: Iterable[str | int]) -> Span | None:
        return _span(self._keys, path)

    def locate(self, path: Iterable[str | int], *, key: bool = False) -> Location:
        """Where the value (or its key) at `path` stands; for a path that does not exist (a missing
        field, say), the key of the nearest ancestor that exists, which is the line a user would edit."""
        parts = tuple(path)
        own = (self.key_span(parts) or self.value_span(parts)) if key else self.value_span(parts)
        if own is not None:
            return self._location(own.line, own.column)
        for end in range(len(parts) - 1, -1, -1):
            ancestor = parts[:end]
            span = self.key_span(ancestor) or self.value_span(ancestor)
            if span is not None:
                return self._location(span.line, span.column)
        return self._location(1, 1)

    def formula_location(self, path: Iterable[str | int], offset: int) -> Location:
        """Where character `offset` (0-based) of the string at `path` stands in the file, so that an error
        inside a formula points at the right spot. Exact for one-line scalars and simple blocks, best effort
        otherwise; it never raises."""
        parts = tuple(path)
        span = self.value_span(parts)
        value = self._data_at(parts)
        if span is None or not isinstance(value, str) or not isinstance(offset, int):
            return self.locate(parts)
        offset = max(0, min(offset, len(value)))
        try:
            if span.style in ("|", ">"):
                line, column = self._block_position(span, value, offset)
            else:
                line, column = self._flow_position(span, value, offset)
        except (IndexError, ValueError):  # a text/value mismatch the mapping did not foresee
            line, column = span.line, span.column
        return self._location(line, column)

    def _location(self, line: int, column: int) -> Location:
        return Location(self.path, line, column)

    def _data_at(self, parts: PathKey) -> Any:
        node = self.data
        for part in parts:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    def _line(self, index: int) -> str:
        return self._lines[index] if 0 <= index < len(self._lines) else ""

    def _flow_position(self, span: Span, value: str, offset: int) -> tuple[int, int]:
        quoted = span.style in ("'", '"')
        first = span.column - 1 + (1 if quoted else 0)  # 0-based index of the first character of content
        text = self._line(span.line - 1)
        if quoted:
            columns = _quoted_columns(text, first, span.style or "")
            if columns is not None and len(columns) == len(value) + 1:  # the scalar closes on this line
                return span.line, columns[offset] + 1
        elif text[first : first + len(value)] == value:
            return span.line, first + offset + 1

        def segments() -> Iterator[tuple[int, int, str]]:
            # Folded over several lines: every line after the first is stripped of its indentation.
            yield span.line - 1, first, text[first:]
            for index in range(span.line, len(self._lines)):
                line = self._lines[index]
                content = line.lstrip(" \t")
                yield index, len(line) - len(content), content

        return _align(segments(), value, offset)

    def _block_position(self, span: Span, value: str, offset: int) -> tuple[int, int]:
        # Content starts on the line after the indicator, indented like its first non-blank line.
        start = span.line  # 0-based index of the first content line
        indent = 0
        for index in range(start, len(self._lines)):
            line = self._lines[index]
            if line.strip(" \t"):
                indent = len(line) - len(line.lstrip(" "))
                break
        if span.style == "|":  # literal: one value line per source line
            row = value.count("\n", 0, offset)
            column = offset - (value.rfind("\n", 0, offset) + 1)
            return start + row + 1, indent + column + 1
        segments = (
            (index, indent, line[indent:] if line.strip(" \t") else "")
            for index, line in enumerate(itertools.islice(self._lines, start, None), start)
        )
        return _align(segments, value, offset)


def _span(table: dict[PathKey, _Where], path: Iterable[str | int]) -> Span | None:
    try:
        where = table.get(tuple(path))
    except TypeError:  # an unhashable path element cannot name anything here
        return None
    return None if where is None else Span(*where)


def _quoted_columns(text: str, first: int, quote: str) -> list[int] | None:
    """0-based source column of each character of a quoted scalar's value, plus the closing quote's;
    None if the scalar does not close on this line."""
    columns: list[int] = []
    index = first
    while index < len(text):
        char = text[index]
        if char == quote:
            if quote == "'" and text[index + 1 : index + 2] == "'":
                columns.append(index)
                index += 2
                continue
            columns.append(index)
            return columns
        columns.append(index)
        if quote == '"' and char == "\\":
            index += {"x": 4, "u": 6, "U": 10}.get(text[index + 1 : index + 2], 2)
        else:
            index += 1
    return None


def _align(segments: Iterable[tuple[int, int, str]], value: str, offset: int) -> tuple[int, int]:
    """Map `offset` in a folded value onto source lines given as (line index, start column, content).

    Folding joins lines with one space, or with one newline per blank line in between; so after each
    line's content the value holds a run of newlines or a single space, and blank lines hold nothing."""
    cursor = 0
    last: tuple[int, int] | None = None
    for number, (index, start, content) in enumerate(segments):
        if number and not content.strip(" \t"):
            continue
        shared = 0
        limit = min(len(content), len(value) - cursor)
        while shared < limit and content[shared] == value[cursor + shared]:
            shared += 1
        shared = min(shared, len(content.rstrip(" \t")))
        if offset <= cursor + shared or shared < len(content.rstrip(" \t")):
            return index + 1, start + (offset - cursor) + 1
        cursor += shared
        last = index, start + shared
        if cursor < len(value) and value[cursor] == "\n":
            while cursor < len(value) and value[cursor] == "\n":
                cursor += 1
        elif cursor < len(value) and value[cursor] == " ":
            cursor += 1
        if cursor >= len(value):  # only the final line break is left: point just after the text
            break
    if last is None:
        raise ValueError("no source line for this value")  # formula_location falls back to the span
    return last[0] + 1, last[1] + 1


# --- loading -------------------------------------------------------------------------------------------


class _Resolver(BaseResolver):
    # A fresh dict of our own: BaseResolver.add_implicit_resolver copies it per class, but being explicit
    # guarantees the process-wide SafeLoader keeps its YAML 1.1 rules for any other code that uses it.
    yaml_implicit_resolvers: ClassVar[dict[str | None, list[tuple[str, re.Pattern[str]]]]] = {}

    def resolve(self, kind: type, value: str | None, implicit: tuple[bool, bool]) -> str:
        # Same outcome as BaseResolver.resolve without the path-resolver machinery; it runs once per node.
        if kind is ScalarNode:
            if implicit[0] and value is not None:
                for tag, pattern in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if pattern.match(value):
                        return tag
            return _STR_TAG
        return _SEQ_TAG if kind is SequenceNode else _MAP_TAG


for _tag, _pattern, _first in _IMPLICIT:
    _Resolver.add_implicit_resolver(_tag, re.compile(_pattern), _first)


class _TooDeep(Exception):
    def __init__(self, mark: Mark | None) -> None:
        super().__init__("too deep")
        self.mark = mark


class _SecondDocument(Exception):
    def __init__(self, mark: Mark | None) -> None:
        super().__init__("second document")
        self.mark = mark


class _Loader(Reader, Scanner, Parser, Composer, _Resolver):
    """Pure-Python composer with a nesting guard: PyYAML composes recursively, so 100,000 `[` would
    otherwise end in RecursionError instead of a message."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Resolver.__init__(self)
        self._depth = 0

    def get_single_node(self) -> Node | None:
        self.get_event()  # StreamStartEvent
        document = None
        if not self.check_event(yaml.StreamEndEvent):
            document = self.compose_document()
        if not self.check_event(yaml.StreamEndEvent):
            raise _SecondDocument(self.peek_event().start_mark)
        return document

    def compose_sequence_node(self, anchor: str | None) -> Node:
        self._enter()
        try:
            return super().compose_sequence_node(anchor)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: str | None) -> Node:
        self._enter()
        try:
            return super().compose_mapping_node(anchor)
        finally:
            self._depth -= 1

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)


if _CParser is not None and _libyaml_version() >= (0, 2, 5):  # 0.2.5 caps nesting at 1000 levels

    class _FastLoader(_CParser, _Resolver):  # type: ignore[misc, valid-type]
        def __init__(self, text: str) -> None:
            _CParser.__init__(self, text)
            _Resolver.__init__(self)

    _FAST_LOADER: Callable[[str], Any] | None = _FastLoader
else:  # pragma: no cover - depends on how PyYAML was built
    _FAST_LOADER = None


def read_yaml(path: str, raw: bytes) -> tuple[SourceFile | None, list[Problem]]:
    """Read the YAML file `raw`, shown to users as `path`: (SourceFile, []) or (None, problems)."""
    # Composing allocates one object per node and nothing here forms reference cycles worth collecting
    # mid-read; the collector's full passes over the growing graph otherwise take 2/3 of the time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _read(path, raw, fast=True)
    finally:
        if collecting:
            gc.enable()


def _read(path: str, raw: bytes, *, fast: bool) -> tuple[SourceFile | None, list[Problem]]:
    def at(line: int = 1, column: int = 1) -> Location:
        return Location(path, line, column)

    try:
        if len(raw) > MAX_BYTES:
            return None, [Problem(_too_big(len(raw)), at(), hint="split it into several files")]
        text, problem = _decode(path, raw)
        if problem is not None:
            return None, [problem]
        lines = _LINE_BREAK.split(text)
        try:
            root = _compose(text, fast=fast)
        except yaml.MarkedYAMLError as error:
            return None, [_syntax_problem(path, error, lines)]
        except ReaderError as error:  # _decode screens for these; kept as a safety net
            where = at(*_position(text, error.position))
            return None, [Problem(f"the file cannot be read as YAML: {error.reason}", where)]
        except _TooDeep as error:
            return None, [Problem(_TOO_DEEP, _mark_location(path, error.mark))]
        except _SecondDocument as error:
            return None, [
                Problem(
                    "a file may hold only one YAML document, but a second one starts here",
                    _mark_location(path, error.mark),
                    hint="remove the '---' line, or split the file in two",
                )
            ]
        except RecursionError:
            return None, [Problem(_TOO_DEEP, at())]
        if root is None:
            return SourceFile(path, None, {}, {}, lines), []
        builder = _Builder(path, lines, may_alias=_MAYBE_ALIAS.search(text) is not None)
        try:
            data = builder.build(root)
        except _Abort as abort:
            return None, [abort.problem]
        except _TooManyProblems:
            more = Problem(f"more than {MAX_PROBLEMS} problems; fix these first to see the rest", at())
            return None, [*_tidy(builder.problems), more]
        except RecursionError:
            return None, [Problem(_TOO_DEEP, at())]
        if builder.problems:
            return None, _tidy(builder.problems)
        return SourceFile(path, data, builder.values, builder.keys, lines), []
    except yaml.YAMLError as error:
        return None, [Problem(f"could not read this file: {_one_line(str(error))}", at())]
    except Exception as error:  # a bug of ours; the user still gets a message instead of a traceback
        return None, [Problem(f"could not read this file: {type(error).__name__}: {error}", at())]


_TOO_DEEP = f"nested too deeply (more than {MAX_DEPTH} levels)"


def _tidy(problems: list[Problem]) -> list[Problem]:
    # An aliased node is walked once per alias, so its problems repeat; show each once, in file order.
    return sorted(dict.fromkeys(problems), key=Problem.sort_key)


def _compose(text: str, *, fast: bool) -> Node | None:
    if fast and _FAST_LOADER is not None:
        try:
            return _FAST_LOADER(text).get_single_node()
        except yaml.YAMLError:
            pass  # the pure-Python loader words errors better and adds our own checks; let it report
    return _Loader(text).get_single_node()


def _too_big(count: int) -> str:
    megabytes, limit = count / (1024 * 1024), MAX_BYTES // (1024 * 1024)
    if f"{megabytes:.1f}" == f"{limit:.1f}":  # just over the limit: rounding would hide by how much
        return f"the file is {count:,} bytes; the limit is {limit} MB ({MAX_BYTES:,} bytes)"
    return f"the file is {megabytes:.1f} MB; the limit is {limit} MB"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of character `index`, counting line breaks the way YAML does."""
    line, line_start = 1, 0
    for match in _LINE_BREAK.finditer(text, 0, index):
        line += 1
        line_start = match.end()
    return line, index - line_start + 1


def _mark_location(path: str, mark: Mark | None) -> Location:
    if mark is None:
        return Location(path, 1, 1)
    return Location(path, mark.line + 1, mark.column + 1)


def _decode(path: str, raw: bytes) -> tuple[str, Problem | None]:
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        good = raw[: error.start].decode("utf-8")
        line, column = _position(good, len(good))
        hint = None
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            hint = "the file is saved as UTF-16 ('Unicode'); save it as UTF-8"
        else:
            try:
                if _CJK.search(raw.decode("gb18030")):
                    hint = "the file looks like GBK/GB18030; save it as UTF-8"
            except UnicodeDecodeError:
                pass
        bad = raw[error.start : error.start + 1].hex().upper()
        message = f"the file is not UTF-8 text: byte 0x{bad} cannot be decoded"
        return "", Problem(message, Location(path, line, column), hint=hint)
    found = _NON_PRINTABLE.search(text)
    if found is None:
        return text, None
    line, column = _position(text, found.start())
    char = found.group()
    if char == "\0":
        message = "the file contains a NUL character (byte 0x00), which YAML does not allow"
        hint = (
            "the file looks like UTF-16; save it as UTF-8"
            if text.count("\0") * 4 >= len(text)
            else "is this a binary file? a YAML file holds text only"
        )
    else:
        message = f"the file contains the control character U+{ord(char):04X}, which YAML does not allow"
        hint = "delete it; it is usually invisible, so retype the text around this spot"
    return "", Problem(message, Location(path, line, column), hint=hint)


def _zone(text: str | None) -> dt.tzinfo | None:
    """`Z`, `+8`, `+08:00` or `-0530` as a fixed offset; None (a naive time) when absent."""
    if text is None:
        return None
    if text in ("Z", "z"):
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = (int(digits), 0) if len(digits) <= 2 else (int(digits[:-2]), int(digits[-2:]))
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))  # ValueError beyond ±24h


# --- syntax errors -------------------------------------------------------------------------------------

_VALUE_ON_LINE = re.compile(
    r"^[ \t]*(?P<dash>(?:-[ \t]+)*)(?:(?P<key>[^\s#'\"{}\[\]][^#]*?):[ \t]+)?(?P<value>\S.*?)\s*$"
)


def _syntax_problem(path: str, error: yaml.MarkedYAMLError, lines: list[str]) -> Problem:
    problem = _one_line(error.problem or "")
    context = _one_line(error.context or "")
    problem_mark, context_mark = error.problem_mark, error.context_mark
    mark = problem_mark or context_mark
    hint = None
    char = _char_at(lines, mark)

    if char == "\t" or "'\\t'" in problem or "tab character" in problem:
        line_text = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
        indentation = line_text[: len(line_text) - len(line_text.lstrip(" \t"))]
        if "\t" in indentation:
            return Problem(
                "a tab is used for indentation; use spaces",
                Location(path, mark.line + 1 if mark else 1, indentation.index("\t") + 1),
                hint="YAML indents with spaces only; set your editor to insert spaces for the Tab key",
            )
        return Problem("a tab is not allowed here; use spaces", _mark_location(path, mark))
    if "end of stream" in problem and "quoted scalar" in context and context_mark is not None:
        quote = _char_at(lines, context_mark) or '"'
        return Problem(
            f"the text in quotes that starts here is never closed: the closing {quote} is missing",
            _mark_location(path, context_mark),
        )
    if "stream end" in problem and "flow" in context and context_mark is not None:
        bracket = _char_at(lines, context_mark) or "["
        closer = {"[": "]", "{": "}"}.get(bracket, "")
        return Problem(
            f"the '{bracket}' that starts here is never closed with '{closer}'",
            _mark_location(path, context_mark),
            hint="if the value is text rather than a list or mapping, put it in quotes",
        )
    if problem.startswith("found duplicate anchor") or context.startswith("found duplicate anchor"):
        first = f" (first defined at line {context_mark.line + 1})" if context_mark else ""
        name = _word_after(lines, problem_mark, "&")
        return Problem(f"the anchor '&{name}' is defined twice{first}", _mark_location(path, problem_mark))

    if problem.startswith("found undefined alias"):
        name = _word_after(lines, problem_mark, "*")
        message = f"'*{name}' refers to an anchor '&{name}' that is not defined above"
    elif problem == "mapping values are not allowed here":
        message = "a ':' is not allowed here"
        hint = "if the value itself contains ': ', put the whole value in quotes; else check the indentation"
    elif problem.startswith("expected <block end>") and problem.endswith("found ':'"):
        message = "a key is missing before ':'"
    elif problem.startswith("expected <block end>") and _starts_line(lines, problem_mark):
        message = f"this line does not line up with the lines above ({problem})"
        hint = "check the indentation: the keys of one mapping must start in the same column"
    elif problem.startswith("expected <block end>"):
        message = f"unexpected text after a complete value ({problem})"
        hint = "if all of it is one value, put the whole value in quotes"
    elif "scanning an alias" in context:
        message = "'*' starts an alias (a reference to an '&' anchor) and must be followed by its name"
    else:
        message = f"invalid YAML: {problem}" if problem else "invalid YAML"
        if context:
            where = f" at line {context_mark.line + 1}" if context_mark is not None else ""
            message += f" ({context}{where})"
    hint = _quote_hint(lines, problem_mark, context_mark) or hint
    return Problem(message, _mark_location(path, mark), hint=hint)


def _starts_line(lines: list[str], mark: Mark | None) -> bool:
    """Whether only indentation precedes `mark` on its line."""
    if mark is None or mark.line >= len(lines):
        return True
    return not lines[mark.line][: mark.column].strip(" \t-")


def _char_at(lines: list[str], mark: Mark | None) -> str:
    if mark is None or mark.line >= len(lines):
        return ""
    return lines[mark.line][mark.column : mark.column + 1]


def _word_after(lines: list[str], mark: Mark | None, sigil: str) -> str:
    if mark is None or mark.line >= len(lines):
        return "?"
    rest = lines[mark.line][mark.column :]
    found = re.match(re.escape(sigil) + r"([^\s,\[\]{}]+)", rest)
    return found.group(1) if found else "?"


def _quote_hint(lines: list[str], *marks: Mark | None) -> str | None:
    """A formula such as `formula: {数量} * {单价}` is YAML flow syntax followed by text: suggest quotes."""
    for mark in marks:
        if mark is None or mark.line >= len(lines):
            continue
        found = _VALUE_ON_LINE.match(lines[mark.line])
        if found is None:
            continue
        value = re.sub(r"\s+#.*$", "", found.group("value"))
        if not value or value[0] not in _QUOTE_HINT_STARTS:
            continue
        if value[0] == "{" and value.count("{") > value.count("}"):
            continue  # more likely a mapping that was never closed than a formula
        if '"' in value and "'" not in value:
            quoted = f"'{value}'"
        else:
            quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if found.group("key"):
            example = f"{found.group('key')}: {quoted}"
        else:
            example = f"- {quoted}" if found.group("dash") else quoted
        return f"a value that starts with {value[0]} must be quoted, e.g. {example}"
    return None


# --- building Python values ----------------------------------------------------------------------------


class _Abort(Exception):
    """A problem after which walking on makes no sense (a bomb, a cycle, runaway depth)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class _SkipMeasure(Exception):
    pass


class _TooManyProblems(Exception):
    pass


class _Entry(NamedTuple):
    key: str
    key_node: Node
    value_node: Node


class _Builder:
    def __init__(self, path: str, lines: list[str], *, may_alias: bool) -> None:
        self.path = path
        self.lines = lines
        self.may_alias = may_alias
        self.problems: list[Problem] = []
        self.values: dict[PathKey, _Where] = {}
        self.keys: dict[PathKey, _Where] = {}
        self.count = 0
        self._entries_memo: dict[int, list[_Entry]] = {}
        self._entries_active: set[int] = set()
        self._sizes: dict[int, int] = {}
        self._measuring: set[int] = set()

    def build(self, root: Node) -> Any:
        if self.may_alias:  # without aliases the walk is linear in the text; with them, count first
            try:
                total = self._measure(root, (), 1)
            except _SkipMeasure:  # deeper than allowed: the walk reports it, with a bounded count
                total = 0
            if total > MAX_VALUES:
                raise _Abort(self._bomb(self._largest(root)))
        return self._value(root, (), 0)

    # problems

    def at(self, node: Node) -> Location:
        return _mark_location(self.path, node.start_mark)

    def add(self, message: str, node: Node, path: PathKey, hint: str | None = None) -> None:
        self.problems.append(Problem(message, self.at(node), format_path(path) or None, hint))
        if len(self.problems) >= MAX_PROBLEMS:
            raise _TooManyProblems

    def _bomb(self, node: Node) -> Problem:
        if not self.may_alias:  # then the values are all really written out in the file
            message = f"the file holds more than {MAX_VALUES:,} values; the limit is {MAX_VALUES:,}"
            return Problem(message, self.at(node), hint="split it into several files")
        return Problem(
            f"the file expands to more than {MAX_VALUES:,} values (through anchors and aliases)"
            " — this looks like a YAML bomb",
            self.at(node),
        )

    def _cycle(self, node: Node, path: PathKey) -> _Abort:
        name = _word_after(self.lines, node.start_mark, "&")
        message = f"the anchor '&{name}' is used inside itself ('*{name}'), so its value would never end"
        return _Abort(Problem(message, self.at(node), format_path(path) or None))

    # counting, before anything is built

    def _measure(self, node: Node, path: PathKey, depth: int) -> int:
        """How many values `node` expands to. Memoised per node, so a billion laughs costs a few dozen
        steps; anchors always precede their aliases, so the recursion follows the text's own nesting."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in self._measuring:
            raise self._cycle(node, path)
        if isinstance(node, ScalarNode):
            return 1
        if depth > MAX_DEPTH:
            raise _SkipMeasure
        self._measuring.add(id(node))
        total = 1
        if isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                total += self._measure(item, (*path, index), depth + 1)
        elif isinstance(node, MappingNode):
            for entry in self._entries(node, path):
                total += 1 + self._measure(entry.value_node, (*path, entry.key), depth + 1)
        self._measuring.discard(id(node))
        self._sizes[id(node)] = total
        return total

    def _largest(self, node: Node) -> Node:
        """The innermost node that alone expands beyond the limit: where the bomb is defined."""
        while True:
            if isinstance(node, SequenceNode):
                children = list(node.value)
            elif isinstance(node, MappingNode):
                children = [entry.value_node for entry in self._entries(node, ())]
            else:
                return node
            bigger = [child for child in children if self._sizes.get(id(child), 0) > MAX_VALUES]
            if not bigger:
                return node
            node = bigger[0]

    def _tick(self, node: Node) -> None:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _Abort(self._bomb(node))

    # the walk

    def _value(self, node: Node, path: PathKey, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _Abort(self._bomb(node))
        mark = node.start_mark
        line, column = mark.line + 1, mark.column + 1
        if node.__class__ is ScalarNode:
            self.values[path] = (line, self._content_column(mark), node.style or "")
            return node.value if node.tag == _STR_TAG else self._scalar(node, path)
        if depth + 1 > MAX_DEPTH:
            raise _Abort(Problem(_TOO_DEEP, self.at(node)))  # its path would be 64 levels long
        self.values[path] = (line, column, None)
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ_TAG:
                self._refuse_tag(node, path)
            return [self._value(item, (*path, index), depth + 1) for index, item in enumerate(node.value)]
        if node.tag != _MAP_TAG:
            self._refuse_tag(node, path)
        mapping: dict[str, Any] = {}
        for key, key_node, value_node in self._entries(node, path):
            self._tick(key_node)
            child = (*path, key)
            mark = key_node.start_mark
            self.keys[child] = (mark.line + 1, self._content_column(mark), key_node.style or "")
            mapping[key] = self._value(value_node, child, depth + 1)
        return mapping

    def _content_column(self, mark: Mark) -> int:
        """1-based column of a scalar's text. A node's mark includes its anchor and tag (`&a !!str 12`);
        formula_location counts from the text itself, so step over them when they share its line."""
        text = self.lines[mark.line] if mark.line < len(self.lines) else ""
        index = mark.column
        if text[index : index + 1] not in ("&", "!"):
            return index + 1
        while text[index : index + 1] in ("&", "!"):
            while index < len(text) and text[index] not in " \t":
                index += 1
            while index < len(text) and text[index] in " \t":
                index += 1
        return index + 1 if index < len(text) else mark.column + 1

    def _refuse_tag(self, node: Node, path: PathKey) -> None:
        tag = node.tag
        shown = "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag
        if tag == _STR_TAG:  # allowed on a scalar, so this is a list or mapping
            self.add("'!!str' applies to a single value, not to a list or mapping", node, path)
            return
        self.add(
            f"tags are not allowed: '{shown}'",
            node,
            path,
            hint="remove the tag; to make a value text, put it in quotes",
        )

    def _scalar(self, node: ScalarNode, path: PathKey) -> Any:
        tag, text = node.tag, node.value
        if tag == _STR_TAG:  # quoted, block, plain text, or explicitly `!!str`
            return text
        if tag not in _IMPLICIT_TAGS:
            self._refuse_tag(node, path)
            return None
        if node.style:  # the non-specific tag `! "12"` resolves like a plain scalar; quotes still mean text
            return text
        if tag == _NULL_TAG:
            return None
        if tag == _BOOL_TAG:
            return text[0] in "tT"
        if tag == _INT_TAG:
            try:
                if text.startswith(("0x", "0o")):
                    return int(text[2:], 16 if text[1] == "x" else 8)
                return int(text, 10)
            except ValueError:  # Python refuses to convert more than 4300 digits
                self.add(f"this number has too many digits ({len(text)})", node, path)
                return None
        if tag == _DECIMAL_TAG:
            try:
                return decimal.Decimal(text)  # from the text, never via float: 12.50 stays 12.50
            except decimal.InvalidOperation:
                self.add(f"'{text}' is not a valid number", node, path)
                return None
        if tag == _NOT_FINITE_TAG:
            self.add("infinite or not-a-number values are not allowed", node, path)
            return None
        if tag in (_DATE_TAG, _DATETIME_TAG):
            return self._date(node, path)
        # `<<` as a value (not a key) is just text
        return text

    def _date(self, node: ScalarNode, path: PathKey) -> dt.date | dt.datetime | None:
        text = node.value
        try:
            found = _DATE_RE.match(text)
            if found is not None:
                year, month, day = (int(part) for part in found.groups())
                return dt.date(year, month, day)
            found = _DATETIME_RE.match(text)
            if found is None:
                self.add(f"'{text}' is not a valid date or time", node, path)
                return None
            year, month, day, hour, minute = (int(part) for part in found.groups()[:5])
            second = int(found.group(6) or 0)
            micro = int((found.group(7) or "")[:6].ljust(6, "0"))
            zone = _zone(found.group(8))
            return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
        except ValueError as error:
            what = "date" if _DATE_RE.match(text) else "date and time"
            self.add(f"'{text}' is not a valid {what}: {error}", node, path)
            return None

    # mappings: keys, duplicates and merges

    def _entries(self, node: MappingNode, path: PathKey, merge_depth: int = 0) -> list[_Entry]:
        """The mapping's (key, key node, value node) triples in order, with `<<` merges spliced in where
        they stand; explicit keys win over merged ones, and earlier merge sources over later ones."""
        known = self._entries_memo.get(id(node))
        if known is not None:
            return known
        if id(node) in self._entries_active:
            raise self._cycle(node, path)
        if merge_depth > MAX_DEPTH:
            message = f"merges ('<<') are nested too deeply (more than {MAX_DEPTH})"
            raise _Abort(Problem(message, self.at(node), format_path(path) or None))
        self._entries_active.add(id(node))
        try:
            explicit: dict[str, Node] = {}
            entries: list[_Entry] = []
            merges: list[tuple[int, Node]] = []  # (where in `entries` to splice, the `<<` value)
            merge_key: Node | None = None
            for key_node, value_node in node.value:
                if key_node.__class__ is ScalarNode and key_node.tag == _STR_TAG:  # the usual case
                    key = key_node.value
                else:
                    key = self._key(key_node, path)
                    if key is None:
                        continue
                    if key is _MERGE:
                        if merge_key is not None:
                            self._duplicate("<<", key_node, merge_key, path)
                        else:
                            merge_key = key_node
                            merges.append((len(entries), value_node))
                        continue
                if key in explicit:
                    self._duplicate(key, key_node, explicit[key], path)
                    continue
                explicit[key] = key_node
                entries.append(_Entry(key, key_node, value_node))
            for position, value_node in reversed(merges):
                merged = self._merge_sources(value_node, path, merge_depth)
                entries[position:position] = [entry for entry in merged if entry.key not in explicit]
        finally:
            self._entries_active.discard(id(node))
        self._entries_memo[id(node)] = entries
        return entries

    def _merge_sources(self, node: Node, path: PathKey, merge_depth: int) -> list[_Entry]:
        if isinstance(node, MappingNode):
            return self._entries(node, path, merge_depth + 1)
        if isinstance(node, SequenceNode) and all(isinstance(item, MappingNode) for item in node.value):
            out: dict[str, _Entry] = {}
            for item in node.value:
                for entry in self._entries(item, path, merge_depth + 1):
                    out.setdefault(entry.key, entry)  # the first mapping listed wins
            return list(out.values())
        self.add(
            "'<<' merges a mapping or a list of mappings into this one",
            node,
            (*path, "<<"),
            hint="write it as <<: *name or <<: [*one, *two], where &name marks a mapping",
        )
        return []

    def _key(self, node: Node, path: PathKey) -> str | _MergeKey | None:
        if isinstance(node, ScalarNode):
            if node.tag == _STR_TAG or (node.tag in _IMPLICIT_TAGS and node.style):
                return node.value
            if node.tag == _MERGE_TAG:
                return _MERGE
            if node.tag not in _IMPLICIT_TAGS:
                self._refuse_tag(node, path)
                return None
            if node.value == "":
                self.add("a key is missing before ':'", node, path)
                return None
            quoted = f'"{node.value}"' if "'" in node.value else f"'{node.value}'"
            self.add(f"keys must be text; quote it: {quoted}", node, path)
            return None
        kind = "a list" if isinstance(node, SequenceNode) else "a mapping"
        self.add(f"keys must be text, not {kind}", node, path)
        return None

    def _duplicate(self, key: str, node: Node, first: Node, path: PathKey) -> None:
        self.add(
            f"duplicate key '{key}' (first defined at line {first.start_mark.line + 1})",
            node,
            (*path, key),
            hint="merge several mappings with <<: [*one, *two]" if key == "<<" else None,
        )


class _MergeKey:
    """The `<<` key, kept apart from every text key."""


_MERGE = _MergeKey()
