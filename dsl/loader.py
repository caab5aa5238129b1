"""Load and check an app: `load_app("apps/food")` gives the checked model or raises CheckFailed with every
problem, located. `check_app` does the same on draft file contents (the designer checks before publishing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dsl.assemble import assemble
from dsl.build import BUILTIN_CHANNELS, build_app
from dsl.formula.functions import Registry, builtin_registry
from dsl.model import App
from dsl.problems import CheckFailed


def load_app(folder: str | Path, *, registry: Registry | None = None, channels: Iterable[str] = BUILTIN_CHANNELS,
             plugins: Mapping[str, Mapping[str, Any] | None] | None = None,
             drafts: Mapping[str | Path, bytes] | None = None, always_on: Iterable[str] = ()) -> App:
    """Assemble, check and compile the app in `folder`. `drafts` replaces files' contents (unsaved edits)."""
    app_dir = Path(folder)
    overrides = {Path(path).resolve(): content for path, content in (drafts or {}).items()}
    assembly = assemble(app_dir.resolve() if overrides else app_dir, overrides or None)
    app, problems = build_app(assembly, registry or builtin_registry(), channels=channels, plugins=plugins,
                              always_on=always_on)
    if problems or app is None:
        raise CheckFailed(problems)
    return app
