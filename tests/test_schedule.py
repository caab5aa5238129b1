"""Alert schedules: the readable forms and cron lines, and what is wrong with the rest (with its offset)."""

from __future__ import annotations

import pytest

from dsl.build.schedule import FORMS, ScheduleError, parse_schedule


@pytest.mark.parametrize(("text", "cron"), [
    ("daily 08:00", "0 8 * * *"),
    ("daily 8:05", "5 8 * * *"),
    ("Daily 23:59", "59 23 * * *"),
    ("weekly mon 08:00", "0 8 * * 1"),
    ("weekly sun 00:00", "0 0 * * 0"),
    ("weekly friday 17:30", "30 17 * * 5"),
    ("monthly 1 08:00", "0 8 1 * *"),
    ("monthly 28 06:15", "15 6 28 * *"),
    ("hourly", "0 * * * *"),
    ("every 15m", "*/15 * * * *"),
    ("every 15 m", "*/15 * * * *"),
    ("every 1m", "* * * * *"),
    ("every 60m", "0 * * * *"),
    ("every 2h", "0 */2 * * *"),
    ("every 1h", "0 * * * *"),
    ("every 24h", "0 0 * * *"),
    ("0 8 * * 1-5", "0 8 * * 1-5"),
    ("*/5  0-6/2 1,15 * 0,7", "*/5 0-6/2 1,15 * 0,7"),
    ("59 23 31 12 7", "59 23 31 12 7"),
])
def test_accepted_forms(text, cron):
    schedule = parse_schedule(text)
    assert schedule.text == text and schedule.cron == cron


@pytest.mark.parametrize(("text", "offset", "message"), [
    ("", 0, f"the schedule is empty; write {FORMS}"),
    ("at noon", 0, f"unknown schedule 'at noon'; write {FORMS}"),
    ("daily", 0, "write daily HH:MM, not 'daily'"),
    ("daily 08:00 09:00", 12, "write daily HH:MM, not 'daily 08:00 09:00'"),
    ("daily 24:00", 6, "'24:00' is not a time of day; write HH:MM from 00:00 to 23:59"),
    ("daily 8am", 6, "'8am' is not a time of day; write HH:MM from 00:00 to 23:59"),
    ("weekly mon", 0, "write weekly mon HH:MM, not 'weekly mon'"),
    ("weekly xyz 08:00", 7, "'xyz' is not a day of the week; write mon, tue, wed, thu, fri, sat or sun"),
    ("monthly 29 08:00", 8, "monthly: the day must be a number from 1 to 28 (every month has it), not '29'"),
    ("monthly last 08:00", 8, "monthly: the day must be a number from 1 to 28 (every month has it), not 'last'"),
    ("hourly 30", 7, "write hourly, not 'hourly 30'"),
    ("every 7m", 6, "every 7m: the minutes must divide 60 evenly (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60)"),
    ("every 5h", 6, "every 5h: the hours must divide 24 evenly (1, 2, 3, 4, 6, 8, 12 or 24)"),
    ("every 0m", 6, "every 0m: the minutes must divide 60 evenly (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60)"),
    ("every day", 0, "write every 15m or every 2h, not 'every day'"),
    ("0 8 * *", 0, "a cron line has 5 fields (minute hour day-of-month month day-of-week), this one has 4"),
    ("60 * * * *", 0, "cron minute field: 60 is out of range; the minute goes from 0 to 59"),
    ("0 24 * * *", 2, "cron hour field: 24 is out of range; the hour goes from 0 to 23"),
    ("0 8 0 * *", 4, "cron day of month field: 0 is out of range; the day of month goes from 1 to 31"),
    ("0 8 * 13 *", 6, "cron month field: 13 is out of range; the month goes from 1 to 12"),
    ("0 8 * * 8", 8, "cron day of week field: 8 is out of range; the day of week goes from 0 to 7"),
    ("0 8 * * MON", 8, "cron day of week field: 'MON' is not a number, *, */n, a range a-b or a list a,b "
                       "(names such as MON or JAN are not accepted)"),
    ("0 8 5-1 * *", 4, "cron day of month field: the range 5-1 goes backwards; write 1-5"),
    ("0 8 1,,2 * *", 6, "cron day of month field: an empty item in a list (two commas, or a comma at the end)"),
    ("0 8 1,40 * *", 6, "cron day of month field: 40 is out of range; the day of month goes from 1 to 31"),
    ("*/0 * * * *", 0, "cron minute field: the step after / must be a whole number from 1, not '0'"),
    ("*/x * * * *", 0, "cron minute field: the step after / must be a whole number from 1, not 'x'"),
    ("*/99 * * * *", 0, "cron minute field: the step 99 is larger than the highest minute (59)"),
    ("5/2 * * * *", 0, "cron minute field: a step needs * or a range before it, e.g. */2 or 0-59/2"),
])
def test_rejected_forms(text, offset, message):
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text)
    assert caught.value.message == message
    assert caught.value.offset == offset
