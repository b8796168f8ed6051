"""The one home of zone handling: the clock changes are named, never guessed."""

from datetime import UTC, date, datetime

from core import timeutil

LONDON = timeutil.DEFAULT_ZONE


def test_clock_changes_are_named():
    assert timeutil.local_time_problem(datetime(2026, 3, 29, 1, 30), LONDON) == timeutil.NONEXISTENT
    assert timeutil.local_time_problem(datetime(2026, 10, 25, 1, 30), LONDON) == timeutil.AMBIGUOUS
    assert timeutil.local_time_problem(datetime(2026, 3, 29, 2, 0), LONDON) is None
    assert timeutil.local_time_problem(datetime(2026, 10, 25, 2, 0), LONDON) is None


def test_local_days_span_the_clock_change_in_true_hours():
    lo, hi = timeutil.day_bounds(date(2026, 3, 29), date(2026, 3, 29), LONDON)  # a 23-hour day
    assert (lo, hi) == (datetime(2026, 3, 29, 0, tzinfo=UTC), datetime(2026, 3, 29, 23, tzinfo=UTC))
    assert timeutil.local_date(datetime(2026, 7, 1, 23, 30, tzinfo=UTC), LONDON) == date(2026, 7, 2)
    assert timeutil.offset_text(timeutil.to_local(lo, LONDON)) == "+00:00"
    assert timeutil.offset_text(timeutil.to_local(hi, LONDON)) == "+01:00"
