"""The auto-roster's CP-SAT model (pure: no Flask, no database; ``docs/auto-roster.md`` describes it).

The service turns a rota period into a :class:`Problem` of plain rows (people, shift types, requirement clauses with
who counts towards each, leave, pins, requests, preferences) and gets a :class:`Draft` back: the assignments, each
unfilled requirement with why, each refused request with why. :func:`judge` then runs the rules engine over every
person's draft; the engine, not this model, has the last word.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from ortools.sat.python import cp_model

from core import timeutil
from rota.compliance import rules

WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

# Weights of the objective (docs/auto-roster.md). A missing person on a requirement outweighs everything else.
W_GAP = 1000
W_REQUEST = {1: 60, 2: 30, 3: 15}  # a refused request, by priority (1 = most important)
W_PREFERENCE = 4  # a standing (soft) preference not met, per shift
W_HOURS = 3  # per half hour beyond the tolerance either side of the contracted hours
W_FAIR = 8  # per night / weekend / on-call shift between the most and the least loaded person (with the window before)
W_ISOLATED = 10  # an isolated single day off (work, one day off, work)


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


def _agreement_rules_out(a: Preference, d: date, t: ShiftKind) -> bool:
    return ((a.kind == "fixed_day_off" and a.weekday == d.weekday()) or (a.kind == "no_nights" and t.night)
            or (a.kind == "avoids_shift" and a.type_id == t.id)
            or (a.kind == "prefers_shift" and a.type_id is not None and a.type_id != t.id))


def _weekend(day: date) -> bool:
    return day.weekday() >= 5


# The fairness spreads: which (local start day, shift kind) count, for the period and the window before it.
SPREADS = {"nights": lambda d, kind: kind == "night", "weekends": lambda d, kind: _weekend(d),
           "on_call": lambda d, kind: kind == "on_call"}


def blocking_rules(rule_sets) -> tuple:
    """The rules engine's blocking rules in these rule sets (names or RuleSets): what ``Person.rules`` takes."""
    sets = [rules.RULE_SETS[rs] if isinstance(rs, str) else rs for rs in rule_sets]
    return tuple(r for rs in sets for r in rs.rules if r.severity == rules.BLOCK)


def _day(day: date) -> str:
    return f"{WEEKDAY_NAMES[day.weekday()]} {day:%d %b}"


