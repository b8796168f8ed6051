"""Notifications: broadcast enqueue time for 1,000 staff (alone, and including the eligibility of a 1,000-person
team with 26 weeks of rota each), outbox worker throughput (2 worker processes on PostgreSQL) against the local fake
Twilio server, the half-failing provider outcome, and SSE fan-out latency from commit to the last of 200 connected
clients (gunicorn gthread, 2 processes, LISTEN/NOTIFY on PostgreSQL).

Database: ``BENCH_DATABASE_URL`` (wiped; a ``sqlite:///`` URL runs on SQLite), else a local PostgreSQL database
``sb_notifications_bench`` if one is reachable (created if missing, wiped), else SQLite (then: one worker, one web
process, in-process fan-out). Prints figures measured in this run.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text, update

ROOT = Path(__file__).resolve().parent.parent
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/sb_notifications_bench"
STAFF = 1000
SSE_CLIENTS = 200
SSE_ROUNDS = 15


def _database_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL")
    if url and url.startswith("sqlite"):
        Path(url.split("///", 1)[1]).unlink(missing_ok=True)
        return url
    candidates = [url] if url else [PG_DEFAULT]
    for candidate in candidates:
        try:
            admin = create_engine(candidate.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                name = candidate.rsplit("/", 1)[1]
                if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            engine = create_engine(candidate)
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            engine.dispose()
            return candidate
        except Exception as exc:  # no PostgreSQL here: fall back to SQLite
            print(f"(PostgreSQL not available: {type(exc).__name__}; using SQLite)")
    return f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-notif-')) / 'bench.sqlite3'}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(url: str, fake, public: str) -> dict:
    from tests.notifications.conftest import SID, TOKEN

    return {**os.environ, "FLASK_APP": "app:create_app", "DATABASE_URL": url, "SECRET_KEY": "bench-secret",
            "AUDIT_KEY": "bench-audit", "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_MESSAGING_SERVICE_SID": "MG" + "2" * 32, "TWILIO_API_BASE_URL": fake.url,
            "PUBLIC_BASE_URL": public, "NOTIFICATIONS_RETRY_BASE_SECONDS": "0", "NOTIFICATIONS_DAILY_SMS_CAP": "1000",
            "LOG_LEVEL": "WARNING", "TWILIO_TIMEOUT_SECONDS": "2"}


def _seed(n: int):
    from core import accounts
    from core.accounts import ApiToken, Membership, TeamRole, User
    from core.db import db, now_utc

    now = now_utc()
    team = accounts.create_team(name="Bench ward", site="Bench")
    coordinator = accounts.create_user(email="coord@bench.test", display_name="Coordinator",
                                       password="bench-password-1")
    accounts.add_member(team, coordinator, TeamRole.coordinator)
    db.session.execute(insert(User), [
        {"email": f"s{i}@bench.test", "display_name": f"Staff {i}", "password_hash": "x", "mobile": f"+4477009{i:05d}",
         "grade": ("Band 5", "Band 6", "Band 7")[i % 3], "skills": [], "is_admin": False, "active": True,
         "created_at": now, "staff_group": "nursing"} for i in range(n)])
    ids = list(db.session.scalars(select(User.id).where(User.email.like("s%@bench.test")).order_by(User.id)))
    db.session.execute(insert(Membership), [{"team_id": team.id, "user_id": u, "role": TeamRole.staff} for u in ids])
    tokens = {}
    for uid in ids[:SSE_CLIENTS]:
        secret = "sb_" + secrets.token_urlsafe(32)
        tokens[uid] = secret
        db.session.add(ApiToken(user_id=uid, name="bench", token_hash=accounts._digest(secret), prefix=secret[:10]))
    db.session.commit()
    return team, coordinator, ids, tokens


def _run_workers(env: dict, n: int, quiet: bool = False) -> float:
    started = time.perf_counter()
    procs = [subprocess.Popen([str(ROOT / ".venv/bin/flask"), "notifications", "worker", "--once", "--batch", "20"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(n)]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    elapsed = time.perf_counter() - started
    for out in outputs if not quiet else ():
        last = [line for line in out.splitlines() if line.startswith("claimed")]
        print(f"    worker: {last[-1] if last else out.strip()[-300:]}")
    return elapsed


def _rota_team(n: int):
    """A 1,000-person team with 26 weeks of ~5 shifts a week each and an open shift (bench_swaps' seeding), with
    mobiles and a coordinator: the audience "everyone eligible for this shift" is resolved for real."""
    from datetime import UTC, datetime, timedelta

    from bench.bench_swaps import _seed_team
    from core import accounts
    from core.accounts import Team, TeamRole, User
    from core.db import db

    base = (datetime.now(UTC) + timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    gap_id, shifts = _seed_team(n, "elig", base)
    team = db.session.scalar(select(Team).where(Team.name == "Bench ward elig"))
    ids = list(db.session.scalars(select(User.id).where(User.email.like("elig-%@bench.test"))))
    db.session.execute(update(User), [{"id": uid, "mobile": f"+4477008{k:05d}"} for k, uid in enumerate(ids)])
    coordinator = accounts.create_user(email="coord-elig@bench.test", display_name="Coordinator (rota)",
                                       password="bench-password-1")
    accounts.add_member(team, coordinator, TeamRole.coordinator)
    db.session.commit()
    return team, coordinator, gap_id, shifts


async def _sse_client(port: int, token: str, marker_queue: asyncio.Queue, ready: asyncio.Event, counter: list,
                      total: int, path: str = "/api/v1/notifications/stream"):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                  f"Authorization: Bearer {token}\r\n\r\n").encode())
    await writer.drain()
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    counter[0] += 1
    if counter[0] == total:
        ready.set()
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"data:") or b"data:" in line:
                marker_queue.put_nowait(time.perf_counter())
    except (ConnectionError, asyncio.CancelledError):
        return


def _sse(url: str, env: dict, tokens: dict, ids: list[int]):
    from core.db import db
    from notifications.service import notify

    port = _free_port()
    workers = "2" if url.startswith("postgresql") else "1"
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-w", workers, "-k", "gthread", "--threads",
                               str(SSE_CLIENTS + 20), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                               "--graceful-timeout", "2",
                               "app:create_app()"], cwd=ROOT, env={**env, "NOTIFICATIONS_STREAM_MAX_SECONDS": "600"})
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.2)
    round_last, all_latencies = [], []
    loop = asyncio.new_event_loop()
    received: asyncio.Queue = asyncio.Queue()
    ready = asyncio.Event()

    async def connect_all():
        counter = [0]
        tasks = [asyncio.ensure_future(_sse_client(port, tok, received, ready, counter, len(tokens)))
                 for tok in tokens.values()]
        await asyncio.wait_for(ready.wait(), 120)
        return tasks

    def commit_one(i: int) -> float:
        notify(list(tokens), kind="bench", text=f"Bench event {i}")
        t0 = time.perf_counter()
        db.session.commit()
        return t0

    try:
        tasks = loop.run_until_complete(connect_all())
        loop.run_until_complete(asyncio.sleep(1.0))  # every stream subscribed (listener threads started)
        for i in range(SSE_ROUNDS):
            while not received.empty():
                received.get_nowait()
            t0 = commit_one(i)

            async def collect():
                times = []
                while len(times) < len(tokens):
                    times.append(await asyncio.wait_for(received.get(), 30))
                return times

            times = loop.run_until_complete(collect())
            lat = [t - t0 for t in times]
            round_last.append(max(lat))
            all_latencies.extend(lat)
            loop.run_until_complete(asyncio.sleep(0.2))
        for t in tasks:
            t.cancel()
        loop.run_until_complete(asyncio.sleep(0.1))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        loop.close()
    return round_last, all_latencies


def _pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from app import create_app
    from core.db import db
    from notifications import broadcasts
    from notifications.models import OutboxMessage, OutboxState
    from notifications.service import IN_APP, SMS
    from tests.conftest import LiveServer
    from tests.notifications.conftest import SID, TOKEN, twilio_config
    from tests.notifications.fake_twilio import FakeTwilio

    url = _database_url()
    engine = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    fake = FakeTwilio(SID, TOKEN)
    fake.callbacks = False
    app = create_app({"TESTING": False, "SECRET_KEY": "bench-secret", "AUDIT_KEY": "bench-audit",
                      "SQLALCHEMY_DATABASE_URI": url, "FAST_PASSWORD_HASH": True, "LOG_LEVEL": "WARNING",
                      "RATELIMIT_STORAGE_URI": "memory://", "PUBLIC_BASE_URL": "", "NOTIFICATIONS_DAILY_SMS_CAP": 1000,
                      **twilio_config(fake)})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(revision="heads")
        team, coordinator, ids, tokens = _seed(STAFF)
        print(f"engine: {engine}; {STAFF} staff on one team")

        # 1. Enqueue: a broadcast to 1,000 (audience resolved by grade group over the whole team), in-app + SMS.
        def enqueue(audience, params, reference=None, i=0):
            return broadcasts.create(team, coordinator, audience=audience, params=params, reference=reference,
                                     text=f"Bench gap {i}: night shift tonight needs a nurse", kind="open_shift",
                                     channels=(IN_APP, SMS), urgent=True)

        timings, cpu, made = [], [], []
        for i in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            b = enqueue("group", {"staff_group": "nursing"}, f"shift:{900000 + i}", i)
            db.session.commit()
            timings.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            made.append(b.id)
        recipients = len(db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.broadcast_id == made[-1]))
                         .all())
        print(f"broadcast enqueue to {recipients} people (recipients + in-app rows + SMS outbox rows + audit, one "
              f"commit): median {statistics.median(timings):.0f} ms, min {min(timings):.0f} ms, max "
              f"{max(timings):.0f} ms over {len(timings)} runs (target <= 500 ms); app-process CPU median "
              f"{statistics.median(cpu):.0f} ms; machine load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores")

        # 1b. The same including eligibility: audience "eligible_for_shift" (rota) for an open shift in a
        # 1,000-person team with a realistic rota.
        t0 = time.perf_counter()
        team_r, coordinator_r, gap_id, shifts = _rota_team(STAFF)
        print(f"  (seeded a second team: {STAFF} staff, {shifts} shifts over 26 weeks, one open shift, in "
              f"{time.perf_counter() - t0:.0f} s)")
        from notifications import registry

        parked: list[int] = []
        if "eligible_for_shift" in registry.audiences():
            resolve_ms, full, full_cpu, elig_made = [], [], [], []
            for i in range(3):
                db.session.expire_all()
                t0 = time.perf_counter()
                eligible = broadcasts.resolve(team_r.id, "eligible_for_shift", {"shift_id": gap_id})
                resolve_ms.append((time.perf_counter() - t0) * 1000)
                db.session.rollback()
                db.session.expire_all()
                t0, c0 = time.perf_counter(), time.process_time()
                b = broadcasts.create(team_r, coordinator_r, audience="eligible_for_shift",
                                      params={"shift_id": gap_id}, reference=f"shift:{gap_id}",
                                      text=f"Bench gap {i}: early shift needs a nurse", kind="open_shift",
                                      channels=(IN_APP, SMS), urgent=True)
                db.session.commit()
                full.append((time.perf_counter() - t0) * 1000)
                full_cpu.append((time.process_time() - c0) * 1000)
                elig_made.append(b.id)
                b.state = "closed"  # the next run is a fresh broadcast about the same gap
                db.session.commit()
            parked = elig_made
            print(f"broadcast enqueue including eligibility (audience eligible_for_shift, {len(eligible)} of "
                  f"{STAFF} eligible): median {statistics.median(full):.0f} ms (min {min(full):.0f}, max "
                  f"{max(full):.0f}) over {len(full)} runs, CPU median {statistics.median(full_cpu):.0f} ms "
                  f"(target <= 500 ms); of which resolving the audience (rota eligibility) median "
                  f"{statistics.median(resolve_ms):.0f} ms")
        else:
            print("broadcast enqueue including eligibility: skipped (no eligible_for_shift audience registered)")
        # 2. Worker throughput, provider always succeeding: each run sends one of the group broadcasts' 1,000 texts.
        n_workers = 2 if engine == "PostgreSQL" else 1
        env = _env(url, fake, "")
        db.session.execute(update(OutboxMessage).where(OutboxMessage.broadcast_id.in_(made + parked))
                           .values(state=OutboxState.failed, error_code="bench"))
        db.session.commit()
        startup = _run_workers(env, n_workers, quiet=True)  # nothing is due: start-up (and periodic tasks) alone

        def throughput(broadcast_id: int, latency: float, concurrency: int | None) -> None:
            db.session.execute(update(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id)
                               .values(state=OutboxState.pending, error_code=None, attempts=0))
            db.session.commit()
            fake.reset()
            fake.callbacks, fake.latency_seconds = False, latency
            run_env = {**env, **({"NOTIFICATIONS_SEND_CONCURRENCY": str(concurrency)} if concurrency else {})}
            elapsed = _run_workers(run_env, n_workers)
            sent = len(fake.accepted)
            print(f"worker throughput, provider answering in {latency * 1000:.0f} ms, "
                  f"{concurrency or 'default'} text(s) in flight per worker: {sent} texts in {elapsed:.2f} s with "
                  f"{n_workers} worker process(es) = {sent / elapsed:.0f} msgs/s incl. process start-up "
                  f"({startup:.2f} s), {sent / max(elapsed - startup, 1e-3):.0f} msgs/s sending")

        throughput(made[-1], 0.0, None)
        throughput(made[-2], 0.1, 1)
        throughput(made[-3], 0.1, None)
        fake.latency_seconds = 0.0

        # 3. Half-failing provider, 500 people, status callbacks to a running app: none lost, none sent twice.
        from notifications import registry

        registry.register_audience("bench_500", "Bench: 500 people", lambda team_id, params: ids[:500])
        fake.reset()
        fake.fail_rate, fake.fail_with = 0.5, ("500", "429")
        with LiveServer(app) as live:
            b = broadcasts.create(team, coordinator, audience="bench_500", text="Half-failing bench", channels=(SMS,),
                                  urgent=True)
            db.session.commit()
            half_ids = set(db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.broadcast_id == b.id)))
            fake.callbacks = True
            elapsed = _run_workers(_env(url, fake, live.url), n_workers)
            fake.wait_for_callbacks(300)
        db.session.expire_all()
        rows = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(half_ids))))
        states = Counter(r.state.value for r in rows)
        dup = sum(c - 1 for c in Counter(m["To"] for m in fake.accepted).values() if c > 1)
        unexplained = sum(1 for r in rows if r.state != OutboxState.delivered and not r.error_code)
        print(f"half-failing provider ({fake.responses['500'] + fake.responses['429']} of {fake.requests} requests "
              f"failed with 500/429): {len(rows)} texts -> {dict(states)}; sent twice: {dup}; failed without a "
              f"reason: {unexplained}; {len(rows) / elapsed:.0f} msgs/s")

        # 4. SSE: 200 clients, commit -> last receipt (needs cross-process fan-out: PostgreSQL or Redis).
        if engine != "PostgreSQL":
            print("SSE fan-out: skipped (SQLite fans out in-process only; run with PostgreSQL)")
            return
        round_last, lat = _sse(url, _env(url, fake, ""), tokens, ids)
        print(f"SSE fan-out to {SSE_CLIENTS} clients (gunicorn gthread x2 processes, LISTEN/NOTIFY), "
              f"{SSE_ROUNDS} events: commit -> last client median {statistics.median(round_last) * 1000:.0f} ms, "
              f"p95 {_pct(round_last, 95) * 1000:.0f} ms; per client median {statistics.median(lat) * 1000:.0f} ms, "
              f"p95 {_pct(lat, 95) * 1000:.0f} ms")
        db.session.remove()
        db.engine.dispose()
    fake.close()


if __name__ == "__main__":
    main()
