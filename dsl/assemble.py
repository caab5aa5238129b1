"""Assemble an app from its folder and the modules it includes.

An app is `apps/<name>/app.yaml` plus any other `*.yaml` in that folder; `include:` names shared modules in
`apps/modules/<name>/` (each with a `module.yaml`), which may include others. Every concept (entity,
workflow, role...) is defined exactly once across all of them; changing an included entity or role takes an
explicit `extend:`. Problems name both places when two definitions clash.

The result keeps every piece with its file and path (`Raw`), so that later checks report exact positions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsl.problems import Location, Problem, did_you_mean, format_path
from dsl.schema import schema_problems
from dsl.yamlsource import SourceFile, read_yaml

CONCEPTS = ("entities", "workflows", "alerts", "roles", "dashboards", "print_formats")
SINGULAR = {"entities": "entity", "workflows": "workflow", "alerts": "alert", "roles": "role",
            "dashboards": "dashboard", "print_formats": "print format"}
APP_ONLY_KEYS = ("version", "locale", "timezone", "plugins", "stock")
HEADER_KEYS = ("name", "title", "description", "include", *APP_ONLY_KEYS)
MAX_FILES = 200


@dataclass(frozen=True)
class Raw:
    """A piece of YAML data with the file and path it came from."""

    data: Any
    source: SourceFile
    path: tuple[str | int, ...]
    module: str | None  # None: the app itself

    def at(self, *parts: str | int) -> Raw:
        value: Any = self.data
        for part in parts:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
                value = value[part]
            else:
                value = None
        return Raw(value, self.source, (*self.path, *parts), self.module)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default) if isinstance(self.data, dict) else default

    def items(self) -> Iterator[tuple[str, Raw]]:
        if isinstance(self.data, dict):
            for key in self.data:
                yield key, self.at(key)

    def elements(self) -> Iterator[Raw]:
        if isinstance(self.data, list):
            for index in range(len(self.data)):
                yield self.at(index)

    def loc(self, *parts: str | int, key: bool = False) -> Location:
        return self.source.locate((*self.path, *parts), key=key)

    def where(self, *parts: str | int) -> str:
        return format_path((*self.path, *parts))

    def origin_text(self) -> str:
        place = str(self.loc(key=True))
        return f"{place} (module {self.module})" if self.module else place

    def problem(self, message: str, *parts: str | int, key: bool = False, hint: str | None = None) -> Problem:
        return Problem(message, self.loc(*parts, key=key), self.where(*parts), hint)


@dataclass
class FieldDraft:
    name: str
    raw: Raw
    changes: list[Raw] = field(default_factory=list)
    children: dict[str, FieldDraft] = field(default_factory=dict)  # table fields


@dataclass
class EntityDraft:
    name: str
    raw: Raw
    fields: dict[str, FieldDraft] = field(default_factory=dict)
    extensions: list[Raw] = field(default_factory=list)

    @property
    def module(self) -> str | None:
        return self.raw.module


@dataclass
class ModuleInfo:
    name: str
    folder: Path
    header: Raw
    includes: tuple[str, ...]


@dataclass
class Assembly:
    app_dir: Path
    header: Raw | None = None
    modules: dict[str, ModuleInfo] = field(default_factory=dict)  # in dependency order
    entities: dict[str, EntityDraft] = field(default_factory=dict)
    concepts: dict[str, dict[str, Raw]] = field(default_factory=lambda: {c: {} for c in CONCEPTS if c != "entities"})
    role_extensions: dict[str, list[Raw]] = field(default_factory=dict)
    user_fields: dict[str, FieldDraft] = field(default_factory=dict)  # extend: entities: user: fields:
    demo: dict[str, list[Raw]] = field(default_factory=dict)
    sources: list[SourceFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def visible_modules(self, module: str | None) -> set[str | None]:
        """The modules whose definitions `module` may use: itself and what it includes, transitively."""
        if module is None:
            return {None, *self.modules}
        seen: set[str | None] = {module}
        stack = [module]
        while stack:
            info = self.modules.get(stack.pop())  # type: ignore[arg-type]
            for included in info.includes if info else ():
                if included not in seen:
                    seen.add(included)
                    stack.append(included)
        return seen


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_folder(folder: Path, module: str | None, problems: list[Problem],
                overrides: dict[Path, bytes] | None = None) -> list[SourceFile]:
    """Read and schema-check every *.yaml of one folder (the header file first)."""
    header = "module.yaml" if module else "app.yaml"
    files = sorted(set(folder.glob("*.yaml")) | set(folder.glob("*.yml")) |
                   {p for p in (overrides or {}) if p.parent == folder},
                   key=lambda p: (p.name != header, p.name))
    if len(files) > MAX_FILES:
        problems.append(Problem(f"{_display(folder)} has {len(files)} YAML files; the limit is {MAX_FILES}"))
        files = files[:MAX_FILES]
    sources = []
    for path in files:
        display = _display(path)
        try:
            raw = (overrides or {}).get(path)
            if raw is None:
                raw = path.read_bytes()
        except OSError as error:
            problems.append(Problem(f"cannot read the file: {error.strerror}", Location(display, 1, 1)))
            continue
        source, found = read_yaml(display, raw)
        problems.extend(found)
        if source is None:
            continue
        if source.data is not None and not isinstance(source.data, dict):
            problems.append(Problem("a definition file holds keys such as entities:, roles: or workflows:, "
                                    "not a list or a single value", source.locate(())))
            continue
        problems.extend(schema_problems(source))
        sources.append(source)
    return sources


def assemble(app_dir: Path, overrides: dict[Path, bytes] | None = None) -> Assembly:
    """Read the app and its modules; `overrides` replaces file contents (a draft not yet saved)."""
    assembly = Assembly(app_dir=app_dir)
    problems = assembly.problems
    if not app_dir.is_dir():
        problems.append(Problem(f"{_display(app_dir)} is not a folder; an app is a folder with an app.yaml"))
        return assembly
    if not (app_dir / "app.yaml").is_file() and app_dir / "app.yaml" not in (overrides or {}):
        problems.append(Problem(f"{_display(app_dir)} has no app.yaml", Location(_display(app_dir / "app.yaml"), 1, 1),
                                hint="an app needs app.yaml with at least name: and title:"))
        return assembly
    app_sources = read_folder(app_dir, None, problems, overrides)
    assembly.sources.extend(app_sources)
    header_source = next((s for s in app_sources if Path(s.path).name == "app.yaml"), None)
    if header_source is None:
        return assembly
    assembly.header = Raw(header_source.data or {}, header_source, (), None)
    _check_header(assembly.header, is_app=True, problems=problems, folder=app_dir)
    modules_dir = app_dir.parent / "modules"
    module_sources: dict[str, list[SourceFile]] = {}
    _resolve_modules(assembly, assembly.header, modules_dir, module_sources, [], overrides)
    order = [*((name, module_sources.get(name, [])) for name in assembly.modules), (None, app_sources)]
    for module, sources in order:
        for source in sources:
            _collect(assembly, Raw(source.data or {}, source, (), module))
    for module, sources in order:
        for source in sources:
            _extend(assembly, Raw(source.data or {}, source, (), module))
    return assembly


def _check_header(header: Raw, *, is_app: bool, problems: list[Problem], folder: Path) -> None:
    kind = "app" if is_app else "module"
    name = header.get("name")
    if name is None:
        problems.append(Problem(f"the {kind} has no name", header.loc(), None,
                                f"add name: {folder.name}" if folder.name.isidentifier() else None))
    elif not is_app and isinstance(name, str) and name != folder.name:
        problems.append(header.problem(f"the module in folder {folder.name} is named '{name}'; the two must be "
                                       "the same", "name"))
    if is_app and header.get("title") is None:
        problems.append(Problem("the app has no title", header.loc(), None, "add title: {zh: …, en: …}"))


def _resolve_modules(assembly: Assembly, owner: Raw, modules_dir: Path, sources: dict[str, list[SourceFile]],
                     chain: list[str], overrides: dict[Path, bytes] | None) -> None:
    includes = owner.get("include") or []
    if not isinstance(includes, list):
        return
    available = sorted(p.name for p in modules_dir.iterdir() if p.is_dir()) if modules_dir.is_dir() else []
    for index, name in enumerate(includes):
        if not isinstance(name, str):
            continue
        if name in chain:
            cycle = " → ".join([*chain[chain.index(name):], name])
            assembly.problems.append(owner.problem(f"modules include each other in a circle: {cycle}", "include",
                                                   index))
            continue
        if name in assembly.modules or name in sources:
            continue
        folder = modules_dir / name
        if not (folder / "module.yaml").is_file():
            hint = did_you_mean(name, available) or (f"available modules: {', '.join(available)}" if available
                                                     else f"create {_display(folder / 'module.yaml')}")
            assembly.problems.append(owner.problem(f"unknown module '{name}'", "include", index, hint=hint))
            continue
        module_sources = read_folder(folder, name, assembly.problems, overrides)
        sources[name] = module_sources
        assembly.sources.extend(module_sources)
        header_source = next((s for s in module_sources if Path(s.path).name == "module.yaml"), None)
        if header_source is None:
            continue
        header = Raw(header_source.data or {}, header_source, (), name)
        _check_header(header, is_app=False, problems=assembly.problems, folder=folder)
        _resolve_modules(assembly, header, modules_dir, sources, [*chain, name], overrides)
        raw_includes = header.get("include") or []
        assembly.modules[name] = ModuleInfo(name, folder, header, tuple(i for i in raw_includes if isinstance(i, str)))


def _collect(assembly: Assembly, file: Raw) -> None:
    is_header_file = Path(file.source.path).name in ("app.yaml", "module.yaml")
    for key in HEADER_KEYS:
        if key in (file.data or {}) and not is_header_file:
            home = "module.yaml" if file.module else "app.yaml"
            assembly.problems.append(file.problem(f"'{key}' belongs in {home}", key, key=True))
        elif key in APP_ONLY_KEYS and key in (file.data or {}) and file.module:
            assembly.problems.append(file.problem(f"'{key}' is an app setting; a module cannot set it", key,
                                                  key=True, hint="set it in the app's app.yaml"))
    for concept in CONCEPTS:
        for name, raw in file.at(concept).items():
            if not isinstance(raw.data, dict):
                continue
            existing = (assembly.entities[name].raw if concept == "entities" and name in assembly.entities
                        else assembly.concepts.get(concept, {}).get(name))
            if existing is not None:
                hint = "to change it, use extend:" if concept in ("entities", "roles") else None
                assembly.problems.append(raw.problem(
                    f"{SINGULAR[concept]} '{name}' is defined twice: here and at {existing.origin_text()}",
                    key=True, hint=hint))
                continue
            if concept == "entities":
                assembly.entities[name] = _entity_draft(name, raw)
            else:
                assembly.concepts[concept][name] = raw
    for entity, records in file.at("demo").items():
        assembly.demo.setdefault(entity, []).extend(records.elements())


def _field_drafts(fields: Raw) -> dict[str, FieldDraft]:
    drafts = {}
    for name, raw in fields.items():
        draft = FieldDraft(name, raw)
        if isinstance(raw.data, dict) and raw.data.get("type") == "table":
            draft.children = _field_drafts(raw.at("fields"))
        drafts[name] = draft
    return drafts


def _entity_draft(name: str, raw: Raw) -> EntityDraft:
    return EntityDraft(name, raw, _field_drafts(raw.at("fields")))


def _extend(assembly: Assembly, file: Raw) -> None:
    extend = file.at("extend")
    for name, raw in extend.at("entities").items():
        if name == "user":
            _extend_user(assembly, raw)
            continue
        entity = assembly.entities.get(name)
        if entity is None or entity.module not in assembly.visible_modules(file.module):
            _unknown_target(assembly, raw, "entity", name, entity.raw if entity else None, assembly.entities)
            continue
        entity.extensions.append(raw)
        _extend_fields(assembly, name, entity.fields, raw)
    for name, raw in extend.at("roles").items():
        role = assembly.concepts["roles"].get(name)
        if role is None or role.module not in assembly.visible_modules(file.module):
            _unknown_target(assembly, raw, "role", name, role, assembly.concepts["roles"])
            continue
        assembly.role_extensions.setdefault(name, []).append(raw)


def _extend_user(assembly: Assembly, raw: Raw) -> None:
    """Users are jxc's own; an app may give them more fields (e.g. the warehouses a user works in)."""
    for key in raw.data or {}:
        if key != "fields":
            assembly.problems.append(raw.problem(f"'{key}' cannot be changed for users; only fields: can be added",
                                                 key, key=True))
    for name, field_raw in raw.at("fields").items():
        if name in assembly.user_fields:
            first = assembly.user_fields[name].raw
            assembly.problems.append(field_raw.problem(
                f"user already has a field '{name}' (at {first.origin_text()})", key=True))
            continue
        assembly.user_fields[name] = FieldDraft(name, field_raw)


