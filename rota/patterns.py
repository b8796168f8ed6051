"""Repeating rota patterns -> (local day, shift code, person) occurrences. Pure: no Flask, no database.

Two shapes cover what wards and doctors' rotas use:

* **Line pattern** (doctors' 6-week line rota, or a nursing template): a cycle of codes, one per day, whose length
  is a whole number of weeks; ``-`` (or empty) is a day off. Person *i* works the cycle offset by *i* weeks, so
  six doctors on a 6-week cycle each start on a different line and every line is worked every week.
* **Rule**: a shift code on the days an RFC 5545 recurrence rule gives, e.g. "nights Mon–Wed every other week"
  is ``{"code": "N", "freq": "weekly", "interval": 2, "weekdays": ["MO", "TU", "WE"]}``; the person may be empty
  (an open shift to be filled later).

Days are expanded with ``dateutil.rrule`` so intervals, weekday sets and ``count`` behave exactly as in iCalendar.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from dateutil.rrule import DAILY, FR, MO, MONTHLY, SA, SU, TH, TU, WE, WEEKLY, rrule

WEEKDAYS = {"MO": MO, "TU": TU, "WE": WE, "TH": TH, "FR": FR, "SA": SA, "SU": SU}
FREQS = {"daily": DAILY, "weekly": WEEKLY, "monthly": MONTHLY}
OFF = {"", "-", "off", "OFF", "."}
MAX_DAYS = 7 * 60  # a pattern run covers at most 60 weeks


class PatternError(ValueError):
    """A pattern that cannot be expanded; the message says why, for a person."""


@dataclass(frozen=True)
class Occurrence:
    day: date
    code: str
    person_id: int | None


def parse_cycle(text: str | Sequence[str]) -> list[str]:
    """``"E E L - - N N"`` (or a list) -> codes; ``-`` means a day off. Length must be whole weeks."""
    items = text.replace(",", " ").split() if isinstance(text, str) else [str(c).strip() for c in text]
    codes = ["" if c in OFF else c.upper() for c in items]
    if not codes:
        raise PatternError("The pattern is empty: give one code per day, '-' for a day off.")
    if len(codes) % 7:
        raise PatternError(f"The pattern has {len(codes)} days; it must be whole weeks (7, 14, 21 … days).")
    if len(codes) > 7 * 26:
        raise PatternError("A pattern cycle can be at most 26 weeks long.")
    return codes


def _check_range(first: date, last: date) -> None:
    if last < first:
        raise PatternError("The last day is before the first day.")
    if (last - first).days + 1 > MAX_DAYS:
        raise PatternError(f"A pattern run can cover at most {MAX_DAYS // 7} weeks.")


def _days(first: date, last: date) -> Iterator[date]:
    _check_range(first, last)
    for dt in rrule(DAILY, dtstart=datetime.combine(first, datetime.min.time()),
                    until=datetime.combine(last, datetime.min.time())):
        yield dt.date()


def line_occurrences(cycle: Sequence[str], person_ids: Sequence[int | None], first: date, last: date, *,
                     anchor: date | None = None) -> list[Occurrence]:
    """Person *i* works ``cycle`` shifted by *i* weeks. ``anchor`` is the day the cycle's line 1 starts
    (default ``first``), so a rota extended later continues the same lines."""
    anchor = anchor or first
    n = len(cycle)
    out = []
    for day in _days(first, last):
        base = (day - anchor).days
        for i, pid in enumerate(person_ids):
            code = cycle[(base + 7 * i) % n]
            if code:
                out.append(Occurrence(day, code, pid))
    return out


def rule_occurrences(code: str, first: date, last: date, *, freq: str = "weekly", interval: int = 1,
                     weekdays: Sequence[str] = (), count: int | None = None,
                     person_id: int | None = None) -> list[Occurrence]:
    if freq not in FREQS:
        raise PatternError(f"Unknown frequency '{freq}': use daily, weekly or monthly.")
    if not 1 <= interval <= 52:
        raise PatternError("The interval must be between 1 and 52.")
    try:
        byweekday = [WEEKDAYS[w.upper()] for w in weekdays] or None
    except KeyError:
        raise PatternError("Weekdays are MO, TU, WE, TH, FR, SA, SU.")
    _check_range(first, last)
    rule = rrule(FREQS[freq], interval=interval, byweekday=byweekday, count=count,
                 dtstart=datetime.combine(first, datetime.min.time()),
                 until=None if count else datetime.combine(last, datetime.min.time()))
    return [Occurrence(dt.date(), code.upper(), person_id) for dt in rule if dt.date() <= last]


def expand(pattern: dict, first: date, last: date) -> list[Occurrence]:
    """A pattern as the API and the form send it (see module doc) -> occurrences, in day order."""
    out: list[Occurrence] = []
    if pattern.get("cycle") is not None:
        cycle = parse_cycle(pattern["cycle"])
        people = list(pattern.get("person_ids") or [])
        if not people:
            raise PatternError("Choose at least one person for the line pattern.")
        out += line_occurrences(cycle, people, first, last, anchor=pattern.get("anchor"))
    for rule in pattern.get("rules") or ():
        out += rule_occurrences(rule["code"], first, last, freq=rule.get("freq", "weekly"),
                                interval=rule.get("interval", 1), weekdays=rule.get("weekdays", ()),
                                count=rule.get("count"), person_id=rule.get("person_id"))
    if not out and pattern.get("cycle") is None and not pattern.get("rules"):
        raise PatternError("Give a line pattern (cycle) or at least one rule.")
    out.sort(key=lambda o: (o.day, o.code, o.person_id or 0))
    return out
