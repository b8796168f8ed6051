"""The auto-roster's greedy starting rota: the CP-SAT search's first guess (pure: no Flask, no database).

Each function takes the built :class:`rota.autoroster.model.Model` as ``mdl``."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta

from rota.autoroster.problem import Person


def hint(mdl) -> None:
    """The greedy rota (:func:`start`) as the search's first guess (CP-SAT repairs whatever in it breaks a rule).
    Without it the single search worker can spend a loaded machine's whole time limit before its first solution."""
    p, on = mdl.p, start(mdl)
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


def start(mdl) -> dict:
    """The greedy starting rota, ``(user_id, day) -> type_id``: day by day, the scarcest clauses first, the
    least-worked free people who keep the rest, weekly and run limits; then fewer isolated single days off
    (:func:`_repair_days_off`)."""
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
    _repair_days_off(mdl, on, minutes, nights, cap, want, avoid)
    return on


def _isolated(mdl, uid, d: date, on: dict) -> int:
    """1 if ``d`` is an isolated single day off of ``uid`` in ``on`` as the model counts it (work, off, work)."""
    before, after = d - timedelta(days=1), d + timedelta(days=1)
    return int(before in mdl.dayset and after in mdl.dayset and (uid, d) not in on and (uid, d) not in mdl.p.leave
               and (uid, d) not in mdl.p.pins and (uid, before) in on and (uid, after) in on)


def _isolated_near(mdl, uid, d: date, on: dict) -> int:
    return sum(_isolated(mdl, uid, d + timedelta(days=k), on) for k in (-1, 0, 1))


def _keeps_rules(mdl, u: Person, d: date, on: dict) -> bool:
    """Every shift of ``u`` from ``d`` to the 8 days after it still passes ``_free`` (rest, runs, the week, 46 h)."""
    for k in range(9):
        e = d + timedelta(days=k)
        tid = on.get((u.id, e))
        if tid is None or (u.id, e) in mdl.p.pins:
            continue
        del on[(u.id, e)]
        ok = _free(mdl, u, e, tid, on)
        on[(u.id, e)] = tid
        if not ok:
            return False
    return True


def _spread_kept(counts, a, b, people, prior, what, sd=False) -> bool:
    """Moving one of ``a``'s counted shifts (nights, weekend shifts) to ``b`` keeps most − fewest as it was (with the
    fairness window before the period, as the model counts it); with ``sd``, the standard deviation too (``b`` had
    fewer than ``a``)."""
    now = [prior[uid][what] + counts[uid] for uid in people]
    if sd and prior[b][what] + counts[b] >= prior[a][what] + counts[a]:
        return False
    after = [prior[uid][what] + counts[uid] - (uid == a) + (uid == b) for uid in people]
    return max(after) - min(after) <= max(now) - min(now)


def _repair_days_off(mdl, on: dict, minutes, nights, cap, want, avoid, passes: int = 6) -> None:
    """Fewer isolated single days off in the greedy rota: hand a day's shift from one person to another free person
    who counts towards every requirement clause the giver counted towards (cover stays exactly the same), when that
    leaves fewer isolated days off between the two, keeps both within ``_free``'s rules and the greedy cap on hours,
    and moves neither further from their contracted hours in all, nor breaks a request, nor widens the nights /
    weekends spread. Deterministic: days, people and shift types in a fixed order."""
    p = mdl.p
    people = {u.id: u for u in p.people}
    counts = defaultdict(list)  # (day, type) -> eligible sets of its clauses
    for c in p.clauses:
        counts[(c.day, c.type_id)].append(c.eligible)
    targets = {uid: target for uid, (target, _w) in getattr(mdl, "hours", {}).items()}

    def off_target(uid, worked):  # minutes beyond the tolerance either side of the contract (the model's dev)
        target = targets.get(uid)
        return 0 if target is None else max(0, abs(worked - target) - p.hours_tolerance_minutes)

    prior, weekends = mdl.prior(), defaultdict(int)
    for (uid, d) in on:
        weekends[uid] += d.weekday() >= 5
    for _ in range(passes):
        changed = False
        for d in p.days:
            givers = sorted((uid, tid) for (uid, dd), tid in on.items() if dd == d and (uid, d) not in p.pins
                            and uid in people and (uid, d, tid) not in want and (uid, d, None) not in want)
            takers = [uid for uid in sorted(people) if (uid, d) not in on and (uid, d) not in p.pins
                      and (uid, d) not in p.leave and (uid, d, None) not in avoid]
            for a, tid in givers:
                if on.get((a, d)) != tid:
                    continue
                t = mdl.types[tid]
                hours_a = off_target(a, minutes[a] - t.minutes) - off_target(a, minutes[a])
                gain_a = _isolated_near(mdl, a, d, on)
                del on[(a, d)]
                gain_a -= _isolated_near(mdl, a, d, on)
                for b in takers:
                    if (b, d) in on or (b, d, tid) in avoid or minutes[b] + t.minutes > cap[b] \
                            or any(a in e and b not in e for e in counts[(d, tid)]) \
                            or (t.night and not _spread_kept(nights, a, b, people, prior, "nights", sd=True)) \
                            or (d.weekday() >= 5 and not _spread_kept(weekends, a, b, people, prior, "weekends")) \
                            or hours_a + off_target(b, minutes[b] + t.minutes) - off_target(b, minutes[b]) > 0:
                        continue
                    loss_b = _isolated_near(mdl, b, d, on)
                    if not _free(mdl, people[b], d, tid, on):
                        continue
                    on[(b, d)] = tid
                    if _isolated_near(mdl, b, d, on) - loss_b < gain_a and _keeps_rules(mdl, people[b], d, on) \
                            and _keeps_rules(mdl, people[a], d, on):
                        minutes[a] -= t.minutes
                        minutes[b] += t.minutes
                        nights[a] -= t.night
                        nights[b] += t.night
                        weekends[a] -= d.weekday() >= 5
                        weekends[b] += d.weekday() >= 5
                        changed = True
                        break
                    del on[(b, d)]
                else:
                    on[(a, d)] = tid
                    continue
                takers = [uid for uid in takers if uid != b] + [a]
        if not changed:
            return


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
