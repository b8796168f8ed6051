"""The worker runs the periodic tasks apps register in ``app.extensions["periodic_tasks"]``."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import create_engine, select, text

from core.accounts import User
from core.db import db
from notifications import worker


@pytest.fixture
def tasks(app):
    """Replace the registered tasks with the test's own for its duration."""
    saved = list(app.extensions.get("periodic_tasks", []))
    app.extensions["periodic_tasks"] = []
    yield app.extensions["periodic_tasks"]
    app.extensions["periodic_tasks"] = saved


def test_the_app_registers_escalation_and_the_handover_overdue_flag(app):
    names = [name for name, _ in app.extensions["periodic_tasks"]]
    assert worker.ESCALATE_TASK in names and "handover.flag_overdue" in names


def test_each_task_runs_every_period_in_its_own_transaction_and_a_failure_does_not_stop_the_worker(
        app, make, tasks, caplog, monkeypatch):
    monkeypatch.setattr(worker.log, "disabled", False)  # alembic's fileConfig (run in-process by the fixtures)
    user = make.user(display_name="Before")
    calls = {"rename": 0, "broken": 0}

    def rename():
        calls["rename"] += 1
        db.session.get(User, user.id).display_name = f"Renamed {calls['rename']}"

    def broken():
        calls["broken"] += 1
        db.session.get(User, user.id).display_name = "Half-done"  # must be rolled back
        raise RuntimeError("row for Jane Patient 943 476 5919")  # text that must never reach the log

    tasks.extend([("test.broken", broken), ("test.rename", rename)])
    # Periods of 0.25 s in a 4 s run: at least 3 runs leaves a loaded CI machine 3.25 s of slack (0.05 s in 0.4 s
    # did not: one run in stop 27's CI); the loop itself turns hundreds of times.
    app.config["NOTIFICATIONS_PERIODIC_SECONDS"] = 0.25
    with caplog.at_level(logging.INFO):
        stats = worker.run(max_seconds=4.0, idle_sleep=0.01)
    assert calls["broken"] >= 3 and calls["rename"] >= 3  # kept running after each failure, every period
    assert calls["rename"] <= 18  # ...but not on every loop (4 s / 0.25 s)
    assert stats.periodic_failures == {"test.broken": calls["broken"]}
    assert stats.periodic_runs == {"test.rename": calls["rename"]}
    db.session.expire_all()
    assert db.session.get(User, user.id).display_name == f"Renamed {calls['rename']}"  # committed, not half-done
    logged = caplog.text
    assert "test.broken" in logged and "RuntimeError" in logged
    assert "Jane" not in logged and "5919" not in logged


def test_once_runs_every_task_once(app, tasks, runner):
    seen = []
    tasks.append(("test.once", lambda: seen.append(1)))
    result = runner.invoke(args=["notifications", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert seen == [1] and "periodic 1 periodic-failed 0" in result.output


def test_a_task_another_worker_is_running_is_skipped(app, tasks, engine_name, database_url):
    if engine_name != "postgresql":
        pytest.skip("SQLite runs a single worker; PostgreSQL workers share an advisory lock per task")
    seen = []
    tasks.append(("test.locked", lambda: seen.append(1)))
    other = create_engine(db.engine.url)
    with other.connect() as conn:  # another worker, in the middle of this task
        conn.execute(text("SELECT pg_advisory_lock(CAST(:ns AS integer), CAST(:k AS integer))"),
                     {"ns": worker.PERIODIC_LOCK_NAMESPACE, "k": worker._lock_key("test.locked")})
        stats = worker.run(once=True)
        assert seen == [] and stats.periodic_skipped == {"test.locked": 1}
        conn.execute(text("SELECT pg_advisory_unlock_all()"))
    other.dispose()
    stats = worker.run(once=True)
    assert seen == [1] and stats.periodic_runs == {"test.locked": 1}
    assert db.session.scalar(select(text("1"))) == 1  # the session is usable afterwards
