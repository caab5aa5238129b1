"""Field widgets: how a value of each field type is shown and typed, and how a posted form becomes values.

Every input is named by the path the service layer reports problems at (`supplier`, `lines[2].qty`), so an
error goes next to its field without any mapping. A link is posted as its id (`supplier`) and, for typing
without JavaScript, as text (`supplier__text`) that the form resolves by search; a row's id is posted as
`lines[2].id` and a row marked `lines[2]._delete` is dropped; a new row left blank is ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dsl.model import App, Entity, Field, FieldType, Label
from engine.web.context import whole_number

TEXT_SUFFIX = "__text"  # the typed text of a link, next to its id
DELETE = "_delete"
_ROW_KEY = re.compile(r"^(?P<table>[a-z][a-z0-9_]*)\[(?P<index>\d{1,5})\]\.(?P<name>[a-z_][a-z0-9_]*)$")
_NUMERIC = (FieldType.INT, FieldType.DECIMAL, FieldType.MONEY, FieldType.PERCENT)


def template_of(field: Field) -> str:
    """The partial that draws an input of this field: templates/widgets/<type>.html."""
    return f"widgets/{field.type.value}.html"


# --- values → text ----------------------------------------------------------------------------------------


def plain_number(value: Decimal) -> str:
    """A decimal without trailing zeros or an exponent: 120.000 → "120", 0.50 → "0.5"."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def input_text(field: Field, value: Any) -> str:
    """The text an input holds for a value (what posting it back gives the same value)."""
    if value is None:
        return ""
    kind = field.type
    if kind is FieldType.PERCENT and isinstance(value, Decimal):
        return plain_number(value * 100) + "%"
    if kind is FieldType.MONEY and isinstance(value, Decimal):
        return format(value, "f")
    if kind in (FieldType.DECIMAL, FieldType.INT) and isinstance(value, Decimal | int):
        return plain_number(Decimal(value))
    if kind is FieldType.BOOL:
        return "true" if value else "false"
    if kind is FieldType.DATETIME and isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    if kind is FieldType.DATE and isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def display_text(field: Field, value: Any, locale: str, titles: Mapping[tuple[str, int], str] | None = None) -> str:
    """How a value reads on a page (read-only fields, computed fields, print): grouped digits, option labels,
    link titles, 是/否."""
    if value is None or value == [] or value == "":
        return ""
    kind = field.type
    if kind is FieldType.MONEY and isinstance(value, Decimal):
        return f"{value:,.2f}" if value == value.quantize(Decimal("0.01")) else f"{value:,f}"
    if kind is FieldType.PERCENT and isinstance(value, Decimal):
        return plain_number(value * 100) + "%"
    if kind is FieldType.DECIMAL and isinstance(value, Decimal):  # quantities: grouped, no trailing zeros
        integer, _, fraction = plain_number(abs(value)).partition(".")
        return ("-" if value < 0 else "") + f"{int(integer):,}" + (f".{fraction}" if fraction else "")
    if kind is FieldType.INT and isinstance(value, int):
        return f"{value:,}"
    if kind is FieldType.BOOL:
        return Label("是", "Yes").get(locale) if value else Label("否", "No").get(locale)
    if kind is FieldType.CHOICE:
        for choice in field.options:
            if choice.value == value:
                return choice.label.get(locale) or choice.value
        return str(value)
    if kind is FieldType.LINK:
        ids = value if isinstance(value, list) else [value]
        return "、".join((titles or {}).get((str(field.link), key), f"#{key}") for key in ids)
    if kind is FieldType.DATETIME and isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def title_of(entity: Entity, record: Mapping[str, Any]) -> str:
    """How a record is named in a link box and a lookup: key and title ("M8-30 六角螺栓"), else its number."""
    parts = [str(record[name]) for name in dict.fromkeys((entity.key, entity.title)) if name and record.get(name)]
    if parts:
        return " ".join(parts)
    if record.get("doc_no"):
        return str(record["doc_no"])
    return f"#{record.get('id')}"


# --- a posted form → values --------------------------------------------------------------------------------


