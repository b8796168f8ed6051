"""The auto-roster's problem and draft (pure data: no Flask, no database; ``docs/auto-roster.md``).

The service turns a rota period into a :class:`Problem` of plain rows (people, shift types, requirement clauses with
who counts towards each, leave, pins, requests, preferences); :func:`rota.autoroster.model.solve` gives a
:class:`Draft` back: the assignments, each unfilled requirement with why, each refused request with why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from core import timeutil
from rota.compliance import rules


@dataclass(frozen=True)
class ShiftKind:
    id: int
    code: str
    name: str
    start: time
    minutes: int
    kind: str = "day"  # day | night | on_call

    @property
    def night(self) -> bool:
        return self.kind == "night"

    @property
    def long(self) -> bool:
        return self.minutes > 10 * 60


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    label: str = ""  # "Band 5 registered nurse"
    weekly_minutes: int = 2250  # contracted hours a week (37.5 h x FTE)
    rest_after_nights_hours: int = 0  # 46 under the 2016 doctors' contract
    max_nights: int = 4
    max_long: int = 4
    max_days: int = 7
    weekly_cap_hours: int = 48  # in any 7 consecutive days; replaced by the engine's window for doctors (below)
    # The rules engine's *blocking* rules for this person (their profile's rule sets: TCS 2016 for doctors in
    # training, WTR): the model turns each into hard constraints with the engine's own thresholds and classification.
    rules: tuple = ()


@dataclass(frozen=True)
class Clause:
    """A requirement clause on one day: ``count`` of ``who`` on shift ``type_id``; ``eligible`` people count."""

    requirement_id: int
    type_id: int
    day: date
    count: int
    who: str  # "registered nurses at Band 6 or above"
    eligible: frozenset


@dataclass(frozen=True)
class Request:
    user_id: int
    day: date
    kind: str  # want | avoid
    type_id: int | None = None  # None with avoid: the whole day
    priority: int = 2


@dataclass(frozen=True)
class Preference:
    user_id: int
    kind: str  # prefers_shift | avoids_shift | fixed_day_off | no_nights
    type_id: int | None = None
    weekday: int | None = None
    hard: bool = False  # a flexible-working agreement


@dataclass
class Problem:
    days: list[date]
    tz: str
    types: list[ShiftKind]
    people: list[Person]
    clauses: list[Clause] = field(default_factory=list)
    leave: set = field(default_factory=set)  # (user_id, day)
    pins: dict = field(default_factory=dict)  # (user_id, day) -> type_id, or None for a busy day (hand-placed shift)
    fixed: list = field(default_factory=list)  # (user_id, starts_at, ends_at, label): other shifts, e.g. just before
    requests: list[Request] = field(default_factory=list)
    preferences: list[Preference] = field(default_factory=list)
    min_rest_hours: int = 11
    hours_tolerance_minutes: int = 450
    # (user_id, starts_at, ends_at, kind): shifts worked before the period (the fairness window and the engine's
    # reach, e.g. 26 weeks of weekends for 1 in 3). They count towards the spread of nights / weekends / on-calls
    # and towards the engine's windows that reach into the period.
    history: list = field(default_factory=list)
    fair_weeks: int = 0  # how many weeks before the period count towards the spread (0: the period only)


@dataclass
class Assignment:
    user_id: int
    day: date
    type_id: int
    starts_at: datetime
    ends_at: datetime
    pinned: bool = False


@dataclass
class Draft:
    status: str  # optimal | feasible | infeasible | unknown
    assignments: list[Assignment]
    gaps: list[dict]
    refused: list[dict]
    honoured: int
    summary: dict


def instants(day: date, st: ShiftKind, tz: str) -> tuple[datetime, datetime]:
    """Real start and end of a shift type on a local day (a clock-change night is an hour longer or shorter)."""
    return timeutil.shift_instants(day, st.start, st.minutes, tz)



def blocking_rules(rule_sets) -> tuple:
    """The rules engine's blocking rules in these rule sets (names or RuleSets): what ``Person.rules`` takes."""
    sets = [rules.RULE_SETS[rs] if isinstance(rs, str) else rs for rs in rule_sets]
    return tuple(r for rs in sets for r in rs.rules if r.severity == rules.BLOCK)