class _Model:
    def __init__(self, p: Problem):
        self.p = p
        self.m = cp_model.CpModel()
        self.types = {t.id: t for t in p.types}
        self.when = {(d, t.id): instants(d, t, p.tz) for d in p.days for t in p.types}
        self.x = {(u.id, d, t.id): self.m.NewBoolVar(f"x_{u.id}_{d:%m%d}_{t.id}")
                  for u in p.people for d in p.days for t in p.types}
        self.work = {}
        self.why_not: dict = defaultdict(list)  # (user_id, day, type_id) -> hard reasons it is forbidden
        self.terms: list = []
        self.dayset = set(p.days)
        self._facts: dict = {}
        self.others = self._others()  # user_id -> WorkShifts the model does not place (fixed and history)
        self._pinned_vars = {self.x[(uid, d, tid)].Index(): True for (uid, d), tid in p.pins.items()
                             if tid is not None and (uid, d, tid) in self.x}

    def hour_gap(self, d1, t1, d2, t2) -> float:
        return (self.when[(d2, t2)][0] - self.when[(d1, t1)][1]).total_seconds() / 3600

    def pinned(self, uid, d, tid=None) -> bool:
        pin = self.p.pins.get((uid, d))
        return pin is not None and (tid is None or pin == tid)

    def forbid(self, uid, d, tid, reason):
        if self.pinned(uid, d, tid):
            return  # a shift placed by hand stays, whatever it breaks: the coordinator's decision, the engine's warning
        self.m.Add(self.x[(uid, d, tid)] == 0)
        self.why_not[(uid, d, tid)].append(reason)

    def build(self):
        p, m, x = self.p, self.m, self.x
        agreements = defaultdict(list)
        for pref in p.preferences:
            if pref.hard:
                agreements[pref.user_id].append(pref)
        for u in p.people:
            for i, d in enumerate(p.days):
                day_vars = [x[(u.id, d, t.id)] for t in p.types]
                self.work[(u.id, d)] = w = m.NewBoolVar("")
                m.Add(sum(day_vars) == w)  # at most one shift a day
                if (u.id, d) in p.leave:
                    for t in p.types:
                        self.forbid(u.id, d, t.id, "is on leave")
                if (u.id, d) in p.pins:
                    pinned = p.pins[(u.id, d)]
                    for t in p.types:
                        if t.id == pinned:
                            m.Add(x[(u.id, d, t.id)] == 1)
                        else:
                            self.forbid(u.id, d, t.id, "has a shift placed by hand that day")
                for a in agreements[u.id]:
                    for t in p.types:
                        if _agreement_rules_out(a, d, t):
                            self.forbid(u.id, d, t.id, "has a flexible-working agreement")
                # rest between consecutive days' shifts
                rest = self.rest_hours(u)
                if i + 1 < len(p.days):
                    d2 = p.days[i + 1]
                    for t1 in p.types:
                        for t2 in p.types:
                            if self.hour_gap(d, t1.id, d2, t2.id) < rest and not (
                                    self.pinned(u.id, d) and self.pinned(u.id, d2)):
                                m.AddBoolOr([x[(u.id, d, t1.id)].Not(), x[(u.id, d2, t2.id)].Not()])
            self._runs(u)
            if not self.rules_of(u, "max_in_window"):
                self._weekly(u)
            self._engine(u)
        self._fixed()

    def _fixed(self):
        """Shifts the model does not place (before or after the period, other teams, odd times): nothing may
        overlap them or leave less than the minimum rest either side."""
        rest = timedelta(hours=self.p.min_rest_hours)
        for uid, starts, ends, label, *_kind in self.p.fixed:
            for (d, tid), (s, e) in self.when.items():
                if (uid, d, tid) not in self.x or not (s < ends + rest and e > starts - rest):
                    continue
                if s < ends and e > starts:
                    self.forbid(uid, d, tid, f"works {label}")
                else:
                    side = "after" if s >= ends else "before"
                    self.forbid(uid, d, tid, f"would not have {self.p.min_rest_hours} h rest {side} {label}")

    def _runs(self, u: Person):
        p, x = self.p, self.x
        for limit, pick in ((u.max_nights, lambda t: t.night), (u.max_long, lambda t: t.long),
                            (u.max_days, lambda t: True)):
            for i in range(len(p.days) - limit):
                window = p.days[i:i + limit + 1]
                held = sum(1 for d in window for t in p.types if pick(t) and self.pinned(u.id, d, t.id))
                self.m.Add(sum(x[(u.id, d, t.id)] for d in window for t in p.types if pick(t)) <= max(limit, held))

    def _weekly(self, u: Person):
        p, x = self.p, self.x
        for i in range(max(1, len(p.days) - 6)):
            window = p.days[i:i + 7]
            held = sum(t.minutes for d in window for t in p.types if self.pinned(u.id, d, t.id))
            self.m.Add(sum(x[(u.id, d, t.id)] * t.minutes for d in window for t in p.types)
                       <= max(u.weekly_cap_hours * 60, held))

    # --------------------------------------------------------------- the rules engine's blocking rules as constraints

    def rules_of(self, u: Person, check: str) -> list:
        return [r for r in u.rules if r.check == check]

    def rest_hours(self, u: Person) -> float:
        return max([self.p.min_rest_hours, *(r.params["min_rest_hours"] for r in self.rules_of(u, "rest_between"))])

    def shift(self, d: date, tid: int) -> rules.WorkShift:
        t = self.types[tid]
        s, e = self.when[(d, tid)]
        return rules.WorkShift(s, e, kind=t.kind, tz=self.p.tz, name=t.name)

    def _others(self) -> dict:
        """Per person, the shifts the model does not place (fixed near the period, history before it), once each."""
        out: dict = defaultdict(dict)
        for uid, starts, ends, label, *kind in self.p.fixed:
            out[uid][(starts, ends)] = rules.WorkShift(starts, ends, kind=(kind or ["day"])[0], tz=self.p.tz,
                                                       name=label)
        for uid, starts, ends, kind in self.p.history:
            out[uid].setdefault((starts, ends), rules.WorkShift(starts, ends, kind=kind, tz=self.p.tz))
        return {uid: sorted(v.values(), key=lambda w: w.starts_at) for uid, v in out.items()}

    def fact(self, key, ws: rules.WorkShift, what: str, params=None):
        """The engine's classification of one shift (cached): counts in a run / night under ``params``, weekend."""
        k = (key, what, None if params is None else tuple(sorted(params.items())))
        if k not in self._facts:
            self._facts[k] = rules.weekend_of(ws) if what == "weekend" else rules.counts_in_run(ws, params)
        return self._facts[k]

    def _day_terms(self, u: Person, d: date, params: dict):
        """(variables, constant) for "works a shift that counts under ``params`` on local day ``d``"."""
        vs = [self.x[(u.id, d, t.id)] for t in self.p.types
              if d in self.dayset and self.fact((d, t.id), self.shift(d, t.id), "run", params)]
        const = sum(1 for w in self.others.get(u.id, ()) if timeutil.local_date(w.starts_at, self.p.tz) == d
                    and self.fact(w.starts_at, w, "run", params))
        return vs, min(const, 1)

    def _at_most(self, vs: list, const: int, limit: int):
        """Σ vs + const ≤ limit, unless pins and shifts outside the model already force more (pins win)."""
        vs = [v for v in vs if v is not None]
        if not vs:
            return
        held = const + sum(1 for v in vs if self._is_pinned_var(v))
        self.m.Add(sum(vs) + const <= max(limit, held))

    def _is_pinned_var(self, v) -> bool:
        return self._pinned_vars.get(v.Index(), False)

    def _engine(self, u: Person):
        if u.rest_after_nights_hours and not self.rules_of(u, "rest_after_nights"):
            self._engine_after_nights(u, {"filter": "night"}, 1, u.rest_after_nights_hours)
        for r in self.rules_of(u, "max_shift_length"):
            for d in self.p.days:
                for t in self.p.types:
                    s, e = self.when[(d, t.id)]
                    if not t.kind == "on_call" and (e - s).total_seconds() > r.params["max_hours"] * 3600:
                        self.forbid(u.id, d, t.id, f"would work a shift longer than {r.params['max_hours']} h")
        for r in self.rules_of(u, "consecutive_run"):
            self._engine_run(u, r.params)
        for r in self.rules_of(u, "rest_after_nights"):
            self._engine_after_nights(u, {**r.params, "filter": "night"}, r.params["min_run"],
                                      r.params["min_rest_hours"])
        for r in self.rules_of(u, "max_in_window"):
            self._engine_window(u, r.params["max_hours"] * 60, int(r.params["window_hours"] * 60))
        if self.rules_of(u, "max_in_window"):  # the weekly cap gives way to 72 in 168, with the average kept
            self._engine_average(u)
        for r in self.rules_of(u, "weekends"):
            self._engine_weekends(u, r)
        for r in self.rules_of(u, "on_call"):
            self._engine_on_call(u, r.params)

    def _span(self, before: int, after: int) -> list[date]:
        first, last = self.p.days[0] - timedelta(days=before), self.p.days[-1] + timedelta(days=after)
        return [first + timedelta(days=k) for k in range((last - first).days + 1)]

    def _engine_run(self, u: Person, params: dict):
        """At most ``max_run`` counting shifts on consecutive days (runs reaching into the period from shifts before
        or after it count), then ``rest_after_hours`` before the next shift of any kind."""
        cap = params["max_run"]
        days = self._span(cap, cap)
        terms = {d: self._day_terms(u, d, params) for d in days}
        for i in range(len(days) - cap):
            window = days[i:i + cap + 1]
            if any(d in self.dayset for d in window):
                self._at_most([v for d in window for v in terms[d][0]], sum(terms[d][1] for d in window), cap)
        rest = params.get("rest_after_hours")
        if not rest:
            return
        for i in range(len(days) - cap + 1):
            run, last = days[i:i + cap - 1], days[i + cap - 1]
            vs, const = [v for d in run for v in terms[d][0]], sum(terms[d][1] for d in run)
            if len(vs) + const < cap - 1:
                continue  # some day of the run can never count
            for end_var, end in self._ends(u, last, params):
                for d3, t3 in self._starting(last, end, timedelta(hours=rest)):
                    self._at_most([*vs, end_var, self.x[(u.id, d3, t3)]], const + (end_var is None), cap)

    def _starting(self, after: date, end, within: timedelta):
        """(day, type) of the instances on days after ``after`` that start in [end, end + within)."""
        for k in range(1, within.days + 4):
            d3 = after + timedelta(days=k)
            if d3 in self.dayset:
                for t in self.p.types:
                    if end <= self.when[(d3, t.id)][0] < end + within:
                        yield d3, t.id

    def _ends(self, u: Person, d: date, params: dict):
        """(variable or None for a shift outside the model, end instant) of each counting shift ``u`` may end a run
        with on day ``d``."""
        if d in self.dayset:
            for t in self.p.types:
                if self.fact((d, t.id), self.shift(d, t.id), "run", params):
                    yield self.x[(u.id, d, t.id)], self.when[(d, t.id)][1]
        for w in self.others.get(u.id, ()):
            if timeutil.local_date(w.starts_at, self.p.tz) == d and self.fact(w.starts_at, w, "run", params):
                yield None, w.ends_at

    def _engine_after_nights(self, u: Person, params: dict, min_run: int, need_hours: float):
        """After a run of at least ``min_run`` nights, nothing starts within ``need_hours`` of its end: for each
        night that could end a run, x_night + x_next + Σ nights on the run's earlier days − night the day after ≤
        min_run."""
        days = self._span(min_run + 2, 0)
        memo: dict = {}

        def terms(d):
            if d not in memo:
                memo[d] = self._day_terms(u, d, params)
            return memo[d]

        for d in days:
            nxt_vs, nxt_const = terms(d + timedelta(days=1))
            if nxt_const:
                continue  # a night outside the model the day after: the run goes on
            prev = [d - timedelta(days=k) for k in range(1, min_run)]
            vs, const = [v for dd in prev for v in terms(dd)[0]], sum(terms(dd)[1] for dd in prev)
            if len(vs) + const < min_run - 1:
                continue
            for end_var, end in self._ends(u, d, params):
                for d3, t3 in self._starting(d, end, timedelta(hours=need_hours)):
                    x3 = self.x[(u.id, d3, t3)]
                    if self._is_pinned_var(x3) and (end_var is None or self._is_pinned_var(end_var)):
                        continue
                    lhs = [*vs, x3] + ([end_var] if end_var is not None else [])
                    self.m.Add(sum(lhs) - sum(nxt_vs) + const + (end_var is None) <= min_run)

    def _free_by_rules(self, u: Person, d: date, tid: int, on: dict, back: list) -> bool:
        """The greedy start's check of a doctor's weekends share and on-call rules (the rest is kept by ``_free``)."""
        t = self.types[tid]
        for r in self.rules_of(u, "weekends"):
            sat = self.fact((d, tid), self.shift(d, tid), "weekend")
            mine = {self.fact((dd, tt), self.shift(dd, tt), "weekend") for (uid, dd), tt in on.items() if uid == u.id}
            share = max(1, math.ceil(len(self.weekend_vars(u)) / r.params["one_in"]))
            if sat is not None and sat not in mine and len(mine - {None}) >= share:
                return False
        for r in self.rules_of(u, "on_call"):
            prev = back[0][1]
            if prev is not None and self.types[prev].kind == "on_call" and (
                    t.kind == "on_call" and back[0][0].weekday() != 5
                    or t.kind != "on_call" and t.minutes > r.params["day_after_max_hours"] * 60):
                return False
            if t.kind == "on_call" and sum(1 for _pd, pt in back[:6] if pt is not None
                                           and self.types[pt].kind == "on_call") >= r.params["max_per_7_days"]:
                return False
        return True

    def _engine_window(self, u: Person, limit: int, length: int):
        """At most ``limit`` minutes of work in any ``length`` minutes (sliding; windows start at every shift start
        and end at every shift end, as the engine's)."""
        if not hasattr(self, "_windows"):
            self._windows = {}
        span = timedelta(minutes=length)
        others = [w for w in self.others.get(u.id, ())]
        starts = {s for s, _e in self.when.values()} | {e - span for _s, e in self.when.values()}
        starts |= {w.starts_at for w in others} | {w.ends_at - span for w in others}
        seen = set()
        for a in sorted(starts):
            b = a + span
            coef = self._windows.get((a, length))
            if coef is None:
                coef = tuple((k, int((min(e, b) - max(s, a)).total_seconds() // 60))
                             for k, (s, e) in self.when.items() if s < b and e > a)
                self._windows[(a, length)] = coef
            if not coef:
                continue
            const = sum(int((min(w.ends_at, b) - max(w.starts_at, a)).total_seconds() // 60) for w in others
                        if w.starts_at < b and w.ends_at > a)
            key = (coef, const)
            if key in seen:
                continue
            seen.add(key)
            if sum(max((c for (d, _t), c in coef if d == day), default=0) for day in {d for (d, _t), _c in coef}) \
                    + const <= limit:
                continue  # can never pass the limit
            held = sum(c for (d, tid), c in coef if self.pinned(u.id, d, tid))
            self.m.Add(sum(c * self.x[(u.id, d, tid)] for (d, tid), c in coef) + const <= max(limit, held + const))

    def _engine_average(self, u: Person):
        """The average week over the engine's reference period ending with the period, counting the shifts before
        it (leave in the period shortens the weeks, as the engine's)."""
        for r in self.rules_of(u, "average_hours"):
            weeks = r.params["reference_weeks"]
            lo = self.when[(self.p.days[0], self.p.types[0].id)][0] - timedelta(weeks=weeks) + \
                timedelta(days=len(self.p.days))
            before = sum(int((w.ends_at - max(w.starts_at, lo)).total_seconds() // 60)
                         for w in self.others.get(u.id, ()) if w.ends_at > lo
                         and timeutil.local_date(w.starts_at, self.p.tz) < self.p.days[0] and w.kind != "on_call")
            leave = sum(1 for d in self.p.days if (u.id, d) in self.p.leave)
            cap = int(r.params["max_avg_hours"] * 60 * (weeks * 7 - leave) / 7) - before
            held = sum(t.minutes for d in self.p.days for t in self.p.types if self.pinned(u.id, d, t.id))
            self.m.Add(sum(self.x[(u.id, d, t.id)] * t.minutes for d in self.p.days for t in self.p.types)
                       <= max(cap, held))

    def weekend_vars(self, u: Person) -> dict:
        """Saturday -> a 0/1 variable "works that weekend" (any work Sat 00:01 – Sun 23:59, as the engine counts)."""
        if not hasattr(self, "_wk"):
            self._wk = {}
        if u.id not in self._wk:
            by_sat = defaultdict(list)
            for d in self.p.days:
                for t in self.p.types:
                    sat = self.fact((d, t.id), self.shift(d, t.id), "weekend")
                    if sat is not None:
                        by_sat[sat].append(self.x[(u.id, d, t.id)])
            out = {}
            for sat, vs in by_sat.items():
                w = out[sat] = self.m.NewBoolVar("")
                self.m.AddMaxEquality(w, vs)
            self._wk[u.id] = out
        return self._wk[u.id]

    def _engine_weekends(self, u: Person, rule):
        """1 weekend in ``one_in``: (a) the engine's window — at most ``weekends_allowed`` in any ``cycle_weeks``
        weeks, counting weekends worked before and after the period; (b) pro rata in the period being built (the
        rota cycle): at most ⌈weekends in the period / one_in⌉."""
        wk = self.weekend_vars(u)
        if not wk:
            return
        cycle, allowed = rule.params["cycle_weeks"], rules.weekends_allowed(rule)
        outside = {self.fact(w.starts_at, w, "weekend") for w in self.others.get(u.id, ())} - {None} - set(wk)
        for first in sorted(outside | set(wk)):
            last = first + timedelta(weeks=cycle)
            vs = [v for sat, v in wk.items() if first <= sat < last]
            self._at_most(vs, sum(1 for sat in outside if first <= sat < last), allowed)
        self._at_most(list(wk.values()), 0, max(1, math.ceil(len(wk) / rule.params["one_in"])))

    def _engine_on_call(self, u: Person, params: dict):
        """On-call: no longer than ``max_hours``; not on consecutive days except Saturday then Sunday; at most
        ``max_per_7_days`` in 7 days; at most ``day_after_max_hours`` of work the day after."""
        calls = [t for t in self.p.types if t.kind == "on_call"]
        if not calls:
            return
        x, days = self.x, self.p.days
        for d in days:
            for t in calls:
                s, e = self.when[(d, t.id)]
                if (e - s).total_seconds() > params["max_hours"] * 3600:
                    self.forbid(u.id, d, t.id, f"would be on call for more than {params['max_hours']} h")
        oc = {d: [x[(u.id, d, t.id)] for t in calls] for d in days}
        for d, d2 in zip(days, days[1:], strict=False):
            if d.weekday() != 5:
                self._at_most([*oc[d], *oc[d2]], 0, 1)
            for t in calls:
                for t2 in self.p.types:
                    s2, e2 = self.when[(d2, t2.id)]
                    if t2.kind != "on_call" and (e2 - s2).total_seconds() > params["day_after_max_hours"] * 3600:
                        self._at_most([x[(u.id, d, t.id)], x[(u.id, d2, t2.id)]], 0, 1)
        for i in range(len(days)):
            self._at_most([v for d in days[i:i + 7] for v in oc[d]], 0, params["max_per_7_days"])

    def cover(self):
        """slack[c]: people missing on each requirement clause (cover is never hard: an under-staffed ward solves)."""
        p, m, x = self.p, self.m, self.x
        self.slack = {}
        for c in p.clauses:
            s = m.NewIntVar(0, c.count, "")
            self.slack[c] = s
            m.Add(sum(x[(uid, c.day, c.type_id)] for uid in c.eligible if (uid, c.day, c.type_id) in x) + s >= c.count)

    def objective(self):
        p, m, x = self.p, self.m, self.x
        self.cover()
        self.terms += [W_GAP * s for s in self.slack.values()]
        self.request_ok = {}
        for r in p.requests:
            if r.user_id not in {u.id for u in p.people} or r.day not in p.days:
                continue
            if r.kind == "want":
                ok = x[(r.user_id, r.day, r.type_id)] if r.type_id in self.types else self.work[(r.user_id, r.day)]
            else:
                worked = x[(r.user_id, r.day, r.type_id)] if r.type_id in self.types else self.work[(r.user_id, r.day)]
                ok = worked.Not()
            self.request_ok[r] = ok
            self.terms.append(W_REQUEST.get(r.priority, 30) * ok.Not())
        for pref in p.preferences:
            if pref.hard:
                continue
            for d in p.days:
                if (pref.user_id, d) not in self.work:
                    continue
                for t in p.types:
                    v = x[(pref.user_id, d, t.id)]
                    if pref.kind == "avoids_shift" and pref.type_id == t.id or pref.kind == "no_nights" and t.night \
                            or pref.kind == "fixed_day_off" and pref.weekday == d.weekday():
                        self.terms.append(W_PREFERENCE * v)
                    elif pref.kind == "prefers_shift" and pref.type_id != t.id:
                        self.terms.append(W_PREFERENCE * v)
        self.hours, self.devs = {}, {}
        weeks = len(p.days) / 7
        for u in p.people:
            off = sum(1 for d in p.days if (u.id, d) in p.leave and d.weekday() < 5)
            target = int(u.weekly_minutes * weeks - off * u.weekly_minutes / 5)
            worked = sum(x[(u.id, d, t.id)] * t.minutes for d in p.days for t in p.types)
            dev = self.devs[u.id] = m.NewIntVar(0, 10000, "")  # half hours beyond the tolerance, either side
            m.Add(30 * dev >= worked - target - p.hours_tolerance_minutes)
            m.Add(30 * dev >= target - p.hours_tolerance_minutes - worked)
            self.hours[u.id] = (target, worked)
            self.terms.append(W_HOURS * dev)
        prior = self.prior()
        self.spreads = []
        for what, pick in SPREADS.items():
            if what == "on_call" and not any(t.kind == "on_call" for t in p.types):
                continue
            counts = [prior[u.id][what] + sum(x[(u.id, d, t.id)] for d in p.days for t in p.types if pick(d, t.kind))
                      for u in p.people]
            if len(counts) > 1:
                top = len(p.days) + max(prior[u.id][what] for u in p.people)
                hi, lo = m.NewIntVar(0, top, ""), m.NewIntVar(0, top, "")
                m.AddMaxEquality(hi, counts)
                m.AddMinEquality(lo, counts)
                self.spreads.append((hi, lo, what, pick, prior))
                self.terms.append(W_FAIR * (hi - lo))
        self.isolated = []
        for u in p.people:  # no isolated single days off: work, one day off (not leave, not pinned), work
            for d0, d1, d2 in zip(p.days, p.days[1:], p.days[2:], strict=False):
                if (u.id, d1) in p.leave or (u.id, d1) in p.pins:
                    continue
                iso = m.NewBoolVar("")
                m.AddBoolOr([self.work[(u.id, d0)].Not(), self.work[(u.id, d1)], self.work[(u.id, d2)].Not(), iso])
                self.isolated.append((iso, u.id, d0, d1, d2))
                self.terms.append(W_ISOLATED * iso)
        m.Minimize(sum(self.terms))
        self.hint()

    def hint(self):
        """A greedy rota as the search's first guess (CP-SAT repairs whatever in it breaks a rule): day by day, the
        scarcest clauses first, the least-worked free people who keep the rest, weekly and run limits. Without it the
        single search worker can spend a loaded machine's whole time limit before its first solution."""
        p, on, minutes, nights = self.p, {}, defaultdict(int), defaultdict(int)
        people = {u.id: u for u in p.people}
        avoid = {(r.user_id, r.day, r.type_id) for r in p.requests if r.kind == "avoid"}
        want = {(r.user_id, r.day, r.type_id) for r in p.requests if r.kind == "want"}
        cap = {u.id: u.weekly_minutes * len(p.days) / 7 + p.hours_tolerance_minutes for u in p.people}
        by_day = defaultdict(list)
        for c in p.clauses:
            by_day[c.day].append(c)
        for (uid, d), tid in p.pins.items():
            if tid is not None and uid in people:
                on[(uid, d)] = tid
                minutes[uid] += self.types[tid].minutes
        for d in p.days:
            for c in sorted(by_day[d], key=lambda c: len(c.eligible)):
                have = sum(1 for uid in c.eligible if on.get((uid, d)) == c.type_id)
                t = self.types[c.type_id]
                order = sorted(c.eligible, key=lambda uid: ((uid, d, c.type_id) not in want,
                                                            nights[uid] if t.night else 0,
                                                            minutes[uid] / max(1, cap[uid]), uid))
                for uid in order:
                    if have >= c.count:
                        break
                    if uid in people and minutes[uid] + t.minutes <= cap[uid] and (uid, d, None) not in avoid \
                            and (uid, d, c.type_id) not in avoid and self._free(people[uid], d, c.type_id, on):
                        on[(uid, d)] = c.type_id
                        minutes[uid] += t.minutes
                        nights[uid] += t.night
                        have += 1
        hint = self.m.AddHint
        for (uid, d, tid), v in self.x.items():
            hint(v, on.get((uid, d)) == tid)
        for (uid, d), w in self.work.items():
            hint(w, (uid, d) in on)
        for c, s in self.slack.items():
            hint(s, max(0, c.count - sum(1 for uid in c.eligible if on.get((uid, c.day)) == c.type_id)))
        for uid, (target, _worked) in getattr(self, "hours", {}).items():
            worked = sum(self.types[tid].minutes for (u, _d), tid in on.items() if u == uid)
            over = max(worked - target - p.hours_tolerance_minutes, target - p.hours_tolerance_minutes - worked, 0)
            hint(self.devs[uid], -(-over // 30))
        for iso, uid, d0, d1, d2 in getattr(self, "isolated", ()):
            hint(iso, (uid, d0) in on and (uid, d1) not in on and (uid, d2) in on)
        for u in p.people:
            for sat, w in getattr(self, "_wk", {}).get(u.id, {}).items():
                hint(w, any(self.fact((d, tid), self.shift(d, tid), "weekend") == sat
                            for (uid, d), tid in on.items() if uid == u.id))
        for hi, lo, what, pick, prior in getattr(self, "spreads", ()):
            counts = [prior[u.id][what] + sum(1 for (uid, d), tid in on.items() if uid == u.id
                                              and pick(d, self.types[tid].kind)) for u in p.people]
            hint(hi, max(counts))
            hint(lo, min(counts))

    def _free(self, u: Person, d: date, tid: int, on: dict) -> bool:
        if (u.id, d) in on or (u.id, d) in self.p.pins or self.why_not.get((u.id, d, tid)):
            return False
        t = self.types[tid]
        back = [(d - timedelta(days=k), on.get((u.id, d - timedelta(days=k)))) for k in range(1, 8)]
        if back[0][1] is not None and self.hour_gap(back[0][0], back[0][1], d, tid) < self.rest_hours(u):
            return False
        rests46 = u.rest_after_nights_hours or self.rules_of(u, "rest_after_nights")
        if rests46 and any(  # 46 h after nights, unless this night goes on the run
                pt is not None and self.types[pt].night and not (k == 0 and t.night)
                and self.hour_gap(pd, pt, d, tid) < 46 for k, (pd, pt) in enumerate(back[:3])):
            return False
        if not self._free_by_rules(u, d, tid, on, back):
            return False
        run = next((k for k, (_pd, pt) in enumerate(back) if pt is None), 7)
        nights = next((k for k, (_pd, pt) in enumerate(back) if pt is None or not self.types[pt].night), 7)
        week = sum(self.types[pt].minutes for _pd, pt in back[:6] if pt is not None) + t.minutes
        return run < min(u.max_days, 5) and (not t.night or nights < min(u.max_nights, 3)) and \
            week <= u.weekly_cap_hours * 60 and not (t.long and run >= 3)

    def prior(self) -> dict:
        """Per person, nights / weekend shifts / on-calls worked in the ``fair_weeks`` before the period."""
        out = {u.id: dict.fromkeys(SPREADS, 0) for u in self.p.people}
        if not self.p.fair_weeks:
            return out
        lo = self.p.days[0] - timedelta(weeks=self.p.fair_weeks)
        for uid, starts, _ends, kind in self.p.history:
            day = timeutil.local_date(starts, self.p.tz)
            if uid in out and lo <= day < self.p.days[0]:
                for what, pick in SPREADS.items():
                    out[uid][what] += pick(day, kind)
        return out


class _Progress(cp_model.CpSolverSolutionCallback):
    """Tells ``on_solution`` about each better draft found: ``{"solutions", "objective", "places", "filled",
    "elapsed"}``; a truthy answer stops the search (the best draft so far is kept)."""

    def __init__(self, mdl: _Model, on_solution):
        super().__init__()
        self.mdl, self.on_solution, self.count = mdl, on_solution, 0
        self.places = sum(c.count for c in mdl.p.clauses)

    def on_solution_callback(self):
        self.count += 1
        missing = sum(self.value(s) for s in self.mdl.slack.values())
        if self.on_solution({"solutions": self.count, "objective": self.objective_value, "places": self.places,
                             "filled": self.places - missing, "elapsed": self.wall_time}):
            self.stop_search()


def solve(p: Problem, *, seed: int = 1, time_limit: float = 20.0, deterministic_limit: float = 10.0,
          on_solution=None, on_start=None) -> Draft:
    """Solve; one worker, a fixed seed and a deterministic time limit, so a re-run gives the same rota.

    ``on_solution(progress) -> bool`` hears of each better draft (see :class:`_Progress`); ``on_start(stop)`` gets,
    just before the search, a function any thread may call to end it early with the best draft so far."""
    mdl = _Model(p)
    mdl.build()
    mdl.objective()
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.max_deterministic_time = deterministic_limit
    if on_start is not None:
        on_start(solver.stop_search)
    status = solver.Solve(mdl.m, _Progress(mdl, on_solution) if on_solution is not None else None)
    name = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible",
            cp_model.INFEASIBLE: "infeasible"}.get(status, "unknown")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        reason = ("the hand-placed shifts and agreements already break a hard rule" if name == "infeasible"
                  else "no rota found within the time limit")
        return Draft(name, [], [{"requirement_id": c.requirement_id, "day": c.day, "type_id": c.type_id,
                                 "missing": c.count, "why": reason} for c in p.clauses], [], 0,
                     {"objective": None})
    return _read(mdl, solver, name)


def cover_bound(p: Problem, *, seed: int = 1, time_limit: float = 60.0) -> dict:
    """How many requirement places the data allow under every hard rule: the same model with cover as its only
    objective. ``upper_bound`` is CP-SAT's proven bound (the most any rota could fill); ``filled`` the best found."""
    mdl = _Model(p)
    mdl.build()
    mdl.cover()
    mdl.m.Minimize(sum(mdl.slack.values()))
    mdl.hint()
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = time_limit
    status = solver.Solve(mdl.m)
    places = sum(c.count for c in p.clauses)
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return {"places": places, "optimal": status == cp_model.OPTIMAL,
            "filled": places - round(solver.ObjectiveValue()) if found else None,
            "upper_bound": places - math.ceil(solver.BestObjectiveBound() - 1e-6)}


def _read(mdl: _Model, solver, status: str) -> Draft:
    p, x = mdl.p, mdl.x
    on = {k for k, v in x.items() if solver.Value(v)}
    where = {(uid, d): tid for uid, d, tid in on}
    assignments = [Assignment(uid, d, tid, *mdl.when[(d, tid)], pinned=p.pins.get((uid, d)) == tid)
                   for uid, d, tid in sorted(on, key=lambda k: (k[1], k[2], k[0]))]
    people = {u.id: u for u in p.people}
    gaps = []
    for c in p.clauses:
        missing = solver.Value(mdl.slack[c])
        if missing:
            gaps.append({"requirement_id": c.requirement_id, "day": c.day, "type_id": c.type_id, "missing": missing,
                         "why": _gap_reason(mdl, c, where, people)})
    refused, honoured = [], 0
    for r, ok in mdl.request_ok.items():
        if solver.BooleanValue(ok):
            honoured += 1
        else:
            refused.append({"user_id": r.user_id, "day": r.day, "kind": r.kind, "type_id": r.type_id,
                            "priority": r.priority, "why": _request_reason(mdl, r, where)})
    hours = {uid: {"target_minutes": target, "rostered_minutes": solver.Value(worked)}
             for uid, (target, worked) in mdl.hours.items()}
    nights = {u.id: sum(1 for (uid, _d), tid in where.items() if uid == u.id and mdl.types[tid].night)
              for u in p.people}
    weekends = {u.id: sum(1 for (uid, d) in where if uid == u.id and _weekend(d)) for u in p.people}
    return Draft(status, assignments, gaps, refused, honoured,
                 {"objective": solver.ObjectiveValue(), "hours": hours, "nights": nights, "weekends": weekends,
                  "isolated_days_off": sum(solver.Value(v[0]) for v in getattr(mdl, "isolated", ()))})


def _blocker(mdl: _Model, uid: int, d: date, tid: int, where: dict) -> str | None:
    """Why ``uid`` may not work ``tid`` on ``d`` given the rest of the draft (the hard constraint that binds)."""
    p, types = mdl.p, mdl.types
    person = next(u for u in p.people if u.id == uid)
    if mdl.why_not.get((uid, d, tid)):
        return mdl.why_not[(uid, d, tid)][0]
    if (uid, d) in where:
        return f"works the {types[where[(uid, d)]].name} that day"
    for other in (d - timedelta(days=1), d + timedelta(days=1)):
        if (uid, other) in where:
            t2 = where[(uid, other)]
            gap = mdl.hour_gap(other, t2, d, tid) if other < d else mdl.hour_gap(d, tid, other, t2)
            if gap < p.min_rest_hours:
                side = "after" if other < d else "before"
                return f"would not have {p.min_rest_hours} h rest {side} the {types[t2].name} on {_day(other)}"
    for first in (d - timedelta(days=k) for k in range(7)):
        minutes = sum(types[where[(uid, first + timedelta(days=k))]].minutes for k in range(7)
                      if (uid, first + timedelta(days=k)) in where)
        if minutes + types[tid].minutes > person.weekly_cap_hours * 60 and not mdl.rules_of(person, "max_in_window"):
            return f"would pass {person.weekly_cap_hours} h in 7 days"
    run = 1
    for step in (-1, 1):
        dd = d + timedelta(days=step)
        while (uid, dd) in where:
            run += 1
            dd += timedelta(days=step)
    if run > person.max_days:
        return f"would work more than {person.max_days} days in a row"
    return _rule_blocker(mdl, person, d, tid, where)


def _rule_blocker(mdl: _Model, person: Person, d: date, tid: int, where: dict) -> str | None:
    """The engine's blocking rule the shift would break next to the person's draft and other shifts, or the model's
    1-weekend-in-N share of the period."""
    if not person.rules:
        return None
    mine = [mdl.shift(dd, t) for (u, dd), t in where.items() if u == person.id]
    candidate = replace(mdl.shift(d, tid), key="candidate")
    found = rules.evaluate([*mine, *mdl.others.get(person.id, ()), candidate],
                           [rules.RuleSet("model", "blocking rules", tuple(person.rules))], focus=["candidate"])
    if found:
        title = next((r.title for r in person.rules if r.id == found[0].rule_id), found[0].rule_id)
        return f"would break the rule “{title}”"
    sat = mdl.fact((d, tid), candidate, "weekend")
    wk = mdl.weekend_vars(person)
    worked = {mdl.fact((dd, t), mdl.shift(dd, t), "weekend") for (u, dd), t in where.items() if u == person.id}
    for r in mdl.rules_of(person, "weekends"):
        share = max(1, math.ceil(len(wk) / r.params["one_in"]))
        if sat is not None and sat not in worked and len(worked - {None}) >= share:
            return f"would work more than {share} of the {len(wk)} weekends in the period (1 in {r.params['one_in']})"
    return None


def _gap_reason(mdl: _Model, c: Clause, where: dict, people: dict) -> str:
    st = mdl.types[c.type_id]
    if not c.eligible:
        return f"nobody in the team counts as {c.who}"
    reasons = []
    free = []
    for uid in sorted(c.eligible):
        if where.get((uid, c.day)) == c.type_id:
            continue
        why = _blocker(mdl, uid, c.day, c.type_id, where)
        if why is None:
            free.append(people[uid].name)
        else:
            reasons.append(f"{people[uid].name} {why}")
    if not free:
        head = f"no {c.who} free who would keep every hard rule for the {st.name} on {_day(c.day)}"
        return head + (": " + "; ".join(reasons) if reasons else "")
    return (f"{', '.join(free)} could work it, but it would cost more than the gap: their contracted hours, "
            f"weekly limits or the spread of nights and weekends" + ("; " + "; ".join(reasons) if reasons else ""))


def _request_reason(mdl: _Model, r: Request, where: dict) -> str:
    if r.kind == "want":
        tid = r.type_id if r.type_id in mdl.types else next(iter(mdl.types), None)
        why = None if tid is None else _blocker(mdl, r.user_id, r.day, tid, where)
        if why and not why.startswith("works the"):
            return f"refused: you {why}"
        if why:
            return f"refused: you were needed on the {why.removeprefix('works the ').removesuffix(' that day')} " \
                   f"that day for cover"
        return "refused: the shift was already covered and your contracted hours were met"
    tid = where.get((r.user_id, r.day))
    name = mdl.types[tid].name if tid in mdl.types else "shift"
    if (r.user_id, r.day) in mdl.p.pins:
        return f"refused: the {name} was placed by hand and pinned"
    return f"refused: nobody else who counts could cover the {name} on {_day(r.day)} without breaking a hard rule"


# ----------------------------------------------------------------------------------------------------- the judge


def judge(draft: Draft, types: dict[int, ShiftKind], tz: str, rule_sets_of, *, existing=None, leave=None) -> dict:
    """Every person's draft through the rules engine: ``{user_id: [blocking verdicts involving a drafted shift]}``.

    ``rule_sets_of(user_id)`` gives the person's rule sets; ``existing`` their other shifts (WorkShift lists) and
    ``leave`` their LeaveSpans, so windows reaching outside the period are judged too."""
    by_person = defaultdict(list)
    for i, a in enumerate(draft.assignments):
        t = types[a.type_id]
        by_person[a.user_id].append(rules.WorkShift(a.starts_at, a.ends_at, kind=t.kind, tz=tz, name=t.name,
                                                    key=("draft", i)))
    out = {}
    for uid, shifts in by_person.items():
        rule_sets, opted_out = rule_sets_of(uid)
        others = list((existing or {}).get(uid, []))
        verdicts = rules.evaluate(shifts + others, rule_sets, leave=(leave or {}).get(uid, ()), opted_out=opted_out,
                                  focus=[s.key for s in shifts])
        blocking = [v for v in verdicts if v.severity == rules.BLOCK]
        if blocking:
            out[uid] = blocking
    return out
