"""Calendar feeds: server time and SQL queries for a personal feed (~400 events, 18 months) and a team feed
(60 people x 3 months), against the floor of icalendar serialising the same prebuilt events alone; and the 304 path.

Runs on a throw-away SQLite file (or on ``BENCH_DATABASE_URL``, which is wiped). Prints figures measured in this run.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time as clock
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import event, insert

RUNS = 9


def _app():
    from app import create_app

    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-feeds-')) / 'bench.sqlite3'}"
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "AUDIT_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                      "WTF_CSRF_ENABLED": False, "FAST_PASSWORD_HASH": True, "RATELIMIT_STORAGE_URI": "memory://",
                      "PUBLIC_BASE_URL": "https://rota.example.nhs.uk", "FEED_RATE_LIMIT": "1000000 per minute",
                      "LOG_LEVEL": "WARNING"})
    return app, url


def _seed():
    from core import accounts
    from core.accounts import TeamRole
    from core.db import db
    from rota.models import Shift, ShiftKind, ShiftState, ShiftType

    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    ward = accounts.create_team(name="Ward 7B Acute Medicine", site="St Elsewhere")
    solo_team = accounts.create_team(name="Ward 9 Respiratory", site="St Elsewhere")
    people = []
    for i in range(60):
        u = accounts.create_user(email=f"p{i}@bench.test", display_name=f"Person {i}", password="bench-password-1")
        accounts.add_member(ward, u, TeamRole.coordinator if i == 0 else TeamRole.staff)
        people.append(u)
    solo = accounts.create_user(email="solo@bench.test", display_name="Solo Person", password="bench-password-1")
    accounts.add_member(solo_team, solo, TeamRole.staff)
    types = {}
    for team in (ward, solo_team):
        for code, name, start, minutes, kind in (("E", "Early", time(7), 510, ShiftKind.day),
                                                 ("N", "Night", time(20), 750, ShiftKind.night)):
            st = ShiftType(team_id=team.id, code=code, name=name, start_local=start, duration_minutes=minutes,
                           kind=kind)
            db.session.add(st)
            types[(team.id, code)] = st
    db.session.flush()
    rows = []
    # One person, 18 months, ~400 shifts (mostly 07:00 earlies, a night every fourth).
    for i in range(400):
        day = now - timedelta(days=50) + timedelta(days=int(i * 1.45))
        gap = int((i + 1) * 1.45) - int(i * 1.45)
        code = "N" if i % 3 == 2 and gap >= 2 else "E"  # a night never runs into the next morning's early
        st = types[(solo_team.id, code)]
        start = day + timedelta(hours=20 if code == "N" else 7)
        rows.append(dict(team_id=solo_team.id, shift_type_id=st.id, starts_at=start,
                         ends_at=start + timedelta(minutes=st.duration_minutes), assignee_id=solo.id,
                         state=ShiftState.scheduled, required_skills=[], version=1, created_at=now, updated_at=now))
    # A 60-person ward over 3 months: everyone works 4 days in 7.
    for p, person in enumerate(people):
        for d in range(91):
            if (d + p) % 7 in (0, 1, 2, 3):
                code = "N" if (d + p) % 7 == 3 else "E"
                st = types[(ward.id, code)]
                start = now + timedelta(days=d, hours=20 if code == "N" else 7)
                rows.append(dict(team_id=ward.id, shift_type_id=st.id, starts_at=start,
                                 ends_at=start + timedelta(minutes=st.duration_minutes), assignee_id=person.id,
                                 state=ShiftState.scheduled, required_skills=[], version=1, created_at=now,
                                 updated_at=now))
    db.session.execute(insert(Shift), rows)
    db.session.commit()
    return solo, people[0]


class _Counter:
    def __init__(self, engine):
        self.n = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            self.n += 1


def _median_ms(fn, runs=RUNS) -> float:
    times = []
    for _ in range(runs):
        t0 = clock.perf_counter()
        fn()
        times.append(clock.perf_counter() - t0)
    return statistics.median(times) * 1000


def _floor_ms(found) -> tuple[float, int]:
    """icalendar alone: serialise the same events, with every component built beforehand (not timed)."""
    from icalendar import Calendar

    from rota import feeds, ical

    spec = feeds.build_calendar(found)

    def prebuilt():
        cal = Calendar()
        for k, v in (("prodid", ical.PRODID), ("version", "2.0"), ("calscale", "GREGORIAN"), ("method", "PUBLISH"),
                     ("name", spec.name), ("x-wr-calname", spec.name), ("x-published-ttl", ical.TTL)):
            cal.add(k, v)
        for e in sorted(spec.events, key=lambda e: (e.starts_at, e.uid)):
            cal.add_component(ical._vevent(e))
        return cal

    cals = [prebuilt() for _ in range(RUNS)]
    it = iter(cals)
    return _median_ms(lambda: next(it).to_ical()), len(spec.events)


def _measure(app, counter, token: str, label: str) -> None:
    from rota import feeds

    client = app.test_client()
    path = f"/calendar/{token}.ics"
    client.get(path)  # warm-up (and the first fetch record)
    counter.n = 0
    resp = client.get(path)
    queries = counter.n
    size = len(resp.data)
    server = _median_ms(lambda: client.get(path))
    with app.app_context():
        found = feeds.find_feed(token)
        build = _median_ms(lambda: feeds.build_calendar(found))
        spec = feeds.build_calendar(found)
        from rota import ical

        render = _median_ms(lambda: ical.render(spec))
        floor, n_events = _floor_ms(found)
    etag = resp.headers["ETag"]
    counter.n = 0
    not_modified = client.get(path, headers={"If-None-Match": etag})
    q304 = counter.n
    assert not_modified.status_code == 304
    t304 = _median_ms(lambda: client.get(path, headers={"If-None-Match": etag}), runs=RUNS * 3)
    print(f"{label}: {n_events} events, {size / 1024:.0f} KiB")
    print(f"  full GET     {server:8.1f} ms  ({queries} SQL queries per request)")
    print(f"    of which   query+rows {build:6.1f} ms, render (icalendar components + to_ical) {render:6.1f} ms")
    print(f"  floor        {floor:8.1f} ms  (icalendar to_ical of the same prebuilt events alone)")
    print(f"  ratio        {server / floor:8.2f} x  (target <= 2x)")
    print(f"  304 path     {t304:8.2f} ms  ({q304} SQL query, no serialisation)")


def main() -> None:
    from core.db import db
    from rota import feeds
    from rota.feed_models import FeedKind

    app, url = _app()
    with app.app_context():
        import logging

        from flask_migrate import upgrade

        upgrade(revision="heads")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        solo, coordinator = _seed()
        _, mine = feeds.rotate(solo, FeedKind.mine, actor=solo)
        _, team = feeds.rotate(coordinator, FeedKind.team, actor=coordinator)
        db.session.commit()
        engine = db.engine
    counter = _Counter(engine)
    print(f"database: {engine.dialect.name}")
    _measure(app, counter, mine, "personal feed, 18 months")
    _measure(app, counter, team, "team feed, 60 people x 3 months")
    if not os.environ.get("BENCH_DATABASE_URL"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
