"""One home for time zones and local wall-clock <-> UTC conversion.

Store UTC, compute in the team's zone. A wall-clock time read in a zone may not exist (the spring-forward gap: 01:30
on the last Sunday of March in London) or may exist twice (the autumn fold: 01:30 on the last Sunday of October);
Python silently picks one, a rota must not. ``local_time_problem`` names both, and every refusal is built on it:
``localize`` / ``parse_instant`` / ``shift_instants`` here (API and forms, a ``ValidationFailed`` naming the problem,
unless the caller gave an explicit UTC offset); ``handover.access.local_to_utc`` and the pure rules engine's
``rota.compliance.rules.local_datetime`` (``ValueError``) convert through ``localize`` and word the refusal for their
own readers. The rules engine's cached helpers convert through ``wall_clock_instant`` and ``utc_offset_at``.

Pure: the standard library and ``core.errors`` (a leaf of error types) only — no Flask, no SQLAlchemy, no database —
so the rules engine can use it and stay pure (an import-linter contract in pyproject.toml checks this).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from core.errors import ValidationFailed
from core.limits import FIRST_YEAR, LAST_YEAR

DEFAULT_ZONE = "Europe/London"  # the zone of a team that names none (and the default for new teams)

MIN_YEAR, MAX_YEAR = FIRST_YEAR, LAST_YEAR  # anything outside is a typo, and keeps date arithmetic far from overflow

NONEXISTENT, AMBIGUOUS = "nonexistent", "ambiguous"


@lru_cache(maxsize=64)
def zone(tz) -> ZoneInfo:
    """A zone from its IANA name (or a ZoneInfo, returned as it is)."""
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(str(tz))


def local_time_problem(naive: datetime, tz) -> str | None:
    """``NONEXISTENT`` if wall-clock ``naive`` falls in ``tz``'s spring-forward gap, ``AMBIGUOUS`` if it happens twice
    (autumn fold), else None."""
    z = zone(tz)
    first = naive.replace(tzinfo=z, fold=0)
    # A time in the gap does not survive a round trip through UTC.
    if first.astimezone(UTC).astimezone(z).replace(tzinfo=None) != naive:
        return NONEXISTENT
    if first.utcoffset() != naive.replace(tzinfo=z, fold=1).utcoffset():
        return AMBIGUOUS
    return None


def wall_clock_instant(naive: datetime, tz) -> datetime:
    """Wall-clock ``naive`` in ``tz`` as an aware UTC instant *without refusing*: the first of the two in the autumn
    fold, and in the spring gap the time as if the clocks had not changed yet (Python's ``fold=0`` rule). For
    arithmetic over stored shifts (the rules engine's windows and nights), never for reading what a person typed:
    that goes through :func:`localize`, which refuses both."""
    return naive.replace(tzinfo=zone(tz), fold=0).astimezone(UTC)


def utc_offset_at(epoch_seconds: float, tz) -> timedelta:
    """The zone's UTC offset in force at an instant given as seconds since 1970-01-01 UTC."""
    return datetime.fromtimestamp(epoch_seconds, zone(tz)).utcoffset()


def offset_text(aware: datetime) -> str:
    """The UTC offset as ISO 8601 text: ``+01:00``."""
    off = aware.utcoffset() or timedelta(0)
    sign = "+" if off >= timedelta(0) else "-"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def to_local(instant: datetime, tz) -> datetime:
    """Local wall-clock time; an instant at the very edge of the calendar (year 9999) stays in UTC rather than
    overflowing."""
    try:
        return instant.astimezone(zone(tz))
    except OverflowError:
        return instant


def format_local(instant: datetime, tz, fmt: str = "%a %d %b %H:%M", *, name_zone: bool = True) -> str:
    """A stored UTC instant as wall-clock text in ``tz``, followed by the zone's name at that instant ("GMT" in
    winter, "BST" in summer for London) unless ``name_zone`` is false: 'Sun 25 Oct 01:30 GMT'."""
    local = to_local(instant if instant.tzinfo else instant.replace(tzinfo=UTC), tz)
    text = local.strftime(fmt)
    return f"{text} {local.tzname()}" if name_zone else text


def local_date(instant: datetime, tz) -> date:
    return instant.astimezone(zone(tz)).date()


def day_bounds(first: date, last: date, tz) -> tuple[datetime, datetime]:
    """UTC instants of local midnight at the start of ``first`` and the end of ``last`` (midnight never falls in a
    gap in the zones we serve; if it did, the earlier valid instant is used)."""
    z = zone(tz)
    lo = datetime.combine(first, time.min).replace(tzinfo=z).astimezone(UTC)
    hi = datetime.combine(last + timedelta(days=1), time.min).replace(tzinfo=z).astimezone(UTC)
    return lo, hi


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
    if problem is None:
        return wall_clock_instant(naive, z)
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
