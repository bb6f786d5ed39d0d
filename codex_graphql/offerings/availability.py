"""A service's open slots, computed from its weekly hours (pure functions, no database).

A service offering has weekly windows (``{"day": 0-6 (Monday 0), "start": "HH:MM", "end": "HH:MM"}``, end
"24:00" allowed) in the offering's time zone, a slot length, a buffer between slots, a notice period and a
horizon. ``open_slots`` turns them into instants (UTC) for a range of time.

The rule, in wall-clock time of the offering's zone, day by day:

* Each window has a grid of slot starts: ``start``, ``start + (slot + buffer)``, ``start + 2 (slot + buffer)``
  and so on, while the start is before the window's end. A slot lasts ``slot`` real minutes from its start.
* A start that does not exist that day (skipped by a spring-forward change, 02:30 in Berlin on 2026-03-29) is
  no slot. A start that happens twice (repeated by a fall-back change, 02:30 in Berlin on 2026-10-25) is the
  first occurrence (``fold=0``, summer time), once: no two slots ever start at the same instant.
* A slot must end by the window's end, the first instant whose wall time reaches the window's end (when that
  wall time is skipped, the instant of the change). So a 01:00-04:00 window with 60-minute slots has two slots
  on a spring-forward day (01:00 and 03:00: the window is two real hours long) and three on a fall-back day
  (01:00, 02:00 summer time, 03:00).
* Where the clock jumps forward, the grid can put two starts closer than ``slot + buffer`` in real time (a
  90-minute slot at 01:30 and the next at 03:00 on a spring-forward day are 30 real minutes apart); the same
  goes for touching windows with a buffer (09:00-12:00 and 12:00-15:00). A slot that does not leave ``buffer``
  minutes after the slot before it on the grid is no slot. This looks only at the grid, so the slots of a
  day never depend on the range asked for.

Then slots are kept when they start at or after ``now + notice``, at or before ``now + horizon``, inside the
range asked for (``from <= start < to``) and overlap no busy interval (booked sessions), each widened by the
buffer on both sides.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from codex_graphql.errors import DomainError, ErrorCode, UserError

MAX_WINDOWS = 50
MAX_RANGE_DAYS = 62  # the longest range ``open_slots`` computes (Offering.availableSlots)
DAY_NAMES = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_CLOCK = re.compile(r"^(\d{2}):(\d{2})$")
# A grid slot can be held back by the slot before it on the grid, which lies at most a slot plus a buffer
# (each at most a day) earlier: days before the range are computed too, so a range's slots never depend on it.
_LOOKBACK_DAYS = 3

Interval = tuple[datetime, datetime]


@dataclass(frozen=True, order=True)
class WeeklyWindow:
    """Hours on one weekday, in minutes after local midnight: ``start`` < ``end`` <= 1440."""

    day: int  # 0 Monday .. 6 Sunday
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day, "start": clock(self.start), "end": clock(self.end)}


def clock(minutes: int) -> str:
    """``"HH:MM"`` for minutes after midnight (1440 is ``"24:00"``)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _get(rule: Any, key: str) -> Any:
    if isinstance(rule, Mapping):
        return rule.get(key)
    return getattr(rule, key, None)


def _day(value: Any) -> int | None:
    value = getattr(value, "value", value)  # an enum member (Weekday) gives its name
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 6 else None
    if isinstance(value, str) and value.strip().upper() in DAY_NAMES:
        return DAY_NAMES.index(value.strip().upper())
    return None


def _minutes(value: Any, *, end: bool) -> int | None:
    if not isinstance(value, str):
        return None
    match = _CLOCK.match(value.strip())
    if not match:
        return None
    hours, minutes = int(match[1]), int(match[2])
    if end and hours == 24 and minutes == 0:
        return 1440
    if hours > 23 or minutes > 59:
        return None
    return hours * 60 + minutes


