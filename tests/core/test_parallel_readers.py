"""Readers in parallel (issue #22): on SQLite a page being read does not hold the write lock, so people opening the
rota are not queued behind each other or behind a writer, and mixed reads and writes from 16 connections at once all
succeed (no "database is locked", no 500). Real threads against the threaded live server, on a real database file;
also on PostgreSQL when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from core import accounts
from core.db import db
from tests import factories
from tests.rota.swaps import factories as data

THREADS = 16


def _ward(make, n: int):
    team, coord, staff, _ = factories.ward(make, coordinator={}, people=[{} for _ in range(n)], types=())
    for k, person in enumerate(staff):
        for d in range(6):
            data.shift(team, starts_at=data.soon(1 + d, hour=7) + timedelta(minutes=k), assignee=person,
                       commit=False)
    db.session.commit()
    return team, coord, staff


def test_readers_are_not_queued_behind_a_writer(live_server, make, engine_name):
    """While another connection holds the write lock, sixteen people can still open their shifts and the rota."""
    if engine_name != "sqlite":
        pytest.skip("the write lock held by hand is SQLite's")
    team, coord, staff = _ward(make, THREADS)
    tokens = [make.token(p) for p in staff]
    for t in tokens:  # first use is recorded (a write); later reads within the minute write nothing
        assert requests.get(live_server.url + "/api/v1/shifts", headers={"Authorization": f"Bearer {t}"}).ok
    path, team_id = db.engine.url.database, team.id
    db.session.commit()  # the test's own transaction ends (reading team.id after it would start another)
    writer = sqlite3.connect(path, timeout=30, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a long write transaction elsewhere (an import, a pattern run)
    answered = []
    released = threading.Event()

    def read(token):
        r = requests.get(f"{live_server.url}/api/v1/shifts?team_id={team_id}",
                         headers={"Authorization": f"Bearer {token}"}, timeout=60)
        answered.append((r.status_code, released.is_set()))

    try:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            futures = [pool.submit(read, t) for t in tokens]
            for _ in range(200):  # up to 20 s for the readers to answer while the lock is held
                if len(answered) == THREADS:
                    break
                threading.Event().wait(0.1)
            released.set()
            writer.execute("COMMIT")
            for f in futures:
                f.result()
    finally:
        writer.close()
    assert sorted(s for s, _ in answered) == [200] * THREADS
    waited = sum(1 for _, after_release in answered if after_release)
    assert waited == 0, f"{waited} of {THREADS} readers waited for the writer to finish"


def test_sixteen_connections_mixing_reads_and_writes_never_see_a_locked_database(live_server, make, monkeypatch):
    """Every read also records its token's use (a write after reads, the case a deferred transaction can lose),
    while coordinators add shifts: every request answers, none with 500."""
    monkeypatch.setattr(accounts, "TOKEN_USE_GRANULARITY", timedelta(0))
    team, coord, staff = _ward(make, THREADS)
    st = data.shift_type(team)
    db.session.commit()
    readers = [make.token(p) for p in staff]
    writer_token = make.token(coord)
    barrier = threading.Barrier(THREADS)
    url, team_id, type_id = live_server.url, team.id, st.id

    def work(i: int) -> list[tuple[int, str]]:
        out = []
        barrier.wait()
        for round_ in range(8):
            if i % 4 == 0:  # a quarter of the connections write
                day = (data.soon(30 + i * 8 + round_)).date().isoformat()
                r = requests.post(url + "/api/v1/shifts", headers={"Authorization": f"Bearer {writer_token}"},
                                  json={"team_id": team_id, "shift_type_id": type_id, "date": day}, timeout=120)
            else:
                path = (f"/api/v1/shifts?team_id={team_id}", "/api/v1/open-shifts", f"/api/v1/teams/{team_id}")
                r = requests.get(url + path[round_ % 3], headers={"Authorization": f"Bearer {readers[i]}"},
                                 timeout=120)
            out.append((r.status_code, r.text[:200]))
        return out

    db.session.commit()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = [r for rs in pool.map(work, range(THREADS)) for r in rs]
    failures = [(s, body) for s, body in results if s >= 500 or "locked" in body]
    assert not failures, failures[:5]
    assert sorted({s for s, _ in results}) == [200, 201], sorted({s for s, _ in results})
