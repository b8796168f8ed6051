"""Local wall-clock times: the clock changes are refused by name unless an offset is given."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from core import timeutil

LONDON = "Europe/London"


def test_spring_gap_is_refused_by_name():
    with pytest.raises(timeutil.NonexistentLocalTime, match="does not exist in Europe/London"):
        timeutil.parse_instant("2026-03-29T01:30", LONDON, field="starts_at")


def test_autumn_fold_is_refused_with_both_offsets_offered():
    with pytest.raises(timeutil.AmbiguousLocalTime) as exc:
        timeutil.parse_instant("2026-10-25T01:30", LONDON)
    assert "happens twice" in exc.value.detail and "+01:00" in exc.value.detail and "+00:00" in exc.value.detail


def test_explicit_offset_resolves_the_fold():
    first = timeutil.parse_instant("2026-10-25T01:30+01:00", LONDON)
    second = timeutil.parse_instant("2026-10-25T01:30+00:00", LONDON)
    assert second - first == timedelta(hours=1)
    assert timeutil.parse_instant("2026-03-29T01:30Z", LONDON) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_ordinary_local_times_follow_summer_time():
    assert timeutil.parse_instant("2026-07-01T07:00", LONDON) == datetime(2026, 7, 1, 6, tzinfo=UTC)
    assert timeutil.parse_instant("2026-01-05T07:00", LONDON) == datetime(2026, 1, 5, 7, tzinfo=UTC)


def test_nights_across_the_changes_have_their_true_length():
    s, e = timeutil.shift_instants(date(2026, 3, 28), time(19, 30), 750, LONDON)
    assert e - s == timedelta(hours=11, minutes=30)
    s, e = timeutil.shift_instants(date(2026, 10, 24), time(19, 30), 750, LONDON)
    assert e - s == timedelta(hours=13, minutes=30)


@pytest.mark.parametrize("bad", ["", "tomorrow", "2026-13-01T07:00", "9999-12-31T23:00-05:00", "0001-01-01T00:00"])
def test_garbage_and_far_dates_are_validation_errors(bad):
    with pytest.raises(timeutil.ValidationFailed):
        timeutil.parse_instant(bad, LONDON, field="starts_at")
