"""The database object, naming convention, UTC datetime type and engine tuning for SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime

from flask import has_request_context, request
from flask_sqlalchemy import SQLAlchemy
from psycopg.pq import TransactionStatus
from sqlalchemy import DateTime, Enum, Float, MetaData, String, event, type_coerce
from sqlalchemy.engine import Engine, processors
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from core.limits import MAX_ID

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def str_enum(cls, name: str) -> Enum:
    """A Python enum stored as its value in a VARCHAR(16) (portable: no PostgreSQL ENUM type to migrate)."""
    return Enum(cls, name=name, native_enum=False, length=16, validate_strings=True)


def core_rows(stmt, params: dict | None = None):
    """Run a statement of plain columns (no ORM entities to load) on the session's connection and return its result:
    about half the cost of ``db.session.execute`` for a small query, which does ORM work per statement. Pending ORM
    changes are flushed first, as the session's autoflush would."""
    session = db.session
    if session.autoflush:
        session.flush()
    return session.connection().execute(stmt, params or {})


def now_utc() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every engine.

    SQLite has no time zone type and hands back naive values; PostgreSQL's timestamptz may come back in the
    session zone. Both are normalised to UTC here, and naive input is refused so a local time can never be stored
    by mistake.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store UTC instants only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_UTC = UTCDateTime()


def raw_instant(column):
    """A stored UTC datetime column read as the driver hands it (SQLite's text, PostgreSQL's datetime), for
    :class:`UTCInstants` to convert: no conversion per row."""
    return type_coerce(column, String)


class UTCInstants(dict):
    """``instants[raw]``: the aware UTC datetime :class:`UTCDateTime` would have given for a :func:`raw_instant`
    value, worked out once per distinct value (a grid's hundreds of shifts start and end at a few dozen instants)."""

    def __missing__(self, raw):
        value = self[raw] = _UTC.process_result_value(
            processors.str_to_datetime(raw) if isinstance(raw, str) else raw, None)
        return value


class epoch_seconds(FunctionElement):  # noqa: N801  (used like a SQL function)
    """Seconds since 1970 of a stored UTC datetime, computed by the database (for aggregates over many rows)."""

    type = Float()
    name = "epoch_seconds"
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element, compiler, **kw):
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


class day_before(FunctionElement):  # noqa: N801  (used like a SQL function)
    """A stored UTC datetime less 24 hours, comparable with the column as stored (for an index range bounded by
    another row's instant: "started at most a day before that shift"). On SQLite the text loses its fraction of a
    second, so it is at most a second early: use it as a loose bound beside the exact condition."""

    type = UTCDateTime()
    name = "day_before"
    inherit_cache = True


@compiles(day_before, "sqlite")
def _day_before_sqlite(element, compiler, **kw):
    return f"datetime({compiler.process(element.clauses, **kw)}, '-1 day')"


@compiles(day_before, "postgresql")
def _day_before_postgresql(element, compiler, **kw):
    return f"({compiler.process(element.clauses, **kw)} - INTERVAL '1 day')"


def _is_sqlite(dbapi_connection) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    if not _is_sqlite(dbapi_connection):
        return
    # SQLAlchemy's documented recipe: let SQLAlchemy (not pysqlite) emit BEGIN, so we choose DEFERRED or IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@event.listens_for(Engine, "connect")
def _postgresql_on_connect(dbapi_connection, connection_record):
    """No JIT compilation. PostgreSQL compiles a statement to machine code when its estimated cost passes
    ``jit_above_cost`` (100,000 by default). The app's statements are short reads whose estimates can still pass it
    (a calendar feed's validator: a dozen correlated subqueries, estimated at 360,000-560,000 on small tables), and
    LLVM then spent 0.1-1.9 s compiling a statement that runs in under a millisecond, on every calendar poll. The
    PostgreSQL documentation's own advice for short queries; set per connection (SQLAlchemy's recipe for session
    settings), so a database shared with other programs keeps its own setting."""
    if _is_sqlite(dbapi_connection) or not type(dbapi_connection).__module__.startswith("psycopg"):
        return
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    dbapi_connection.execute("SET jit = off")
    dbapi_connection.autocommit = autocommit


# SQLite transactions: readers in parallel, writers one at a time.
#
# A request that only reads (GET, HEAD, OPTIONS) begins a deferred transaction: in WAL mode it reads a snapshot and
# never takes the write lock, so any number of readers run beside each other and beside one writer. Everything
# else (POST/PUT/PATCH/DELETE requests, the CLI, the outbox worker, tests) begins ``BEGIN IMMEDIATE`` as before:
# writers queue behind the busy timeout, and a transaction's reads and writes see one consistent database, which the
# race guarantees of claims, assignments, swaps and the audit chain rely on.
#
# A read request that does write (the sign-in session's last use, an API token's last use, a calendar feed's fetch
# record) takes the write lock at its first write, locking read (FOR UPDATE) or savepoint: SQLite cannot upgrade a
# read snapshot once another connection has committed (it fails at once with "database is locked", without waiting),
# so the read transaction, which has written nothing, is ended and ``BEGIN IMMEDIATE`` starts a fresh one. From
# there on it behaves as a writer; what it read before was read as PostgreSQL's READ COMMITTED would have (which is
# why those writes are conditional UPDATEs, and a locking read is always made after the lock is taken).
# ``take_write_lock()`` does the same on purpose, before a read that must not be stale (the audit chain's tail).

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFERRED = "sb_deferred_transaction"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT")


