"""Issue #19 operations: /readyz, Prometheus metrics, JSON logs with request ids."""

from __future__ import annotations

import json
import logging

from sqlalchemy import text

from core.db import db
from notifications import worker
from notifications.service import notify


def test_readyz_needs_the_database_the_migrations_and_a_recent_worker(app, client, make):
    # No worker has ever beaten: not ready (a node without workers sends no texts), but alive.
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json["checks"]["database"] == "ok" and resp.json["checks"]["migrations"] == "ok"
    assert resp.json["checks"]["worker"]["status"] == "never seen"
    assert client.get("/healthz").status_code == 200
    from core.db import now_utc

    worker.beat("test-worker", now_utc())
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.json
    assert resp.json == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "worker": "ok"}}
    # A schema behind the code (a head not applied) is not ready.
    version = db.session.scalar(text("SELECT version_num FROM alembic_version ORDER BY version_num LIMIT 1"))
    db.session.execute(text("DELETE FROM alembic_version WHERE version_num = :v"), {"v": version})
    db.session.commit()
    try:
        resp = client.get("/readyz")
        assert resp.status_code == 503 and resp.json["checks"]["migrations"] == {"missing": [version]}
    finally:
        db.session.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version})
        db.session.commit()


def test_readyz_checks_redis_when_configured(app, client):
    from core.db import now_utc

    worker.beat("test-worker", now_utc())
    db.session.commit()
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    resp = client.get("/readyz")
    assert resp.status_code == 503 and resp.json["checks"]["redis"].startswith("unreachable")
    app.config["REDIS_URL"] = "redis://127.0.0.1:6379/7"
    assert client.get("/readyz").json["checks"]["redis"] == "ok"


def test_metrics_count_requests_sign_in_failures_and_the_outbox(app, client, make):
    nurse = make.user()
    notify([nurse.id], kind="k", text="Shift change", channels=("in_app",))
    db.session.commit()
    client.get("/healthz")
    client.post("/auth/login", data={"email": nurse.email, "password": "not it"})
    body = client.get("/metrics").get_data(as_text=True)
    assert 'shiftbridge_request_seconds_count{endpoint="web.healthz",method="GET"}' in body
    assert 'shiftbridge_sign_in_failures_total{reason="wrong_password"}' in body
    assert "shiftbridge_outbox_depth " in body and "shiftbridge_outbox_oldest_pending_seconds " in body
    assert "shiftbridge_open_streams" in body
    # Only from the allowed addresses (Prometheus scrapes each node directly, not through the balancer).
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 404


def test_json_logs_carry_the_request_id(database_url, make, capsys):
    from app import create_app
    from core.logs import JsonFormatter, RequestIdFilter
    from tests.conftest import IsolatedClient, base_config

    logged = create_app({**base_config(database_url), "LOG_REQUESTS": True})
    logged.test_client_class = IsolatedClient
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    log = logging.getLogger("shiftbridge.requests")
    log.addHandler(handler)
    try:
        with logged.app_context():
            resp = logged.test_client().get("/healthz", headers={"X-Request-ID": "req-abc-123"})
    finally:
        log.removeHandler(handler)
    assert resp.headers["X-Request-ID"] == "req-abc-123"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    mine = [entry for entry in lines if entry.get("request_id") == "req-abc-123"]
    assert mine and mine[-1]["endpoint"] == "web.healthz" and mine[-1]["status"] == 200
    assert all("/healthz" not in entry["message"] for entry in mine)  # endpoint names, never paths
