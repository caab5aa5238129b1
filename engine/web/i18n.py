"""Platform strings in zh-CN (the default) and English: gettext catalogs read with Babel.

The catalogs are the .po files under engine/web/locale/<lang>/LC_MESSAGES/jxc.po; they are compiled in memory
at start-up, so a helper who adds a string edits only the .po file. App texts (entity and field labels) are
not here: they come from the YAML Labels (`Label.get(locale)`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from engine.messages import Message

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "zh_CN"
LANGUAGES = {"zh_CN": "中文", "en": "English"}  # code → its own name, in the order the switch shows them
COOKIE = "jxc_lang"


def label_locale(language: str) -> str:
    """The locale name dsl.model.Label.get expects ("zh-CN", "en")."""
    return language.replace("_", "-")


def normalize(value: str | None) -> str | None:
    """A known language code from what a cookie, a form or an app declares ("zh-CN", "en_US"), else None."""
    if not value:
        return None
    text = value.strip().replace("-", "_")
    if text in LANGUAGES:
        return text
    base = text.split("_")[0].lower()
    if base == "zh":
        return "zh_CN"
    return base if base in LANGUAGES else None


@dataclass(frozen=True)
class I18n:
    """Every language's translations, loaded once."""

    catalogs: dict[str, NullTranslations]
    default: str = DEFAULT

    def translations(self, language: str) -> NullTranslations:
        return self.catalogs.get(language) or self.catalogs[self.default]

    def gettext(self, language: str, message: str) -> str:
        return self.translations(language).gettext(message)

    def message(self, language: str, text: str) -> str:
        """A service-layer Message in `language`: its template translated, then formatted with its parameters
        (a parameter that is itself a Message is translated too). Plain text and untranslated templates read
        as they came."""
        if not isinstance(text, Message):
            return text
        translated = self.gettext(language, text.template)
        if translated == text.template:
            return str(text)
        params = {name: self.message(language, value) if isinstance(value, Message) else value
                  for name, value in text.params.items()}
        return translated.format(**params)


def load(default: str = DEFAULT, folder: Path = LOCALE_DIR) -> I18n:
    catalogs: dict[str, NullTranslations] = {}
    for language in LANGUAGES:
        path = folder / language / "LC_MESSAGES" / "jxc.po"
        if not path.is_file():
            catalogs[language] = NullTranslations()
            continue
        with path.open("rb") as source:
            catalog = read_po(source, locale=language)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        catalogs[language] = Translations(compiled)
    return I18n(catalogs, normalize(default) or DEFAULT)