@dataclass
class LinkText:
    """A link typed as text: resolved to a record by search before the values go to the service layer."""

    path: str
    target: str
    text: str
    many: bool


@dataclass
class Posted:
    """A posted form: the values for the service layer, the typed texts (to show them again if refused) and
    the links typed as text."""

    values: dict[str, Any] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    links: list[LinkText] = field(default_factory=list)
    row_paths: dict[str, dict[int, int]] = field(default_factory=dict)  # table → posted index → row index


def read_form(app: App, entity: Entity, form: Any, editable: Iterable[str] | None = None, *,
              creating: bool = False) -> Posted:
    """The values of a posted form (a starlette FormData: `getlist`, `keys`), only for the entity's fields.

    `editable` names the top-level fields the form offered as inputs; others posted are ignored. A blank
    input of a new record (`creating`) or of a new row is left out, so that the field's default applies as it
    would through the API."""
    posted = Posted()
    allowed = set(editable) if editable is not None else set(entity.fields)
    keys = list(dict.fromkeys(form.keys()))
    for name, spec in entity.fields.items():
        if name not in allowed or spec.type is FieldType.TABLE:
            continue
        _read_field(posted, spec, name, name, form, keys, posted.values)
    if creating:
        posted.values = {name: value for name, value in posted.values.items() if not _blank(value)}
    rows: dict[str, dict[int, set[str]]] = {}
    for key in keys:
        found = _ROW_KEY.match(key.removesuffix(TEXT_SUFFIX))
        if found and found["table"] in allowed and entity.fields.get(found["table"]) is not None \
                and entity.fields[found["table"]].type is FieldType.TABLE:
            rows.setdefault(found["table"], {}).setdefault(int(found["index"]), set()).add(found["name"])
    for table, indexes in rows.items():
        child = app.entities[entity.fields[table].table or ""]
        values: list[dict[str, Any]] = []
        posted.row_paths[table] = {}
        for index in sorted(indexes):
            prefix = f"{table}[{index}]."
            if _last(form, prefix + DELETE) in ("on", "true", "1"):
                continue
            row: dict[str, Any] = {}
            raw_id = _last(form, prefix + "id")
            if whole_number(raw_id) is not None:
                row["id"] = int(raw_id)
            new_index = len(values)
            before = len(posted.links)
            for name, spec in child.fields.items():
                if name in indexes[index]:
                    _read_field(posted, spec, f"{table}[{new_index}].{name}", prefix + name, form, keys, row)
            if "id" not in row:
                filled = {name: value for name, value in row.items() if not _blank(value)}
                if len(posted.links) == before and all(child.fields[name].type is FieldType.BOOL and
                                                       value == "false" for name, value in filled.items()):
                    continue  # a new row left empty (the spare row of a form without JavaScript)
                row = filled
            posted.row_paths[table][index] = new_index
            values.append(row)
        posted.values[table] = values
    return posted


def _read_field(posted: Posted, spec: Field, path: str, key: str, form: Any, keys: list[str],
                into: dict[str, Any]) -> None:
    name = spec.name
    if spec.type is FieldType.TABLE or spec.computed:
        return
    if spec.type is FieldType.LINK:
        text = _last(form, key + TEXT_SUFFIX)
        if spec.many:
            if key in keys or text is not None:
                into[name] = [value for value in form.getlist(key) if value]
        elif key in keys:
            into[name] = _last(form, key) or None
        if text:
            posted.texts[path + TEXT_SUFFIX] = text
            posted.links.append(LinkText(path, str(spec.link), text.strip(), spec.many))
        return
    if key not in keys:
        return
    value = _last(form, key)  # a checkbox posts "false" (hidden) then "true": the last one counts
    into[name] = value
    posted.texts[path] = value or ""


def _last(form: Any, key: str) -> str | None:
    values = form.getlist(key)
    if not values:
        return None
    value = values[-1]
    return value if isinstance(value, str) else None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "") or value == []


def is_numeric(field: Field) -> bool:
    return field.type in _NUMERIC
