"""Working-time rules: one person's 26-week rota (~130 shifts) against every rule set (target <= 5 ms); a what-if
swap check for two people end to end through the API on SQLite (target <= 10 ms); a 60-person team for 26 weeks
through the service (one bulk load, then the engine per person); and how the engine's time grows from 20 to 200
people (it should be linear).

Runs on a throw-away SQLite file. Prints figures measured in this run.
"""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from bench.common import timed as common_timed
from rota.compliance import rules
from rota.compliance.rules import WorkShift

RUNS = 21
START = date(2026, 1, 5)  # a Monday; 26 weeks cross the March clock change
TZ = "Europe/London"
E, L, LD, N = ("07:00", 8.5, "day", "Early"), ("13:00", 8.5, "day", "Late"), ("07:00", 12.5, "day", "Long day"), \
    ("19:30", 12.5, "night", "Night")
# A 5-week nursing line (Mon..Sun), 23 shifts: each person starts it at a different week.
LINE = [E, E, E, L, L, None, None,
        None, LD, LD, None, LD, LD, LD,
        None, None, N, N, N, N, None,
        None, E, E, E, L, L, None,
        E, None, L, L, L, None, None]
RANDOM = [E, L, LD, N]


def rota(person: int, weeks: int = 26, *, stress: bool = False) -> list[tuple[datetime, datetime, str, str]]:
    """A person's shifts for ``weeks`` weeks: the 5-week line, or (stress) 5 random shifts a week, which breaks
    rest rules all the time and so makes the engine write many verdicts."""
    rnd = random.Random(person)
    out = []
    for w in range(weeks):
        if stress:
            picks = [(d, RANDOM[(person + w + d) % 4]) for d in sorted(rnd.sample(range(7), 5))]
        else:
            picks = [(d, LINE[((w + person) % 5) * 7 + d]) for d in range(7)]
        for d, spec in picks:
            if spec is None:
                continue
            hhmm, hours, kind, name = spec
            h, m = map(int, hhmm.split(":"))
            day = START + timedelta(weeks=w, days=d)
            start = rules.local_datetime(day, time(h, m), TZ)
            end = start + timedelta(hours=hours)
            if out and start < out[-1][1]:
                continue  # keep one person's shifts apart
            out.append((start, end, kind, name))
    return out


def work_shifts(person: int, base_id: int = 1, stress: bool = False) -> list[WorkShift]:
    return [WorkShift(s, e, kind=k, tz=TZ, name=n, id=base_id + i, key=base_id + i)
            for i, (s, e, k, n) in enumerate(rota(person, stress=stress))]


def median_ms(fn, runs: int = RUNS) -> float:
    return timed(fn, runs)[0]


def timed(fn, runs: int = RUNS) -> tuple[float, float]:
    return common_timed(fn, runs)


def bench_engine() -> None:
    sets = list(rules.RULE_SETS)
    for stress in (False, True):
        shifts = work_shifts(1, stress=stress)
        rules.evaluate(shifts, sets)  # warm caches (zone offsets)
        wall, cpu = timed(lambda shifts=shifts: rules.evaluate(shifts, sets))
        found = rules.evaluate(shifts, sets)
        kind = "random shifts (stress)" if stress else "5-week nursing line"
        print(f"one person, {len(shifts)} shifts over 26 weeks, {kind}, {'+'.join(sets)}: median {wall:.2f} ms "
              f"wall, {cpu:.2f} ms CPU ({len(found)} verdicts)  [target <= 5 ms]")


def bench_growth() -> None:
    sets = ["TCS2016", "WTR"]
    rows = []
    for people in (20, 60, 100, 200):
        team = [work_shifts(p, p * 1000) for p in range(people)]
        for s in team[:3]:
            rules.evaluate(s, sets)
        wall, cpu = timed(lambda team=team: [rules.evaluate(s, sets) for s in team], runs=5)
        rows.append((people, wall, cpu))
    base_people, _, base_cpu = rows[0]
    for people, wall, cpu in rows:
        print(f"engine, {people:>3} people x 26 weeks ({'+'.join(sets)}): {wall:8.1f} ms wall, {cpu:8.1f} ms CPU "
              f"({cpu / people:.2f} ms CPU/person; x{cpu / base_cpu:.2f} CPU for x{people / base_people:.0f} people)")


def _app():
    from app import create_app

    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-rules-')) / 'bench.sqlite3'}"
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "AUDIT_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                      "WTF_CSRF_ENABLED": False, "FAST_PASSWORD_HASH": True, "RATELIMIT_STORAGE_URI": "memory://",
                      "PUBLIC_BASE_URL": "http://localhost", "LOG_LEVEL": "WARNING"})
    return app


