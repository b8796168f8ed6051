"""The two places that convert local time for their own readers — a handover's start (``handover.access``) and the
pure rules engine — convert through ``core.timeutil`` and still say exactly what they said before, across the
March gap and the October fold, in London and in another zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from core import timeutil
from core.errors import ValidationFailed
from handover.access import local_to_utc
from rota.compliance import rules

LONDON, NEW_YORK = timeutil.zone("Europe/London"), timeutil.zone("America/New_York")


@pytest.mark.parametrize(("naive", "tz", "detail", "field_message"), [
    (datetime(2026, 3, 29, 1, 30), LONDON, "That local time does not exist (the clocks go forward).",
     "01:30 does not exist on 29 Mar in Europe/London. Give a time with a UTC offset."),
    (datetime(2026, 3, 29, 1, 0), LONDON, "That local time does not exist (the clocks go forward).",
     "01:00 does not exist on 29 Mar in Europe/London. Give a time with a UTC offset."),
    (datetime(2026, 10, 25, 1, 30), LONDON, "That local time happens twice (the clocks go back).",
     "01:30 happens twice on 25 Oct in Europe/London. Give a time with a UTC offset, e.g. +01:00 or +00:00."),
    (datetime(2026, 3, 8, 2, 15), NEW_YORK, "That local time does not exist (the clocks go forward).",
     "02:15 does not exist on 08 Mar in America/New_York. Give a time with a UTC offset."),
    (datetime(2026, 11, 1, 1, 45), NEW_YORK, "That local time happens twice (the clocks go back).",
     "01:45 happens twice on 01 Nov in America/New_York. Give a time with a UTC offset, e.g. +01:00 or +00:00."),
])
def test_a_handover_start_in_a_clock_change_is_refused_in_the_same_words(naive, tz, detail, field_message):
    with pytest.raises(ValidationFailed) as refused:
        local_to_utc(naive, tz, "starts_at")
    assert refused.value.detail == detail
    assert refused.value.errors == {"starts_at": [field_message]}
    assert type(refused.value) is ValidationFailed  # the handover's own refusal, not timeutil's wording


def test_a_handover_due_time_names_its_own_field():
    with pytest.raises(ValidationFailed) as refused:
        local_to_utc(datetime(2026, 3, 29, 1, 30), LONDON, "actions")
    assert list(refused.value.errors) == ["actions"]


@pytest.mark.parametrize(("naive", "utc"), [
    (datetime(2026, 3, 29, 0, 59), datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),  # just before the gap: GMT
    (datetime(2026, 3, 29, 2, 0), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),  # just after it: BST
    (datetime(2026, 10, 25, 0, 59), datetime(2026, 10, 24, 23, 59, tzinfo=UTC)),  # before the fold: BST
    (datetime(2026, 10, 25, 2, 0), datetime(2026, 10, 25, 2, 0, tzinfo=UTC)),  # after it: GMT
])
def test_a_handover_start_either_side_of_a_clock_change_is_the_right_instant(naive, utc):
    assert local_to_utc(naive, LONDON) == utc


def test_a_handover_start_with_an_offset_is_taken_as_given_even_in_the_fold():
    given = datetime(2026, 10, 25, 1, 30, tzinfo=timezone(timedelta(hours=1)))
    assert local_to_utc(given, LONDON) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_the_rules_engine_refuses_in_its_own_words():
    with pytest.raises(ValueError, match=r"^29 Mar 2026 01:30 does not exist in Europe/London \(the clocks go "
                                         r"forward\)$"):
        rules.local_datetime(date(2026, 3, 29), time(1, 30), "Europe/London")
    with pytest.raises(ValueError, match=r"^25 Oct 2026 01:30 is ambiguous in Europe/London \(the clocks go back\): "
                                         r"give a UTC offset$"):
        rules.local_datetime(date(2026, 10, 25), time(1, 30), "Europe/London")
    assert rules.local_datetime(date(2026, 3, 29), time(7), "Europe/London") == datetime(2026, 3, 29, 6, tzinfo=UTC)


@pytest.mark.parametrize("tz", ["Europe/London", "America/New_York", "Australia/Sydney"])
def test_the_rules_engines_cached_local_instants_match_python_across_a_year(tz):
    """What the engine's cached helpers answer for every hour and every UTC day of 2026 is what a direct conversion
    gives (the earlier instant in a fold; in a gap, the time as if the clocks had not changed yet)."""
    z = timeutil.zone(tz)
    day = date(2026, 1, 1)
    while day.year == 2026:
        for hour in range(24):
            expected = int(datetime.combine(day, time(hour), tzinfo=z).timestamp())
            assert rules._local_instant(tz, day.toordinal(), hour) == expected, (day, hour)
        utc_day = (day - date(1970, 1, 1)).days
        offsets = {datetime.fromtimestamp(utc_day * 86400 + s, z).utcoffset() for s in (0, 86399)}
        expected_offset = int(offsets.pop().total_seconds()) if len(offsets) == 1 else None
        assert rules._day_offset(tz, utc_day) == expected_offset, day
        day += timedelta(days=1)
