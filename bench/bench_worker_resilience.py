"""Worker resilience (issue #13 items 1 and 16), with a real ``flask notifications worker`` process, the local fake
Twilio (0.1 s round trip) and PostgreSQL:

* database outage of L seconds (``ALTER DATABASE … ALLOW_CONNECTIONS false`` + its backends terminated, then
  re-allowed) in the middle of a run: seconds from the database's return to the next text sent, texts sent,
  duplicates and losses;
* ``kill -9`` of the worker mid-run (402 texts, 8 in flight): texts the provider had accepted but the dead worker had
  not recorded, rows it still held, duplicates and losses once a new worker has sent everything, and seconds until
  the dead worker's held rows were sent again (its lease, ``NOTIFICATIONS_LEASE_SECONDS``).

Database: ``BENCH_DATABASE_URL`` (must be PostgreSQL; wiped), else ``sb_worker_bench`` on the local server. Only that
database is ever made to refuse connections. Prints figures measured in this run.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter

from sqlalchemy import create_engine, func, select, text

from bench.common import reset_postgres

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/sb_worker_bench"
OUTAGES = tuple(float(x) for x in os.environ.get("BENCH_OUTAGES", "2,6,15").split(","))
KILL_RUNS = 2
KILL_TEXTS = 402
IN_FLIGHT = 8


def _ensure_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": u.database}).scalar():
            conn.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()


def _app(url: str):
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "AUDIT_KEY": "test-audit-key",
                       "FAST_PASSWORD_HASH": True, "PUBLIC_BASE_URL": "", "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
                       "TWILIO_AUTH_TOKEN": "test-twilio-auth-token", "TWILIO_MESSAGING_SERVICE_SID": "MG" + "2" * 32,
                       "TWILIO_API_BASE_URL": "http://127.0.0.1:9"})


def _queue(app, n: int, tag: int) -> list[str]:
    from core import accounts
    from core.db import db
    from notifications.service import SMS, notify

    with app.app_context():
        users = [accounts.create_user(email=f"b{tag}-{i}@example.test", display_name=f"B {i}",
                                      password="correct horse battery", grade="Band 5",
                                      mobile=f"+447700900{i:03d}") for i in range(n)]
        db.session.flush()
        numbers = [u.mobile for u in users]
        notify([u.id for u in users], kind="k", text="Cover needed tonight", channels=(SMS,), urgent=True)
        db.session.commit()
    return numbers


def _count(engine, state: str | None = None) -> int:
    from notifications.models import OutboxMessage

    q = select(func.count()).select_from(OutboxMessage)
    if state:
        q = q.where(OutboxMessage.state == state)
    with engine.connect() as conn:
        return conn.execute(q).scalar()


def _fresh(url: str, app) -> None:
    from flask_migrate import upgrade

    from core.db import db

    reset_postgres(url)
    with app.app_context():
        upgrade(revision="heads")
        db.engine.dispose()


def _wait(predicate, timeout: float = 300.0) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise SystemExit("timed out")
        time.sleep(0.02)
    return time.monotonic() - start


def main() -> None:
    from tests.notifications.fake_twilio import FakeTwilio
    from tests.notifications.worker_process import SID, TOKEN, Outage, WorkerProcess

    url = os.environ.get("BENCH_DATABASE_URL", PG_DEFAULT)
    if not url.startswith("postgresql"):
        print("needs PostgreSQL (BENCH_DATABASE_URL)")
        return
    _ensure_database(url)
    app = _app(url)
    engine = create_engine(url)
    fake = FakeTwilio(SID, TOKEN)
    print(f"load before: {os.getloadavg()[0]:.2f}")
    print("database outage mid-run (100 texts, 8 in flight, default back-off cap 5 s):")
    print(f"{'outage s':>9} {'resume s':>9} {'sent':>5} {'dups':>5} {'lost':>5} {'outage log lines':>17}")
    for length in OUTAGES:
        _fresh(url, app)
        fake.reset()
        fake.latency_seconds = 0.1
        numbers = _queue(app, 100, int(length))
        proc = WorkerProcess(url, fake.url, "--concurrency", str(IN_FLIGHT))
        outage = Outage(url)
        try:
            _wait(lambda: len(fake.accepted) >= 20)
            engine.dispose()
            outage.begin()
            time.sleep(length)
            outage.end()
            before = len(fake.accepted)
            resume = _wait(lambda before=before: len(fake.accepted) > before or _count(engine, "sent") == 100)
            _wait(lambda: _count(engine, "sent") == 100)
        finally:
            outage.close()
            log = proc.output()
            proc.close()
        counts = Counter(m["To"] for m in fake.accepted)
        print(f"{length:>9.1f} {resume:>9.2f} {len(counts):>5} {sum(c - 1 for c in counts.values()):>5} "
              f"{len(set(numbers) - set(counts)):>5} {log.count('database unavailable'):>17}")
        print("          worker:", " | ".join(line.split(" ", 2)[-1] for line in log.splitlines()
                                           if "database" in line and "notifications.worker" in line))
    print(f"kill -9 mid-run ({KILL_TEXTS} texts, {IN_FLIGHT} in flight, batch 20, lease 30 s):")
    print(f"{'run':>4} {'accepted':>9} {'recorded':>9} {'held':>5} {'resent after s':>15} {'dups':>5} {'lost':>5}")
    for run in range(1, KILL_RUNS + 1):
        _fresh(url, app)
        fake.reset()
        fake.latency_seconds = 0.1
        numbers = _queue(app, KILL_TEXTS, run)
        proc = WorkerProcess(url, fake.url, "--concurrency", str(IN_FLIGHT), "--batch", "20")
        _wait(lambda: len(fake.accepted) >= 150)
        proc.kill9()
        killed_at = time.monotonic()
        accepted, recorded, held = len(fake.accepted), _count(engine, "sent"), _count(engine, "sending")
        second = WorkerProcess(url, fake.url, "--concurrency", str(IN_FLIGHT), "--batch", "20")
        try:
            _wait(lambda: _count(engine, "sent") == KILL_TEXTS)
            resent_after = time.monotonic() - killed_at
        finally:
            second.close()
            proc.close()
        counts = Counter(m["To"] for m in fake.accepted)
        print(f"{run:>4} {accepted:>9} {recorded:>9} {held:>5} {resent_after:>15.1f} "
              f"{sum(c - 1 for c in counts.values()):>5} {len(set(numbers) - set(counts)):>5}")
    print(f"load after: {os.getloadavg()[0]:.2f}")
    fake.close()
    engine.dispose()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
