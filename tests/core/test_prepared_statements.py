"""PostgreSQL: a request that only reads ends its transaction with COMMIT, so psycopg keeps the statements it prepared
and PostgreSQL no longer parses and plans them on every request (core.db.keep_prepared_statements). Before, every
read request ended with ROLLBACK, at which psycopg forgets every prepared statement: none ever was prepared, and the
database spent more CPU parsing and planning the app's statements than running them.

What must not change: a transaction that wrote, sent a notification or failed is still rolled back."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text

from core.accounts import Team
from core.db import db


@pytest.fixture
def postgres_only(engine_name):
    if engine_name != "postgresql":
        pytest.skip("psycopg's prepared statements (PostgreSQL)")


@pytest.fixture
def app_config():
    # One pooled connection: the requests and the check below all use it.
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0, "hide_parameters": True}}


def _prepared() -> list[str]:
    return list(db.session.scalars(text("SELECT statement FROM pg_prepared_statements")))


def test_a_list_asked_for_repeatedly_runs_on_prepared_statements(app, client, make, bearer, postgres_only):
    coord = make.user()
    team = make.team("Ward A", coordinators=[coord])
    token = make.token(coord)
    db.session.commit()
    for _ in range(7):  # psycopg prepares a statement at its fifth run on a connection
        resp = client.get(f"/api/v1/shifts?team_id={team.id}", headers=bearer(token))
        assert resp.status_code == 200
    prepared = _prepared()
    assert any("FROM api_tokens" in s for s in prepared), "the bearer token's look-up is prepared"
    assert any("FROM shifts" in s for s in prepared), "the shift list's statement is prepared"


def test_a_transaction_that_wrote_and_was_not_committed_is_still_rolled_back(app, make, postgres_only):
    team = make.team("Ward A")
    db.session.commit()
    team_id = team.id
    team.name = "Renamed"
    db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(Team.name).where(Team.id == team_id)) == "Ward A"

    db.session.execute(text("SELECT 1"))
    db.session.execute(text("UPDATE teams SET name = 'Renamed' WHERE id = :id"), {"id": team_id})
    db.session.remove()  # the end of a request that never committed
    assert db.session.scalar(select(Team.name).where(Team.id == team_id)) == "Ward A"


def test_a_notification_sent_in_a_transaction_then_abandoned_is_never_delivered(app, postgres_only, database_url):
    listener = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with listener.connect() as conn:
        raw = conn.connection.dbapi_connection
        raw.execute("LISTEN sb_prepared_test")
        db.session.execute(text("SELECT 1"))
        db.session.execute(text("SELECT pg_notify('sb_prepared_test', 'must not arrive')"))
        db.session.remove()  # ends the transaction without a commit
        db.session.execute(text("SELECT pg_notify('sb_prepared_test', 'committed')"))
        db.session.commit()
        got = [n.payload for n in raw.notifies(timeout=1, stop_after=1)]
    listener.dispose()
    assert got == ["committed"]


def test_a_failed_statement_leaves_the_connection_usable(app, make, postgres_only):
    team = make.team("Ward A")
    db.session.commit()
    db.session.execute(text("SELECT 1"))
    with pytest.raises(Exception, match="division by zero"):
        db.session.execute(text("SELECT 1 / 0"))
    db.session.rollback()
    assert db.session.scalar(select(Team.name).where(Team.id == team.id)) == "Ward A"
