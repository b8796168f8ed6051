"""The pages people open most (issue #22): server CPU per request, the ratio to a trivial JSON endpoint measured in the
same run, and SQL queries per request.

Each figure is the median ``time.process_time()`` around the test client's call (the whole Flask request: routing,
session, queries, templates, serialisation), interleaved with the trivial endpoint so both see the same machine load.

Data: a 30-person ward (a nurse with ~18 upcoming shifts, open gaps) and a 1,000-person ward with 3 months of shifts
(~5 a week each). Runs on a throw-away SQLite file, and also on PostgreSQL when BENCH_DATABASE_URL (or else
TEST_DATABASE_URL) is given; that database is emptied.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time as clock
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import event, insert

from bench.common import reset_postgres

RUNS = 15
SLOW_RUNS = 3
BIG = 1000

# (label, target CPU ms or None)
TARGETS = {
    "my shifts": 10, "grid 4 weeks, 30 members": 20, "grid 4 weeks, 1,000 members": 300,
    "GET /api/v1/shifts (50 items)": 5, "open shifts": 5, "calendar feed (unchanged, bytes)": 5,
    "calendar feed (unchanged, 304)": 5, "team feed 1,000 x 3 months (304)": 5,
    "POST /api/v1/compliance/check": 5, "team feed 1,000 x 3 months (changed)": 1000,
    "team feed 1,000 x 3 months (unchanged)": 5, "eligibility, 1,000 staff incl. what-if": 300,
}


def _config(url: str) -> dict:
    return {"TESTING": True, "SECRET_KEY": "bench", "AUDIT_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
            "WTF_CSRF_ENABLED": False, "FAST_PASSWORD_HASH": True, "RATELIMIT_STORAGE_URI": "memory://",
            "PUBLIC_BASE_URL": "https://rota.example.nhs.uk", "FEED_RATE_LIMIT": "1000000 per minute",
            "LOG_LEVEL": "WARNING"}


def _app(url: str):
    import logging

    from flask_migrate import upgrade

    from app import create_app
    from core.db import db

    app = create_app(_config(url))
    app.add_url_rule("/bench/trivial", "bench_trivial", lambda: {"ok": True})
    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        upgrade(revision="heads")
        db.engine.dispose()
    return app


def _ward(name: str, n: int, first: datetime, days: int, skip):
    """A team of one coordinator and ``n - 1`` Band 5 nurses with E/L/N shifts from ``first`` for ``days`` days,
    five a week each (bulk inserted). Returns (team, coordinator, [nurse ids], shift types)."""
    from core import accounts
    from core.accounts import Membership, TeamRole, User
    from core.db import db
    from rota.models import Shift, ShiftKind, ShiftState, ShiftType

    now = datetime.now(UTC)
    team = accounts.create_team(name=name, site="St Elsewhere")
    coord = accounts.create_user(email=f"coord-{team.id}@bench.test", display_name=f"Coordinator {name}",
                                 password="bench-password-1", grade="Band 7")
    accounts.add_member(team, coord, TeamRole.coordinator)
    types = [ShiftType(team_id=team.id, code=c, name=nm, start_local=t, duration_minutes=m, kind=k)
             for c, nm, t, m, k in (("E", "Early", time(7), 510, ShiftKind.day),
                                    ("L", "Late", time(13), 510, ShiftKind.day),
                                    ("N", "Night", time(19, 30), 750, ShiftKind.night))]
    db.session.add_all(types)
    db.session.flush()
    db.session.execute(insert(User), [
        {"email": f"n{i}-{team.id}@bench.test", "display_name": f"Nurse {i:04d} {name}",
         "password_hash": coord.password_hash,
         "staff_group": "nursing", "grade": "Band 5" if i % 10 else "Band 6",
         "skills": ["IV-trained"] if i % 7 else [], "is_admin": False, "active": True, "created_at": now}
        for i in range(n - 1)])
    ids = list(db.session.scalars(db.select(User.id).where(User.email.like(f"n%-{team.id}@bench.test"))
                                  .order_by(User.id)))
    db.session.execute(insert(Membership), [{"team_id": team.id, "user_id": uid, "role": TeamRole.staff,
                                             "created_at": now} for uid in ids])
    rows = []
    for k, uid in enumerate(ids):
        for d in range(days):
            if skip(k, d):
                continue
            st = types[(d // 7 + k) % 3]
            start = first + timedelta(days=d, hours=st.start_local.hour, minutes=st.start_local.minute)
            rows.append({"team_id": team.id, "shift_type_id": st.id, "starts_at": start,
                         "ends_at": start + timedelta(minutes=st.duration_minutes), "assignee_id": uid,
                         "state": ShiftState.scheduled, "required_skills": [], "created_at": now,
                         "updated_at": now, "version": 1})
    kept, last_end = [], {}
    for r in rows:  # per person in start order: a night running into the next morning's shift drops that one
        if r["starts_at"] >= last_end.get(r["assignee_id"], r["starts_at"]):
            kept.append(r)
            last_end[r["assignee_id"]] = r["ends_at"]
    for i in range(0, len(kept), 5000):
        db.session.execute(insert(Shift), kept[i:i + 5000])
    db.session.commit()
    rows = kept
    return team, coord, ids, types, len(rows)


def _gap(team, st, start: datetime):
    from core.db import db
    from rota.models import Shift, ShiftState

    gap = Shift(team_id=team.id, shift_type_id=st.id, starts_at=start, ends_at=start + timedelta(hours=6),
                state=ShiftState.open, required_grade="Band 5", required_skills=[])
    db.session.add(gap)
    db.session.commit()
    return gap


def _seed():
    from core.accounts import User
    from core.db import db
    from rota.feeds import service as feeds
    from rota.feeds.models import FeedKind
    from rota.models import Shift

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday())
    five_a_week = lambda k, d: (d + k) % 7 in (5, 6)  # noqa: E731
    ward, coord, nurses, types, n_small = _ward("Ward 7B", 30, monday - timedelta(days=14), 14 + 7 + 26,
                                                five_a_week)
    for i in range(5):
        _gap(ward, types[0], today + timedelta(days=2 + i, hours=9))
    big, big_coord, big_ids, big_types, n_big = _ward("Ward Big", BIG, monday, 91, five_a_week)
    big_gap = _gap(big, big_types[0], monday + timedelta(days=44, hours=9))
    big_shift = db.session.scalar(db.select(Shift.id).where(Shift.team_id == big.id, Shift.starts_at > today)
                                  .order_by(Shift.starts_at).limit(1))
    nurse = db.session.get(User, nurses[3])
    _, mine_token = feeds.rotate(nurse, FeedKind.mine, actor=nurse)
    _, team_token = feeds.rotate(big_coord, FeedKind.team, actor=big_coord)
    db.session.commit()
    return {"ward": ward.id, "coord": coord.email, "nurse": nurse.email, "nurse_id": nurse.id, "big": big.id,
            "big_coord": big_coord.email, "big_gap": big_gap.id, "big_shift": big_shift, "mine_token": mine_token,
            "team_token": team_token, "monday": monday, "shifts": n_small + n_big}


class _Queries:
    def __init__(self, engine):
        self.n = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            self.n += 1


def _cpu(fn) -> float:
    c0 = clock.process_time()
    fn()
    return (clock.process_time() - c0) * 1000


def _login(app, email: str):
    client = app.test_client()
    r = client.post("/auth/login", data={"email": email, "password": "bench-password-1"})
    assert r.status_code == 302, r.status_code
    return client


def _cases(app, s):
    """(label, client, callable returning a response) for every figure."""
    nurse, coord, big_coord = _login(app, s["nurse"]), _login(app, s["coord"]), _login(app, s["big_coord"])
    start = s["monday"].date().isoformat()
    to = (s["monday"] + timedelta(days=27)).date().isoformat()
    check = {"user_id": s["nurse_id"], "add": [{
        "starts_at": (s["monday"] + timedelta(days=30, hours=7)).isoformat(),
        "ends_at": (s["monday"] + timedelta(days=30, hours=15, minutes=30)).isoformat(), "team_id": s["ward"]}]}
    mine, team = f"/calendar/{s['mine_token']}.ics", f"/calendar/{s['team_token']}.ics"
    etag = {}

    def mine_cached():
        r = nurse.get(mine, headers={"If-None-Match": etag["mine"]} if "mine" in etag else {})
        etag.setdefault("mine", r.headers.get("ETag", "").strip('"'))
        return r

    def team_cached():
        r = big_coord.get(team, headers={"If-None-Match": etag["team"]} if "team" in etag else {})
        etag.setdefault("team", r.headers.get("ETag", "").strip('"'))
        return r

    def rebuilt(client, path):
        app.extensions.pop("calendar_feed_bytes", None)  # as after a restart: every event is written again
        return client.get(path)

    def changed(client, path):
        """One shift of the team edited (as a coordinator's edit does: version and change time move on), then the
        feed fetched: the ETag moves, the feed is rebuilt, the other events' bytes are reused."""
        from sqlalchemy import update

        from core.db import db, now_utc
        from rota.models import Shift

        with app.app_context():
            db.session.execute(update(Shift).where(Shift.id == s["big_shift"])
                               .values(version=Shift.version + 1, updated_at=now_utc()))
            db.session.commit()
            db.session.remove()
        return client.get(path)

    return [
        ("trivial JSON endpoint", nurse, lambda: nurse.get("/bench/trivial"), RUNS),
        ("my shifts", nurse, lambda: nurse.get("/my/shifts"), RUNS),
        ("grid 4 weeks, 30 members", coord, lambda: coord.get(f"/teams/{s['ward']}/rota?days=28&start={start}"),
         RUNS),
        ("GET /api/v1/shifts (50 items)", coord,
         lambda: coord.get(f"/api/v1/shifts?team_id={s['ward']}&from={start}&to={to}&per_page=50"), RUNS),
        ("open shifts", nurse, lambda: nurse.get("/open-shifts"), RUNS),
        ("calendar feed (built)", nurse, lambda: rebuilt(nurse, mine), RUNS),
        ("calendar feed (unchanged, bytes)", nurse, lambda: nurse.get(mine), RUNS),
        ("calendar feed (unchanged, 304)", nurse, mine_cached, RUNS),
        ("POST /api/v1/compliance/check", nurse, lambda: nurse.post("/api/v1/compliance/check", json=check), RUNS),
        ("grid 4 weeks, 1,000 members", big_coord,
         lambda: big_coord.get(f"/teams/{s['big']}/rota?days=28&start={start}"), SLOW_RUNS),
        ("team feed 1,000 x 3 months (built, cold)", big_coord, lambda: rebuilt(big_coord, team), SLOW_RUNS),
        ("team feed 1,000 x 3 months (changed)", big_coord, lambda: changed(big_coord, team), SLOW_RUNS),
        ("team feed 1,000 x 3 months (unchanged)", big_coord, lambda: big_coord.get(team), RUNS),
        ("team feed 1,000 x 3 months (304)", big_coord, team_cached, RUNS),
    ]


def _eligibility_ms(app, gap_id: int) -> tuple[float, int]:
    from core.db import db
    from rota.models import Shift
    from rota.swaps import eligibility

    with app.app_context():
        def run():
            db.session.expire_all()
            return eligibility.assess(db.session.get(Shift, gap_id))

        run()
        counter = _Queries(db.engine)
        run()
        queries = counter.n
        event.remove(db.engine, "before_cursor_execute", counter._count)
        cpu = statistics.median(_cpu(run) for _ in range(SLOW_RUNS))
        db.session.remove()
        return cpu, queries


def bench_engine(url: str) -> None:
    from core.db import db

    app = _app(url)
    with app.app_context():
        t0 = clock.perf_counter()
        s = _seed()
        engine = db.engine.dialect.name
        counter = _Queries(db.engine)
        db.session.remove()
    print(f"engine {engine}: seeded {s['shifts']} shifts in {clock.perf_counter() - t0:.1f} s; "
          f"load average {os.getloadavg()[0]:.2f}")
    cases = _cases(app, s)
    trivial = cases[0][2]
    rows = []
    for label, _client, call, runs in cases:
        first = call()
        assert first.status_code in (200, 304), (label, first.status_code, first.get_data(as_text=True)[:300])
        counter.n = 0
        resp = call()
        queries = counter.n
        cpu, base = [], []
        for _ in range(runs):
            base.append(_cpu(trivial))
            cpu.append(_cpu(call))
        rows.append((label, statistics.median(cpu), statistics.median(base), queries, len(resp.data),
                     resp.status_code))
    elig_cpu, elig_q = _eligibility_ms(app, s["big_gap"])
    base = statistics.median(_cpu(trivial) for _ in range(RUNS))
    rows.append(("eligibility, 1,000 staff incl. what-if", elig_cpu, base, elig_q, None, 0))
    print(f"  {'':42} {'CPU ms':>9} {'x trivial':>10} {'queries':>8} {'bytes':>9}  target")
    for label, cpu, base, queries, size, status in rows:
        target = TARGETS.get(label)
        verdict = "" if target is None else f"<= {target} ms: {'met' if cpu <= target else 'NOT met'}"
        shown = f"{size:>9}" if size is not None else f"{'(service)':>9}"
        print(f"  {label:42} {cpu:9.2f} {cpu / base:9.0f}x {queries:8d} {shown}  {verdict}"
              + (f" [{status}]" if status == 304 else ""))
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    path = Path(tempfile.mkdtemp(prefix="sb-bench-pages-")) / "bench.sqlite3"
    urls = [f"sqlite:///{path}"]
    pg = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if pg:
        reset_postgres(pg)
        urls.append(pg)
    for url in urls:
        bench_engine(url)


if __name__ == "__main__":
    main()
