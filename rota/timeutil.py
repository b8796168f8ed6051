"""Local wall-clock times to UTC instants, honestly, refused with a ``ValidationFailed`` the API and forms show.

The zone handling itself lives in ``core.timeutil`` (one home; its helpers are re-exported here for the rota's
callers). This module adds only the refusals as domain errors: a local time that does not exist (spring-forward
gap) or exists twice (autumn fold) is refused with a message naming the problem, unless the caller gave an explicit
UTC offset. It stays out of ``core.timeutil`` because ``core.errors`` imports Flask and the database, and the pure
rules engine imports ``core.timeutil``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from core.errors import ValidationFailed
from core.timeutil import (
    AMBIGUOUS,
    MAX_YEAR,
    MIN_YEAR,
    NONEXISTENT,
    day_bounds,
    local_date,
    local_time_problem,
    offset_text,
    to_local,
    zone,
)

__all__ = ["AmbiguousLocalTime", "LocalTimeError", "MAX_YEAR", "MIN_YEAR", "NonexistentLocalTime", "ValidationFailed",
           "day_bounds", "local_date", "localize", "parse_instant", "shift_instants", "to_local", "zone"]


class LocalTimeError(ValidationFailed):
    """A local time that cannot be turned into one instant. ``code`` is ``nonexistent`` or ``ambiguous``."""

    def __init__(self, detail: str, *, code: str, field: str | None = None):
        super().__init__(detail, errors={field: [detail]} if field else None, extra={"code": code})
        self.code = code
        self.field = field


class NonexistentLocalTime(LocalTimeError):
    pass


class AmbiguousLocalTime(LocalTimeError):
    pass


def _fmt(naive: datetime) -> str:
    return naive.strftime("%H:%M on %a %d %b %Y")


def localize(naive: datetime, tz, *, field: str | None = None) -> datetime:
    """Wall-clock ``naive`` in ``tz`` -> aware UTC instant. Refuses nonexistent and ambiguous local times."""
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    z = zone(tz)
    first = naive.replace(tzinfo=z, fold=0)
    problem = local_time_problem(naive, z)
    if problem == NONEXISTENT:
        raise NonexistentLocalTime(
            f"{_fmt(naive)} does not exist in {z.key}: the clocks go forward then. "
            f"Choose another time, or give an explicit UTC offset (e.g. {naive:%Y-%m-%dT%H:%M}{offset_text(first)}).",
            code="nonexistent", field=field)
    if problem == AMBIGUOUS:
        second = naive.replace(tzinfo=z, fold=1)
        raise AmbiguousLocalTime(
            f"{_fmt(naive)} happens twice in {z.key}: the clocks go back then. "
            f"Give an explicit UTC offset ({offset_text(first)} for the first, {offset_text(second)} for the second).",
            code="ambiguous", field=field)
    return first.astimezone(UTC)


def parse_instant(value: str | datetime, tz, *, field: str | None = None) -> datetime:
    """ISO 8601 text (or a datetime) -> aware UTC instant.

    With an offset (``Z``, ``+01:00``) the instant is taken as given; without one it is read as wall-clock time in
    ``tz`` and refused if it does not exist or is ambiguous there.
    """
    if isinstance(value, datetime):
        dt = value
    else:
        text = (value or "").strip()
        try:
            dt = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            msg = f"'{text[:40]}' is not a date and time; use ISO 8601 such as 2026-03-02T07:00."
            raise ValidationFailed(msg, errors={field: [msg]} if field else None)
    if not MIN_YEAR <= dt.year <= MAX_YEAR:
        msg = f"Use a date between {MIN_YEAR} and {MAX_YEAR}."
        raise ValidationFailed(msg, errors={field: [msg]} if field else None)
    return localize(dt, tz, field=field)


def shift_instants(day: date, start: time, duration_minutes: int, tz, *, field: str | None = None):
    """Start and end instants of a shift type worked on local ``day``.

    The end is the nominal wall-clock end (start + duration on the clock), so a 19:30 night ending 08:00 lasts its
    true 11 h 30 min or 13 h 30 min on clock-change nights, which is what the ward actually works.
    """
    naive_start = datetime.combine(day, start)
    starts = localize(naive_start, tz, field=field)
    naive_end = naive_start + timedelta(minutes=duration_minutes)
    ends = localize(naive_end, tz, field=field)
    return starts, ends