def _unknown_target(assembly: Assembly, raw: Raw, kind: str, name: str, found: Raw | None,
                    pool: dict[str, Any]) -> None:
    if found is not None:
        owner = f"module {raw.module}" if raw.module else "this app"
        assembly.problems.append(raw.problem(
            f"{kind} '{name}' comes from module {found.module}, which {owner} does not include", key=True,
            hint=f"add {found.module} to include:"))
        return
    assembly.problems.append(raw.problem(f"extend: there is no {kind} '{name}' to extend", key=True,
                                         hint=did_you_mean(name, pool)))


def _extend_fields(assembly: Assembly, owner: str, fields: dict[str, FieldDraft], extension: Raw) -> None:
    for name, raw in extension.at("fields").items():
        if name in fields:
            assembly.problems.append(raw.problem(
                f"{owner} already has a field '{name}' (at {fields[name].raw.origin_text()})", key=True,
                hint="to change an existing field, put it under change:"))
            continue
        draft = FieldDraft(name, raw)
        if isinstance(raw.data, dict) and raw.data.get("type") == "table":
            draft.children = _field_drafts(raw.at("fields"))
        fields[name] = draft
    for name, raw in extension.at("change").items():
        target = fields.get(name)
        if target is None:
            hint = did_you_mean(name, fields) or "to add a field, put it under fields:"
            assembly.problems.append(raw.problem(f"{owner} has no field '{name}' to change", key=True, hint=hint))
            continue
        target.changes.append(raw)
        if raw.get("fields") is not None or raw.get("change") is not None:
            is_table = isinstance(target.raw.data, dict) and target.raw.data.get("type") == "table"
            if not is_table:
                assembly.problems.append(raw.problem(
                    f"'{name}' is not a table, so it has no columns to add or change", key=True))
                continue
            _extend_fields(assembly, f"{owner}.{name}", target.children, raw)


__all__ = ["Assembly", "EntityDraft", "FieldDraft", "Raw", "assemble", "format_path"]