def parse_weekly(rules: Sequence[Any] | None, field: str = "weekly") -> list[WeeklyWindow]:
    """Validated weekly windows, sorted by day and start.

    Each rule has ``day`` (``MONDAY``..``SUNDAY`` or 0-6, Monday 0), ``start`` and ``end`` (``"HH:MM"``; end
    may be ``"24:00"``), a mapping or an object with those attributes. Windows of a day may touch but not
    overlap. Raises ``DomainError`` (INVALID_INPUT) listing every problem, each with its field path
    (``weekly.2.end``).
    """
    if rules is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give the weekly hours (an empty list means no hours).", field)
    if isinstance(rules, str | bytes | Mapping) or not isinstance(rules, Iterable):
        raise DomainError(ErrorCode.INVALID_INPUT, "The weekly hours must be a list of windows.", field)
    rules = list(rules)
    if len(rules) > MAX_WINDOWS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Give at most {MAX_WINDOWS} weekly windows.", field)
    errors: list[UserError] = []

    def fail(message: str, path: str) -> None:
        errors.append(UserError(code=ErrorCode.INVALID_INPUT, field=["input", *path.split(".")], message=message))

    parsed: list[tuple[WeeklyWindow, int]] = []
    for index, rule in enumerate(rules):
        at = f"{field}.{index}"
        if rule is None:
            fail("Each weekly window needs a day, a start and an end.", at)
            continue
        day = _day(_get(rule, "day"))
        start = _minutes(_get(rule, "start"), end=False)
        stop = _minutes(_get(rule, "end"), end=True)
        if day is None:
            fail("Use a weekday, MONDAY to SUNDAY.", f"{at}.day")
        if start is None:
            fail("Use a start time as HH:MM, 00:00 to 23:59.", f"{at}.start")
        if stop is None:
            fail("Use an end time as HH:MM, 00:01 to 24:00.", f"{at}.end")
        elif start is not None and stop <= start:
            fail("The end must be after the start.", f"{at}.end")
        elif day is not None and start is not None:
            parsed.append((WeeklyWindow(day, start, stop), index))
    parsed.sort()
    for (before, before_index), (window, index) in zip(parsed, parsed[1:], strict=False):
        if window.day == before.day and window.start < before.end:
            later = max(index, before_index)
            other = min(index, before_index)
            fail(f"This window overlaps window {other} on {DAY_NAMES[window.day].title()} "
                 f"({clock(before.start)}-{clock(before.end)} and {clock(window.start)}-{clock(window.end)}).",
                 f"{field}.{later}.start")
    if errors:
        errors.sort(key=lambda error: [int(part) if part.isdigit() else -1 for part in error.field or []])
        raise DomainError.many(errors)
    return [window for window, _ in parsed]


def weekly_from_json(stored: Sequence[Mapping[str, Any]]) -> list[WeeklyWindow]:
    """The windows of a stored ``offering_availability.weekly`` (validated when stored)."""
    return parse_weekly(stored)


def zone(time_zone: str, field: str = "timeZone") -> ZoneInfo:
    """The IANA time zone named ``time_zone``; INVALID_INPUT when there is none."""
    try:
        if not isinstance(time_zone, str) or not time_zone or time_zone.lower() == "localtime":
            raise ValueError
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(ErrorCode.INVALID_INPUT, "Use an IANA time zone such as Europe/Paris or "
                          "America/New_York.", field) from None


def as_utc(at: datetime) -> datetime:
    """``at`` in UTC; a naive datetime is taken as UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _wall(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=minutes // 1440), time(minutes % 1440 // 60, minutes % 60),
                            tzinfo=tz)


def _exists(local: datetime) -> bool:
    """Whether the wall time ``local`` (fold 0) is shown by a clock in its zone (not skipped by a change)."""
    return local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) == local.replace(tzinfo=None)


def _reaches(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) whose wall time in ``tz`` reaches ``minutes`` after midnight of ``day``."""
    local = _wall(day, minutes, tz)
    if _exists(local):
        return local.astimezone(UTC)  # fold 0: the first occurrence
    wall = local.replace(tzinfo=None)
    # The change lies between the wall time read with the offset before it (fold 1: earlier) and after it.
    low = int(local.replace(fold=1).timestamp())
    high = int(local.timestamp()) + 1
    while high - low > 1:  # whole seconds: offsets and changes are whole seconds
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def grid_slots(weekly: Sequence[WeeklyWindow], tz: ZoneInfo, first: date, last: date,
               slot_minutes: int, buffer_minutes: int) -> list[Interval]:
    """The grid slots (UTC) of the local days ``first`` to ``last``, before any filter but the grid's own."""
    by_day: dict[int, list[WeeklyWindow]] = {}
    for window in sorted(weekly):
        by_day.setdefault(window.day, []).append(window)
    slot = timedelta(minutes=slot_minutes)
    buffer = timedelta(minutes=buffer_minutes)
    step = slot_minutes + buffer_minutes
    result: list[Interval] = []
    previous: datetime | None = None  # the end of the grid's previous start, held back or not
    day = first
    while day <= last:
        for window in by_day.get(day.weekday(), ()):
            closes = _reaches(day, window.end, tz)
            for minutes in range(window.start, window.end, step):
                local = _wall(day, minutes, tz)
                if not _exists(local):
                    continue
                starts = local.astimezone(UTC)
                ends = starts + slot
                if ends > closes:
                    break
                if previous is None or starts >= previous + buffer:
                    result.append((starts, ends))
                previous = ends
        day += timedelta(days=1)
    return result


