"""Auto-roster on generated wards (pure model, no database; one run each; every figure printed with the load average).

(a) 40 staff (RNs Band 5-7, HCAs, IV skill), a 6-week period, Early / Late / Night / Long Day, requirements per
    shift, ~10 % leave, 3 requests per person: solve time, places filled against the upper bound the data allow (the
    same hard rules with cover as the only objective: CP-SAT's proven bound), requests honoured, blocking verdicts of
    the rules engine over the draft (must be 0), and nights per person against the pattern-generated rota
    (``rota.patterns.line_occurrences``, a 6-week line cycle) for the same ward.
(b) 100 staff, 6 weeks (limit 180 s), and how time grows: 20 / 40 / 100 staff x 2 / 4 / 6 weeks at a small limit.
(c) 60 doctors in training on a TCS 2016 rota with Days, Long Days, Nights and on-call: blocking verdicts of the
    2016 limits (must be 0).

``python -m bench autoroster``; AUTOROSTER_BENCH_PARTS=a,b,c picks parts, AUTOROSTER_BENCH_LIMIT the (a) limit.
"""

from __future__ import annotations

import os
import random
import statistics
import time as clock
from collections import Counter
from datetime import date, time, timedelta

from rota.autoroster import model as m
from rota.autoroster import problem as pb
from rota.autoroster.judge import judge
from rota.compliance import rules
from rota.patterns import line_occurrences, parse_cycle

