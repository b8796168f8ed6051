"""Real-time fan-out of in-app notifications to Server-Sent Event streams.

Each web process keeps one :class:`Hub` (user id -> queues of open streams). Events reach it:

* ``inprocess`` (SQLite, one process): published to the hub right after the commit;
* ``postgres``: ``pg_notify`` inside the writer's transaction (PostgreSQL delivers it only at commit), and one
  ``LISTEN`` connection per process feeds the hub, so every gunicorn process and machine hears every commit;
* ``redis``: published to a Redis channel after the commit; one subscriber thread per process feeds the hub.

The stream service (``deploy/gunicorn_stream.conf.py``: the same app on gevent, so a stream costs a greenlet, not a
thread) holds the long-lived streams; on SQLite, where nothing crosses processes, it polls the notifications table
every ``NOTIFICATIONS_POLL_SECONDS`` instead. Each person may hold ``NOTIFICATIONS_STREAMS_PER_USER`` streams per
stream process (``try_subscribe``).

Streams never hold a database transaction: they query briefly (replay, keep-alive catch-up) and let go.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time

from flask import current_app
from sqlalchemy import event, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
CHANNEL = "shiftbridge_notifications"
_PENDING = "sb_realtime_events"


class Hub:
    def __init__(self):
        self._lock = threading.Lock()
        self._subs: dict[int, set[queue.Queue]] = {}

    def subscribe(self, user_id: int) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=1000)
        with self._lock:
            self._subs.setdefault(user_id, set()).add(q)
        return q

    def try_subscribe(self, user_id: int, limit: int) -> queue.Queue | None:
        """Like :meth:`subscribe`, but None when the person already holds ``limit`` streams in this process."""
        with self._lock:
            if len(self._subs.get(user_id, ())) >= limit:
                return None
            q: queue.Queue = queue.Queue(maxsize=1000)
            self._subs.setdefault(user_id, set()).add(q)
        return q

    def unsubscribe(self, user_id: int, q: queue.Queue) -> None:
        with self._lock:
            subs = self._subs.get(user_id)
            if subs:
                subs.discard(q)
                if not subs:
                    del self._subs[user_id]

    def dispatch(self, events: list[dict]) -> None:
        with self._lock:
            targets = [(q, ev) for ev in events for q in self._subs.get(ev.get("user_id"), ())]
        for q, ev in targets:
            try:
                q.put_nowait(ev)
            except queue.Full:  # a stuck client: it catches up from the database at its next keep-alive
                pass

    def reset(self) -> None:
        """Forget every subscription: the server that held those streams has stopped."""
        with self._lock:
            self._subs.clear()

    def subscriber_count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())


HUB = Hub()


def event_for(n) -> dict:
    """A notification row as the event streams carry (``user_id`` routes it and is dropped before sending)."""
    return {"id": n.id, "user_id": n.user_id, "kind": n.kind, "text": n.text, "link": n.link,
            "created_at": n.created_at.isoformat()}


def fanout_mode(app=None) -> str:
    cfg = (app or current_app).config
    mode = cfg.get("NOTIFICATIONS_FANOUT", "auto")
    if mode != "auto":
        return mode
    if cfg.get("REDIS_URL"):
        return "redis"
    if str(cfg.get("SQLALCHEMY_DATABASE_URI", "")).startswith("postgresql"):
        return "postgres"
    return "inprocess"


def publish(session: Session, events: list[dict]) -> None:
    """Queue events for delivery at commit (called inside the writer's transaction)."""
    if not events:
        return
    mode = fanout_mode()
    if mode == "postgres":
        payloads = [json.dumps(e, separators=(",", ":")) for e in events]
        session.execute(text("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[])) AS p"),
                        {"channel": CHANNEL, "payloads": payloads})
        return
    session.info.setdefault(_PENDING, []).extend(events)
    session.info["sb_realtime_mode"] = mode
    session.info["sb_redis_url"] = current_app.config.get("REDIS_URL")


@event.listens_for(Session, "after_commit")
def _after_commit(session):
    events = session.info.pop(_PENDING, None)
    if not events:
        return
    mode = session.info.pop("sb_realtime_mode", "inprocess")
    if mode == "redis":
        try:
            _redis(session.info.get("sb_redis_url")).publish(CHANNEL, json.dumps(events))
        except Exception:  # the stream's keep-alive catch-up still delivers it
            log.warning("could not publish notifications to Redis")
    else:
        HUB.dispatch(events)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session):
    session.info.pop(_PENDING, None)


_redis_clients: dict = {}


def _redis(url: str):
    import redis

    if url not in _redis_clients:
        _redis_clients[url] = redis.Redis.from_url(url)
    return _redis_clients[url]


# ------------------------------------------------------------------------------------------------ listeners

_listeners: dict[str, threading.Thread] = {}
_listeners_lock = threading.Lock()


def ensure_listener(app) -> None:
    """Start this process's listener thread for the configured fan-out (idempotent)."""
    mode = fanout_mode(app)
    if mode == "inprocess":
        if not app.config.get("NOTIFICATIONS_STREAM_SERVICE"):
            return  # one process: commits reach the hub directly
        key, target, arg = "poll", _poll_table, app
    elif mode == "postgres":
        key, target = "pg:" + app.config["SQLALCHEMY_DATABASE_URI"], _listen_postgres
        arg = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://", 1)
    else:
        key, target, arg = "redis:" + app.config["REDIS_URL"], _listen_redis, app.config["REDIS_URL"]
    with _listeners_lock:
        thread = _listeners.get(key)
        if thread is not None and thread.is_alive():
            return
        ready = threading.Event()
        thread = threading.Thread(target=target, args=(arg, ready), name=f"sb-listen-{mode}", daemon=True)
        _listeners[key] = thread
        thread.start()
    ready.wait(5)


def _listen_postgres(url: str, ready: threading.Event) -> None:
    import psycopg

    while True:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                ready.set()
                while True:
                    for note in conn.notifies(timeout=5.0):
                        try:
                            HUB.dispatch([json.loads(note.payload)])
                        except ValueError:
                            continue
        except Exception:
            ready.set()
            log.warning("notifications listener lost its PostgreSQL connection; reconnecting")
            time.sleep(1)


def _listen_redis(url: str, ready: threading.Event) -> None:
    while True:
        try:
            pubsub = _redis(url).pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(CHANNEL)
            ready.set()
            for message in pubsub.listen():
                try:
                    HUB.dispatch(json.loads(message["data"]))
                except (ValueError, TypeError, KeyError):
                    continue
        except Exception:
            ready.set()
            log.warning("notifications listener lost its Redis connection; reconnecting")
            time.sleep(1)


def _poll_table(app, ready: threading.Event) -> None:
    """SQLite: the web processes cannot reach this process's hub, so read new notification rows every second."""
    from core.db import db
    from notifications.models import Notification

    interval = float(app.config.get("NOTIFICATIONS_POLL_SECONDS", 1.0))
    last = None
    while True:
        try:
            with app.app_context():
                try:
                    if last is None:
                        last = db.session.scalar(text("SELECT COALESCE(MAX(id), 0) FROM notifications"))
                        ready.set()
                    elif HUB.subscriber_count():
                        rows = db.session.scalars(db.select(Notification).where(Notification.id > last)
                                                  .order_by(Notification.id).limit(1000)).all()
                        if rows:
                            last = rows[-1].id
                            HUB.dispatch([event_for(n) for n in rows])
                finally:
                    db.session.remove()
        except Exception:
            ready.set()
            log.warning("notifications poller could not read the database; retrying")
        time.sleep(interval)