def bench_service() -> None:
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from core import accounts
    from core.accounts import TeamRole
    from core.db import db
    from rota.compliance.profiles import profile_for
    from rota.compliance.rotas import MARGIN, load_shifts
    from rota.compliance.team_report import verdicts_for_people
    from rota.compliance.verdicts import verdicts_for_change
    from rota.models import Shift, ShiftState

    app = _app()
    with app.app_context():
        upgrade(revision="heads")
        coord = accounts.create_user(email="coord@example.test", display_name="Coordinator", password="x" * 12,
                                     grade="Band 7")
        team = accounts.create_team(name="Bench ward")
        accounts.add_member(team, coord, TeamRole.coordinator)
        people = []
        for p in range(60):
            u = accounts.create_user(email=f"p{p}@example.test", display_name=f"Person {p}", password="x" * 12,
                                     staff_group="medical" if p % 3 == 0 else "nursing",
                                     grade="ST3" if p % 3 == 0 else "Band 5")
            accounts.add_member(team, u, TeamRole.staff)
            people.append(u)
        db.session.flush()
        rows = [dict(team_id=team.id, starts_at=s, ends_at=e, assignee_id=u.id, state=ShiftState.scheduled)
                for p, u in enumerate(people) for (s, e, _k, _n) in rota(p)]
        db.session.execute(insert(Shift), rows)
        _, secret = accounts.create_token(coord, "bench")
        db.session.commit()
        iso = lambda dt: dt.astimezone(UTC).isoformat()  # noqa: E731

        def swap_bodies(a, b):
            """The two what-if bodies of a swap of each one's 61st shift."""
            a_shift, b_shift = (db.session.scalars(db.select(Shift).where(Shift.assignee_id == p.id)
                                                   .order_by(Shift.starts_at).offset(60).limit(1)).one()
                                for p in (a, b))
            return [{"user_id": p.id, "add": [{"starts_at": iso(theirs.starts_at), "ends_at": iso(theirs.ends_at),
                                               "team_id": team.id}], "remove": [mine.id]}
                    for p, mine, theirs in ((a, a_shift, b_shift), (b, b_shift, a_shift))]

        body_a, body_b = swap_bodies(people[0], people[3])  # two doctors in training
        nurse_bodies = swap_bodies(people[1], people[4])  # two nurses (WTR)
        lo = rules.local_datetime(START, time(0), TZ)
        hi = lo + timedelta(weeks=26)
        n_shifts = len(rows)
        db.session.remove()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}

    def swap_check(bodies=(body_a, body_b)):
        for body in bodies:
            resp = client.post("/api/v1/compliance/check", json=body, headers=headers)
            assert resp.status_code == 200, resp.get_data(as_text=True)

    swap_check()
    wall, cpu = timed(swap_check)
    print(f"what-if swap check, two doctors in training (2 x POST /api/v1/compliance/check, SQLite; TCS's 26-week "
          f"weekend cycle means 54 weeks of each rota are read): median {wall:.2f} ms wall, {cpu:.2f} ms CPU  "
          f"[target <= 10 ms]")
    swap_check(nurse_bodies)
    wall, cpu = timed(lambda: swap_check(nurse_bodies))
    print(f"what-if swap check, two nurses (WTR; 54 weeks of each rota read: screening pays only for a pool): "
          f"median {wall:.2f} ms wall, {cpu:.2f} ms CPU  [target <= 10 ms]")

    with app.app_context():
        from types import SimpleNamespace

        from core.accounts import Team, User

        team_obj = db.session.get(Team, team.id)
        ua, ub = db.session.get(User, body_a["user_id"]), db.session.get(User, body_b["user_id"])
        like = lambda body: SimpleNamespace(  # noqa: E731
            id=None, team=team_obj, shift_type=None, kind="day", name="Long day",
            starts_at=datetime.fromisoformat(body["add"][0]["starts_at"]),
            ends_at=datetime.fromisoformat(body["add"][0]["ends_at"]))

        def service_only():
            verdicts_for_change(ua, add=[like(body_a)], remove=body_a["remove"])
            verdicts_for_change(ub, add=[like(body_b)], remove=body_b["remove"])

        service_only()
        wall, cpu = timed(service_only)
        print(f"  of which the service (settings + rota + leave queries + engine, no HTTP/auth/validation): "
              f"median {wall:.2f} ms wall, {cpu:.2f} ms CPU")
        shifts_a = load_shifts([ua.id], ua_lo := like(body_a).starts_at - MARGIN,
                                          ua_lo + 2 * MARGIN)[ua.id]
        prof = profile_for(ua, team_obj)
        focus = [shifts_a[len(shifts_a) // 2].identity]
        wall, cpu = timed(lambda: rules.evaluate(shifts_a, prof.rule_sets, focus=focus))
        print(f"  of which the engine alone ({len(shifts_a)} shifts, focused on one): median {wall:.2f} ms wall, "
              f"{cpu:.2f} ms CPU per person")
        db.session.remove()

    with app.app_context():
        from core.accounts import Team

        team = db.session.get(Team, team.id)
        ids = [u.id for u in db.session.scalars(db.select(accounts.User).where(accounts.User.email.like("p%")))]
        verdicts_for_people(ids, lo, hi, team=team)
        wall, cpu = timed(lambda: verdicts_for_people(ids, lo, hi, team=team), runs=5)
        found = verdicts_for_people(ids, lo, hi, team=team)
        print(f"whole team, {len(ids)} people x 26 weeks ({n_shifts} shifts) through the service on SQLite "
              f"(bulk load + engine, own rule sets): median {wall:.1f} ms wall, {cpu:.1f} ms CPU "
              f"({sum(len(v) for v in found.values())} verdicts)")
        db.session.remove()


def main() -> None:
    bench_engine()
    bench_growth()
    bench_service()


if __name__ == "__main__":
    main()
