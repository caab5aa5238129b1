"""Values as they arrive (JSON, form text, Python) → the exact Python value a field holds, or a problem."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from dsl.model import Field, FieldType
from engine.messages import Message

INT64 = 2**63 - 1  # the largest whole number (and record id) a database column holds


class CoercionError(ValueError):
    """Its message is a Message (engine/messages.py), so the web layer can show it in the user's language."""

    def __str__(self) -> str:
        return self.args[0]  # the Message itself: str() of the argument would drop its template


_TRUE = {"true", "1", "yes", "y", "on", "是", "对"}
_FALSE = {"false", "0", "no", "n", "off", "否", "", "错"}


def coerce(field: Field, value: Any, zone: dt.tzinfo | None = None) -> Any:
    """The value for `field`, or CoercionError with a message for the admin. Blank text is blank.

    Date-times are stored as the app's local time: one given with a UTC offset is converted to `zone`."""
    if value is None or (isinstance(value, str) and value.strip() == "" and field.type is not FieldType.BOOL):
        return None
    kind = field.type
    if kind in (FieldType.STRING, FieldType.TEXT, FieldType.ATTACHMENT):
        if not isinstance(value, str):
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                raise CoercionError(Message("must be text"))
            value = str(value)
        if kind is FieldType.STRING and field.max_length and len(value) > field.max_length:
            raise CoercionError(Message("is {length} characters long; at most {limit} are allowed",
                                         length=len(value), limit=field.max_length))
        return value
    if kind is FieldType.CHOICE:
        text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
        allowed = [choice.value for choice in field.options]
        if text is None or text not in allowed:
            labels = ", ".join(f"{c.value} ({c.label.get()})" if c.label.get() != c.value else c.value
                               for c in field.options)
            raise CoercionError(Message("'{value}' is not one of the options: {labels}", value=value, labels=labels))
        return text
    if kind is FieldType.INT:
        number = _number(value)
        if abs(number) > INT64:  # before int(): 1e999999 would be a million digits
            raise CoercionError(Message("is too large: whole numbers go up to {limit}", limit=INT64))
        if number != number.to_integral_value():
            raise CoercionError(Message("must be a whole number, not {value}", value=value))
        return int(number)
    if kind in (FieldType.DECIMAL, FieldType.MONEY, FieldType.PERCENT):
        number = _number(value)
        return _fit(field, number)
    if kind is FieldType.BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise CoercionError(Message("must be yes or no (true/false)"))
    if kind is FieldType.DATE:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip()[:10])
            except ValueError:
                raise CoercionError(Message("'{value}' is not a date; write it as {example}", value=value,
                                                 example="2026-01-31")) from None
        raise CoercionError(Message("must be a date, like {example}", example="2026-01-31"))
    if kind is FieldType.DATETIME:
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise CoercionError(Message("'{value}' is not a date and time; write it as {example}", value=value,
                                             example="2026-01-31 08:30")) from None
        if isinstance(value, dt.datetime):
            try:
                return value.astimezone(zone).replace(tzinfo=None) if value.tzinfo is not None and zone else value
            except OverflowError:  # 0001-01-01T00:00+14:00 has no local time in year 1 or later
                raise CoercionError(Message("'{value}' is out of the range of dates", value=value)) from None
        if isinstance(value, dt.date):
            return dt.datetime(value.year, value.month, value.day)
        raise CoercionError(Message("must be a date and time, like {example}", example="2026-01-31 08:30"))
    if kind is FieldType.LINK:
        if field.many:
            items = value if isinstance(value, list | tuple) else [value]
            return [_record_id(item) for item in items]
        return _record_id(value)
    raise CoercionError(Message("{kind} fields cannot be set directly", kind=kind))


def _number(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise CoercionError(Message("must be a number, not true/false"))
    if isinstance(value, float):
        raise CoercionError(Message("must be given exactly (as text or an integer), not as a binary fraction"))
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", "").replace("，", "")
        percent = text.endswith("%")
        try:
            number = Decimal(text[:-1] if percent else text)
        except InvalidOperation:
            raise CoercionError(Message("'{value}' is not a number", value=value)) from None
        if percent:
            number = number.scaleb(-2)
    else:
        raise CoercionError(Message("must be a number"))
    if not number.is_finite():
        raise CoercionError(Message("must be a finite number"))
    return number


def _fit(field: Field, number: Decimal) -> Decimal:
    scale = field.scale if field.scale is not None else 2
    precision = field.precision or 18
    if number.as_tuple().exponent < -scale and number != number.quantize(Decimal(1).scaleb(-scale)):  # type: ignore[operator]
        raise CoercionError(Message("has more than {scale} decimal places", scale=scale))
    if abs(number) >= Decimal(10) ** (precision - scale):
        raise CoercionError(Message("is too large: at most {digits} digits before the decimal point",
                                    digits=precision - scale))
    return number.quantize(Decimal(1).scaleb(-scale))


def _record_id(value: Any) -> int:
    if isinstance(value, dict) and "id" in value:
        value = value["id"]
    if isinstance(value, bool):
        raise CoercionError(Message("must be a record (its id)"))
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 20:
        value = int(value.strip())
    if isinstance(value, int) and abs(value) <= INT64:
        return value
    raise CoercionError(Message("must be a record (its id)"))
