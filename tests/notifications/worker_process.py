"""A real ``flask notifications worker`` process for the resilience tests (and bench/bench_worker_resilience.py).

It runs *this* checkout's code (``PYTHONPATH`` = the repository root), on the given database, sending through the
given fake Twilio with the real client. Its output goes to a file that the test reads afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
SID = "AC" + "1" * 32
TOKEN = "test-twilio-auth-token"


class WorkerProcess:
    def __init__(self, database_url: str, twilio_url: str, *args: str, netns: str | None = None, **env: str):
        """``netns``: run it in that network namespace (tests/cluster)."""
        self.log = tempfile.NamedTemporaryFile("w+", prefix="sb-worker-", suffix=".log", delete=False)
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "NOTIFICATIONS_"))}
        environ.update({
            "PYTHONPATH": str(ROOT), "FLASK_APP": "app:create_app", "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key-not-for-production", "AUDIT_KEY": "test-audit-key",
            "PUBLIC_BASE_URL": "", "LOG_LEVEL": "INFO",
            "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_MESSAGING_SERVICE_SID": "MG" + "2" * 32,
            # Patient, as tests/notifications/conftest.py is: a timed-out send may have gone out and is sent again
            # (at-least-once), and under CI's load (7 Dec) a 2 s timeout sent one text of the outage test twice.
            "TWILIO_API_BASE_URL": twilio_url, "TWILIO_TIMEOUT_SECONDS": "10", "NOTIFICATIONS_RETRY_BASE_SECONDS": "0",
        })
        environ.update(env)
        flask = str(Path(sys.executable).with_name("flask"))
        prefix = ["ip", "netns", "exec", netns] if netns else []  # ip execs the command: same pid
        self.proc = subprocess.Popen([*prefix, flask, "notifications", "worker", "--idle-sleep", "0.05", *args],
                                     cwd=ROOT, env=environ, stdout=self.log, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        return self.proc.returncode

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def close(self) -> None:
        self.stop()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def wait_until(predicate, timeout: float = 60.0, every: float = 0.05, what: str = "condition", output=None):
    """Poll ``predicate`` until it is true (returns its value); fails the test after ``timeout`` seconds. A bound on
    waiting, not a claim about speed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    said = f"; the worker said:\n{output()[-3000:]}" if output else ""
    raise AssertionError(f"timed out waiting for {what}{said}")


class Outage:
    """Make PostgreSQL refuse connections to *one* database (the test's own): no new connections, and every
    existing backend of that database terminated. Other databases of the cluster are untouched."""

    def __init__(self, database_url: str):
        from sqlalchemy.engine import make_url

        url = make_url(database_url)
        self.name = url.database
        self.admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def begin(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": self.name})

    def end(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))

    def close(self) -> None:
        self.end()
        self.admin.dispose()
