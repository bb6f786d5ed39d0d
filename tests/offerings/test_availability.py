"""A service's open slots (offerings/availability.py): validation of weekly hours, the slot grid, notice,
horizon, busy sessions and the buffer, daylight-saving changes in Berlin and New York, and a property test
against a naive minute-by-minute computation of the same rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.offerings.availability import (
    MAX_RANGE_DAYS,
    MAX_WINDOWS,
    WeeklyWindow,
    clock,
    open_slots,
    parse_weekly,
    weekly_from_json,
)

PAST = datetime(2026, 1, 1, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def fields(caught: pytest.ExceptionInfo[DomainError]) -> list[list[str] | None]:
    assert all(error.code == ErrorCode.INVALID_INPUT for error in caught.value.errors)
    return [error.field for error in caught.value.errors]


def slots_on(day: date, weekly: list[WeeklyWindow], time_zone: str, slot: int = 60, buffer: int = 0,
             busy: list[tuple[datetime, datetime]] | None = None) -> list[tuple[datetime, datetime]]:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
    return open_slots(weekly, time_zone=time_zone, slot_minutes=slot, buffer_minutes=buffer, notice_minutes=0,
                      horizon_days=366, now=PAST, start=start, end=start + timedelta(days=3), busy=busy or [])


# --- parse_weekly -------------------------------------------------------------------------------------------


def test_parse_weekly_accepts_names_numbers_midnight_and_touching_windows() -> None:
    windows = parse_weekly([
        {"day": "friday", "start": "13:00", "end": "24:00"},
        {"day": 4, "start": "09:00", "end": "13:00"},
        {"day": "MONDAY", "start": "00:00", "end": "00:30"},
    ])
    assert windows == [WeeklyWindow(0, 0, 30), WeeklyWindow(4, 540, 780), WeeklyWindow(4, 780, 1440)]
    assert [w.to_json() for w in windows][2] == {"day": 4, "start": "13:00", "end": "24:00"}
    assert weekly_from_json([w.to_json() for w in windows]) == windows
    assert parse_weekly([]) == []


def test_parse_weekly_names_every_bad_field() -> None:
    with pytest.raises(DomainError) as caught:
        parse_weekly([
            {"day": "MONDAY", "start": "09:00", "end": "12:00"},
            {"day": "FUNDAY", "start": "9:00", "end": "24:01"},
            {"day": 1, "start": "10:00", "end": "10:00"},
            {"day": 7, "start": "24:00", "end": "25:00"},
            None,
        ])
    assert fields(caught) == [
        ["input", "weekly", "1", "day"], ["input", "weekly", "1", "start"], ["input", "weekly", "1", "end"],
        ["input", "weekly", "2", "end"],
        ["input", "weekly", "3", "day"], ["input", "weekly", "3", "start"], ["input", "weekly", "3", "end"],
        ["input", "weekly", "4"],
    ]
    assert "after the start" in caught.value.errors[3].message


def test_parse_weekly_refuses_overlaps_within_a_day_only() -> None:
    parse_weekly([{"day": 0, "start": "09:00", "end": "12:00"}, {"day": 1, "start": "10:00", "end": "11:00"}])
    with pytest.raises(DomainError) as caught:
        parse_weekly([
            {"day": 2, "start": "11:00", "end": "12:00"},
            {"day": 0, "start": "09:00", "end": "12:00"},
            {"day": 0, "start": "11:59", "end": "13:00"},
        ])
    assert fields(caught) == [["input", "weekly", "2", "start"]]
    assert "window 1" in caught.value.errors[0].message


def test_parse_weekly_limits_the_number_of_windows() -> None:
    many = [{"day": n % 7, "start": f"{n // 7:02d}:00", "end": f"{n // 7:02d}:30"} for n in range(MAX_WINDOWS)]
    assert len(parse_weekly(many)) == MAX_WINDOWS
    with pytest.raises(DomainError) as caught:
        parse_weekly([*many, {"day": 6, "start": "23:00", "end": "24:00"}])
    assert fields(caught) == [["input", "weekly"]]
    with pytest.raises(DomainError) as caught:
        parse_weekly("MONDAY 09:00-12:00")  # type: ignore[arg-type]
    assert fields(caught) == [["input", "weekly"]]


# --- open_slots ---------------------------------------------------------------------------------------------

MONDAY = date(2026, 6, 15)
MORNING = parse_weekly([{"day": "MONDAY", "start": "09:00", "end": "12:00"}])


def test_slots_follow_the_grid_with_buffer_in_local_time() -> None:
    slots = slots_on(MONDAY, MORNING, "Europe/Berlin", slot=50, buffer=10)
    # Berlin is UTC+2 in summer: 09:00, 10:00 and 11:00 local, each 50 minutes.
    assert slots == [(utc(2026, 6, 15, h), utc(2026, 6, 15, h, 50)) for h in (7, 8, 9)]
    assert slots_on(MONDAY, MORNING, "Europe/Berlin", slot=50, buffer=11) == [
        (utc(2026, 6, 15, 7), utc(2026, 6, 15, 7, 50)), (utc(2026, 6, 15, 8, 1), utc(2026, 6, 15, 8, 51)),
        (utc(2026, 6, 15, 9, 2), utc(2026, 6, 15, 9, 52))]
    assert slots_on(MONDAY + timedelta(days=2), MORNING, "Europe/Berlin") == []  # Tuesday to Thursday


def test_touching_windows_keep_the_buffer_between_them() -> None:
    weekly = parse_weekly([{"day": 0, "start": "09:00", "end": "10:00"}, {"day": 0, "start": "10:00",
                                                                          "end": "12:15"}])
    starts = [s for s, _ in slots_on(MONDAY, weekly, "UTC", slot=60, buffer=0)]
    assert starts == [utc(2026, 6, 15, h) for h in (9, 10, 11)]
    starts = [s for s, _ in slots_on(MONDAY, weekly, "UTC", slot=60, buffer=15)]
    assert starts == [utc(2026, 6, 15, 9), utc(2026, 6, 15, 11, 15)]  # 10:00 is too close to the 09:00 slot


def test_notice_horizon_and_range_bound_the_starts() -> None:
    def starts(**changes: object) -> list[datetime]:
        arguments: dict = dict(time_zone="UTC", slot_minutes=60, buffer_minutes=0, notice_minutes=0,
                               horizon_days=30, now=utc(2026, 6, 15, 8), start=utc(2026, 6, 15),
                               end=utc(2026, 6, 30), busy=[])
        arguments.update(changes)
        return [s for s, _ in open_slots(MORNING, **arguments)]

    assert starts() == [utc(2026, 6, 15, h) for h in (9, 10, 11)] + [utc(2026, 6, 22, h) for h in (9, 10, 11)] \
        + [utc(2026, 6, 29, h) for h in (9, 10, 11)]
    assert starts(notice_minutes=61)[0] == utc(2026, 6, 15, 10)  # 09:01 and later: 10:00 is the first
    assert starts(notice_minutes=60)[0] == utc(2026, 6, 15, 9)  # exactly at now + notice is fine
    assert starts(horizon_days=7)[-1] == utc(2026, 6, 15, 11)  # the horizon ends at 08:00 on the 22nd
    assert starts(horizon_days=7, now=utc(2026, 6, 15, 10)) == [utc(2026, 6, 15, 10), utc(2026, 6, 15, 11),
                                                                  utc(2026, 6, 22, 9), utc(2026, 6, 22, 10)]
    assert starts(start=utc(2026, 6, 15, 10), end=utc(2026, 6, 22, 10)) == [
        utc(2026, 6, 15, 10), utc(2026, 6, 15, 11), utc(2026, 6, 22, 9)]
    assert starts(now=utc(2026, 7, 1)) == []


def test_busy_sessions_widened_by_the_buffer_are_excluded() -> None:
    booked = [(utc(2026, 6, 15, 9, 0), utc(2026, 6, 15, 10, 0))]
    day = slots_on(MONDAY, MORNING, "UTC", slot=60, buffer=0, busy=booked)
    assert [s for s, _ in day] == [utc(2026, 6, 15, 10), utc(2026, 6, 15, 11)]
    # A session booked at 10:20 with a 10-minute buffer blocks 10:00 (ends 10:50 + 10 > 10:20 - 10)...
    booked = [(utc(2026, 6, 15, 10, 20), utc(2026, 6, 15, 10, 40))]
    assert [s for s, _ in slots_on(MONDAY, MORNING, "UTC", slot=50, buffer=10, busy=booked)] == [
        utc(2026, 6, 15, 9), utc(2026, 6, 15, 11)]
    # ...and one ending at 10:55 blocks the 11:00 slot too; naive datetimes are read as UTC.
    booked = [(datetime(2026, 6, 15, 10, 40), datetime(2026, 6, 15, 10, 55))]
    assert [s for s, _ in slots_on(MONDAY, MORNING, "UTC", slot=50, buffer=10, busy=booked)] == [
        utc(2026, 6, 15, 9)]


def test_bad_time_zone_and_ranges_are_invalid_input() -> None:
    base = dict(slot_minutes=60, buffer_minutes=0, notice_minutes=0, horizon_days=366, now=PAST, busy=[])
    for name in ("Europe/Atlantis", "", "localtime", "../etc/passwd"):
        with pytest.raises(DomainError) as caught:
            open_slots(MORNING, time_zone=name, start=utc(2026, 6, 1), end=utc(2026, 6, 2), **base)
        assert fields(caught) == [["input", "timeZone"]]
    with pytest.raises(DomainError) as caught:
        open_slots(MORNING, time_zone="UTC", start=utc(2026, 6, 2), end=utc(2026, 6, 2), **base)
    assert fields(caught) == [["input", "to"]]
    start = utc(2026, 6, 1)
    assert open_slots(MORNING, time_zone="UTC", start=start, end=start + timedelta(days=MAX_RANGE_DAYS), **base)
    with pytest.raises(DomainError) as caught:
        open_slots(MORNING, time_zone="UTC", start=start, end=start + timedelta(days=MAX_RANGE_DAYS, seconds=1),
                   **base)
    assert fields(caught) == [["input", "to"]]


# --- daylight-saving changes --------------------------------------------------------------------------------

NIGHT = "01:00", "04:00"


def night(day: date) -> list[WeeklyWindow]:
    return parse_weekly([{"day": day.weekday(), "start": NIGHT[0], "end": NIGHT[1]}])


@pytest.mark.parametrize(("time_zone", "day", "expected"), [
    # Berlin springs forward at 02:00 CET (01:00Z) to 03:00 CEST: 02:00 does not exist; two real hours.
    ("Europe/Berlin", date(2026, 3, 29), [utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)]),
    # Berlin falls back at 03:00 CEST (01:00Z) to 02:00 CET: 02:00 happens twice, the first (CEST) counts.
    ("Europe/Berlin", date(2026, 10, 25), [utc(2026, 10, 24, 23), utc(2026, 10, 25, 0), utc(2026, 10, 25, 2)]),
    # New York springs forward at 02:00 EST (07:00Z) to 03:00 EDT.
    ("America/New_York", date(2026, 3, 8), [utc(2026, 3, 8, 6), utc(2026, 3, 8, 7)]),
    # New York falls back at 02:00 EDT (06:00Z) to 01:00 EST: 01:00 EDT counts, 01:00 EST does not.
    ("America/New_York", date(2026, 11, 1), [utc(2026, 11, 1, 5), utc(2026, 11, 1, 7), utc(2026, 11, 1, 8)]),
])
def test_hour_slots_across_daylight_saving_changes(time_zone: str, day: date, expected: list[datetime]) -> None:
    slots = slots_on(day, night(day), time_zone)
    assert [s for s, _ in slots] == expected
    assert all(e - s == timedelta(hours=1) for s, e in slots)  # real hours, whatever the clock does
    zone = ZoneInfo(time_zone)
    assert all(s.astimezone(zone).date() == day for s, _ in slots)


def test_half_hour_slots_on_a_fall_back_day_never_repeat_an_instant() -> None:
    day = date(2026, 10, 25)
    slots = slots_on(day, night(day), "Europe/Berlin", slot=30)
    starts = [s for s, _ in slots]
    assert len(set(starts)) == len(starts) == 6  # 01:00 01:30 02:00 02:30 (CEST), 03:00 03:30 (CET)
    assert starts[3:] == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2), utc(2026, 10, 25, 2, 30)]
    assert [s.astimezone(ZoneInfo("Europe/Berlin")).fold for s in starts] == [0] * 6


def test_long_slots_across_a_spring_forward_gap_do_not_overlap() -> None:
    day = date(2026, 3, 29)
    weekly = parse_weekly([{"day": day.weekday(), "start": "00:00", "end": "06:00"}])
    slots = slots_on(day, weekly, "Europe/Berlin", slot=90)
    # Grid 00:00 01:30 03:00 04:30: 01:30 CET ends at 03:30 CEST, so 03:00 CEST is held back.
    assert [s for s, _ in slots] == [utc(2026, 3, 28, 23), utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 2, 30)]


def test_a_window_ending_in_the_gap_ends_at_the_change() -> None:
    day = date(2026, 3, 29)
    weekly = parse_weekly([{"day": day.weekday(), "start": "00:30", "end": "02:30"}])
    # Real window: 00:30 CET (23:30Z) to the change at 01:00Z: one 60-minute slot, not two.
    assert slots_on(day, weekly, "Europe/Berlin") == [(utc(2026, 3, 28, 23, 30), utc(2026, 3, 29, 0, 30))]
    # Santiago skips midnight (2026-09-06 00:00 -> 01:00): a window to 24:00 on Saturday ends at the change.
    saturday = date(2026, 9, 5)
    weekly = parse_weekly([{"day": saturday.weekday(), "start": "22:00", "end": "24:00"}])
    assert slots_on(saturday, weekly, "America/Santiago") == [
        (utc(2026, 9, 6, 2), utc(2026, 9, 6, 3)), (utc(2026, 9, 6, 3), utc(2026, 9, 6, 4))]


def test_half_hour_spring_forward_skips_the_missing_grid_starts() -> None:
    # Lord Howe Island springs forward by half an hour, 02:00 -> 02:30 (UTC+10:30 -> +11), on 2026-10-04.
    day = date(2026, 10, 4)
    starts = [s for s, _ in slots_on(day, night(day), "Australia/Lord_Howe", slot=20)]
    # 01:00 01:20 01:40 at +10:30; 02:00 and 02:20 do not exist; 02:40 to 03:40 at +11.
    assert starts == [utc(2026, 10, 3, 14, 30), utc(2026, 10, 3, 14, 50), utc(2026, 10, 3, 15, 10),
                      utc(2026, 10, 3, 15, 40), utc(2026, 10, 3, 16), utc(2026, 10, 3, 16, 20),
                      utc(2026, 10, 3, 16, 40)]


def test_the_slot_before_the_range_still_holds_back_the_first_one_in_it() -> None:
    weekly = parse_weekly([{"day": "SUNDAY", "start": "23:00", "end": "24:00"},
                           {"day": "MONDAY", "start": "00:00", "end": "03:00"}])
    arguments = dict(time_zone="UTC", slot_minutes=60, buffer_minutes=30, notice_minutes=0, horizon_days=366,
                     now=PAST, busy=[])
    # Sunday 23:00-24:00 leaves no 30 minutes before Monday 00:00; Monday's grid goes on at 01:30.
    assert [s for s, _ in open_slots(weekly, start=utc(2026, 6, 15), end=utc(2026, 6, 16), **arguments)] == [
        utc(2026, 6, 15, 1, 30)]
    assert [s for s, _ in open_slots(weekly, start=utc(2026, 6, 14), end=utc(2026, 6, 16), **arguments)] == [
        utc(2026, 6, 14, 23), utc(2026, 6, 15, 1, 30)]


# --- property: the same slots as a naive minute-by-minute reading of the rule ----------------------------------

CHANGES = {  # the instants (UTC) of the 2026 changes: spring forward, then fall back
    "Europe/Berlin": [utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)],
    "America/New_York": [utc(2026, 3, 8, 7), utc(2026, 11, 1, 6)],
    "Australia/Lord_Howe": [utc(2026, 10, 3, 15, 30), utc(2026, 4, 4, 15)],  # half an hour, at 02:00
    "America/Santiago": [utc(2026, 9, 6, 4), utc(2026, 4, 5, 3)],  # at midnight
    "Asia/Kolkata": [utc(2026, 6, 1)],  # none
}


def test_the_changes_are_where_the_property_test_looks() -> None:
    for name, instants in CHANGES.items():
        zone = ZoneInfo(name)
        for at in instants:
            before, after = (at - timedelta(seconds=1)).astimezone(zone), at.astimezone(zone)
            assert (before.utcoffset() != after.utcoffset()) == (name != "Asia/Kolkata")


MINUTE = timedelta(minutes=1)


@st.composite
def weeklies(draw: st.DrawFn, focus: tuple[int, ...] = ()) -> list[WeeklyWindow]:
    """Windows on every weekday; on the ``focus`` weekdays (a change and the day before) mostly in the small
    hours and late evening, where the changes are, and sometimes touching."""
    rules = []
    for day in range(7):
        minutes = st.integers(0, 1440)
        if day in focus:
            minutes = st.one_of(st.integers(0, 300), st.integers(1260, 1440), minutes)
        points = sorted(draw(st.sets(minutes, min_size=2 if day in focus else 0, max_size=5)))
        pairs = zip(points, points[1:], strict=False) if draw(st.booleans()) else zip(
            points[::2], points[1::2], strict=False)
        rules += [{"day": day, "start": clock(start), "end": clock(end)} for start, end in pairs]
    return parse_weekly(rules)


def naive_slots(weekly, zone, slot, buffer, notice, horizon, now, start, end, busy):  # noqa: ANN001, ANN201
    """Every minute, read on a clock in ``zone``: is it a grid start, the first time this wall time shows,
    and does every minute of the slot stay before the window's end?"""
    step = slot + buffer
    first = min(start, now) - timedelta(days=1)
    clock = []  # (local date, minutes after local midnight, fold, weekday) of every minute from ``first``
    t = first
    while t < end + slot * MINUTE:
        local = t.astimezone(zone)
        clock.append((local.date(), local.hour * 60 + local.minute, local.fold, local.weekday()))
        t += MINUTE
    candidates = []
    for n in range(int((end - first) / MINUTE)):
        day, wall, fold, weekday = clock[n]
        for window in weekly:
            if (window.day == weekday and window.start <= wall < window.end and fold == 0
                    and (wall - window.start) % step == 0
                    and all(clock[n + k][:2] < (day, window.end) for k in range(slot))):
                t = first + n * MINUTE
                candidates.append((t, t + slot * MINUTE))
    kept, previous_end = [], None
    for s, e in candidates:
        if previous_end is None or s >= previous_end + buffer * MINUTE:
            kept.append((s, e))
        previous_end = e
    pad = buffer * MINUTE
    return [(s, e) for s, e in kept
            if s >= now + notice * MINUTE and s <= now + timedelta(days=horizon) and start <= s < end
            and not any(b0 - pad < e and s < b1 + pad for b0, b1 in busy)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), slot=st.one_of(st.sampled_from([15, 30, 60, 90]), st.integers(5, 240)),
       buffer=st.one_of(st.just(0), st.integers(0, 90)), notice=st.one_of(st.just(0), st.integers(0, 2000)), horizon=st.integers(1, 6))
