"""SQLite against PostgreSQL under a real server (issue #22): gunicorn (2 processes x 8 threads), 16 client
connections, each sending a mix of reads (My shifts through the API, the 4-week shifts list, a shift, a coordinator's
team list) and writes (a coordinator adds an open shift, then edits it: one request in four writes).

Prints, per engine: requests, "database is locked" answers (must be 0), other non-2xx answers, read p50/p99 and write
p50/p99 wall-clock latency, and then the ratio of SQLite's read p99 to PostgreSQL's (target: within 3x).

SQLite runs on a throw-away file; PostgreSQL when BENCH_DATABASE_URL (or TEST_DATABASE_URL) is given (emptied).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 16
REQUESTS_EACH = 60
WRITE_SHARE = 0.25


def make_app():
    """gunicorn's entry (``bench.bench_concurrency:make_app()``): the app on BENCH_CONCURRENCY_URL, no rate limits."""
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": os.environ["BENCH_CONCURRENCY_URL"], "SECRET_KEY": "bench",
                       "AUDIT_KEY": "bench", "RATELIMIT_ENABLED": False, "RATELIMIT_STORAGE_URI": "memory://",
                       "LOG_LEVEL": "WARNING", "FAST_PASSWORD_HASH": True})


def _seed(url: str) -> dict:
    from bench.bench_pages import _app, _ward
    from core import accounts
    from core.accounts import User
    from core.db import db

    app = _app(url)
    with app.app_context():
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        monday = today - timedelta(days=today.weekday())
        team, coord, nurses, types, _ = _ward("Ward 7B", 30, monday - timedelta(days=14), 14 + 56,
                                              lambda k, d: (d + k) % 7 in (5, 6))
        _, coord_token = accounts.create_token(coord, "bench")
        tokens = [accounts.create_token(db.session.get(User, uid), "bench")[1] for uid in nurses[:8]]
        shift_id = db.session.scalar(db.text("SELECT id FROM shifts WHERE team_id = :t ORDER BY id LIMIT 1"),
                                     {"t": team.id})
        db.session.commit()
        out = {"team": team.id, "type": types[0].id, "coord": coord_token, "nurses": tokens, "nurse_ids": nurses[:8],
               "shift": shift_id,
               "from": monday.date().isoformat(), "to": (monday + timedelta(days=27)).date().isoformat(),
               "far": (monday + timedelta(days=200)).date()}
        db.session.remove()
        db.engine.dispose()
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(url: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {**os.environ, "BENCH_CONCURRENCY_URL": url, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "8",
                               "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                               "bench.bench_concurrency:make_app()"], cwd=ROOT, env=env)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("gunicorn did not start")


def _client(port: int, s: dict, k: int, results: list, lock: threading.Lock) -> None:
    rng = random.Random(k)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    nurse = {"Authorization": f"Bearer {s['nurses'][k % len(s['nurses'])]}"}
    coord = {"Authorization": f"Bearer {s['coord']}", "Content-Type": "application/json"}
    reads = [("GET", f"/api/v1/shifts?team_id={s['team']}&from={s['from']}&to={s['to']}&per_page=50", coord),
             ("GET", f"/api/v1/shifts?person_id={s['nurse_ids'][k % len(s['nurse_ids'])]}&from={s['from']}", nurse),
             ("GET", f"/api/v1/shifts/{s['shift']}", coord), ("GET", "/api/v1/me", nurse),
             ("GET", "/api/v1/teams", nurse)]
    mine: list[tuple[int, int]] = []
    for i in range(REQUESTS_EACH):
        body = None
        if rng.random() < WRITE_SHARE:
            kind = "write"
            if mine and rng.random() < 0.5:
                sid, version = mine.pop()
                method, path, headers = "PATCH", f"/api/v1/shifts/{sid}", coord
                body = json.dumps({"version": version, "note": f"edited by client {k}"})
            else:
                day = s["far"] + timedelta(days=(k * REQUESTS_EACH + i) % 300)
                method, path, headers = "POST", "/api/v1/shifts", coord
                body = json.dumps({"team_id": s["team"], "shift_type_id": s["type"], "date": day.isoformat()})
        else:
            kind = "read"
            method, path, headers = rng.choice(reads)
        t0 = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - t0
        if kind == "write" and resp.status in (200, 201):
            made = json.loads(data)
            if method == "POST":
                mine.append((made["id"], made["version"]))
        with lock:
            results.append((kind, elapsed, resp.status, b"database is locked" in data))
    conn.close()


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bench_engine(url: str) -> dict:
    s = _seed(url)
    server, port = _serve(url)
    results: list = []
    lock = threading.Lock()
    try:
        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(4):
            warm.request("GET", "/api/v1/teams", headers={"Authorization": f"Bearer {s['coord']}"})
            warm.getresponse().read()
        warm.close()
        threads = [threading.Thread(target=_client, args=(port, s, k, results, lock)) for k in range(CONNECTIONS)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(timeout=30)
    reads = [e for kind, e, *_ in results if kind == "read"]
    writes = [e for kind, e, *_ in results if kind == "write"]
    locked = sum(1 for *_, lk in results if lk)
    bad = [st for _k, _e, st, _lk in results if st >= 300]
    return {"requests": len(results), "wall": wall, "locked": locked, "bad": bad,
            "read_p50": statistics.median(reads) * 1000, "read_p99": _pct(reads, 99) * 1000,
            "write_p50": statistics.median(writes) * 1000, "write_p99": _pct(writes, 99) * 1000}


def main() -> None:
    from bench.common import reset_postgres

    urls = [("SQLite", f"sqlite:///{Path(tempfile.mkdtemp(prefix='sb-bench-conc-')) / 'bench.sqlite3'}")]
    pg = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if pg:
        reset_postgres(pg)
        urls.append(("PostgreSQL", pg))
    found = {}
    print(f"gunicorn 2 processes x 8 threads, {CONNECTIONS} connections x {REQUESTS_EACH} requests, "
          f"{WRITE_SHARE:.0%} writes; load average {os.getloadavg()[0]:.2f}")
    for name, url in urls:
        r = found[name] = bench_engine(url)
        print(f"  {name:10} {r['requests']} requests in {r['wall']:.1f} s: {r['locked']} 'database is locked', "
              f"{len(r['bad'])} non-2xx {sorted(set(r['bad']))}; reads p50 {r['read_p50']:.0f} ms p99 "
              f"{r['read_p99']:.0f} ms; writes p50 {r['write_p50']:.0f} ms p99 {r['write_p99']:.0f} ms")
    if len(found) == 2:
        ratio = found["SQLite"]["read_p99"] / found["PostgreSQL"]["read_p99"]
        print(f"  read p99 SQLite / PostgreSQL: {ratio:.2f}x (target <= 3x: {'met' if ratio <= 3 else 'NOT met'})")


if __name__ == "__main__":
    main()
