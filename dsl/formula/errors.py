"""Errors of the formula language: located by a character offset into the formula."""

from __future__ import annotations


class FormulaError(Exception):
    """A formula that cannot be parsed, type-checked or evaluated.

    `position` is the 0-based character offset in the formula text where the problem is; `hint` is an
    optional suggestion (did you mean…, allowed values…).
    """

    def __init__(self, message: str, position: int = 0, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class FormulaRuntimeError(Exception):
    """An error while evaluating a formula on a record: division by zero, a bad argument...

    The engine adds which field's formula failed (`field`) before it reaches a user.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message
