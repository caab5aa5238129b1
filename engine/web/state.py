"""What every request handler reaches through `request.app.state.jxc`: the started app, templates, i18n."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from engine.startup import Started
from engine.web.i18n import I18n

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
STATIC = Path(__file__).parent / "static"


@dataclass
class WebSettings:
    secret_key: str
    https_only: bool = False  # the session cookie's Secure flag (set it behind HTTPS)
    session_max_age: int = 14 * 24 * 3600
    login_failures: int = 5  # failed logins per user name and address...
    login_window: int = 300  # ...within this many seconds, before logins are refused for a while
    max_body: int = 20 * 1024 * 1024  # largest form post accepted


@dataclass
class WebState:
    started: Started
    templates: jinja2.Environment
    i18n: I18n
    settings: WebSettings
    extras: dict[str, object] = field(default_factory=dict)  # per-module state (rate limiter, caches)


def template_environment(folders: list[Path]) -> jinja2.Environment:
    """jxc's templates first, then the plugins'; autoescape always on."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([TEMPLATES, *folders]),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
