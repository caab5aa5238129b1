"""What the service layer reports. Each maps to one HTTP status and carries a message an admin can read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One problem with one field: `field` is a path such as "qty" or "lines[2].price" ("" for the record)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ValidationFailed(ServiceError):
    """The record has problems; nothing was written. `problems` lists every one, by field."""

    status = 422

    def __init__(self, problems: Iterable[FieldProblem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''}: " + "; ".join(map(str, self.problems)))


class InvalidQuery(ServiceError):
    """A filter, sort or page that cannot be used; the message says where (a filter's column)."""

    status = 400


class NotFound(ServiceError):
    status = 404


class PermissionDenied(ServiceError):
    status = 403


class Conflict(ServiceError):
    """Someone else saved the record since it was read (optimistic locking), or a rule between records."""

    status = 409


class LifecycleError(ServiceError):
    """An action that the document's state does not allow (editing a submitted document, cancelling a draft)."""

    status = 409


class InUse(ServiceError):
    """A record that other records point to cannot be deleted; `referrers` says which."""

    status = 409

    def __init__(self, message: str, referrers: Iterable[tuple[str, str]]) -> None:
        super().__init__(message)
        self.referrers = tuple(referrers)


class Vetoed(ServiceError):
    """A plugin refused the action (before_submit) with its own message."""

    status = 422
