"""Suite-wide fixtures.

Every test runs on SQLite; when TEST_DATABASE_URL is set (CI sets it) every test runs on PostgreSQL as well.
The schema is built once per engine by running the Alembic migrations, and every table is emptied after each test,
so live-server and concurrent tests see committed data exactly as production would.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import socket
import tempfile
import threading
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.exc import IntegrityError

from app import create_app
from core import accounts, passwords, sessions
from core.accounts import TeamRole
from core.db import db

pytest_plugins = ["tests.sso.fixtures"]  # the OpenID provider (idp, live_idp) for tests/sso and tests/e2e

TEST_PASSWORD = "correct horse battery"
ENGINES = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
_TMP = tempfile.mkdtemp(prefix="shiftbridge-tests-")


def base_config(url: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "AUDIT_KEY": "test-audit-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "FAST_PASSWORD_HASH": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        "PUBLIC_BASE_URL": "http://localhost",
        "SERVER_NAME": None,
        # The demo's auto-rostered draft (rota/autoroster/demo.py) solves for up to 15 s; the suite seeds the demo
        # a dozen times, so the job is only queued (its page is walked in that state; tests/rota/autoroster runs
        # jobs to the end and walks the summary).
        "AUTOROSTER_DEMO_RUN": False,
    }


# ------------------------------------------------------------------------------------------- network guard


_real_connect = socket.socket.connect
# Address prefixes of this machine's own network namespaces (tests/cluster adds its veth subnet): still local.
LOCAL_NETS: set[str] = set()


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and self.family in (socket.AF_INET, socket.AF_INET6):
        if not (host.startswith(("127.", *LOCAL_NETS)) or host in ("localhost", "::1")):
            raise AssertionError(f"test tried to reach the network ({host}); tests talk to loopback only")
    return _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def no_real_network():
    socket.socket.connect = _guarded_connect
    yield
    socket.socket.connect = _real_connect


# ------------------------------------------------------------------------------------------ log leak guard


class _Collector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record):
        try:
            self.records.append(record.getMessage())
        except Exception:  # a bad format string must not break the guard
            self.records.append(str(record.msg))


_LEAKS = [
    (re.compile(re.escape(TEST_PASSWORD)), "a password"),
    (re.compile(r"shiftbridge-demo"), "the demo password"),
    # A token stands alone: a random OIDC state or nonce in a logged URL can hold "sb_" inside it.
    (re.compile(r"(?<![A-Za-z0-9_-])sb_[A-Za-z0-9_-]{20,}"), "an API token"),
    (re.compile(r"sbcal_[A-Za-z0-9_-]{20,}"), "a calendar feed token"),
    (re.compile(r"\b999\s?\d{3}\s?\d{4}\b"), "an NHS number"),
    (re.compile(r"shiftbridge_session=[^;\s]{10,}"), "a session cookie"),
]


@pytest.fixture(autouse=True)
def no_secrets_in_logs():
    """Suite-wide: no password, token, session cookie or patient identifier is ever logged."""
    collector = _Collector()
    root = logging.getLogger()
    root.addHandler(collector)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield collector
    root.removeHandler(collector)
    root.setLevel(old_level)
    for message in collector.records:
        for pattern, what in _LEAKS:
            assert not pattern.search(message), f"{what} was written to the application log: {message[:200]!r}"


# ------------------------------------------------------------------------------------------------ database


def _worker_database(url: str) -> str:
    """Under pytest-xdist each worker gets its own PostgreSQL database (<name>_gw0, …) made from the given one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _prepare_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=ENGINES)
def database_url(request):
    """A migrated, empty database for one engine."""
    if request.param == "sqlite":
        url = f"sqlite:///{Path(_TMP) / 'suite.sqlite3'}"
        Path(_TMP, "suite.sqlite3").unlink(missing_ok=True)
    else:
        url = _worker_database(os.environ["TEST_DATABASE_URL"])
        _prepare_postgres(url)
    app = create_app(base_config(url))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(revision="heads")
        db.engine.dispose()
    return url


_TABLES: dict[str, list[str]] = {}  # database URL -> the tables the migrations made, parents before children


