"""Why the auto-roster's draft leaves a place unfilled or refuses a request (pure: no Flask, no database).

Each function takes the solved :class:`rota.autoroster.model.Model` as ``mdl`` and ``where``, the draft as
``{(user_id, day): type_id}``; the reason names the hard constraint that binds."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta

from rota.autoroster.problem import Clause, Person, Request
from rota.compliance import rules

WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _day(day: date) -> str:
    return f"{WEEKDAY_NAMES[day.weekday()]} {day:%d %b}"


def _blocker(mdl, uid: int, d: date, tid: int, where: dict) -> str | None:
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


def _rule_blocker(mdl, person: Person, d: date, tid: int, where: dict) -> str | None:
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


def gap_reason(mdl, c: Clause, where: dict, people: dict) -> str:
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


def request_reason(mdl, r: Request, where: dict) -> str:
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
