"""Real server processes for tests and benches: gunicorn with this repository's deploy/ configuration files.

``Gunicorn(database_url, "web")`` starts the web tier with ``deploy/gunicorn.conf.py``; ``"stream"`` starts the
notification stream service with ``deploy/gunicorn_stream.conf.py``. Settings come from the environment exactly as in
production (``DATABASE_URL``, ``SECRET_KEY`` …); ``env`` overrides them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"web": ROOT / "deploy" / "gunicorn.conf.py", "stream": ROOT / "deploy" / "gunicorn_stream.conf.py"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(database_url: str, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "NOTIFICATIONS_", "GUNICORN_"))}
    environ.update({"PYTHONPATH": str(ROOT), "FLASK_APP": "app:create_app", "DATABASE_URL": database_url,
                    "SECRET_KEY": "test-secret-key-not-for-production", "AUDIT_KEY": "test-audit-key",
                    "PUBLIC_BASE_URL": "http://127.0.0.1", "LOG_LEVEL": "WARNING"})
    environ.update(env)
    return environ


class Gunicorn:
    def __init__(self, database_url: str, role: str = "web", *, port: int | None = None, bind: str | None = None,
                 netns: str | None = None, wait: bool = True, app: str = "app:create_app()", **env: str):
        """``bind`` "host:port" (default a free loopback port); ``netns``: start it in that network namespace;
        ``app``: the WSGI application gunicorn loads (a bench may wrap the production factory)."""
        bind = bind or f"127.0.0.1:{port or free_port()}"
        self.url = f"http://{bind}"
        self.log = tempfile.NamedTemporaryFile("w+", prefix=f"sb-{role}-", suffix=".log", delete=False)
        environ = base_env(database_url, GUNICORN_BIND=bind, **env)
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.proc = subprocess.Popen([*prefix, gunicorn, "-c", str(CONFIGS[role]), app], cwd=ROOT,
                                     env=environ, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.output()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code in (200, 503):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer in {timeout} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def kill9(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
