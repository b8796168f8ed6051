"""Calendar feeds: server time and SQL queries for a personal feed (~400 events, 18 months) and a team feed
(60 people x 3 months), against the floor of icalendar serialising the same prebuilt events alone; and the 304 path.

Runs on a throw-away SQLite file (or on ``BENCH_DATABASE_URL``, which is wiped). Prints figures measured in this run.
"""

from __future__ import annotations

import os
import statistics
import time as clock
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import event, insert

from bench.common import database_url

RUNS = 9


def _app():
    from app import create_app

    url = database_url("bench-feeds-")
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


def _timed(fn) -> float:
    t0 = clock.perf_counter()
    fn()
    return (clock.perf_counter() - t0) * 1000


def _measure(app, counter, token: str, label: str, runs: int) -> None:
    from rota.feeds import fetch, ical

    client = app.test_client()
    path = f"/calendar/{token}.ics"
    client.get(path)  # warm-up (and the first fetch record)
    counter.n = 0
    resp = client.get(path)
    queries = counter.n
    size = len(resp.data)
    with app.test_request_context():
        found = fetch.find_feed(token)
        spec = fetch.build_calendar(found)
        cals = [ical.build(spec) for _ in range(runs)]  # the floor's input, built beforehand (not timed)
        assert cals[0].to_ical() == ical.render(spec) == resp.data  # the floor serialises exactly what we send
    # Interleaved, so that both figures see the same machine load; medians and minimums both reported.
    server, floor, build, render = [], [], [], []
    for i in range(runs):
        server.append(_timed(lambda: client.get(path)))
        floor.append(_timed(cals[i].to_ical))
        with app.test_request_context():
            build.append(_timed(lambda: fetch.build_calendar(found)))
            render.append(_timed(lambda: ical.render(spec)))
    etag = resp.headers["ETag"]
    counter.n = 0
    not_modified = client.get(path, headers={"If-None-Match": etag})
    q304 = counter.n
    assert not_modified.status_code == 304
    t304 = [_timed(lambda: client.get(path, headers={"If-None-Match": etag})) for _ in range(30)]
    med = statistics.median
    print(f"{label}: {len(spec.events)} events, {size / 1024:.0f} KiB, {runs} interleaved runs (median / min)")
    print(f"  full GET     {med(server):8.1f} / {min(server):7.1f} ms  ({queries} SQL queries per request)")
    print(f"    of which   queries+rows+wording {med(build):7.1f} ms; icalendar components + to_ical "
          f"{med(render):7.1f} ms")
    print(f"  floor        {med(floor):8.1f} / {min(floor):7.1f} ms  (icalendar to_ical of the same prebuilt "
          f"events alone)")
    print(f"  ratio        {med(server) / med(floor):8.2f} / {min(server) / min(floor):7.2f} x  (target <= 2x)")
    print(f"  304 path     {med(t304):8.2f} / {min(t304):7.2f} ms  ({q304} SQL query, no serialisation)")


def main() -> None:
    from core.db import db
    from rota.feeds import service as feeds
    from rota.feeds.models import FeedKind

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
    _measure(app, counter, mine, "personal feed, 18 months", runs=RUNS)
    _measure(app, counter, team, "team feed, 60 people x 3 months", runs=5)
    if not os.environ.get("BENCH_DATABASE_URL"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
