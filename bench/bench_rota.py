"""Rota benchmarks, printed in one run:

1. The team rota grid for 20, 60 and 200 staff over 4 weeks: SQL queries and time per staff-week, and the ratio of
   time per staff-week at 200 staff to 20 staff (flat = the grid scales with the team, not worse). Measured with the
   grid hooks other modules register (e.g. rule markers) and with the grid service alone.
2. Generating a 26-week rota from a line pattern for 60 people: time and rows per second (every assignment goes
   through rota.assignment.set_assignee, so overlap/leave/rule checks and audit entries are included).

Runs on a throwaway SQLite file, or on BENCH_DATABASE_URL (e.g. a scratch PostgreSQL database, which is emptied).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import date, timedelta
from datetime import time as dtime
from pathlib import Path

from sqlalchemy import event, insert, text

WEEKS = 4
SIZES = (20, 60, 200)
FIRST = date(2027, 1, 4)  # a Monday


def _app():
    from app import create_app

    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        path = Path(tempfile.mkdtemp(prefix="sb-bench-rota-")) / "bench.sqlite3"
        url = f"sqlite:///{path}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "AUDIT_KEY": "bench", "TESTING": True,
                      "FAST_PASSWORD_HASH": True, "RATELIMIT_STORAGE_URI": "memory://", "LOG_LEVEL": "WARNING"})
    with app.app_context():
        from flask_migrate import upgrade

        from core.db import db

        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade(revision="heads")
    return app


def _team(n: int, tag: str):
    """A team of n staff with E/L/N shift types, requirements, and ~4.5 shifts per person-week (bulk inserted)."""
    from core import accounts
    from core.accounts import Membership, TeamRole, User
    from core.db import db
    from rota import services
    from rota.models import Shift, ShiftState

    coord = accounts.create_user(email=f"coord-{tag}@bench.test", display_name=f"Coordinator {tag}",
                                 password="bench-password-1", grade="Band 7")
    team = accounts.create_team(name=f"Bench ward {tag}")
    accounts.add_member(team, coord, TeamRole.coordinator)
    types = [services.create_shift_type(team, code=c, name=c, start_local=dtime(h, m), duration_minutes=mins,
                                        actor=coord)
             for c, h, m, mins in (("E", 7, 0, 510), ("L", 13, 0, 510), ("N", 19, 30, 750))]
    for st in types:
        services.create_requirement(team, shift_type=st, min_count=max(2, n // 8), staff_group="nursing", actor=coord)
        services.create_requirement(team, shift_type=st, min_count=1, min_grade="Band 6", actor=coord)
    hash_ = coord.password_hash
    users = [{"email": f"s{i}-{tag}@bench.test", "display_name": f"Staff {i} {tag}", "password_hash": hash_,
              "grade": "Band 6" if i % 5 == 0 else "Band 5", "skills": ["IV-trained"] if i % 3 else [],
              "staff_group": "nursing", "is_admin": False, "active": True, "created_at": services.now_utc()}
             for i in range(n)]
    db.session.execute(insert(User), users)
    ids = [u.id for u in db.session.scalars(db.select(User).where(User.email.like(f"%-{tag}@bench.test"),
                                                                  User.id != coord.id))]
    db.session.execute(insert(Membership), [{"team_id": team.id, "user_id": uid, "role": TeamRole.staff,
                                             "created_at": services.now_utc()} for uid in ids])
    rows = []
    from core import timeutil

    for k, uid in enumerate(ids):
        for d in range(7 * WEEKS):
            if (d + k) % 3 == 2 or (d + 2 * k) % 7 == 6:
                continue  # days off
            st = types[(k + d // 7) % 3]
            day = FIRST + timedelta(days=d)
            starts, ends = timeutil.shift_instants(day, st.start_local, st.duration_minutes, team.timezone)
            rows.append({"team_id": team.id, "shift_type_id": st.id, "starts_at": starts, "ends_at": ends,
                         "assignee_id": uid, "state": ShiftState.scheduled, "required_skills": [],
                         "created_at": starts, "updated_at": starts, "version": 1})
    # Nights followed by an early the next day would overlap; keep only non-overlapping rows per person.
    rows.sort(key=lambda r: (r["assignee_id"], r["starts_at"]))
    kept, last_end = [], {}
    for r in rows:
        if last_end.get(r["assignee_id"]) and r["starts_at"] < last_end[r["assignee_id"]]:
            continue
        kept.append(r)
        last_end[r["assignee_id"]] = r["ends_at"]
    db.session.execute(insert(Shift), kept)
    db.session.commit()
    return team, coord, len(kept)


class QueryCounter:
    def __init__(self, engine):
        self.engine, self.count = engine, 0

    def _inc(self, *args, **kwargs):
        self.count += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._inc)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._inc)


def _measure_grid(team, coord, *, repeats: int = 5):
    from core.db import db
    from rota import services

    timings, queries = [], []
    for _ in range(repeats):
        db.session.expire_all()
        with QueryCounter(db.engine) as qc:
            t0 = time.perf_counter()
            grid = services.team_grid(team, FIRST, 7 * WEEKS, viewer=coord)
            cells = sum(1 for _ in grid.cells)
            timings.append(time.perf_counter() - t0)
        queries.append(qc.count)
        db.session.rollback()
    return statistics.median(timings), max(queries), cells


def bench_grid(app) -> None:
    from core.db import db
    from rota import services

    with app.app_context():
        teams = {n: _team(n, f"g{n}") for n in SIZES}
        print(f"Team rota grid, {WEEKS} weeks, engine {db.engine.dialect.name}")
        for label, hooks in (("with registered grid hooks", list(services.GRID_CELL_HOOKS)),
                             ("grid service alone", [])):
            saved = list(services.GRID_CELL_HOOKS)
            services.GRID_CELL_HOOKS[:] = hooks
            try:
                per = {}
                print(f"  {label} ({len(hooks)} hook(s)):")
                for n, (team, coord, nshifts) in teams.items():
                    _measure_grid(team, coord, repeats=1)  # warm caches
                    seconds, queries, cells = _measure_grid(team, coord)
                    staff_weeks = (n + 1) * WEEKS
                    per[n] = seconds / staff_weeks
                    print(f"    {n:>3} staff, {nshifts:>5} shifts: {queries:>3} SQL queries, {seconds * 1000:8.1f} ms, "
                          f"{per[n] * 1e6:8.1f} µs per staff-week")
                print(f"    ratio per staff-week 200/20 = {per[200] / per[20]:.2f} (target <= 1.5)")
            finally:
                services.GRID_CELL_HOOKS[:] = saved


def bench_generate(app) -> None:
    from core import accounts
    from core.accounts import TeamRole
    from core.db import db
    from rota import services

    with app.app_context():
        coord = accounts.create_user(email="coord-gen@bench.test", display_name="Coordinator gen",
                                     password="bench-password-1", grade="Band 7")
        team = accounts.create_team(name="Bench generation ward")
        accounts.add_member(team, coord, TeamRole.coordinator)
        for c, h, m, mins in (("E", 7, 0, 510), ("L", 13, 0, 510), ("N", 19, 30, 750)):
            services.create_shift_type(team, code=c, name=c, start_local=dtime(h, m), duration_minutes=mins,
                                       actor=coord)
        people = []
        for i in range(60):
            u = accounts.create_user(email=f"gen{i}@bench.test", display_name=f"Gen {i}", password="bench-password-1",
                                     grade="Band 5")
            accounts.add_member(team, u)
            people.append(u.id)
        db.session.commit()
        # A 6-week line pattern (about 4 shifts a week), one line per person, lines reused every 6 people.
        cycle = ("E E L L - - - " "- N N N - - - " "L L - - E E E " "- - E L L - - " "N N - - - E E " "- L L - - N N")
        first = FIRST
        last = first + timedelta(weeks=26) - timedelta(days=1)
        t0 = time.perf_counter()
        report = services.generate_from_pattern(team, pattern={"cycle": cycle, "person_ids": people},
                                                first_day=first, last_day=last, actor=coord)
        db.session.commit()
        seconds = time.perf_counter() - t0
        rows = len(report.created)
        print(f"Generate a 26-week rota from a 6-week line pattern for 60 people (engine {db.engine.dialect.name}):")
        print(f"  {rows} shifts ({rows - report.open_count} assigned through set_assignee, {report.open_count} left "
              f"open by checks) in {seconds:.2f} s = {rows / seconds:.0f} rows/s")


def main() -> None:
    app = _app()
    bench_grid(app)
    bench_generate(app)


if __name__ == "__main__":
    main()
