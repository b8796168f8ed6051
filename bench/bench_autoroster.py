"""Auto-roster on a generated ward (pure model, no database): 40 staff (RNs Band 5-7, HCAs, IV skill), a 6-week
period, Early / Late / Night / Long Day, requirements per shift, ~10 % leave, 3 requests per person. Prints the solve
time, requirement places filled, requests honoured, blocking verdicts of the rules engine over the draft and the
spread of nights. One run; set AUTOROSTER_BENCH_STAFF / _WEEKS / _LIMIT to change the size or the time limit."""

from __future__ import annotations

import os
import random
import statistics
import time as clock
from datetime import date, time, timedelta

from rota.autoroster import model as m
from rota.compliance import rules

E = m.ShiftKind(1, "E", "Early", time(7), 510)
L = m.ShiftKind(2, "L", "Late", time(13), 510)
N = m.ShiftKind(3, "N", "Night", time(19, 30), 750, "night")
LD = m.ShiftKind(4, "LD", "Long Day", time(7), 750)


def ward(staff: int, weeks: int, seed: int = 42) -> m.Problem:
    rnd = random.Random(seed)
    days = [date(2026, 3, 2) + timedelta(days=i) for i in range(7 * weeks)]
    rns = round(staff * 0.7)
    people, grade, iv, group = [], {}, set(), {}
    for i in range(1, staff + 1):
        fte = rnd.choice([1000] * 7 + [600] * 3)
        people.append(m.Person(i, f"P{i}", weekly_minutes=2250 * fte // 1000))
        if i <= rns:
            group[i], grade[i] = "rn", rnd.choice([5] * 4 + [6] * 2 + [7])
            if rnd.random() < 0.5:
                iv.add(i)
        else:
            group[i], grade[i] = "hca", 3
    rn = frozenset(i for i in group if group[i] == "rn")
    senior = frozenset(i for i in rn if grade[i] >= 6)
    hca = frozenset(i for i in group if group[i] == "hca")
    scale = staff / 40
    need = [(E, "registered nurses", rn, 4), (E, "RNs at Band 6 or above", senior, 1), (E, "IV-trained RNs",
            frozenset(iv), 1), (E, "healthcare assistants", hca, 2), (L, "registered nurses", rn, 4),
            (L, "healthcare assistants", hca, 2), (N, "registered nurses", rn, 3), (N, "RNs at Band 6 or above",
            senior, 1), (N, "healthcare assistants", hca, 1)]
    clauses = [m.Clause(k, t.id, d, max(1, round(n * scale)), who, elig)
               for d in days for k, (t, who, elig, n) in enumerate(need)]
    leave = set()
    for u in people:
        if rnd.random() < 0.6:
            start = rnd.randrange(len(days) - 7)
            leave |= {(u.id, days[start + k]) for k in range(rnd.randint(3, 7))}
    requests = []
    for u in people:
        for _ in range(3):
            kind = rnd.choice(["want", "avoid", "avoid"])
            requests.append(m.Request(u.id, rnd.choice(days), kind,
                                      rnd.choice([E.id, L.id, N.id]) if kind == "want" else None, rnd.randint(1, 3)))
    requests = list({(r.user_id, r.day): r for r in requests}.values())
    return m.Problem(days, "Europe/London", [E, L, N, LD], people, clauses, leave=leave, requests=requests)


def main() -> None:
    staff = int(os.environ.get("AUTOROSTER_BENCH_STAFF", "40"))
    weeks = int(os.environ.get("AUTOROSTER_BENCH_WEEKS", "6"))
    limit = float(os.environ.get("AUTOROSTER_BENCH_LIMIT", "60"))
    p = ward(staff, weeks)
    places = sum(c.count for c in p.clauses)
    t0 = clock.perf_counter()
    draft = m.solve(p, seed=1, time_limit=limit, deterministic_limit=10 * limit)
    took = clock.perf_counter() - t0
    missing = sum(g["missing"] for g in draft.gaps)
    t1 = clock.perf_counter()
    blocking = m.judge(draft, {t.id: t for t in p.types}, p.tz, lambda _u: ([rules.RULE_SETS["WTR"]], False))
    judged = clock.perf_counter() - t1
    nights = list(draft.summary.get("nights", {}).values())
    print(f"{staff} staff, {weeks} weeks, {len(p.clauses)} requirement clauses ({places} places), "
          f"{len(p.requests)} requests, {len(p.leave)} leave days; load {os.getloadavg()[0]:.1f}")
    print(f"status {draft.status}; solve {took:.1f} s (limit {limit:.0f} s, 1 worker); engine judged the draft in "
          f"{judged:.1f} s")
    print(f"places filled {places - missing}/{places} = {100 * (places - missing) / places:.1f} %")
    share = 100 * draft.honoured / max(1, len(p.requests))
    print(f"requests honoured {draft.honoured}/{len(p.requests)} = {share:.1f} %")
    print(f"blocking verdicts of the rules engine: {sum(len(v) for v in blocking.values())}")
    if nights:
        print(f"nights per person: mean {statistics.mean(nights):.1f}, sd {statistics.pstdev(nights):.2f}, "
              f"min {min(nights)}, max {max(nights)}")
