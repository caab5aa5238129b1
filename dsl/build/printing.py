"""Print formats: a Jinja2 template per entity (delivery notes, invoices, labels...).

The template path is relative to the YAML file that declares the print format and must stay inside the app's
(or module's) folder. The template is read and compiled now, in the same sandbox the engine renders with, so
that a syntax error is reported at its line in the template file rather than when someone presses Print.
"""

from __future__ import annotations

import difflib
import os
import posixpath
from collections.abc import Mapping
from pathlib import Path

from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from dsl.assemble import Raw
from dsl.build.context import BuildContext, label_of
from dsl.model import Entity, Label, PrintFormat
from dsl.problems import Location, Problem

MAX_TEMPLATE_BYTES = 1024 * 1024
DEFAULT_PAPER = "A4"
_MAX_LISTED = 12


def print_environment() -> SandboxedEnvironment:
    """The Jinja2 environment print templates are checked (and should be rendered) with."""
    return SandboxedEnvironment(autoescape=True)


def build_print_formats(ctx: BuildContext, entities: Mapping[str, Entity]) -> dict[str, PrintFormat]:
    environment = print_environment()
    result: dict[str, PrintFormat] = {}
    defaults: dict[str, tuple[str, Raw]] = {}  # entity → the print format that is its default
    for name, raw in ctx.assembly.concepts["print_formats"].items():
        shape = ctx.entity_ref(raw.at("entity"), f"print format {name}")
        template = raw.get("template")
        source = _template_source(ctx, name, raw, environment) if isinstance(template, str) and template else None
        is_default = raw.get("default") is True
        if shape is not None and is_default:
            if shape.name in defaults:
                other, other_raw = defaults[shape.name]
                ctx.report(raw, f"print formats '{other}' and '{name}' are both the default for {shape.name} "
                           f"('{other}' at {other_raw.at('default').loc()})", "default", key=True,
                           hint="keep default: true on one of them")
                shape = None
            else:
                defaults[shape.name] = (name, raw)
        if shape is None or source is None or shape.name not in entities:
            continue
        paper = raw.get("paper", DEFAULT_PAPER)
        result[name] = PrintFormat(
            name=name, entity=shape.name, label=label_of(raw.at("label"), name) or Label(en=name),
            template=str(template), template_source=source, origin=raw.loc(key=True),
            paper=paper if isinstance(paper, str) else DEFAULT_PAPER, default=is_default,
        )
    return result


def _template_source(ctx: BuildContext, name: str, raw: Raw, environment: SandboxedEnvironment) -> str | None:
    """The template's text, once it is found, inside the folder, readable and compiles; else None (reported)."""
    at = raw.at("template")
    written = str(at.data)
    what = f"print format {name}"
    folder = Path(raw.source.path).parent
    display = os.path.normpath(folder / written)
    root = _root_folder(ctx, raw)
    if Path(written).is_absolute():
        ctx.report(at, f"{what}: write the template's path relative to this file, not as an absolute path",
                   hint="e.g. templates/delivery_note.html")
        return None
    try:
        path = (folder / written).resolve()
        inside = path.is_relative_to(root)
        exists = inside and path.is_file()
    except (OSError, ValueError):  # a NUL character, a symlink loop...
        ctx.report(at, f"{what}: '{written}' is not a usable file path")
        return None
    if not inside:
        ctx.report(at, f"{what}: the template {written} is outside {_owner(raw)}",
                   hint="keep templates next to the YAML files, e.g. in a templates/ folder")
        return None
    if not exists:
        ctx.report(at, f"{what}: there is no template file {display}", hint=_missing_hint(folder, written, display))
        return None
    try:
        size = path.stat().st_size
        if size >= MAX_TEMPLATE_BYTES:
            ctx.report(at, f"{what}: the template {display} is {size:,} bytes; a print template must be smaller "
                       "than 1 MB", hint="put images in files of their own and refer to them")
            return None
        data = path.read_bytes()
    except OSError as error:
        ctx.report(at, f"{what}: cannot read the template {display}: {error.strerror}")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        ctx.problems.append(Problem("the template is not UTF-8 text", Location(display, line, 1), at.where(),
                                    "save it as UTF-8 (in most editors: Save with encoding → UTF-8)"))
        return None
    try:
        environment.from_string(text)
    except TemplateSyntaxError as error:
        ctx.problems.append(Problem(error.message or "this template cannot be read", Location(display,
                                    max(error.lineno or 1, 1), 1), at.where(),
                                    f"the template of {what} ({at.loc()})"))
        return None
    except (TemplateError, RecursionError, ValueError) as error:
        ctx.report(at, f"{what}: the template {display} cannot be compiled: {error}")
        return None
    return text


def _root_folder(ctx: BuildContext, raw: Raw) -> Path:
    if raw.module is not None and raw.module in ctx.assembly.modules:
        return ctx.assembly.modules[raw.module].folder.resolve()
    if raw.module is None:
        return ctx.assembly.app_dir.resolve()
    return Path(raw.source.path).parent.resolve()


def _owner(raw: Raw) -> str:
    return f"the folder of module {raw.module}" if raw.module else "the app's folder"


def _missing_hint(folder: Path, written: str, display: str) -> str | None:
    """Did-you-mean among the .html files of the template's folder (or, when that folder does not exist, near the
    YAML file), else the .html files there."""
    search = Path(os.path.dirname(display) or ".")
    if search.is_dir():
        listed = sorted(p.name for p in search.glob("*.html") if p.is_file())
        prefix = posixpath.dirname(written.replace(os.sep, "/"))
        stems = {Path(name).stem: name for name in listed}  # compared without .html, which always matches
        close = difflib.get_close_matches(Path(written).stem, list(stems), n=2, cutoff=0.6)
        suggestions = [posixpath.join(prefix, stems[stem]) for stem in close]
        where = f"in {os.path.normpath(search)}"
    else:
        listed = sorted({p.relative_to(folder).as_posix() for pattern in ("*.html", "*/*.html")
                         for p in folder.glob(pattern) if p.is_file()})
        suggestions = difflib.get_close_matches(written, listed, n=2, cutoff=0.6)
        where = f"under {os.path.normpath(folder)}"
    if suggestions:
        return "did you mean " + " or ".join(f"'{s}'" for s in suggestions) + "?"
    if not listed:
        return f"there are no .html files {where}"
    more = f" and {len(listed) - _MAX_LISTED} more" if len(listed) > _MAX_LISTED else ""
    return f".html files {where}: " + ", ".join(listed[:_MAX_LISTED]) + more


__all__ = ["build_print_formats", "print_environment"]
