"""Annual leave arithmetic, pure (no database): leave years, NHS Agenda for Change entitlement by length of service,
pro rata for part-time (FTE) and for a start inside the year, and what a request costs. All in whole minutes.

* A leave year starts on the trust's (month, day) — 1 April by default — and is named by the calendar year it starts
  in: with 1 April, leave year 2026 runs 1 Apr 2026 – 31 Mar 2027.
* Length of service is counted in whole years completed on the leave year's first day: under 5 years → 27 days,
  5 to under 10 → 29, 10 or more → 33 (the trust may change the numbers; a person may have their own), plus the
  bank holidays (8), each day being the trust's full-time day (7 h 30 min).
* Part-time: the full-time hours × FTE. A person whose service starts inside the leave year gets the share of the
  year left from that day. Both are rounded to the nearest quarter-hour.
* A request costs, for each Monday–Friday in it, the full-time day × FTE (weekends cost nothing); someone booking the
  shifts they would work may give the hours instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

QUARTER_HOUR = 15


@dataclass(frozen=True)
class Rules:
    year_start_month: int = 4
    year_start_day: int = 1
    day_minutes: int = 450
    days_under_5: int = 27
    days_5_to_10: int = 29
    days_over_10: int = 33
    bank_holidays: int = 8
    max_carry_minutes: int = 2250


@dataclass(frozen=True)
class Person:
    service_start: date | None = None
    fte_thousandths: int = 1000
    days_override: int | None = None


def leave_year_of(day: date, rules: Rules) -> int:
    return day.year if (day.month, day.day) >= (rules.year_start_month, rules.year_start_day) else day.year - 1


def year_bounds(year: int, rules: Rules) -> tuple[date, date]:
    first = date(year, rules.year_start_month, rules.year_start_day)
    return first, date(year + 1, rules.year_start_month, rules.year_start_day) - timedelta(days=1)


def years_of_service(service_start: date | None, on: date) -> int:
    if service_start is None or service_start > on:
        return 0
    years = on.year - service_start.year
    if (on.month, on.day) < (service_start.month, service_start.day):
        years -= 1
    return years


def base_days(person: Person, year: int, rules: Rules) -> int:
    """Annual days before bank holidays."""
    if person.days_override is not None:
        return person.days_override
    years = years_of_service(person.service_start, year_bounds(year, rules)[0])
    return rules.days_under_5 if years < 5 else rules.days_5_to_10 if years < 10 else rules.days_over_10


def _round_quarter(numerator: int, denominator: int) -> int:
    """numerator / denominator minutes to the nearest quarter-hour (halves up), in integers."""
    quarters = (2 * numerator + QUARTER_HOUR * denominator) // (2 * QUARTER_HOUR * denominator)
    return quarters * QUARTER_HOUR


def entitlement_minutes(person: Person, year: int, rules: Rules) -> int:
    full_time = (base_days(person, year, rules) + rules.bank_holidays) * rules.day_minutes
    first, last = year_bounds(year, rules)
    year_days = (last - first).days + 1
    if person.service_start is not None and person.service_start > last:
        return 0
    left = year_days
    if person.service_start is not None and person.service_start > first:
        left = (last - person.service_start).days + 1
    return _round_quarter(full_time * person.fte_thousandths * left, 1000 * year_days)


def weekdays(first: date, last: date) -> int:
    return sum(1 for i in range((last - first).days + 1) if (first + timedelta(days=i)).weekday() < 5)


def request_minutes(first: date, last: date, person: Person, rules: Rules) -> int:
    return _round_quarter(weekdays(first, last) * rules.day_minutes * person.fte_thousandths, 1000)


def hours_words(minutes: int) -> str:
    """450 -> "7 h 30 min"; -90 -> "−1 h 30 min"."""
    sign, minutes = ("−", -minutes) if minutes < 0 else ("", minutes)
    h, m = divmod(minutes, 60)
    return f"{sign}{h} h {m:02d} min" if m else f"{sign}{h} h"


# ---------------------------------------------------------------------------------------------------- carry-over


@dataclass(frozen=True)
class CarryOver:
    """What is carried into a leave year from the one before (``from_year``), in minutes.

    ``unused`` is the year before's entitlement + its own carry-over − its approved annual leave (negative when it was
    overdrawn); ``worked_out`` is that clamped to 0 … ``cap`` (no borrowing from the next year); a coordinator's
    ``recorded`` figure, when there is one, wins."""

    from_year: int
    unused: int
    cap: int
    worked_out: int
    recorded: int | None = None

    @property
    def minutes(self) -> int:
        return self.worked_out if self.recorded is None else self.recorded

    @property
    def overdraft(self) -> int:
        return max(0, -self.unused)


def year_label(year: int) -> str:
    """2025 -> "2025/26"."""
    return f"{year}/{(year + 1) % 100:02d}"


def carry_cap(person: Person, rules: Rules) -> int:
    """The trust's carry-over limit (a full-time figure, 5 days by default) pro rata to FTE, to the quarter-hour."""
    return _round_quarter(rules.max_carry_minutes * person.fte_thousandths, 1000)


def carry_over(year: int, person: Person, rules: Rules, *, first_year: int, taken: dict[int, int],
               recorded: dict[int, int]) -> CarryOver:
    """Carry-over into leave ``year``, worked out year by year from ``first_year`` (the first leave year whose leave
    is recorded here: nothing is worked out into it, only a coordinator's figure counts). ``taken``: approved annual
    leave minutes per leave year; ``recorded``: coordinators' carry-over figures per leave year they go into."""
    cap = carry_cap(person, rules)
    start = min(year, first_year)
    result = CarryOver(start - 1, 0, cap, 0, recorded.get(start))
    for y in range(start, year):
        unused = entitlement_minutes(person, y, rules) + result.minutes - taken.get(y, 0)
        result = CarryOver(y, unused, cap, min(max(unused, 0), cap), recorded.get(y + 1))
    return result


def carry_words(carry: CarryOver) -> str:
    """The line shown with a balance: "carried over from 2025/26: 37 h 30 min (cap 37 h 30 min)"."""
    label = year_label(carry.from_year)
    text = f"carried over from {label}: {hours_words(carry.minutes)}"
    if carry.recorded is not None:
        return (f"{text} (recorded by a coordinator, which wins; worked out: {hours_words(carry.worked_out)}, "
                f"cap {hours_words(carry.cap)})")
    if carry.overdraft:
        return f"{text} ({label} overdrawn by {hours_words(carry.overdraft)}; cap {hours_words(carry.cap)})"
    return f"{text} (cap {hours_words(carry.cap)})"
