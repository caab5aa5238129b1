"""The exact run-time semantics of formulas, in Python.

The Python compiler calls these, and SQLite runs the very same functions as registered SQL functions, so
the two can only agree. PostgreSQL gets native SQL written to the same rules (dsl.formula.sqlforms).
See docs/formulas.md for the rules in words.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from typing import Any

from dsl.formula.errors import FormulaRuntimeError
from dsl.messages import Message

# + - * are exact up to 60 significant digits, far beyond any stored value (18 digits).
CTX = Context(prec=60, rounding=ROUND_HALF_EVEN, Emin=-999_999, Emax=999_999,
              traps=[InvalidOperation, DivisionByZero, Overflow])
DIVISION_PLACES = 10
_DIVISION_QUANTUM = Decimal(1).scaleb(-DIVISION_PLACES)
MAX_POWER = 100
_MAX_POWER_BITS = 3_400_000  # about 10^1,000,000: as far as CTX's decimals go (Emax)

WHOLE_LIMIT = 2**63  # whole numbers are 64-bit in both databases
WHOLE_TOO_LARGE = Message("a whole number is too large (more than 18 digits)")


def whole(value: int) -> int:
    """A whole-number result, or the error both databases give when it leaves 64 bits."""
    if -WHOLE_LIMIT <= value < WHOLE_LIMIT:
        return value
    raise FormulaRuntimeError(WHOLE_TOO_LARGE)


def whole_result(value: Any) -> Any:
    """A function's whole-number result as an int within 64 bits (blank stays blank)."""
    if value is None:
        return None
    number = whole(int(value))
    return number if number == value else value  # checks the range; never changes a value


def whole_chain(first: int, *rest: int) -> int:
    """first ± the others (rest alternates signs and values), checked at every step as SQL does."""
    total = whole(first)
    for index in range(0, len(rest), 2):
        total = whole(total + rest[index + 1] if rest[index] > 0 else total - rest[index + 1])
    return total


def whole_product(*values: int) -> int:
    total = 1
    for value in values:
        total = whole(total * value)
    return total


add = CTX.add
subtract = CTX.subtract
multiply = CTX.multiply

Number = int | Decimal


def to_decimal(value: Number) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


_context_divide = CTX.divide


def divide(a: Number, b: Number) -> Decimal:
    """a / b rounded half away from zero to 10 decimal places; dividing by zero is an error."""
    if b == 0:
        raise FormulaRuntimeError(Message("division by zero"))
    return _context_divide(a, b).quantize(_DIVISION_QUANTUM, ROUND_HALF_UP, CTX)


def power(base: Number, exponent: Number) -> Number:
    """POWER and ^ with a whole-number exponent (|n| ≤ 100); a negative one divides."""
    if exponent != int(exponent):
        raise FormulaRuntimeError(Message("POWER needs a whole-number exponent"))
    n = int(exponent)
    if abs(n) > MAX_POWER:
        raise FormulaRuntimeError(Message("POWER's exponent must be between -{most} and {most}", most=MAX_POWER))
    if n == 0:
        return 1  # Excel shows #NUM! for 0^0; like most languages we give 1
    if n > 0:
        if isinstance(base, int) and isinstance(exponent, int):
            if abs(base).bit_length() * n > _MAX_POWER_BITS:  # 2^100^100^100… would eat all memory
                raise FormulaRuntimeError(Message("POWER: the result is too large"))
            return whole(base**n)
        return CTX.power(to_decimal(base), n)
    return divide(1, CTX.power(to_decimal(base), -n))


def percent(value: Number) -> Decimal:
    return CTX.multiply(value, Decimal("0.01"))


def negate(value: Number) -> Number:
    return -value


def _digits(n: Number) -> int:
    return int(n)  # Excel truncates num_digits toward zero


_QUANTA = {places: Decimal(1).scaleb(-places) for places in range(-18, 19)}


def _quantize(value: Number, digits: Number, rounding: str) -> Decimal:
    d = to_decimal(value)
    places = _digits(digits)
    if places > -d.as_tuple().exponent and d.adjusted() + places >= CTX.prec:  # type: ignore[operator]
        return d  # nothing to round, and that many zeros would not fit: ROUND(1.5, 100) is 1.5
    quantum = _QUANTA.get(places)
    if quantum is None:
        quantum = Decimal(1).scaleb(-places)
    result = d.quantize(quantum, rounding, CTX)
    if places < 0:  # 1.2E+3 → 1200: keep results in positional form
        result = result.quantize(Decimal(1), context=CTX)
    return result


def round_(value: Number, digits: Number = 0) -> Decimal:
    return _quantize(value, digits, ROUND_HALF_UP)


def roundup(value: Number, digits: Number = 0) -> Decimal:
    return _quantize(value, digits, ROUND_UP)