def _busy_blocks(busy: Iterable[Interval], buffer: timedelta) -> tuple[list[datetime], list[datetime]]:
    """Busy intervals widened by the buffer and merged: sorted starts and their ends."""
    widened = sorted((as_utc(start) - buffer, as_utc(end) + buffer) for start, end in busy)
    starts: list[datetime] = []
    ends: list[datetime] = []
    for start, end in widened:
        if ends and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def check_range(start: datetime, end: datetime, *, from_field: str = "from", to_field: str = "to") -> None:
    """INVALID_INPUT unless ``start < end`` and the range spans at most ``MAX_RANGE_DAYS`` days."""
    if as_utc(end) <= as_utc(start):
        raise DomainError(ErrorCode.INVALID_INPUT, "The end of the range must be after its start.", to_field)
    if as_utc(end) - as_utc(start) > timedelta(days=MAX_RANGE_DAYS):
        raise DomainError(ErrorCode.INVALID_INPUT,
                          f"Ask for at most {MAX_RANGE_DAYS} days of slots at a time.", to_field)


def open_slots(weekly: Sequence[WeeklyWindow], *, time_zone: str, slot_minutes: int, buffer_minutes: int,
               notice_minutes: int, horizon_days: int, now: datetime, start: datetime, end: datetime,
               busy: Iterable[Interval] = ()) -> list[Interval]:
    """Open slots ``(startsAt, endsAt)`` in UTC, by start, that start in ``[start, end)`` (the rule is in the
    module's docstring). Naive datetimes are taken as UTC. INVALID_INPUT for an unknown time zone, an empty
    range or one longer than ``MAX_RANGE_DAYS``."""
    tz = zone(time_zone)
    check_range(start, end)
    if slot_minutes <= 0 or buffer_minutes < 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "The slot length must be positive, the buffer not negative.",
                          "slotMinutes")
    now, start, end = as_utc(now), as_utc(start), as_utc(end)
    earliest = max(start, now + timedelta(minutes=notice_minutes))
    latest = now + timedelta(days=horizon_days)  # the last start allowed
    if earliest >= end or earliest > latest:
        return []
    first = earliest.astimezone(tz).date() - timedelta(days=_LOOKBACK_DAYS)
    last = min(end, latest + timedelta(microseconds=1)).astimezone(tz).date()
    buffer = timedelta(minutes=buffer_minutes)
    busy_starts, busy_ends = _busy_blocks(busy, buffer)
    result: list[Interval] = []
    for slot_start, slot_end in grid_slots(weekly, tz, first, last, slot_minutes, buffer_minutes):
        if slot_start < earliest or slot_start >= end or slot_start > latest:
            continue
        index = bisect.bisect_left(busy_starts, slot_end) - 1  # the last block starting before the slot ends
        if index >= 0 and busy_ends[index] > slot_start:
            continue
        result.append((slot_start, slot_end))
    return result


__all__ = ["DAY_NAMES", "MAX_RANGE_DAYS", "MAX_WINDOWS", "Interval", "WeeklyWindow", "as_utc", "check_range", "clock",
           "grid_slots", "open_slots", "parse_weekly", "weekly_from_json", "zone"]
