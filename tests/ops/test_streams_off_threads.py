"""Issue #19: long-lived notification streams never hold a request thread.

Ten open streams from one account used to take every thread of a ``-w 2 --threads 4`` gunicorn web tier, so every
other request timed out. Now the web tier never holds a stream open (it sends what is waiting and tells the browser
when to come back), and the stream service (gevent, ``deploy/gunicorn_stream.conf.py``) holds thousands, capped per
person, with heartbeats and ``Last-Event-ID`` replay.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from core.db import db
from notifications.service import notify
from tests.servers import Gunicorn

STREAM = "/api/v1/notifications/stream"


def _open_stream(url: str, token: str, out: queue.Queue, stop: threading.Event, last_id: str = "") -> None:
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {token}"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    try:
        with requests.get(url + STREAM, stream=True, timeout=30, headers=headers) as resp:
            out.put(("status", resp.status_code))
            for line in resp.iter_lines(decode_unicode=True):
                out.put(("line", line))
                if stop.is_set():
                    return
            out.put(("end", None))
    except requests.RequestException as exc:
        out.put(("error", repr(exc)))


def test_ten_streams_from_one_account_do_not_stall_other_requests_on_the_web_tier(app, make, database_url):
    nurse, colleague = make.user(), make.user()
    token, other_token = make.token(nurse), make.token(colleague)
    db.session.commit()
    stop = threading.Event()
    with Gunicorn(database_url, "web", GUNICORN_WORKERS="2", GUNICORN_THREADS="4") as web:
        streams = [queue.Queue() for _ in range(10)]
        for q in streams:
            threading.Thread(target=_open_stream, args=(web.url, token, q, stop), daemon=True).start()
        time.sleep(2)  # the streams are open (or waiting for a thread: that is the defect)

        def other_request(_):
            try:
                return requests.get(web.url + "/api/v1/notifications", timeout=10,
                                    headers={"Authorization": f"Bearer {other_token}"}).status_code
            except requests.RequestException as exc:
                return repr(exc)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(other_request, range(16)))
        stop.set()
        assert answers == [200] * 16, answers


def test_the_stream_service_holds_streams_caps_them_per_person_and_replays(app, make, database_url):
    nurse = make.user()
    token = make.token(nurse)
    [first] = notify([nurse.id], kind="k", text="Before the streams opened")
    db.session.flush()
    first_id = first.id  # read before the commit: reading after it would open a (locking) SQLite transaction
    db.session.commit()
    stop = threading.Event()
    with Gunicorn(database_url, "stream", NOTIFICATIONS_STREAMS_PER_USER="6",
                  NOTIFICATIONS_KEEPALIVE_SECONDS="0.5") as service:
        inboxes = [queue.Queue() for _ in range(10)]
        for q in inboxes:
            threading.Thread(target=_open_stream, args=(service.url, token, q, stop, "0"), daemon=True).start()
            time.sleep(0.05)
        statuses = [q.get(timeout=30)[1] for q in inboxes]
        assert sorted(statuses) == [200] * 6 + [429] * 4, statuses
        held = [q for q, s in zip(inboxes, statuses, strict=True) if s == 200]
        # Replay: each stream starts with what came after Last-Event-ID 0.
        for q in held:
            lines = _until(q, lambda line: line.startswith("data: "))
            assert f"id: {first_id}" in lines
        # Heartbeat: a keep-alive comment within a few keep-alive periods.
        assert ": keep-alive" in _until(held[0], lambda line: line == ": keep-alive")
        # A new notification reaches every held stream (pushed or found by the next catch-up).
        [n] = notify([nurse.id], kind="k", text="After the streams opened")
        db.session.flush()
        new_id = n.id
        db.session.commit()
        for q in held:
            assert f"id: {new_id}" in _until(q, lambda line: line == f"id: {new_id}")
        # The stream service still answers other requests while holding them, and counts them (multiprocess).
        assert requests.get(service.url + "/healthz", timeout=10).status_code in (200, 503)
        metrics = requests.get(service.url + "/metrics", timeout=10).text
        assert "shiftbridge_open_streams 6.0" in metrics, metrics[-2000:]
        stop.set()


def _until(q: queue.Queue, done, timeout: float = 20) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        kind, line = q.get(timeout=max(0.1, deadline - time.monotonic()))
        if kind != "line":
            raise AssertionError(f"stream ended: {kind} {line} after {lines}")
        lines.append(line)
        if done(line):
            return lines
    raise AssertionError(f"not seen in {timeout} s: {lines}")


def _raw_stream(url: str, token: str) -> tuple[socket.socket, int]:
    """Open a stream as a browser tab does; returns the socket and the HTTP status."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall((f"GET {STREAM} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
                  f"Authorization: Bearer {token}\r\n\r\n").encode())
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, int(head.split(b" ", 2)[1])


def test_a_closed_tab_frees_its_stream_at_once_so_a_reopened_tab_is_not_refused(app, make, database_url):
    nurse = make.user()
    token = make.token(nurse)
    db.session.commit()
    with Gunicorn(database_url, "stream", NOTIFICATIONS_STREAMS_PER_USER="6",
                  NOTIFICATIONS_KEEPALIVE_SECONDS="15") as service:
        tabs = [_raw_stream(service.url, token) for _ in range(6)]
        assert [status for _, status in tabs] == [200] * 6
        tabs[0][0].close()  # the nurse closes a tab (well before the next 15 s keep-alive) ...
        reopened, status = _raw_stream(service.url, token)  # ... and opens the page again at once
        assert status == 200
        extra, refused = _raw_stream(service.url, token)  # the cap still counts the six open tabs
        assert refused == 429
        for sock in [reopened, extra] + [s for s, _ in tabs[1:]]:
            sock.close()
