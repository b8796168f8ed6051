"""The auto-roster's CP-SAT model (pure: no Flask, no database; ``docs/auto-roster.md`` describes it).

The service turns a rota period into a :class:`Problem` of plain rows (people, shift types, requirement clauses with
who counts towards each, leave, pins, requests, preferences) and gets a :class:`Draft` back: the assignments, each
unfilled requirement with why, each refused request with why. :func:`judge` then runs the rules engine over every
person's draft; the engine, not this model, has the last word.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
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
W_FAIR = 8  # per night / weekend shift between the most and the least loaded person


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
    weekly_cap_hours: int = 48


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
                if i + 1 < len(p.days):
                    d2 = p.days[i + 1]
                    for t1 in p.types:
                        for t2 in p.types:
                            if self.hour_gap(d, t1.id, d2, t2.id) < p.min_rest_hours and not (
                                    self.pinned(u.id, d) and self.pinned(u.id, d2)):
                                m.AddBoolOr([x[(u.id, d, t1.id)].Not(), x[(u.id, d2, t2.id)].Not()])
                # rest after a run of nights
                if u.rest_after_nights_hours and i + 1 < len(p.days):
                    d2 = p.days[i + 1]
                    for t1 in (t for t in p.types if t.night):
                        night_next = [x[(u.id, d2, t.id)] for t in p.types if t.night]
                        for d3 in p.days[i + 1:i + 4]:
                            for t3 in p.types:
                                if t3.night and d3 == d2:
                                    continue
                                if self.hour_gap(d, t1.id, d3, t3.id) < u.rest_after_nights_hours and not (
                                        self.pinned(u.id, d) and self.pinned(u.id, d3)):
                                    m.AddBoolOr([x[(u.id, d, t1.id)].Not(), x[(u.id, d3, t3.id)].Not(), *night_next])
            self._runs(u)
            self._weekly(u)
        self._fixed()

    def _fixed(self):
        """Shifts the model does not place (before or after the period, other teams, odd times): nothing may
        overlap them or leave less than the minimum rest either side."""
        rest = timedelta(hours=self.p.min_rest_hours)
        for uid, starts, ends, label in self.p.fixed:
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

    def objective(self):
        p, m, x = self.p, self.m, self.x
        self.slack = {}
        for c in p.clauses:
            s = m.NewIntVar(0, c.count, "")
            self.slack[c] = s
            m.Add(sum(x[(uid, c.day, c.type_id)] for uid in c.eligible if (uid, c.day, c.type_id) in x) + s >= c.count)
            self.terms.append(W_GAP * s)
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
        self.hours = {}
        weeks = len(p.days) / 7
        for u in p.people:
            off = sum(1 for d in p.days if (u.id, d) in p.leave and d.weekday() < 5)
            target = int(u.weekly_minutes * weeks - off * u.weekly_minutes / 5)
            worked = sum(x[(u.id, d, t.id)] * t.minutes for d in p.days for t in p.types)
            dev = m.NewIntVar(0, 10000, "")  # half hours beyond the tolerance, either side
            m.Add(30 * dev >= worked - target - p.hours_tolerance_minutes)
            m.Add(30 * dev >= target - p.hours_tolerance_minutes - worked)
            self.hours[u.id] = (target, worked)
            self.terms.append(W_HOURS * dev)
        for pick in (lambda d, t: t.night, lambda d, t: _weekend(d)):
            counts = [sum(x[(u.id, d, t.id)] for d in p.days for t in p.types if pick(d, t)) for u in p.people]
            if len(counts) > 1:
                hi, lo = m.NewIntVar(0, len(p.days), ""), m.NewIntVar(0, len(p.days), "")
                m.AddMaxEquality(hi, counts)
                m.AddMinEquality(lo, counts)
                self.terms.append(W_FAIR * (hi - lo))
        m.Minimize(sum(self.terms))


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
                 {"objective": solver.ObjectiveValue(), "hours": hours, "nights": nights, "weekends": weekends})


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
        if minutes + types[tid].minutes > person.weekly_cap_hours * 60:
            return f"would pass {person.weekly_cap_hours} h in 7 days"
    run = 1
    for step in (-1, 1):
        dd = d + timedelta(days=step)
        while (uid, dd) in where:
            run += 1
            dd += timedelta(days=step)
    if run > person.max_days:
        return f"would work more than {person.max_days} days in a row"
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
