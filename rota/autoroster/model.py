"""The auto-roster's CP-SAT model (pure: no Flask, no database; ``docs/auto-roster.md`` describes it).

:func:`solve` turns a :class:`rota.autoroster.problem.Problem` into a :class:`rota.autoroster.problem.Draft`: the
hard constraints (the rules engine's blocking rules among them), the soft ones as weighted terms of the objective,
the greedy starting rota (``greedy``) as a hint, and the explanations of gaps and refused requests (``explain``).
:func:`rota.autoroster.judge.judge` then runs the rules engine over every person's draft.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import date, timedelta

from ortools.sat.python import cp_model

from core import timeutil
from rota.autoroster import explain, greedy
from rota.autoroster.problem import Assignment, Draft, Person, Preference, Problem, ShiftKind, instants
from rota.compliance import rules

# Weights of the objective (docs/auto-roster.md). A missing person on a requirement outweighs everything else.
W_GAP = 1000
W_REQUEST = {1: 60, 2: 30, 3: 15}  # a refused request, by priority (1 = most important)
W_PREFERENCE = 4  # a standing (soft) preference not met, per shift
W_HOURS = 3  # per half hour beyond the tolerance either side of the contracted hours
W_FAIR = 8  # per night / weekend / on-call shift between the most and the least loaded person (with the window before)
W_ISOLATED = 10  # an isolated single day off (work, one day off, work)


def _agreement_rules_out(a: Preference, d: date, t: ShiftKind) -> bool:
    return ((a.kind == "fixed_day_off" and a.weekday == d.weekday()) or (a.kind == "no_nights" and t.night)
            or (a.kind == "avoids_shift" and a.type_id == t.id)
            or (a.kind == "prefers_shift" and a.type_id is not None and a.type_id != t.id))


def _weekend(day: date) -> bool:
    return day.weekday() >= 5


# The fairness spreads: which (local start day, shift kind) count, for the period and the window before it.
SPREADS = {"nights": lambda d, kind: kind == "night", "weekends": lambda d, kind: _weekend(d),
           "on_call": lambda d, kind: kind == "on_call"}


class Model:
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
        if not hasattr(self, "weekend_cache"):
            self.weekend_cache = {}
        if u.id not in self.weekend_cache:
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
            self.weekend_cache[u.id] = out
        return self.weekend_cache[u.id]

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
        greedy.hint(self)

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

    def __init__(self, mdl: Model, on_solution):
        super().__init__()
        self.mdl, self.on_solution, self.count = mdl, on_solution, 0
        self.places = sum(c.count for c in mdl.p.clauses)

    def on_solution_callback(self):
        self.count += 1
        missing = sum(self.value(s) for s in self.mdl.slack.values())
        if self.on_solution({"solutions": self.count, "objective": self.objective_value, "places": self.places,
                             "filled": self.places - missing, "elapsed": self.wall_time}):
            self.stop_search()


READ_RESERVE = 0.02  # of the limit, kept for reading the draft back after the search


def search_limit(time_limit: float, spent: float) -> float:
    """Seconds the search may take when ``spent`` of the ``time_limit`` went on building the model (and, for a
    job, reading the rota): the limit is the whole run's, as the coordinator asked for it, not the search's alone.
    At least one second, so a slow build still returns the greedy start or better."""
    return max(1.0, time_limit * (1 - READ_RESERVE) - spent)


def solve(p: Problem, *, seed: int = 1, time_limit: float = 20.0, deterministic_limit: float = 10.0,
          on_solution=None, on_start=None, spent: float = 0.0) -> Draft:
    """Solve within ``time_limit`` seconds in all, of which ``spent`` went before the call; one worker, a fixed seed
    and a deterministic time limit, so a re-run gives the same rota.

    ``on_solution(progress) -> bool`` hears of each better draft (see :class:`_Progress`); ``on_start(stop)`` gets,
    just before the search, a function any thread may call to end it early with the best draft so far."""
    began = time.monotonic()
    mdl = Model(p)
    mdl.build()
    mdl.objective()
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = search_limit(time_limit, spent + time.monotonic() - began)
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
    mdl = Model(p)
    mdl.build()
    mdl.cover()
    mdl.m.Minimize(sum(mdl.slack.values()))
    greedy.hint(mdl)
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


def _read(mdl: Model, solver, status: str) -> Draft:
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
                         "why": explain.gap_reason(mdl, c, where, people)})
    refused, honoured = [], 0
    for r, ok in mdl.request_ok.items():
        if solver.BooleanValue(ok):
            honoured += 1
        else:
            refused.append({"user_id": r.user_id, "day": r.day, "kind": r.kind, "type_id": r.type_id,
                            "priority": r.priority, "why": explain.request_reason(mdl, r, where)})
    hours = {uid: {"target_minutes": target, "rostered_minutes": solver.Value(worked)}
             for uid, (target, worked) in mdl.hours.items()}
    nights = {u.id: sum(1 for (uid, _d), tid in where.items() if uid == u.id and mdl.types[tid].night)
              for u in p.people}
    weekends = {u.id: sum(1 for (uid, d) in where if uid == u.id and _weekend(d)) for u in p.people}
    return Draft(status, assignments, gaps, refused, honoured,
                 {"objective": solver.ObjectiveValue(), "hours": hours, "nights": nights, "weekends": weekends,
                  "isolated_days_off": sum(solver.Value(v[0]) for v in getattr(mdl, "isolated", ()))})
