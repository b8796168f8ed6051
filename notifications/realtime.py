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

import _socket
import json
import logging
import queue
import threading
import time
from urllib.parse import urlsplit

import psycopg
import redis
from flask import current_app, request
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from core import registry
from core.db import db
from notifications.models import Notification

log = logging.getLogger(__name__)
CHANNEL = "shiftbridge_notifications"
_PENDING = "sb_realtime_events"


KEEPALIVE = object()  # the heartbeat wheel's nudge: write a keep-alive (and catch up if something was missed)
CLOSED = object()  # the stream is over: its time is up, or its browser has gone


class Stream(queue.Queue):
    """One open notification stream: its events, and what the heartbeat wheel needs to look after it."""

    def __init__(self, user_id, deadline: float, peer_gone=None, owner=None):
        super().__init__(maxsize=1000)
        # ``user_id``: the key events are routed by (a person's id, or another stream kind's topic such as
        # "channel:12"); ``owner``: what the per-person cap counts it under (the person and the stream kind).
        self.user_id, self.deadline, self.peer_gone = user_id, deadline, peer_gone
        self.owner = owner if owner is not None else user_id
        self.epoch = 0  # the hub's listener epoch when this stream last caught up from the database
        self.missed = False  # an event was dropped (queue full): catch up at the next keep-alive
        self.slot = 0


class Hub:
    def __init__(self):
        self._lock = threading.Condition()  # a lock whose holders also signal each new subscription
        self._subs: dict[int, set[queue.Queue]] = {}
        self._owned: dict[object, set[Stream]] = {}  # the per-person cap's count (notification streams by user id)
        # One heartbeat wheel per process instead of a timer per stream: each tick nudges one slot's streams, so
        # 2,000 streams with a 15 s keep-alive wake ~133 a second spread evenly, never all at once.
        self._wheel: list[set[Stream]] = [set()]
        self._wheel_thread: threading.Thread | None = None
        self._next_slot = 0
        self._keepalive, self._tick = 0.0, 1.0
        self.epoch = 0  # bumped when a listener (re)connects: events may have been missed meanwhile
        self.listening = False  # a listener feeds this hub (otherwise streams catch up at each keep-alive)

    def subscribe(self, user_id: int) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=1000)
        with self._lock:
            self._subs.setdefault(user_id, set()).add(q)
            self._lock.notify_all()
        return q

    def try_subscribe(self, user_id: int, limit: int, *, keepalive: float = 15.0, max_seconds: float = 600.0,
                      peer_gone=None, topic=None, kind: str = "") -> Stream | None:
        """An open stream looked after by the heartbeat wheel, or None when the person already holds ``limit``
        streams of this kind in this process whose browsers are still there. ``peer_gone()`` says at once whether a
        stream's browser has closed its connection (a closed tab frees its place now, not at the next keep-alive).
        Other stream kinds (a channel page: ``topic="channel:12", kind="channel"``) receive the events published to
        ``topic`` and have a cap of their own per person."""
        self._start_wheel(keepalive)
        owner = (kind, user_id) if kind else user_id
        key = topic if topic is not None else user_id
        with self._lock:
            held = self._owned.get(owner, set())
            if len(held) >= limit:
                for gone in [q for q in held if _gone(q)]:
                    self._drop(gone)
                held = self._owned.get(owner, set())
            if len(held) >= limit:
                return None
            q = Stream(key, time.monotonic() + max_seconds, peer_gone, owner)
            q.epoch = self.epoch
            q.slot = self._next_slot % len(self._wheel)
            self._next_slot += 1
            self._subs.setdefault(key, set()).add(q)
            self._owned.setdefault(owner, set()).add(q)
            self._wheel[q.slot].add(q)
            self._lock.notify_all()
        return q

    def unsubscribe(self, user_id: int, q: queue.Queue) -> None:
        with self._lock:
            subs = self._subs.get(user_id)
            if subs:
                subs.discard(q)
                if not subs:
                    del self._subs[user_id]
            if isinstance(q, Stream):
                self._wheel[q.slot % len(self._wheel)].discard(q)
                self._disown(q)

    def _drop(self, q: Stream) -> None:
        """(Lock held.) Forget a stream and tell its greenlet to end."""
        self._subs.get(q.user_id, set()).discard(q)
        if not self._subs.get(q.user_id, True):
            del self._subs[q.user_id]
        self._wheel[q.slot % len(self._wheel)].discard(q)
        self._disown(q)
        _force(q, CLOSED)

    def _disown(self, q: Stream) -> None:
        """(Lock held.)"""
        owned = self._owned.get(q.owner)
        if owned is not None:
            owned.discard(q)
            if not owned:
                del self._owned[q.owner]

    def needs_catch_up(self, q: Stream) -> bool:
        """At a keep-alive: whether this stream should read what it may have missed from the database."""
        if not self.listening or q.missed or q.epoch != self.epoch:
            q.missed, q.epoch = False, self.epoch
            return True
        return False

    def _start_wheel(self, keepalive: float) -> None:
        """Start the wheel, or re-slot it for another keep-alive period (one per process in production)."""
        if keepalive == self._keepalive and self._wheel_thread is not None and self._wheel_thread.is_alive():
            return
        with self._lock:
            if keepalive != self._keepalive:
                self._keepalive, self._tick = keepalive, min(1.0, keepalive)
                slots = max(1, round(keepalive / self._tick))
                old = [q for slot in self._wheel for q in slot]
                self._wheel = [set() for _ in range(slots)]
                for q in old:
                    q.slot = q.slot % slots
                    self._wheel[q.slot].add(q)
            if self._wheel_thread is None or not self._wheel_thread.is_alive():
                self._wheel_thread = threading.Thread(target=self._turn, name="sb-heartbeat", daemon=True)
                self._wheel_thread.start()

    def _turn(self) -> None:
        n = 0
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                slot = self._wheel[n % len(self._wheel)]
                n += 1
                for q in list(slot):
                    if now >= q.deadline or _gone(q):
                        self._drop(q)
                    else:
                        _force(q, KEEPALIVE)

    def dispatch(self, events: list[dict]) -> None:
        with self._lock:
            targets = [(q, ev) for ev in events for q in self._subs.get(ev.get("user_id"), ())]
        for q, ev in targets:
            try:
                q.put_nowait(ev)
            except queue.Full:  # a stuck client: it catches up from the database at its next keep-alive
                if isinstance(q, Stream):
                    q.missed = True

    def wait_for_subscriber(self, user_id: int, timeout: float) -> bool:
        """True as soon as ``user_id`` has an open stream in this process; False after ``timeout`` seconds."""
        with self._lock:
            return self._lock.wait_for(lambda: bool(self._subs.get(user_id)), timeout)

    def reset(self) -> None:
        """Forget every subscription: the server that held those streams has stopped."""
        with self._lock:
            for q in [q for slot in self._wheel for q in slot]:
                _force(q, CLOSED)
            self._subs.clear()
            self._owned.clear()
            for slot in self._wheel:
                slot.clear()

    def subscriber_count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())


