"""Located problems: what the loader reports, every one at once, as `file:line:column: message`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from dsl.messages import Message


@dataclass(frozen=True, slots=True, order=True)
class Location:
    file: str  # as shown to the user, e.g. "apps/food/entities.yaml"
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    location: Location | None = None
    path: str | None = None  # where in the definition, e.g. "entities.item.fields.code.type"
    hint: str | None = None

    def __str__(self) -> str:
        head = f"{self.location}: error: {self.message}" if self.location else f"error: {self.message}"
        lines = [head]
        if self.path:
            lines.append(f"    at {self.path}")
        if self.hint:
            lines.append(f"    hint: {self.hint}")
        return "\n".join(lines)

    def sort_key(self) -> tuple:
        if self.location is None:
            return ("", 0, 0, self.message)
        return (self.location.file, self.location.line, self.location.column, self.message)


class CheckFailed(Exception):
    """The app definition has problems; `problems` holds all of them, sorted by place."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(sorted(set(problems), key=Problem.sort_key))
        super().__init__(f"{len(self.problems)} problem(s)")

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate(s) to a misspelt word, or None."""
    pool = sorted(set(candidates))
    matches = difflib.get_close_matches(word, pool, n=2, cutoff=0.6)
    if not matches and word.lower() != word:
        matches = [c for c in pool if c.lower() == word.lower()]
    if not matches:
        return None
    if len(matches) == 1:
        return Message("did you mean '{name}'?", name=matches[0])
    return Message("did you mean '{name}' or '{other}'?", name=matches[0], other=matches[1])


def allowed(values: Iterable[str]) -> str:
    return "allowed: " + ", ".join(str(v) for v in values)


def format_path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
