"""Helpers shared by the benchmarks."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def timed(fn, runs: int = 9) -> tuple[float, float]:
    """Median wall-clock and median CPU milliseconds of ``runs`` calls (CPU time shows the work on a busy machine)."""
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def reset_postgres(url: str) -> None:
    """Empty a PostgreSQL database's public schema (benchmarks own the database they are given)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def database_url(prefix: str) -> str:
    """BENCH_DATABASE_URL (emptied first) or a fresh SQLite file."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        reset_postgres(url)
        return url
    return f"sqlite:///{Path(tempfile.mkdtemp(prefix=prefix)) / 'bench.sqlite3'}"


def analyze(url: str) -> None:
    """Give a seeded PostgreSQL database the statistics (and visibility map) a production one has: autovacuum may be
    off or not have run yet (it is off on the machines these benches run on), and without statistics the planner
    guesses a few rows per table and picks the plans a fresh, empty database would get. pgbench does the same after
    seeding. SQLite: nothing (neither the demo nor the tests run ANALYZE there)."""
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def tree_cpu_seconds(master_pid: int) -> float:
    """CPU time (user + system, every thread) of a process and its children so far, to the nanosecond: each process's
    Linux CPU-time clock (``clock_getcpuclockid``: ``~pid << 3 | CPUCLOCK_SCHED``), not /proc's 10 ms ticks."""
    pids = [master_pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True,
                                                           text=True).stdout.split()]
    total = 0
    for pid in pids:
        try:
            total += time.clock_gettime_ns((~pid << 3) | 2)
        except OSError:
            continue  # it ended meanwhile
    return total / 1e9
