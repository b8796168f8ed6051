"""The auto-roster's greedy starting rota: the CP-SAT search's first guess (pure: no Flask, no database).

Each function takes the built :class:`rota.autoroster.model.Model` as ``mdl``."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta

from rota.autoroster.problem import Person


def hint(mdl) -> None:
    """A greedy rota as the search's first guess (CP-SAT repairs whatever in it breaks a rule): day by day, the
    scarcest clauses first, the least-worked free people who keep the rest, weekly and run limits. Without it the
    single search worker can spend a loaded machine's whole time limit before its first solution."""
    p, on, minutes, nights = mdl.p, {}, defaultdict(int), defaultdict(int)
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
            minutes[uid] += mdl.types[tid].minutes
    for d in p.days:
        for c in sorted(by_day[d], key=lambda c: len(c.eligible)):
            have = sum(1 for uid in c.eligible if on.get((uid, d)) == c.type_id)
            t = mdl.types[c.type_id]
            order = sorted(c.eligible, key=lambda uid: ((uid, d, c.type_id) not in want,
                                                        nights[uid] if t.night else 0,
                                                        minutes[uid] / max(1, cap[uid]), uid))
            for uid in order:
                if have >= c.count:
                    break
                if uid in people and minutes[uid] + t.minutes <= cap[uid] and (uid, d, None) not in avoid \
                        and (uid, d, c.type_id) not in avoid and _free(mdl, people[uid], d, c.type_id, on):
                    on[(uid, d)] = c.type_id
                    minutes[uid] += t.minutes
                    nights[uid] += t.night
                    have += 1
    hint = mdl.m.AddHint
    for (uid, d, tid), v in mdl.x.items():
        hint(v, on.get((uid, d)) == tid)
    for (uid, d), w in mdl.work.items():
        hint(w, (uid, d) in on)
    for c, s in mdl.slack.items():
        hint(s, max(0, c.count - sum(1 for uid in c.eligible if on.get((uid, c.day)) == c.type_id)))
    for uid, (target, _worked) in getattr(mdl, "hours", {}).items():
        worked = sum(mdl.types[tid].minutes for (u, _d), tid in on.items() if u == uid)
        over = max(worked - target - p.hours_tolerance_minutes, target - p.hours_tolerance_minutes - worked, 0)
        hint(mdl.devs[uid], -(-over // 30))
    for iso, uid, d0, d1, d2 in getattr(mdl, "isolated", ()):
        hint(iso, (uid, d0) in on and (uid, d1) not in on and (uid, d2) in on)
    for u in p.people:
        for sat, w in getattr(mdl, "weekend_cache", {}).get(u.id, {}).items():
            hint(w, any(mdl.fact((d, tid), mdl.shift(d, tid), "weekend") == sat
                        for (uid, d), tid in on.items() if uid == u.id))
    for hi, lo, what, pick, prior in getattr(mdl, "spreads", ()):
        counts = [prior[u.id][what] + sum(1 for (uid, d), tid in on.items() if uid == u.id
                                          and pick(d, mdl.types[tid].kind)) for u in p.people]
        hint(hi, max(counts))
        hint(lo, min(counts))


def _free(mdl, u: Person, d: date, tid: int, on: dict) -> bool:
    if (u.id, d) in on or (u.id, d) in mdl.p.pins or mdl.why_not.get((u.id, d, tid)):
        return False
    t = mdl.types[tid]
    back = [(d - timedelta(days=k), on.get((u.id, d - timedelta(days=k)))) for k in range(1, 8)]
    if back[0][1] is not None and mdl.hour_gap(back[0][0], back[0][1], d, tid) < mdl.rest_hours(u):
        return False
    rests46 = u.rest_after_nights_hours or mdl.rules_of(u, "rest_after_nights")
    if rests46 and any(  # 46 h after nights, unless this night goes on the run
            pt is not None and mdl.types[pt].night and not (k == 0 and t.night)
            and mdl.hour_gap(pd, pt, d, tid) < 46 for k, (pd, pt) in enumerate(back[:3])):
        return False
    if not _free_by_rules(mdl, u, d, tid, on, back):
        return False
    run = next((k for k, (_pd, pt) in enumerate(back) if pt is None), 7)
    nights = next((k for k, (_pd, pt) in enumerate(back) if pt is None or not mdl.types[pt].night), 7)
    week = sum(mdl.types[pt].minutes for _pd, pt in back[:6] if pt is not None) + t.minutes
    return run < min(u.max_days, 5) and (not t.night or nights < min(u.max_nights, 3)) and \
        week <= u.weekly_cap_hours * 60 and not (t.long and run >= 3)


def _free_by_rules(mdl, u: Person, d: date, tid: int, on: dict, back: list) -> bool:
    """The greedy start's check of a doctor's weekends share and on-call rules (the rest is kept by ``_free``)."""
    t = mdl.types[tid]
    for r in mdl.rules_of(u, "weekends"):
        sat = mdl.fact((d, tid), mdl.shift(d, tid), "weekend")
        mine = {mdl.fact((dd, tt), mdl.shift(dd, tt), "weekend") for (uid, dd), tt in on.items() if uid == u.id}
        share = max(1, math.ceil(len(mdl.weekend_vars(u)) / r.params["one_in"]))
        if sat is not None and sat not in mine and len(mine - {None}) >= share:
            return False
    for r in mdl.rules_of(u, "on_call"):
        prev = back[0][1]
        if prev is not None and mdl.types[prev].kind == "on_call" and (
                t.kind == "on_call" and back[0][0].weekday() != 5
                or t.kind != "on_call" and t.minutes > r.params["day_after_max_hours"] * 60):
            return False
        if t.kind == "on_call" and sum(1 for _pd, pt in back[:6] if pt is not None
                                       and mdl.types[pt].kind == "on_call") >= r.params["max_per_7_days"]:
            return False
    return True
