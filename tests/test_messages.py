"""Service-layer messages: English text as before, translated by the web layer from the gettext catalogs."""

from __future__ import annotations

import copy
import pickle
import string

from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from dsl.model import Field, FieldType, Label
from engine.coerce import CoercionError, coerce
from engine.messages import Message
from engine.web.i18n import LANGUAGES, LOCALE_DIR, load


def test_a_message_reads_as_the_english_text_and_keeps_its_template() -> None:
    message = Message("must be a date, like {example}", example="2026-01-31")
    assert message == "must be a date, like 2026-01-31" and str(message) == message
    assert (message.template, dict(message.params)) == ("must be a date, like {example}", {"example": "2026-01-31"})
    for again in (copy.deepcopy(message), pickle.loads(pickle.dumps(message))):
        assert again == message and again.template == message.template


@given(st.text(alphabet="{}abc 'x", max_size=12))
def test_a_parameter_with_braces_is_shown_as_typed_in_both_languages(value: str) -> None:
    i18n = load()
    message = Message("'{value}' is not a number", value=value)
    assert i18n.message("en", message) == f"'{value}' is not a number"
    assert i18n.message("zh_CN", message) == f"“{value}”不是数字"


def test_the_web_layer_translates_a_message_and_passes_plain_text_through() -> None:
    i18n = load()
    assert i18n.message("zh_CN", Message("is required")) == "必填"
    assert i18n.message("en", Message("is required")) == "is required"
    assert i18n.message("zh_CN", "数量必须大于 0") == "数量必须大于 0"
    assert i18n.message("zh_CN", Message("not in any catalog {n}", n=3)) == "not in any catalog 3"


def test_a_coercion_problem_keeps_its_message() -> None:
    field = Field(name="qty", type=FieldType.DECIMAL, label=Label("数量"), origin=None)
    try:
        coerce(field, "abc")
    except CoercionError as error:
        assert isinstance(str(error), Message) and str(error) == "'abc' is not a number"
        assert load().message("zh_CN", str(error)) == "“abc”不是数字"
    else:
        raise AssertionError("'abc' was taken as a number")


def test_every_translation_uses_exactly_the_placeholders_of_its_message() -> None:
    """A translation naming another placeholder would fail at format time, on a user's page."""
    fields = string.Formatter()
    for language in LANGUAGES:
        with (LOCALE_DIR / language / "LC_MESSAGES" / "jxc.po").open("rb") as source:
            catalog = read_po(source, locale=language)
        for entry in catalog:
            if not entry.id or not entry.string:
                continue
            wanted = {name for _, name, _, _ in fields.parse(str(entry.id)) if name}
            found = {name for _, name, _, _ in fields.parse(str(entry.string)) if name}
            assert found == wanted, (language, entry.id, entry.string)