def rounddown(value: Number, digits: Number = 0) -> Decimal:
    return _quantize(value, digits, ROUND_DOWN)


def abs_(value: Number) -> Number:
    return abs(value)


def mod(a: Number, b: Number) -> Number:
    """Excel's MOD: the result has the sign of the divisor."""
    if b == 0:
        raise FormulaRuntimeError(Message("division by zero"))
    if isinstance(a, int) and isinstance(b, int):
        return a % b  # Python's int % already follows the divisor's sign
    remainder = CTX.remainder(to_decimal(a), to_decimal(b))
    if remainder != 0 and (remainder < 0) != (b < 0):
        remainder = CTX.add(remainder, b)
    return remainder


def scalar_min(*values: object) -> object:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def scalar_max(*values: object) -> object:
    present = [v for v in values if v is not None]
    return max(present) if present else None


# --- text ---------------------------------------------------------------------------------------------


def number_text(value: Number) -> str:
    """Numbers as text, like Excel's General format: no trailing zeros, no exponent, no "-0"."""
    if isinstance(value, int):
        return str(value)
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def to_text(value: object) -> str:
    """How any value reads inside text (`&`, CONCAT, LEFT...): blank is empty text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal):
        return number_text(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")  # strftime's %Y drops the zeros of year 995
    if isinstance(value, dt.date):
        return value.isoformat()
    raise FormulaRuntimeError(Message("{kind} cannot be turned into text", kind=type(value).__name__))


def concat(*values: object) -> str:
    return "".join(to_text(v) for v in values)


def _count(n: Number, function: str) -> int:
    if n < 0:
        raise FormulaRuntimeError(Message("{function}: the number of characters cannot be negative",
                                          function=function))
    return int(n)


def left(text: object, n: Number = 1) -> str:
    return to_text(text)[: _count(n, "LEFT")]


def right(text: object, n: Number = 1) -> str:
    count = _count(n, "RIGHT")
    value = to_text(text)
    return value[max(len(value) - count, 0):]


def mid(text: object, start: Number, n: Number) -> str:
    if start < 1:
        raise FormulaRuntimeError(Message("MID: the start position must be 1 or more"))
    first = int(start) - 1
    return to_text(text)[first: first + _count(n, "MID")]


def len_(text: object) -> int:
    return len(to_text(text))


def _simple_case(text: str, upper: bool) -> str:
    # One character in, one character out (as databases do): 'ß' stays 'ß' rather than becoming 'SS'.
    out = []
    for char in text:
        mapped = char.upper() if upper else char.lower()
        out.append(mapped if len(mapped) == 1 else char)
    return "".join(out)


def upper(text: object) -> str:
    value = to_text(text)
    mapped = value.upper()  # no character maps to less than one, so the same length means one for one
    return mapped if len(mapped) == len(value) else _simple_case(value, upper=True)


def lower(text: object) -> str:
    value = to_text(text)
    if "\u03a3" not in value:  # str.lower reads a capital sigma in context (final ς); per character otherwise
        mapped = value.lower()
        if len(mapped) == len(value):
            return mapped
    return _simple_case(value, upper=False)


_SPACES = re.compile(" +")


def trim(text: object) -> str:
    """Excel's TRIM: strip spaces at both ends and collapse inner runs of spaces to one."""
    value = to_text(text).strip(" ")
    return _SPACES.sub(" ", value) if "  " in value else value


def contains(text: object, part: object) -> bool:
    return to_text(part) in to_text(text)


# --- dates --------------------------------------------------------------------------------------------


