"""Messages: an alert's Jinja2 template (sandboxed) rendered for one record, three ways: HTML-escaped (the
inbox, HTML mail), plain text (mail, robots' text messages) and with values escaped for Markdown (robots'
markdown messages), so that what a user typed into a record cannot add markup or links to a message.

Templates see `record` (the row: a link reads as the linked record's title, `record.customer.name` follows
it; a choice reads as its label), `link` (the record's URL: `base_url` + `/e/<entity>/<id>`, its page), `app`
(`name`, `title`) and `now`. Linked records are read in one query per link field for all records at once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.engine import Connection

from dsl.formula.types import Kind
from dsl.model import App, FieldType

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|>~<])")


class Linked:
    """A linked record inside a template: reads as its title, `.field` gives the linked record's field."""

    def __init__(self, entity: str, values: Mapping[str, Any], title: str) -> None:
        self._entity = entity
        self._values = values
        self._title = title

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._values.get(name)

    def __getitem__(self, name: str) -> Any:
        return self._values.get(name)

    def __str__(self) -> str:
        return self._title

    def __eq__(self, other: object) -> bool:  # `record.item == 3` compares the id
        return self._values.get("id") == (other._values.get("id") if isinstance(other, Linked) else other)

    def __hash__(self) -> int:
        return hash(self._values.get("id"))


class Trusted(str):
    """Text jxc made itself (the link): not escaped for Markdown (HTML escaping still applies)."""


class Choice(str):
    """A choice value inside a template: compares as its value, reads as its label."""

    label: str

    def __new__(cls, value: str, label: str) -> Choice:
        made = super().__new__(cls, value)
        made.label = label
        return made


def _shown(value: Any, locale: str) -> Any:
    if value is None:
        return ""
    if isinstance(value, Choice):
        return value.label
    if isinstance(value, bool):
        return ("yes" if value else "no") if locale.startswith("en") else ("是" if value else "否")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Linked):
        return str(value)
    return value


def _markdown_escape(value: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", value)


class Renderer:
    """Renders the message templates of one app; templates are compiled once per text."""

    def __init__(self, app: App) -> None:
        locale = app.locale

        def finalize_text(value: Any) -> Any:
            return _shown(value, locale)

        def finalize_markdown(value: Any) -> Any:
            shown = _shown(value, locale)
            if isinstance(shown, Markup | Trusted):
                return shown
            return _markdown_escape(str(shown))

        self.app = app
        self._envs = {
            "html": SandboxedEnvironment(autoescape=True, finalize=finalize_text),
            "text": SandboxedEnvironment(autoescape=False, finalize=finalize_text),
            "markdown": SandboxedEnvironment(autoescape=False, finalize=finalize_markdown),
        }
        self._compiled: dict[tuple[str, str], Any] = {}

    def render(self, template: str, variables: Mapping[str, Any]) -> dict[str, str]:
        """{"text": ..., "html": ..., "markdown": ...}; a template that fails at run time (a filter given
        the wrong value) gives its error as the message instead of losing the notification."""
        result = {}
        for kind, env in self._envs.items():
            compiled = self._compiled.get((kind, template))
            if compiled is None:
                compiled = self._compiled[(kind, template)] = env.from_string(template)
            try:
                result[kind] = compiled.render(variables)
            except (TemplateError, TypeError, ValueError, ArithmeticError) as error:
                result[kind] = f"(the message template failed: {error})"
        return result


class Presenter:
    """Rows of one scope as templates see them, and their titles."""

    def __init__(self, app: App, table_of: Any) -> None:
        self.app = app
        self.table_of = table_of

    def links(self, scope: str) -> dict[str, str]:
        """Single-link fields of `scope` → the linked entity."""
        info = self.app.catalog.entity(scope)
        if info is None:
            return {}
        return {name: field.type.entity for name, field in info.fields.items()
                if field.type.kind is Kind.RECORD and field.type.entity and name != "id"}

    def present(self, connection: Connection, scope: str, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        links = self.links(scope)
        linked: dict[str, dict[Any, Linked]] = {}
        for name, target in links.items():
            ids = {row.get(name) for row in rows} - {None}
            linked[name] = self._load(connection, target, ids)
        choices = self._choices(scope)
        shown = []
        for row in rows:
            record = {key: _plain(value) for key, value in row.items()}
            for name in links:
                if record.get(name) is not None:
                    record[name] = linked[name].get(record[name], record[name])
            for name, labels in choices.items():
                value = record.get(name)
                if isinstance(value, str):
                    record[name] = Choice(value, labels.get(value, value))
            shown.append(record)
        return shown

    def _load(self, connection: Connection, entity: str, ids: Iterable[Any]) -> dict[Any, Linked]:
        wanted = sorted(ids)
        if not wanted:
            return {}
        table = self.table_of(entity)
        found: dict[Any, Linked] = {}
        for start in range(0, len(wanted), 1000):
            query = select(table).where(table.c.id.in_(wanted[start:start + 1000]))
            for row in connection.execute(query).mappings():
                values = {key: _plain(value) for key, value in row.items() if key != "password_hash"}
                found[row["id"]] = Linked(entity, values, self.title(entity, values))
        return found

    def _choices(self, scope: str) -> dict[str, dict[str, str]]:
        entity = self.app.entities.get(scope)
        if entity is None:
            return {}
        return {name: {choice.value: choice.label.get(self.app.locale) for choice in field.options}
                for name, field in entity.fields.items() if field.type is FieldType.CHOICE}

    def title(self, entity_name: str, values: Mapping[str, Any]) -> str:
        """How a record is named for people: its title or key field, its number, else #id."""
        if entity_name == "user":
            return str(values.get("full_name") or values.get("name") or f"#{values.get('id')}")
        if entity_name == "stock_batch":
            return str(values.get("batch_no") or f"#{values.get('id')}")
        if entity_name == "stock_balance":
            parts = [str(values[key]) for key in ("item", "warehouse", "batch") if values.get(key) is not None]
            return " · ".join(parts) or f"#{values.get('id')}"
        entity = self.app.entities.get(entity_name)
        keys = (entity.title, entity.key, "doc_no") if entity is not None else ("doc_no",)
        for key in keys:
            if key and values.get(key) not in (None, ""):
                return str(_shown(values[key], self.app.locale))
        return f"#{values.get('id')}"


def _plain(value: Any) -> Any:
    """Quantities stored with 6 decimals read without the trailing zeros (5, not 5.000000)."""
    if isinstance(value, Decimal) and value.as_tuple().exponent < -4:  # type: ignore[operator]
        normal = value.normalize()
        return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal
    return value


def record_path(entity: str, record_id: Any) -> str:
    """The record's page in the web UI (engine/web/forms.py serves /e/<entity>/<id>)."""
    return f"/e/{entity}/{record_id}"


def record_url(base_url: str | None, path: str) -> Trusted:
    return Trusted((base_url.rstrip("/") + path) if base_url else path)
