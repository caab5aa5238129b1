"""Column types shared by the engine's tables and the formula SQL compiler.

Decimals are exact on both databases: NUMERIC(p, s) on PostgreSQL; on SQLite, which has no decimal type,
a 64-bit integer holding the value times 10^s (so 12.50 with scale 2 is stored as 1250). Sorting, indexes,
SUM, MIN and MAX stay exact and native; never a float.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import BigInteger, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from dsl.formula.runtime import CTX, number_text

MAX_PRECISION = 18  # what a signed 64-bit integer holds on SQLite


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC(precision, scale) on PostgreSQL, a scaled BIGINT on SQLite."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = MAX_PRECISION, scale: int = 2) -> None:
        if not 0 <= scale <= precision <= MAX_PRECISION:
            raise ValueError(f"decimal precision must be at most {MAX_PRECISION} and at least its scale")
        super().__init__()
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)
        self._limit = Decimal(10) ** (precision - scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def quantize(self, value: Decimal | int) -> Decimal:
        """The value as stored: rounded half away from zero to the scale; too large is an error."""
        exact = value if isinstance(value, Decimal) else Decimal(value)
        rounded = exact.quantize(self._quantum, rounding=ROUND_HALF_UP, context=CTX)
        if abs(rounded) >= self._limit:
            raise ValueError(f"{number_text(exact)} has more than {self.precision - self.scale} digits "
                             "before the decimal point")
        return rounded

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("decimal columns take Decimal or int, never float")
        rounded = self.quantize(value)
        if dialect.name == "sqlite":
            return int(rounded.scaleb(self.scale, context=CTX))
        return rounded

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value).quantize(self._quantum) if not isinstance(value, Decimal) else value


class ScaledResult(TypeDecorator[Decimal]):
    """Reads a scaled integer computed in SQLite (e.g. SUM of an ExactDecimal column) as a Decimal."""

    impl = BigInteger
    cache_ok = True

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(int(value)).scaleb(-self.scale)


class DecimalText(TypeDecorator[Decimal]):
    """Reads a decimal computed as text by jxc's SQLite functions (or any numeric) as a Decimal."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("a formula produced a float in SQL; this is a bug in jxc")
        return value if isinstance(value, Decimal) else Decimal(str(value))