def _read_only_request() -> bool:

    return has_request_context() and request.method in SAFE_METHODS


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(conn):
    if conn.dialect.name != "sqlite":
        return
    deferred = _read_only_request()
    conn.info[_DEFERRED] = deferred
    conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def _upgrade(conn) -> None:
    conn.info[_DEFERRED] = False
    raw = conn.connection.dbapi_connection
    raw.execute("COMMIT")  # nothing written yet: this only lets go of the read snapshot
    raw.execute("BEGIN IMMEDIATE")


@event.listens_for(Engine, "before_cursor_execute")
def _sqlite_write_lock_at_first_write(conn, cursor, statement, parameters, context, executemany):
    if not conn.info.get(_DEFERRED) or conn.dialect.name != "sqlite":
        return
    locking = context is not None and getattr(getattr(context, "compiled", None), "statement", None) is not None \
        and getattr(context.compiled.statement, "_for_update_arg", None) is not None
    if locking or statement.lstrip()[:9].upper().startswith(_WRITES):
        _upgrade(conn)


def take_write_lock(session=None) -> None:
    """Make the session's current transaction a writing one now (SQLite: take the write lock before the next read;
    a no-op on PostgreSQL and in transactions that began ``IMMEDIATE``). For a read whose answer the write depends on
    when no row lock can express it, e.g. the tail of the audit chain."""
    conn = (session or db.session).connection()
    if conn.info.get(_DEFERRED) and conn.dialect.name == "sqlite":
        _upgrade(conn)


# PostgreSQL: a transaction that only read ends with COMMIT, not ROLLBACK, so that psycopg keeps its prepared
# statements.
#
# psycopg prepares a statement on its connection once it has run there five times; PostgreSQL then no longer parses
# it, and after five custom plans usually keeps one generic plan. But psycopg forgets (DEALLOCATE ALL) every
# prepared statement at each ROLLBACK, and SQLAlchemy ends every transaction the app does not commit with one: every
# read request's. So no statement ever reached five, and PostgreSQL parsed and planned each of them anew, about
# 0.3 ms of its CPU per statement, more than most of them took to run (2.1 of the 3.8 ms it spent per open-shifts
# list on the scale bench's data; docs/performance.md). For a transaction that ran only plain SELECTs, COMMIT and
# ROLLBACK do the same; a transaction that wrote anything, or that sent pg_notify, took a sequence value or set a
# setting, or in which a statement failed, is rolled back as before.
_PG_WROTE = "sb_pg_wrote"
_NOT_PLAIN_READ = re.compile(r"pg_notify|nextval|setval|set_config|\bINTO\b", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def _plain_read(statement: str) -> bool:
    return statement.lstrip()[:6].upper() == "SELECT" and not _NOT_PLAIN_READ.search(statement)


@event.listens_for(Engine, "begin")
def _postgresql_on_begin(conn):
    conn.info[_PG_WROTE] = False


@event.listens_for(Engine, "before_cursor_execute")
def _postgresql_note_writes(conn, cursor, statement, parameters, context, executemany):
    if not conn.info.get(_PG_WROTE) and not _plain_read(statement):
        conn.info[_PG_WROTE] = True


def keep_prepared_statements(engine) -> None:
    """Make ``engine`` end a transaction that only read with COMMIT (psycopg on PostgreSQL; see above)."""
    dialect = engine.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg" or getattr(dialect, "_sb_keeps_prepared", False):
        return
    rollback = dialect.do_rollback

    def only_read(pooled) -> bool:
        try:
            return pooled.info.get(_PG_WROTE) is False
        except NotImplementedError:  # the connection SQLAlchemy's first connect makes has no record to ask
            return False

    def do_rollback(dbapi_connection):
        raw = getattr(dbapi_connection, "dbapi_connection", None)  # SQLAlchemy passes its pooled connection
        if raw is not None and only_read(dbapi_connection) and raw.info.transaction_status == TransactionStatus.INTRANS:
            raw.commit()  # a failure raises as a failed rollback would: SQLAlchemy then discards the connection
        else:
            rollback(dbapi_connection)

    dialect.do_rollback = do_rollback
    dialect._sb_keeps_prepared = True


def tune_engines(app) -> None:
    """Engine settings that need the engine itself (called once the app's engines exist)."""
    with app.app_context():
        for engine in db.engines.values():
            keep_prepared_statements(engine)


# SQLSTATE class 40 that two transactions cause each other: a deadlock (PostgreSQL's detector aborts one, e.g. two
# exclusion-constraint checks waiting on each other) or a serialisation failure. psycopg raises them as
# OperationalError, but the database is working: the request lost a race and can be tried again at once.
CONTENTION_STATES = frozenset({"40P01", "40001"})


def is_contention(exc: BaseException) -> bool:
    """The transaction was aborted because another one needed what it held (see ``CONTENTION_STATES``)."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in CONTENTION_STATES


def is_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection (killed backend, failover, refusing connections,
    pool exhausted): a transient condition to wait out, not a bug. PEP 249's OperationalError is exactly "errors
    related to the database's operation ... e.g. an unexpected disconnect" — except a lost race between two
    transactions (:func:`is_contention`), which is a conflict."""

    if is_contention(exc):
        return False
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def is_transient(exc: BaseException) -> bool:
    """Worth doing again shortly: the database was out, or this transaction lost a race to another one (what the
    worker's loops and the inbound-SMS webhook retry or ask to resend; a page answers each differently)."""
    return is_unavailable(exc) or is_contention(exc)


def get_by_id(model, ident: int):
    """``db.session.get`` for an id from a URL, a form or a message: ids beyond the integer range do not exist."""
    return db.session.get(model, ident) if 0 < ident <= MAX_ID else None