def test_slots_match_a_naive_minute_by_minute_reading(data: st.DataObject, slot: int, buffer: int, notice: int,
                                                      horizon: int) -> None:
    name = data.draw(st.sampled_from(sorted(CHANGES)))
    zone = ZoneInfo(name)
    change = data.draw(st.sampled_from(CHANGES[name]))
    weekday = change.astimezone(zone).weekday()
    weekly = data.draw(weeklies(focus=(weekday, (weekday - 1) % 7)))
    start = change - data.draw(st.integers(0, 1440)) * MINUTE
    end = change + data.draw(st.integers(1, 1440)) * MINUTE
    now = start - data.draw(st.integers(0, 1440)) * MINUTE
    busy = []
    for _ in range(data.draw(st.integers(0, 3))):
        at = start + data.draw(st.integers(0, 2 * 1440)) * MINUTE
        busy.append((at, at + data.draw(st.integers(5, 240)) * MINUTE))

    slots = open_slots(weekly, time_zone=name, slot_minutes=slot, buffer_minutes=buffer, notice_minutes=notice,
                       horizon_days=horizon, now=now, start=start, end=end, busy=busy)

    assert slots == naive_slots(weekly, zone, slot, buffer, notice, horizon, now, start, end, busy)
    for (s, e), following in zip(slots, [*slots[1:], None], strict=False):
        assert e - s == slot * MINUTE
        assert s >= now + notice * MINUTE and start <= s < end and s <= now + timedelta(days=horizon)
        local = s.astimezone(zone)
        wall = local.hour * 60 + local.minute
        assert local.fold == 0 and any(
            w.day == local.weekday() and w.start <= wall < w.end and (wall - w.start) % (slot + buffer) == 0
            for w in weekly)
        if following is not None:
            assert following[0] >= e + buffer * MINUTE
        assert not any(b0 - buffer * MINUTE < e and s < b1 + buffer * MINUTE for b0, b1 in busy)


@settings(max_examples=40, deadline=None)
@given(weekly=weeklies(), slot=st.integers(5, 240), buffer=st.integers(0, 300), split=st.integers(1, 6 * 1440 - 1))
def test_a_range_gets_the_same_slots_as_its_parts(weekly: list[WeeklyWindow], slot: int, buffer: int,
                                                   split: int) -> None:
    arguments = dict(time_zone="Europe/Berlin", slot_minutes=slot, buffer_minutes=buffer, notice_minutes=0,
                     horizon_days=366, now=PAST, busy=[])
    start, end = utc(2026, 3, 26), utc(2026, 4, 1)
    middle = start + split * MINUTE
    whole = open_slots(weekly, start=start, end=end, **arguments)
    assert whole == open_slots(weekly, start=start, end=middle, **arguments) + open_slots(
        weekly, start=middle, end=end, **arguments)
