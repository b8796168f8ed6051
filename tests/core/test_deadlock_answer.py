"""Two requests that lock each other out (PostgreSQL's deadlock detector aborts one of them) are a conflict, not an
outage: the aborted one gets 409 "someone else changed this at the same moment", nothing saved, and may try again at
once. CI found it as a 503 "database unavailable" with Retry-After: six coordinators giving one nurse six
overlapping open shifts at once, where two exclusion-constraint checks waited on each other
(``tests/rota/test_rota_api.py::test_concurrent_double_assignment_of_one_person_one_wins``)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, select, text

from core.accounts import Team
from core.db import db


@pytest.fixture
def postgres_only(engine_name):
    if engine_name != "postgresql":
        pytest.skip("PostgreSQL's deadlock detector (SQLite lets one writer in at a time)")


def _waiting(engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND wait_event_type = 'Lock'")).scalar())


def test_a_request_chosen_by_the_deadlock_detector_gets_409_and_saves_nothing(
        app, client, make, bearer, postgres_only, database_url):
    coord = make.user()
    a, b = make.team("Ward A", coordinators=[coord]), make.team("Ward B", coordinators=[coord])
    token = make.token(coord)
    ids = (a.id, b.id)
    db.session.commit()

    def lock_a_then_b():  # what two writers taking the same rows in opposite orders do
        db.session.execute(text("UPDATE teams SET name = 'Ward A (renamed)' WHERE id = :id"), {"id": ids[0]})
        db.session.execute(text("UPDATE teams SET name = 'Ward B (renamed)' WHERE id = :id"), {"id": ids[1]})
        db.session.commit()
        return {"ok": True}

    app.add_url_rule("/api/v1/test-deadlock", "test_deadlock", lock_a_then_b, methods=["POST"])
    db.session.remove()
    other = create_engine(database_url)
    done, holding_b = threading.Event(), threading.Event()

    def other_writer():
        with other.connect() as conn:
            conn.execute(text("UPDATE teams SET site = 'B first' WHERE id = :id"), {"id": ids[1]})
            holding_b.set()
            deadline = time.monotonic() + 30
            while not _waiting(other) and time.monotonic() < deadline:  # the request now waits for Ward B
                time.sleep(0.05)
            time.sleep(0.3)  # it waited first: its deadlock check runs first and aborts it
            try:
                conn.execute(text("UPDATE teams SET site = 'then A' WHERE id = :id"), {"id": ids[0]})
                conn.commit()
            finally:
                done.set()

    thread = threading.Thread(target=other_writer)
    thread.start()
    assert holding_b.wait(30)
    resp = client.post("/api/v1/test-deadlock", headers=bearer(token))
    done.wait(30)
    thread.join(30)
    other.dispose()
    assert resp.status_code == 409, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/problem+json"
    assert "at the same moment" in resp.json["detail"] and "try again" in resp.json["detail"]
    assert "Retry-After" not in resp.headers
    names = dict(db.session.execute(select(Team.id, Team.name).where(Team.id.in_(ids))).all())
    assert names == {ids[0]: "Ward A", ids[1]: "Ward B"}, "the aborted request saved nothing"
