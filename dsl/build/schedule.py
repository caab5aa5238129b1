"""When a scheduled alert is checked: a few readable forms, or a 5-field cron line, all turned into cron.

    daily 08:00         → 0 8 * * *
    weekly mon 08:00    → 0 8 * * 1      (mon tue wed thu fri sat sun; full names work too)
    monthly 1 08:00     → 0 8 1 * *      (day 1 to 28, so that every month has it)
    hourly              → 0 * * * *
    every 15m           → */15 * * * *   (the minutes divide 60)
    every 2h            → 0 */2 * * *    (the hours divide 24)
    0 8 * * 1-5         → itself: numbers, *, */n, a-b, a-b/n and lists a,b in each field

Times are in the app's time zone. Nothing here raises except ScheduleError, which carries the offset of the
part of the text that is wrong, so that the problem can point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dsl.model import Schedule

FORMS = ("daily HH:MM, weekly mon HH:MM, monthly D HH:MM (D from 1 to 28), hourly, every Nm, every Nh, "
         "or a 5-field cron line such as 0 8 * * 1-5")

DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_FULL_DAYS = {"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5,
              "saturday": 6}
# name, lowest, highest
CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
               ("day of week", 0, 7))
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_EVERY = re.compile(r"(\d+)\s*([mh])")
_NUMBER = re.compile(r"\d+")
_CRON_WORD = re.compile(r"[0-9*/,-]+")


class ScheduleError(ValueError):
    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset  # where in the text the problem is (0-based)


@dataclass(frozen=True, slots=True)
class _Word:
    text: str
    offset: int


def _words(text: str) -> list[_Word]:
    return [_Word(m.group(), m.start()) for m in re.finditer(r"\S+", text)]


def parse_schedule(text: str) -> Schedule:
    """The schedule written as `text`; ScheduleError if it is none of the accepted forms."""
    words = _words(text)
    if not words:
        raise ScheduleError(f"the schedule is empty; write {FORMS}")
    head = words[0].text.lower()
    if head in ("daily", "weekly", "monthly", "hourly", "every"):
        return Schedule(text, _readable(text, head, words))
    if len(words) == 5:
        return Schedule(text, _cron(words))
    if all(_CRON_WORD.fullmatch(word.text) for word in words):
        raise ScheduleError(f"a cron line has 5 fields (minute hour day-of-month month day-of-week), this one has "
                            f"{len(words)}", words[0].offset)
    raise ScheduleError(f"unknown schedule '{text.strip()}'; write {FORMS}", words[0].offset)


def _readable(text: str, head: str, words: list[_Word]) -> str:
    args = words[1:]
    shapes = {"daily": "daily HH:MM", "weekly": "weekly mon HH:MM", "monthly": "monthly D HH:MM",
              "hourly": "hourly", "every": "every 15m or every 2h"}
    expected = {"daily": 1, "weekly": 2, "monthly": 2, "hourly": 0}
    if head == "every":
        joined = "".join(word.text for word in args)  # "every 15 m" is fine too
        match = _EVERY.fullmatch(joined.lower())
        if not args or match is None:
            raise ScheduleError(f"write {shapes[head]}, not '{text.strip()}'", words[0].offset)
        return _every(int(match.group(1)), match.group(2), args[0].offset)
    if len(args) != expected[head]:
        place = args[expected[head]].offset if len(args) > expected[head] else words[0].offset
        raise ScheduleError(f"write {shapes[head]}, not '{text.strip()}'", place)
    if head == "hourly":
        return "0 * * * *"
    hour, minute = _time(args[-1])
    if head == "daily":
        return f"{minute} {hour} * * *"
    if head == "weekly":
        day = args[0].text.lower()
        number = DAYS.get(day, _FULL_DAYS.get(day))
        if number is None:
            raise ScheduleError(f"'{args[0].text}' is not a day of the week; write mon, tue, wed, thu, fri, sat "
                                "or sun", args[0].offset)
        return f"{minute} {hour} * * {number}"
    day_text = args[0].text
    if not _NUMBER.fullmatch(day_text) or not 1 <= int(day_text) <= 28:
        raise ScheduleError(f"monthly: the day must be a number from 1 to 28 (every month has it), not "
                            f"'{day_text}'", args[0].offset)
    return f"{minute} {hour} {int(day_text)} * *"


def _time(word: _Word) -> tuple[int, int]:
    match = _TIME.fullmatch(word.text)
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ScheduleError(f"'{word.text}' is not a time of day; write HH:MM from 00:00 to 23:59", word.offset)
    return int(match.group(1)), int(match.group(2))


def _every(count: int, unit: str, offset: int) -> str:
    whole = 60 if unit == "m" else 24
    if count == 0 or whole % count:
        divisors = [str(n) for n in range(1, whole + 1) if whole % n == 0]
        name = "minutes" if unit == "m" else "hours"
        raise ScheduleError(f"every {count}{unit}: the {name} must divide {whole} evenly "
                            f"({', '.join(divisors[:-1])} or {divisors[-1]})", offset)
    if unit == "m":
        if count == 60:
            return "0 * * * *"
        return "* * * * *" if count == 1 else f"*/{count} * * * *"
    if count == 24:
        return "0 0 * * *"
    return "0 * * * *" if count == 1 else f"0 */{count} * * *"


def _cron(words: list[_Word]) -> str:
    for word, (name, low, high) in zip(words, CRON_FIELDS, strict=True):
        for part, start in _parts(word):
            _cron_part(part, word.offset + start, name, low, high)
    return " ".join(word.text for word in words)


def _parts(word: _Word) -> list[tuple[str, int]]:
    parts, start = [], 0
    for piece in word.text.split(","):
        parts.append((piece, start))
        start += len(piece) + 1
    return parts


def _cron_part(part: str, offset: int, name: str, low: int, high: int) -> None:
    def bad(why: str) -> ScheduleError:
        return ScheduleError(f"cron {name} field: {why}", offset)

    if not part:
        raise bad("an empty item in a list (two commas, or a comma at the end)")
    body, _, step = part.partition("/")
    if "/" in part:
        if not _NUMBER.fullmatch(step) or int(step) == 0:
            raise bad(f"the step after / must be a whole number from 1, not '{step}'")
        if int(step) > high:
            raise bad(f"the step {step} is larger than the highest {name} ({high})")
        if body != "*" and "-" not in body:
            raise bad(f"a step needs * or a range before it, e.g. */{step} or {low}-{high}/{step}")
    if body == "*":
        return
    first, dash, last = body.partition("-")
    for number in (first, last) if dash else (first,):
        if not _NUMBER.fullmatch(number):
            raise bad(f"'{part}' is not a number, *, */n, a range a-b or a list a,b (names such as MON or JAN "
                      "are not accepted)")
        if not low <= int(number) <= high:
            raise bad(f"{int(number)} is out of range; the {name} goes from {low} to {high}")
    if dash and int(first) > int(last):
        raise bad(f"the range {body} goes backwards; write {last}-{first}")