E = pb.ShiftKind(1, "E", "Early", time(7), 510)
L = pb.ShiftKind(2, "L", "Late", time(13), 510)
N = pb.ShiftKind(3, "N", "Night", time(19, 30), 750, "night")
LD = pb.ShiftKind(4, "LD", "Long Day", time(7), 750)
START = date(2026, 3, 2)  # a Monday; a 6-week period crosses the clock change of 29 March
WTR = [rules.RULE_SETS["WTR"]]
TCS = [rules.RULE_SETS["TCS2016"], rules.RULE_SETS["WTR"]]
# The ward's 6-week line pattern (28 shifts, one run of 4 nights): what the pattern generator rosters today.
CYCLE = parse_cycle("E E E L L - -  - L L E E E -  N N N N - - -  - - E E L L E  L L - - E E L  - E E L L - -")


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def ward(staff: int, weeks: int, seed: int = 42) -> pb.Problem:
    rnd = random.Random(seed)
    days = [START + timedelta(days=i) for i in range(7 * weeks)]
    rns = round(staff * 0.7)
    people, grade, iv, group = [], {}, set(), {}
    for i in range(1, staff + 1):
        fte = rnd.choice([1000] * 7 + [600] * 3)
        people.append(pb.Person(i, f"P{i}", weekly_minutes=2250 * fte // 1000, rules=pb.blocking_rules(WTR)))
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
    clauses = [pb.Clause(k, t.id, d, max(1, round(n * scale)), who, elig)
               for d in days for k, (t, who, elig, n) in enumerate(need)]
    return pb.Problem(days, "Europe/London", [E, L, N, LD], people, clauses, leave=_leave(rnd, people, days),
                     requests=_requests(rnd, people, days, [E.id, L.id, N.id]))


def _leave(rnd, people, days) -> set:
    leave = set()
    for u in people:
        if rnd.random() < 0.6:
            start = rnd.randrange(len(days) - 7)
            leave |= {(u.id, days[start + k]) for k in range(rnd.randint(3, 7))}
    return leave


def _requests(rnd, people, days, type_ids) -> list:
    requests = []
    for u in people:
        for _ in range(3):
            kind = rnd.choice(["want", "avoid", "avoid"])
            requests.append(pb.Request(u.id, rnd.choice(days), kind, rnd.choice(type_ids) if kind == "want" else None,
                                      rnd.randint(1, 3)))
    return list({(r.user_id, r.day): r for r in requests}.values())


def doctors(count: int, weeks: int, seed: int = 7) -> pb.Problem:
    """Doctors in training under TCS 2016: Day 08:00-17:00, Long Day 08:00-21:00, Night 21:00-09:00 (12 h) and an
    evening on-call 17:00-08:00 from home."""
    rnd = random.Random(seed)
    day = pb.ShiftKind(11, "D", "Day", time(8), 540)
    long_day = pb.ShiftKind(12, "LD", "Long Day", time(8), 780)
    night = pb.ShiftKind(13, "N", "Night", time(21), 720, "night")
    call = pb.ShiftKind(14, "OC", "On call", time(17), 900, "on_call")
    days = [START + timedelta(days=i) for i in range(7 * weeks)]
    people = [pb.Person(i, f"Dr{i}", weekly_minutes=2400, rules=pb.blocking_rules(TCS)) for i in range(1, count + 1)]
    everyone = frozenset(u.id for u in people)
    seniors = frozenset(u.id for u in people if u.id % 3 == 0)  # ST3+: the registrar on each shift
    scale = count / 60
    clauses = []
    for d in days:
        weekday = d.weekday() < 5
        for k, (t, n, who, elig) in enumerate([(day, 14 if weekday else 3, "doctors", everyone),
                                               (long_day, 5, "doctors", everyone),
                                               (long_day, 1, "registrars", seniors), (night, 4, "doctors", everyone),
                                               (night, 1, "registrars", seniors), (call, 2, "doctors", everyone)]):
            clauses.append(pb.Clause(k, t.id, d, max(1, round(n * scale)), who, elig))
    return pb.Problem(days, "Europe/London", [day, long_day, night, call], people, clauses,
                     leave=_leave(rnd, people, days), requests=_requests(rnd, people, days, [day.id, long_day.id]))


def breaches(p: pb.Problem, draft: pb.Draft, sets) -> tuple[int, Counter, float]:
    t0 = clock.perf_counter()
    blocking = judge(draft, {t.id: t for t in p.types}, p.tz, lambda _u: (sets, False),
                       leave={u: [rules.LeaveSpan(d, d) for uu, d in p.leave if uu == u] for u, _ in p.leave})
    verdicts = [v for vs in blocking.values() for v in vs]
    return len(verdicts), Counter(v.rule_id for v in verdicts), clock.perf_counter() - t0


def run(p: pb.Problem, limit: float) -> tuple[pb.Draft, str, str]:
    """Solve; the time as wall and CPU seconds (on the shared machine a 60 s wall limit may be ~12 s of CPU)."""
    before = load()
    t0, c0 = clock.perf_counter(), clock.process_time()
    draft = m.solve(p, seed=1, time_limit=limit, deterministic_limit=10 * limit)
    return draft, f"{clock.perf_counter() - t0:.1f} s wall, {clock.process_time() - c0:.1f} s CPU", before


def filled(p: pb.Problem, draft: pb.Draft) -> tuple[int, int]:
    places = sum(c.count for c in p.clauses)
    return places - sum(g["missing"] for g in draft.gaps), places


def sd(values) -> str:
    values = list(values)
    return (f"mean {statistics.mean(values):.2f}, sd {statistics.pstdev(values):.2f}, min {min(values)}, "
            f"max {max(values)}")


def pattern_nights(p: pb.Problem) -> tuple[dict, dict]:
    """Nights per person on the pattern-generated rota for the same ward: as generated, and after the coordinator
    takes people off the shifts that fall on their leave."""
    ids = [u.id for u in p.people]
    occ = line_occurrences(CYCLE, ids, p.days[0], p.days[-1])
    raw = {uid: 0 for uid in ids}
    kept = dict(raw)
    for o in occ:
        if o.code == "N":
            raw[o.person_id] += 1
            kept[o.person_id] += (o.person_id, o.day) not in p.leave
    return raw, kept


def part_a(limit: float) -> None:
    for extra in (float(x) for x in os.environ.get("AUTOROSTER_BENCH_MORE", "").split(",") if x):
        p = ward(40, 6)
        draft, took, before = run(p, extra)
        got, places = filled(p, draft)
        print(f"(a') 40 staff, 6 weeks at a {extra:.0f} s limit: status {draft.status}; {took} ({before}); filled "
              f"{got}/{places} = {100 * got / places:.1f} %; requests honoured {draft.honoured}/{len(p.requests)}; "
              f"blocking verdicts {breaches(p, draft, WTR)[0]}; "
              f"nights {sd(draft.summary.get('nights', {0: 0}).values())}")
    p = ward(40, 6)
    print(f"(a) 40 staff, 6 weeks: {len(p.clauses)} requirement clauses, {sum(c.count for c in p.clauses)} places, "
          f"{len(p.requests)} requests, {len(p.leave)} leave days "
          f"({100 * len(p.leave) / (len(p.people) * len(p.days)):.1f} % of person-days)")
    draft, took, before = run(p, limit)
    got, places = filled(p, draft)
    n, by_rule, judged = breaches(p, draft, WTR)
    print(f"    status {draft.status}; solve {took} (limit {limit:.0f} s, 1 worker; {before}, after {load()})")
    print(f"    places filled {got}/{places} = {100 * got / places:.1f} %")
    before = load()
    t0 = clock.perf_counter()
    bound = m.cover_bound(p, time_limit=limit)
    took = clock.perf_counter() - t0
    print(f"    upper bound the data allow (same hard rules, cover the only objective, {took:.1f} s wall, "
          f"{'proven optimal' if bound['optimal'] else 'CP-SAT bound at the limit'}; {before}): "
          f"{bound['upper_bound']}/{places} = {100 * bound['upper_bound'] / places:.1f} % (best found "
          f"{bound['filled']}); the draft fills {100 * got / bound['upper_bound']:.1f} % of what the data allow")
    print(f"    requests honoured {draft.honoured}/{len(p.requests)} = {100 * draft.honoured / len(p.requests):.1f} %")
    print(f"    blocking verdicts of the rules engine (WTR): {n} {dict(by_rule)} (judged in {judged:.1f} s)")
    print(f"    isolated single days off: {draft.summary.get('isolated_days_off')}")
    raw, kept = pattern_nights(p)
    print(f"    nights per person, auto-roster: {sd(draft.summary['nights'].values())}")
    print(f"    nights per person, pattern rota (6-week lines) as generated: {sd(raw.values())}; after taking leave "
          f"days off it: {sd(kept.values())}")


def part_b() -> None:
    p = ward(100, 6)
    draft, took, before = run(p, 180)
    got, places = filled(p, draft)
    n, by_rule, _ = breaches(p, draft, WTR)
    print(f"(b) 100 staff, 6 weeks: status {draft.status}; solve {took} (limit 180 s; {before}, after {load()}); "
          f"filled {got}/{places} = {100 * got / places:.1f} %; requests honoured "
          f"{100 * draft.honoured / len(p.requests):.1f} %; blocking verdicts {n} {dict(by_rule)}")
    small = float(os.environ.get("AUTOROSTER_BENCH_SMALL_LIMIT", "15"))
    print(f"    growth at a {small:.0f} s limit (model build + solve; x = staff x days x 4 shift types):")
    for staff in (20, 40, 100):
        for weeks in (2, 4, 6):
            p = ward(staff, weeks)
            draft, took, before = run(p, small)
            got, places = filled(p, draft)
            print(f"    {staff:3d} staff x {weeks} weeks: {len(p.people) * len(p.days) * 4:6d} x, status "
                  f"{draft.status:8s} {took}, filled {100 * got / places:5.1f} % ({before})")


def part_c() -> None:
    p = doctors(60, 6)
    draft, took, before = run(p, 120)
    got, places = filled(p, draft)
    n, by_rule, judged = breaches(p, draft, TCS)
    weekends = Counter()
    for a in draft.assignments:
        sat = rules.weekend_of(rules.WorkShift(a.starts_at, a.ends_at, tz=p.tz))
        if sat is not None:
            weekends[(a.user_id, sat)] += 1
    per = Counter(uid for uid, _sat in weekends)
    print(f"(c) 60 doctors in training, TCS 2016 + WTR, Day / Long Day / Night / on-call, 6 weeks: status "
          f"{draft.status}; solve {took} (limit 120 s; {before}, after {load()})")
    print(f"    filled {got}/{places} = {100 * got / places:.1f} %; requests honoured "
          f"{100 * draft.honoured / len(p.requests):.1f} %; weekends worked per doctor: max "
          f"{max(per.values(), default=0)} of 6")
    print(f"    blocking verdicts of the 2016 limits and WTR: {n} {dict(by_rule)} (judged in {judged:.1f} s)")


def main() -> None:
    parts = os.environ.get("AUTOROSTER_BENCH_PARTS", "a,b,c").split(",")
    if "a" in parts:
        part_a(float(os.environ.get("AUTOROSTER_BENCH_LIMIT", "60")))
    if "b" in parts:
        part_b()
    if "c" in parts:
        part_c()
