"""Swaps and open shifts.

1. Eligibility for one open shift among 1,000 staff, each with 26 weeks of shifts (~5 a week): the batched checks
   (candidates, grade, skills, leave, overlap: a fixed handful of queries), target <= 300 ms; how it grows from 250 to
   1,000 staff; and the full answer including the compliance engine's what-if for every remaining candidate.
2. Fifty concurrent "I'll take it" claims of one open shift through the HTTP API on PostgreSQL (threads, one bearer
   token each, against a real threaded server): exactly one 2xx; wall-clock time for the burst.

Eligibility runs on a throw-away SQLite file. The HTTP race uses BENCH_DATABASE_URL, else TEST_DATABASE_URL, else
creates the database ``sb_swaps_bench`` on the local PostgreSQL (postgres@127.0.0.1); its schema is rebuilt.
Prints figures measured in this run.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time as clock
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from bench.common import reset_postgres, timed

STAFF_SIZES = (250, 500, 1000)
WEEKS = 26
RUNS = 7


def _config(url: str) -> dict:
    return {"TESTING": True, "SECRET_KEY": "bench", "AUDIT_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
            "WTF_CSRF_ENABLED": False, "FAST_PASSWORD_HASH": True, "RATELIMIT_STORAGE_URI": "memory://",
            "LOG_LEVEL": "WARNING"}


def _app(url: str):
    import logging

    from flask_migrate import upgrade

    from app import create_app
    from core.db import db

    app = create_app(_config(url))
    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        upgrade(revision="heads")
        db.engine.dispose()
    return app


def _seed_team(n: int, tag: str, base: datetime):
    """``n`` Band 5 nurses in one team, each with 26 weeks of Early/Late/Night shifts (5 a week), by bulk insert."""
    from sqlalchemy import insert

    from core.accounts import Membership, Team, TeamRole, User
    from core.db import db
    from rota.models import Shift, ShiftKind, ShiftState, ShiftType

    team = Team(name=f"Bench ward {tag}", timezone="Europe/London")
    db.session.add(team)
    db.session.flush()
    types = [ShiftType(team_id=team.id, code=c, name=nm, start_local=t, duration_minutes=m, kind=k)
             for c, nm, t, m, k in (("E", "Early", time(7), 510, ShiftKind.day), ("L", "Late", time(13), 510,
                                                                                    ShiftKind.day),
                                    ("N", "Night", time(19, 30), 750, ShiftKind.night))]
    db.session.add_all(types)
    db.session.flush()
    now = datetime.now(UTC)
    users = [{"email": f"{tag}-{i}@bench.test", "display_name": f"Nurse {tag}-{i}", "password_hash": "x",
              "staff_group": "nursing", "grade": "Band 5" if i % 10 else "Band 4",
              "skills": ["IV-trained"] if i % 7 else [], "is_admin": False, "active": True, "created_at": now}
             for i in range(n)]
    db.session.execute(insert(User), users)
    ids = [u.id for u in db.session.scalars(
        db.select(User).where(User.email.like(f"{tag}-%@bench.test")).order_by(User.id))]
    db.session.execute(insert(Membership), [{"team_id": team.id, "user_id": uid, "role": TeamRole.staff,
                                             "created_at": now} for uid in ids])
    rows = []
    for k, uid in enumerate(ids):
        for w in range(WEEKS):
            for d in range(7):
                if (d + k) % 7 in (5, 6):
                    continue  # two days off a week
                st = types[(w + k) % 3]
                day = base + timedelta(weeks=w, days=d)
                start = day.replace(hour=st.start_local.hour, minute=st.start_local.minute)
                if st.code == "N" and d in (3, 6):
                    continue  # a night on the last day would run into next week's first early
                rows.append({"team_id": team.id, "shift_type_id": st.id, "starts_at": start,
                             "ends_at": start + timedelta(minutes=st.duration_minutes), "assignee_id": uid,
                             "state": ShiftState.scheduled, "required_skills": [], "created_at": now,
                             "updated_at": now, "version": 1})
    for i in range(0, len(rows), 5000):
        db.session.execute(insert(Shift), rows[i:i + 5000])
    gap_start = (base + timedelta(weeks=WEEKS // 2, days=2)).replace(hour=9)  # a mid-morning gap, mid-period
    gap = Shift(team_id=team.id, shift_type_id=types[0].id, starts_at=gap_start,
                ends_at=gap_start + timedelta(hours=6), state=ShiftState.open, required_grade="Band 5",
                required_skills=["IV-trained"])
    db.session.add(gap)
    db.session.commit()
    return gap.id, len(rows)


def _median_ms(fn, runs=RUNS) -> tuple[float, float]:
    return timed(fn, runs)


def bench_eligibility() -> None:
    from sqlalchemy import event

    from core.db import db
    from rota.models import Shift
    from rota.swaps import eligibility

    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-swaps-")) / "bench.sqlite3"
    app = _app(f"sqlite:///{tmp}")
    base = (datetime.now(UTC) + timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    with app.app_context():
        seeded = {n: _seed_team(n, f"t{n}", base) for n in STAFF_SIZES}
        total_shifts = sum(c for _, c in seeded.values())
        print(f"seeded {sum(STAFF_SIZES)} staff in {len(STAFF_SIZES)} teams, {total_shifts} shifts "
              f"({WEEKS} weeks each, ~5 a week), SQLite")
        cheap = {}
        for n, (gap_id, _) in seeded.items():
            def run(gap_id=gap_id):
                db.session.expire_all()
                shift = db.session.get(Shift, gap_id)
                return eligibility.assess(shift, with_compliance=False)

            result = run()
            ok = sum(1 for r in result if r.ok)
            statements = []

            def count(*args, statements=statements):
                statements.append(1)

            event.listen(db.engine, "before_cursor_execute", count)
            run()
            event.remove(db.engine, "before_cursor_execute", count)
            cheap[n], cpu = _median_ms(run)
            print(f"  {n:5d} staff: batched checks {cheap[n]:7.1f} ms wall, {cpu:6.1f} ms CPU, median of {RUNS} "
                  f"({len(statements)} queries; {ok} pass grade/skills/leave/overlap)")
        first, last = STAFF_SIZES[0], STAFF_SIZES[-1]
        print(f"  growth {first} -> {last} staff ({last / first:.0f}x): {cheap[last] / cheap[first]:.2f}x time; "
              f"target <= 300 ms at 1,000: {'met' if cheap[last] <= 300 else 'NOT met'} ({cheap[last]:.0f} ms)")
        full = {}
        for n, (gap_id, _) in seeded.items():
            def run_full(gap_id=gap_id):
                db.session.expire_all()
                return eligibility.assess(db.session.get(Shift, gap_id))

            result = run_full()
            full[n], cpu = _median_ms(run_full)
            ok = [r for r in result if r.ok]
            checked = sum(1 for r in result if not r.reasons)
            print(f"  {n:5d} staff incl. the compliance what-if for the {checked} remaining candidates: "
                  f"{full[n]:7.1f} ms wall, {cpu:6.1f} ms CPU, median of {RUNS} ({len(ok)} eligible, "
                  f"{sum(1 for r in ok if r.warnings)} with warnings)")
        print(f"  growth {first} -> {last} staff with compliance: {full[last] / full[first]:.2f}x time; "
              f"target <= 300 ms at 1,000: {'met' if full[last] <= 300 else 'NOT met'} ({full[last]:.0f} ms)")
        db.session.remove()
        db.engine.dispose()


# ----------------------------------------------------------------------------------------------- HTTP race


def _postgres_url() -> str | None:
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True,
                             connect_timeout=3) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'sb_swaps_bench'").fetchone()
            if not exists:
                conn.execute("CREATE DATABASE sb_swaps_bench")
        return "postgresql+psycopg://postgres@127.0.0.1:5432/sb_swaps_bench"
    except Exception as exc:  # no local PostgreSQL: say so rather than pretend
        print(f"  (no PostgreSQL available: {type(exc).__name__}; set BENCH_DATABASE_URL)")
        return None


def _reset_postgres(url: str) -> None:
    reset_postgres(url)


def bench_claim_race(n: int = 50) -> None:
    import requests
    from werkzeug.serving import make_server

    from core import accounts
    from core.accounts import TeamRole
    from core.db import db
    from rota.models import Shift, ShiftState, ShiftType

    url = _postgres_url()
    if url is None:
        return
    _reset_postgres(url)
    app = _app(url)
    with app.app_context():
        team = accounts.create_team(name="Race ward")
        st = ShiftType(team_id=team.id, code="E", name="Early", start_local=time(7), duration_minutes=510)
        db.session.add(st)
        tokens = []
        for i in range(n):
            u = accounts.create_user(email=f"racer{i}@bench.test", display_name=f"Racer {i}",
                                     password="bench-password-123", grade="Band 5")
            accounts.add_member(team, u, TeamRole.staff)
            tokens.append(accounts.create_token(u, "bench")[1])
        db.session.flush()
        start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=7, minute=0, second=0, microsecond=0)
        gap = Shift(team_id=team.id, shift_type_id=st.id, starts_at=start, ends_at=start + timedelta(hours=8.5),
                    state=ShiftState.open)
        db.session.add(gap)
        db.session.commit()
        gap_id = gap.id
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    barrier = threading.Barrier(n)
    sessions = [requests.Session() for _ in range(n)]
    for s in sessions:  # warm connections so the burst measures the server, not TCP set-up
        s.get(base + "/healthz", timeout=30)

    def claim(i):
        barrier.wait()
        t0 = clock.perf_counter()
        r = sessions[i].post(f"{base}/api/v1/shifts/{gap_id}/claim",
                             headers={"Authorization": f"Bearer {tokens[i]}"}, timeout=120)
        return r.status_code, (clock.perf_counter() - t0) * 1000

    t0 = clock.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(claim, range(n)))
    wall = (clock.perf_counter() - t0) * 1000
    server.shutdown()
    codes = [c for c, _ in results]
    ok = sum(1 for c in codes if 200 <= c < 300)
    lat = sorted(ms for _, ms in results)
    with app.app_context():
        held = db.session.get(Shift, gap_id)
        holder = held.assignee_id
        db.engine.dispose()
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: wall times include waiting)")
    print(f"  {n} concurrent claims of one open shift over HTTP on PostgreSQL: {ok} x 2xx, "
          f"{codes.count(409)} x 409, {sum(1 for c in codes if c >= 500)} x 5xx; burst {wall:.0f} ms wall; "
          f"latency median {statistics.median(lat):.0f} ms, max {lat[-1]:.0f} ms; holder set: {holder is not None}")
    print(f"  exactly one 2xx: {'yes' if ok == 1 else 'NO'}")


def main() -> None:
    print("Eligibility (SQLite):")
    bench_eligibility()
    print("Claim race (PostgreSQL):")
    bench_claim_race()


if __name__ == "__main__":
    main()