def _as_date(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def make_date(year: Number, month: Number, day: Number) -> dt.date:
    """Excel's DATE: a year from 0 to 1899 means 1900 + year (DATE(26, 1, 1) is 1926-01-01); months and days
    beyond their range roll over (DATE(2026, 13, 1) is 2027-01-01)."""
    y, m, d = int(year), int(month), int(day)
    if not 0 <= y <= 9999:
        raise FormulaRuntimeError(Message("DATE: the year must be between 0 and 9999"))
    if y <= 1899:
        y += 1900
    y += (m - 1) // 12
    m = (m - 1) % 12 + 1
    if not 1 <= y <= 9999:
        raise FormulaRuntimeError(Message("DATE: the year must be between 1 and 9999"))
    try:
        return dt.date(y, m, 1) + dt.timedelta(days=d - 1)
    except OverflowError:
        raise FormulaRuntimeError(Message("DATE: the date is out of range")) from None


def year(value: dt.date) -> int:
    return value.year


def month(value: dt.date) -> int:
    return value.month


def day(value: dt.date) -> int:
    return value.day


def days_between(start: dt.date, end: dt.date) -> int:
    """DAYS_BETWEEN(a, b) = b − a in days (the calendar dates of datetimes)."""
    return (_as_date(end) - _as_date(start)).days


def _add_months(value: dt.date, months: int) -> dt.date:
    total = value.year * 12 + value.month - 1 + months
    y, m = divmod(total, 12)
    if not 1 <= y <= 9999:
        raise FormulaRuntimeError(Message("the date is out of range"))
    last = calendar.monthrange(y, m + 1)[1]
    return value.replace(year=y, month=m + 1, day=min(value.day, last))


def edate(value: dt.date, months: Number) -> dt.date:
    """Excel's EDATE: the same day n months later, or the month's last day if it has fewer days."""
    return _add_months(_as_date(value), int(months))


DATEADD_UNITS = ("day", "week", "month", "year")


def dateadd(value: dt.date, n: Number, unit: str = "day") -> dt.date:
    """DATEADD(date, n[, unit]): n whole units later (n is truncated toward zero)."""
    count = int(n)
    try:
        if unit == "day":
            return value + dt.timedelta(days=count)
        if unit == "week":
            return value + dt.timedelta(weeks=count)
    except OverflowError:
        raise FormulaRuntimeError(Message("DATEADD: the date is out of range")) from None
    if unit == "month":
        return _add_months(value, count)
    if unit == "year":
        return _add_months(value, 12 * count)
    raise FormulaRuntimeError(Message("DATEADD: unknown unit '{unit}'; use one of {units}", unit=unit,
                                      units=", ".join(DATEADD_UNITS)))


def weekday(value: dt.date, return_type: Number = 1) -> int:
    """Excel's WEEKDAY: type 1 Sunday=1…Saturday=7, type 2 Monday=1…Sunday=7, type 3 Monday=0…Sunday=6."""
    monday_based = value.weekday()  # Monday = 0
    kind = int(return_type)
    if kind == 1:
        return (monday_based + 1) % 7 + 1
    if kind == 2:
        return monday_based + 1
    if kind == 3:
        return monday_based
    raise FormulaRuntimeError(Message("WEEKDAY: the type must be 1, 2 or 3"))


# --- TEXT(value, format): Excel number and date formats (Python only) -----------------------------------

_DATE_TOKENS = re.compile(r"yyyy|yy|mm|m|dd|d|hh|h|ss|s", re.IGNORECASE)


def text_format(value: object, pattern: str) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return _format_date(value, pattern)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return to_text(value)
    return _format_number(to_decimal(value), pattern)


def _format_date(value: dt.date, pattern: str) -> str:
    moment = value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month, value.day)
    tokens = list(_DATE_TOKENS.finditer(pattern))
    out, position = [], 0
    for index, match in enumerate(tokens):
        out.append(pattern[position: match.start()])
        token = match.group().lower()
        # Excel reads m/mm as minutes right after hours or right before seconds.
        after_hour = index > 0 and tokens[index - 1].group().lower() in ("h", "hh")
        before_second = index + 1 < len(tokens) and tokens[index + 1].group().lower() in ("s", "ss")
        if token in ("m", "mm") and (after_hour or before_second):
            out.append(f"{moment.minute:02d}" if token == "mm" else str(moment.minute))
        else:
            out.append({
                "yyyy": f"{moment.year:04d}", "yy": f"{moment.year % 100:02d}",
                "mm": f"{moment.month:02d}", "m": str(moment.month),
                "dd": f"{moment.day:02d}", "d": str(moment.day),
                "hh": f"{moment.hour:02d}", "h": str(moment.hour),
                "ss": f"{moment.second:02d}", "s": str(moment.second),
            }[token])
        position = match.end()
    out.append(pattern[position:])
    return "".join(out)


_NUMBER_FORMAT = re.compile(r"^(?P<prefix>[^#0]*)(?P<int>[#,0]+)(?:\.(?P<frac>0+))?(?P<suffix>.*)$")


def _format_number(value: Decimal, pattern: str) -> str:
    match = _NUMBER_FORMAT.match(pattern)
    if not match:
        raise FormulaRuntimeError(Message("TEXT: cannot read the number format '{pattern}'", pattern=pattern))
    suffix = match.group("suffix")
    if "%" in suffix:
        value = CTX.multiply(value, 100)
    places = len(match.group("frac") or "")
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=CTX)
    whole, _, fraction = f"{abs(rounded):.{places}f}".partition(".")
    # Each 0 before the point is a digit always shown ("000" shows 7 as 007); # shows a digit only if needed.
    whole = whole.lstrip("0").rjust(match.group("int").count("0"), "0")
    if "," in match.group("int"):
        head = len(whole) % 3 or 3
        whole = ",".join([whole[:head], *(whole[i: i + 3] for i in range(head, len(whole), 3))])
    text = whole + ("." + fraction if places else "")
    if rounded < 0:
        text = "-" + text
    return match.group("prefix") + text + suffix