def _empty_all_tables():
    """Empty the tables this test wrote to, children first, and restart the sequences it used (PostgreSQL).

    One statement finds the tables that hold rows; emptying only those is what keeps a test's teardown cheap
    (TRUNCATE of every table took 0.3–2 s a test on PostgreSQL, mostly making new files for ~80 empty tables).
    """
    url = db.engine.url.render_as_string(hide_password=False)
    if url not in _TABLES:
        # Only tables the migrations made: a model without a migration is reported by tests/core/test_migrations.py.
        existing = set(inspect(db.engine).get_table_names())
        _TABLES[url] = [t.name for t in db.metadata.sorted_tables if t.name in existing]
    tables = _TABLES[url]
    probe = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables)
    try:
        with db.engine.begin() as conn:
            written = set(conn.execute(text(probe)).scalars())
            for t in reversed(tables):
                if t in written:
                    conn.execute(text(f'DELETE FROM "{t}"'))
            if conn.dialect.name == "postgresql":  # as RESTART IDENTITY did: ids start at 1 again for the next test
                conn.execute(text("SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, 1, false) "
                                  "FROM pg_sequences WHERE last_value IS NOT NULL"))
    except IntegrityError:  # rows that point at each other across tables in a cycle: empty everything at once
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            else:
                conn.execute(text("PRAGMA defer_foreign_keys = ON"))
                for t in reversed(tables):
                    conn.execute(text(f'DELETE FROM "{t}"'))


@pytest.fixture
def app_config(database_url):
    """Override in a test module (or parametrize) to change settings for that test's app."""
    return {}


class IsolatedClient(FlaskClient):
    """Runs each request in its own application context, as production does.

    Without this, requests would share the test's ``g`` and database session, and a view that forgot to commit
    would look fine to the test. The test's own transaction is ended first: on SQLite every transaction takes the
    write lock (BEGIN IMMEDIATE), so a test holding one would block the request.
    """

    def open(self, *args, **kwargs):
        db.session.commit()
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def app(database_url, app_config):
    app = create_app({**base_config(database_url), **app_config})
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        _empty_all_tables()
        from core.security import limiter

        limiter.reset()
        db.engine.dispose()


@pytest.fixture
def engine_name(app) -> str:
    return db.engine.dialect.name


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# ------------------------------------------------------------------------------------------------ factories


class Factory:
    """``make.user(...)``, ``make.team(...)``, ``make.token(user)``: committed rows with sensible defaults."""

    def __init__(self):
        self.n = 0

    def user(self, **kw):
        self.n += 1
        kw.setdefault("email", f"person{self.n}@example.test")
        kw.setdefault("display_name", f"Person {self.n}")
        kw.setdefault("password", TEST_PASSWORD)
        kw.setdefault("grade", "Band 5")
        user = accounts.create_user(**kw)
        db.session.commit()
        return user

    def admin(self, **kw):
        return self.user(is_admin=True, staff_group="admin", grade=None, **kw)

    def team(self, name=None, *, coordinators=(), staff=(), **kw):
        self.n += 1
        team = accounts.create_team(name=name or f"Ward {self.n}", **kw)
        for u in coordinators:
            accounts.add_member(team, u, TeamRole.coordinator)
        for u in staff:
            accounts.add_member(team, u, TeamRole.staff)
        db.session.commit()
        return team

    def token(self, user) -> str:
        _, secret = accounts.create_token(user, "test")
        db.session.commit()
        return secret


@pytest.fixture
def make(app):
    return Factory()


def login(client, user, password=TEST_PASSWORD):
    resp = client.post("/auth/login", data={"email": user.email, "password": password})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return resp


@pytest.fixture
def bearer():
    return lambda secret: {"Authorization": f"Bearer {secret}"}


# ---------------------------------------------------------------------------------------------- live server


class LiveServer:
    def __init__(self, app):
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(app):
    from notifications.realtime import HUB

    db.session.commit()
    with LiveServer(app) as server:
        yield server
    # Streams of the stopped server may not have noticed their browser went: they must not count against the
    # per-person cap of the next test, whose people have the same ids.
    HUB.reset()


# ------------------------------------------------------------------------------------------------- queries


@contextlib.contextmanager
def count_queries():
    """``with count_queries() as seen:`` lists the SQL statements run inside (not BEGIN/COMMIT/SAVEPOINT/PRAGMA ...)."""
    seen: list[str] = []

    def before(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT",
                                                      "RELEASE")):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


# ------------------------------------------------------------------------------------------------- clock


class Clock:
    """A controllable clock for sign-in sessions: ``clock.advance(minutes=16)`` moves the time of ``core.accounts``,
    ``core.sessions`` and ``core.passwords`` on."""

    def __init__(self):
        from datetime import timedelta

        self.offset = timedelta(0)
        self.frozen_at = None

    def freeze(self):
        """Stop the clock (it moves only with ``advance``): for exact counts of seconds left, which a loaded
        machine's own run time would otherwise shave (899 for 900)."""
        from core.db import now_utc

        self.frozen_at = now_utc()
        return self

    def now(self):
        from core.db import now_utc

        return (self.frozen_at or now_utc()) + self.offset

    def advance(self, **delta):
        from datetime import timedelta

        self.offset += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    for module in (accounts, sessions, passwords):
        monkeypatch.setattr(module, "now_utc", c.now)
    return c
