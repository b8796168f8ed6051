"""The same person's first single sign-on arriving several times at once (two tabs, a double click, a retrying
proxy) on PostgreSQL: every request signs in, and there is one account and one linked identity, never a 500 from
the unique keys. Real concurrent requests against a live server; the test holds the tables locked until all of them
are queued at the insert, so they really race."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
import requests
from sqlalchemy import func, select

from core.accounts import User, UserSession
from core.db import db
from core.sso import UserIdentity
from tests.sso.fixtures import sso_settings

N = 4


@pytest.fixture
def app_config():
    return sso_settings(SSO_JIT=True)


def _browser_at_callback(live_server, live_idp) -> tuple[requests.Session, str]:
    browser = requests.Session()
    start = browser.get(live_server.url + "/auth/sso/start", allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text[:300]
    return browser, live_idp.sign_in_at_provider(start.headers["Location"], "newcomer")


@pytest.mark.parametrize("existing", [False, True], ids=["jit", "link-existing"])
def test_simultaneous_first_sign_ins_of_one_person(engine_name, live_server, live_idp, make, database_url, existing):
    if engine_name != "postgresql":
        pytest.skip("the race is on PostgreSQL's unique keys (SQLite lets one writer in at a time)")
    if existing:
        make.user(email="newcomer@trust.example", display_name="Nia N")
    ready = [_browser_at_callback(live_server, live_idp) for _ in range(N)]
    results: list = [None] * N

    def go(i):
        browser, url = ready[i]
        try:
            results[i] = browser.get(url, allow_redirects=False, timeout=60)
        except Exception as exc:  # noqa: BLE001 - reported below
            results[i] = exc

    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE users, user_identities IN EXCLUSIVE MODE")
        threads = [threading.Thread(target=go, args=(i,)) for i in range(N)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        with psycopg.connect(dsn, autocommit=True) as watcher:
            while True:
                waiting = watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND wait_event_type = 'Lock'").fetchone()[0]
                if waiting >= N or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        assert waiting >= N, f"only {waiting} of {N} sign-ins reached the insert"
        holder.commit()  # let them all go at once
    for t in threads:
        t.join(60)

    statuses = [getattr(r, "status_code", r) for r in results]
    assert statuses == [302] * N, statuses
    assert all(r.headers["Location"] == "/" for r in results)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    assert db.session.scalar(select(func.count()).select_from(UserIdentity)) == 1
    user = db.session.scalar(select(User))
    sessions = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)).all()
    assert len(sessions) == N and all(s.revoked_at is None for s in sessions)
    for browser, _ in ready:
        assert browser.get(live_server.url + "/profile", allow_redirects=False, timeout=10).status_code == 200