def _gone(q: Stream) -> bool:
    try:
        return bool(q.peer_gone and q.peer_gone())
    except Exception:
        return True


def _force(q: queue.Queue, item) -> None:
    """Put a control item even into a full queue (dropping its oldest event: the stream catches up)."""
    while True:
        try:
            q.put_nowait(item)
            return
        except queue.Full:
            try:
                q.get_nowait()
                if isinstance(q, Stream):
                    q.missed = True
            except queue.Empty:
                pass


def peer_gone_probe(sock):
    """A check whether the browser at the other end of ``sock`` has closed the connection: a stream's client never
    sends after its request, so a readable end-of-file (or a reset) means the tab is gone. Asked of the raw file
    descriptor without blocking (gevent's socket would wait for data), so the wheel can ask thousands a second."""
    if sock is None:
        return None
    fd = sock.fileno()

    def gone() -> bool:
        probe = _socket.socket(fileno=fd)
        try:
            return probe.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            probe.detach()

    return gone


HUB = Hub()


def event_for(n) -> dict:
    """A notification row as the event streams carry (``user_id`` routes it and is dropped before sending)."""
    return {"id": n.id, "user_id": n.user_id, "kind": n.kind, "text": n.text, "link": n.link,
            "created_at": n.created_at.isoformat()}


def holds_streams(app) -> bool:
    """Whether this process holds a live stream open (notification or channel page). Stream service and development
    server: yes. A gunicorn web-tier worker (gthread): never — a stream would hold one of its few threads for
    minutes; it sends what is waiting and tells the browser when to come back."""
    setting = app.config.get("NOTIFICATIONS_HOLD_STREAMS", "auto")
    if setting in ("always", "never"):
        return setting == "always"
    if app.config.get("NOTIFICATIONS_STREAM_SERVICE"):
        return True
    return not request.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn")


def stream_service_url(path: str, app=None) -> str:
    """Where a browser opens a stream at ``path``: on the stream service's origin when it is another one (``make
    run``: :5001, from ``NOTIFICATIONS_STREAM_URL``); otherwise the path itself (the load balancer routes it)."""
    url = (app or current_app).config.get("NOTIFICATIONS_STREAM_URL")
    if not url:
        return path
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{path}"


def cross_origin_headers(app) -> dict:
    """``make run`` serves streams from another port: the page's origin may read them with its cookie."""
    origin = request.headers.get("Origin", "")
    base = app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    if app.config.get("NOTIFICATIONS_STREAM_URL") and origin and origin == base:
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}
    return {}


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


def _listening() -> None:
    """A listener (re)connected: it feeds the hub from now on; streams catch up once on what the gap may have lost."""
    HUB.listening = True
    HUB.epoch += 1


def _listen_postgres(url: str, ready: threading.Event) -> None:

    while True:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                _listening()
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
            _listening()
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
    """SQLite: the web processes cannot reach this process's hub, so read new notification rows every second (and
    what other stream kinds registered with ``core.registry.register_stream_poll_source``)."""

    interval = float(app.config.get("NOTIFICATIONS_POLL_SECONDS", 1.0))
    last = None
    sources = registry.stream_poll_sources_of(app)
    marks: list = [None] * len(sources)
    while True:
        try:
            with app.app_context():
                try:
                    if last is None:
                        last = db.session.scalar(text("SELECT COALESCE(MAX(id), 0) FROM notifications"))
                        _listening()
                        ready.set()
                    elif HUB.subscriber_count():
                        rows = db.session.scalars(db.select(Notification).where(Notification.id > last)
                                                  .order_by(Notification.id).limit(1000)).all()
                        if rows:
                            last = rows[-1].id
                            HUB.dispatch([event_for(n) for n in rows])
                    for i, source in enumerate(sources):
                        if marks[i] is None or HUB.subscriber_count():
                            events, marks[i] = source(marks[i])
                            if events:
                                HUB.dispatch(events)
                finally:
                    db.session.remove()
        except Exception:
            ready.set()
            log.warning("notifications poller could not read the database; retrying")
        time.sleep(interval)
