"""Item 15 of #13: a request whose database connection is killed, or that arrives while PostgreSQL refuses
connections, gets 503 with Retry-After (nothing saved), not a 500; the next request after recovery just works."""

from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import create_engine, text

from core.db import db
from tests.conftest import login
from tests.notifications.worker_process import Outage, wait_until


@pytest.fixture
def postgres_only(engine_name):
    if engine_name != "postgresql":
        pytest.skip("killed connections and refused connections are PostgreSQL events")


def _waiting_on_a_lock(engine) -> list[int]:
    with engine.connect() as conn:  # pg_stat_activity is a snapshot per transaction: a new one each time
        return conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND wait_event_type = 'Lock'")).scalars().all()


def _check_unavailable(resp):
    assert resp.status_code == 503, resp.get_data(as_text=True)[:500]
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.mimetype == "application/problem+json"
    assert "try again" in resp.json["detail"] and "Traceback" not in resp.get_data(as_text=True)


def test_a_request_whose_connection_is_killed_in_flight_gets_503_then_the_app_recovers(
        app, client, make, bearer, postgres_only, database_url, live_server):
    user = make.user()
    token = make.token(user)
    db.session.remove()
    other = create_engine(database_url, isolation_level="AUTOCOMMIT")
    answers = []
    with other.connect() as locker:
        locker.execute(text("BEGIN"))
        locker.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))  # the request will wait on it...
        thread = threading.Thread(target=lambda: answers.append(
            requests.get(live_server.url + "/api/v1/me", headers=bearer(token), timeout=60)))
        thread.start()
        pids = wait_until(lambda: _waiting_on_a_lock(other), what="the request to wait on the lock")
        with other.connect() as admin:  # ...and its connection is killed mid-query
            admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pids[0]})
        thread.join(30)
        locker.execute(text("ROLLBACK"))
    other.dispose()
    resp = answers[0]
    assert resp.status_code == 503, resp.text[:500]
    assert int(resp.headers["Retry-After"]) >= 1 and resp.headers["Content-Type"] == "application/problem+json"
    assert "try again" in resp.json()["detail"]
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200  # recovered, no restart


def test_requests_while_the_database_refuses_connections_get_503_then_work_again(
        app, client, make, bearer, postgres_only, database_url):
    user = make.user()
    token = make.token(user)
    login(client, user)
    db.session.remove()
    outage = Outage(database_url)
    try:
        outage.begin()
        _check_unavailable(client.get("/api/v1/me", headers=bearer(token)))
        page = client.get("/", headers={"Accept": "text/html"})  # a signed-in person's home page
        assert page.status_code == 503 and "try again" in page.get_data(as_text=True)
        assert "Retry-After" in page.headers
    finally:
        outage.close()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
