"""One home for time zones and local wall-clock <-> UTC conversion.

Store UTC, compute in the team's zone. A wall-clock time read in a zone may not exist (the spring-forward gap: 01:30
on the last Sunday of March in London) or may exist twice (the autumn fold: 01:30 on the last Sunday of October);
Python silently picks one, a rota must not. ``local_time_problem`` names both, and every package's refusal is built
on it: ``rota.timeutil`` (API and forms, ``ValidationFailed``), ``handover.services.local_to_utc`` and the pure
rules engine's ``rota.rules.local_datetime`` (``ValueError``) each word the refusal for their own readers.

Pure: the standard library only (no Flask, no SQLAlchemy, no database, no ``core.errors``), so the rules engine can
use it and stay pure (an import-linter contract in pyproject.toml checks this).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

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


def offset_text(aware: datetime) -> str:
    """The UTC offset as ISO 8601 text: ``+01:00``."""
    off = aware.utcoffset() or timedelta(0)
    sign = "+" if off >= timedelta(0) else "-"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def to_local(instant: datetime, tz) -> datetime:
    return instant.astimezone(zone(tz))


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
