"""What a page handler needs from a request: the user, the service layer in their name, and `render`.

    async def page(request):
        session = service(request)                    # the logged-in user's service layer (or /login)
        page = session.list("item", search="面")
        return render(request, "list.html", page=page)

`render` gives every template the user, the navigation, the language, gettext (`_`, `{% trans %}`), `label(x)`
for a model Label in the user's language, `csrf_token` and `csrf_field()`.
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from dsl.model import EntityKind, Label
from engine.access import Access
from engine.context import CurrentUser
from engine.errors import NotFound, ServiceError, ValidationFailed
from engine.messages import Message
from engine.records import Session
from engine.users import load_user, stored_password
from engine.web import csrf
from engine.web.i18n import COOKIE, LANGUAGES, label_locale, normalize
from engine.web.state import WebState

USER_KEY = "user"  # the session cookie holds the user's name under this key
STAMP_KEY = "pw"  # ...and a stamp of their password: a session opened before a password change ends


class LoginRequired(Exception):
    """No one is logged in: pages redirect to /login, the API answers 401 (engine.web.errors)."""


@dataclass
class NavItem:
    label: str
    url: str
    name: str = ""  # what the item stands for ("entity:item", "dashboard:stock"), for tests and styling


@dataclass
class NavGroup:
    label: str
    items: list[NavItem] = field(default_factory=list)


def web_state(request: Request) -> WebState:
    return request.app.state.jxc


def current_user(request: Request) -> CurrentUser | None:
    """The logged-in user (read from the database once per request), or None."""
    if "jxc_user" in request.state._state:
        return request.state.jxc_user
    user = None
    name = request.session.get(USER_KEY) if "session" in request.scope else None
    if isinstance(name, str):
        started = web_state(request).started
        schema = started.records.schema
        # a password changed (or an account deactivated) since this session began ends the session
        if request.session.get(STAMP_KEY) != password_stamp(stored_password(started.engine, schema, name)):
            request.session.clear()
        else:
            try:
                user = load_user(started.engine, started.app, schema, name)
            except NotFound:  # deactivated a moment ago
                request.session.clear()
    request.state.jxc_user = user
    return user


def password_stamp(password_hash: str | None) -> str | None:
    """What the session remembers of the password it was opened with (not the hash itself)."""
    if not password_hash:
        return None
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def start_session(request: Request, name: str, password_hash: str) -> None:
    """A new session for `name`: no fixation (everything from before is dropped), a new CSRF token."""
    request.session.clear()
    request.session[USER_KEY] = name
    request.session[STAMP_KEY] = password_stamp(password_hash)
    csrf.token(request)


def require_user(request: Request) -> CurrentUser:
    user = current_user(request)
    if user is None:
        raise LoginRequired()
    return user


def service(request: Request) -> Session:
    """The service layer acting as the logged-in user: every permission is checked there."""
    return web_state(request).started.records.session(require_user(request))


MAX_ID = 2**63 - 1  # ids and versions are 64-bit integers in both databases


def whole_number(text: Any) -> int | None:
    """A whole number as a form or a URL sends it: ASCII digits within 64 bits, else None ("²" is a digit to
    str.isdigit, and twenty nines overflow SQLite's INTEGER: both would otherwise end in a server error)."""
    if isinstance(text, str) and text.isascii() and text.isdigit() and int(text) <= MAX_ID:
        return int(text)
    return None


def language(request: Request) -> str:
    """The user's language: their choice (cookie), else the app's locale, else zh_CN."""
    chosen = normalize(request.cookies.get(COOKIE))
    return chosen or web_state(request).i18n.default


def gettext(request: Request, message: str) -> str:
    return web_state(request).i18n.gettext(language(request), message)


def translate(request: Request, text: str) -> str:
    """A service-layer message (a problem, a refusal) in the user's language; plain text passes through."""
    return web_state(request).i18n.message(language(request), text)


def refusal_text(request: Request, error: ServiceError) -> str:
    """A service error's message in the user's language; for problems with the values, each problem translated
    (the English reads as `error.message`)."""
    if not isinstance(error, ValidationFailed):
        return translate(request, error.message)
    problems = "; ".join(f"{problem.field}: {translate(request, problem.message)}" if problem.field
                         else translate(request, problem.message) for problem in error.problems)
    count = len(error.problems)
    if count == 1:
        return translate(request, Message("{count} problem: {problems}", count=count, problems=problems))
    return translate(request, Message("{count} problems: {problems}", count=count, problems=problems))


def label(request: Request, value: Label | str | None) -> str:
    """A model Label in the user's language (plain text passes through)."""
    if value is None:
        return ""
    if isinstance(value, Label):
        return value.get(label_locale(language(request)))
    return str(value)


def navigation(request: Request, user: CurrentUser | None) -> list[NavGroup]:
    """The entities the user may read, grouped as the app declares (groups in order of first appearance),
    then what each web module adds (a module's optional `navigation(request, user) -> list[NavGroup]`)."""
    if user is None:
        return []
    state = web_state(request)
    app = state.started.app
    access = Access(app, state.started.records.schema, user)
    groups: dict[str, NavGroup] = {}
    other = gettext(request, "Other")
    for entity in app.entities.values():
        if entity.kind is EntityKind.CHILD or not access.allowed(entity, "read"):
            continue
        title = label(request, entity.group) if entity.group else other
        groups.setdefault(title, NavGroup(title)).items.append(
            NavItem(label(request, entity.label), f"/e/{entity.name}", f"entity:{entity.name}"))
    result = [group for title, group in groups.items() if title != other]
    if other in groups:
        result.append(groups[other])
    for module_name in state.extras.get("web_modules", ()):  # type: ignore[union-attr]
        extra = getattr(importlib.import_module(module_name), "navigation", None)
        if callable(extra):
            result.extend(extra(request, user) or ())
    return result


def render(request: Request, template_name: str, status: int = 200, **context: Any) -> HTMLResponse:
    state = web_state(request)
    lang = language(request)
    translations = state.i18n.translations(lang)
    user = current_user(request)
    token = csrf.token(request)
    values: dict[str, Any] = {
        "request": request,
        "app": state.started.app,
        "user": user,
        "navigation": navigation(request, user),
        "language": lang,
        "languages": LANGUAGES,
        "html_lang": label_locale(lang),
        "_": translations.gettext,
        "gettext": translations.gettext,
        "ngettext": translations.ngettext,
        "label": lambda value: label(request, value),
        "csrf_token": token,
        "csrf_field": lambda: Markup('<input type="hidden" name="{}" value="{}">').format(csrf.FIELD, escape(token)),
        "app_title": label(request, state.started.app.title) or state.started.app.name,
    }
    values.update(context)
    html = state.templates.get_template(template_name).render(values)
    return HTMLResponse(html, status_code=status)
