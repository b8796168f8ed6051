"""The notification centre in real time: Server-Sent Events with replay, keep-alive and per-person delivery."""

from __future__ import annotations

import queue
import threading
import time

import pytest
import requests

from core.db import db
from notifications import realtime
from notifications.service import notify
from tests.conftest import login


def _events(text: str) -> list[str]:
    return [line[4:] for line in text.splitlines() if line.startswith("id: ")]


def test_stream_once_replays_what_was_missed(client, make):
    user = make.user()
    created = [notify([user.id], kind="k", text=f"Message {i}")[0] for i in range(3)]
    db.session.commit()
    login(client, user)
    resp = client.get("/api/v1/notifications/stream?once=1", headers={"Last-Event-ID": str(created[0].id)})
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert _events(resp.get_data(as_text=True)) == [str(created[1].id), str(created[2].id)]
    # A plain GET (no Accept: text/event-stream) also ends after the backlog.
    assert len(_events(client.get("/api/v1/notifications/stream?last_event_id=0").get_data(as_text=True))) == 3


@pytest.fixture
def short_streams(app):
    app.config.update(NOTIFICATIONS_KEEPALIVE_SECONDS=0.3, NOTIFICATIONS_STREAM_MAX_SECONDS=4)


def _listen(url, token, out: queue.Queue, stop: threading.Event):
    with requests.get(url + "/api/v1/notifications/stream", stream=True, timeout=10,
                      headers={"Accept": "text/event-stream", "Authorization": f"Bearer {token}"}) as resp:
        out.put(("status", resp.status_code))
        for line in resp.iter_lines(decode_unicode=True):
            out.put(("line", line))
            if stop.is_set():
                return


def test_a_new_notification_reaches_an_open_stream_at_once(app, make, live_server):
    # The stream's own catch-up runs only on the keep-alive tick (every 5 s here), so an event that arrives sooner
    # was pushed; 5 s leaves room for a loaded CI machine.
    app.config.update(NOTIFICATIONS_KEEPALIVE_SECONDS=5, NOTIFICATIONS_STREAM_MAX_SECONDS=15)
    nurse, other = make.user(), make.user()
    tokens = make.token(nurse), make.token(other)
    inbox, other_inbox, stop = queue.Queue(), queue.Queue(), threading.Event()
    for token, q in zip(tokens, (inbox, other_inbox), strict=True):
        threading.Thread(target=_listen, args=(live_server.url, token, q, stop), daemon=True).start()
    assert inbox.get(timeout=5) == ("status", 200)
    assert other_inbox.get(timeout=5) == ("status", 200)
    assert all(realtime.HUB.wait_for_subscriber(user.id, timeout=5) for user in (nurse, other))  # both streams open
    [n] = notify([nurse.id], kind="swap.accepted", text="Your swap was accepted", link="/swaps/1")
    db.session.flush()
    nid = n.id  # read now: touching the expired row after the commit would open a (locking) SQLite transaction
    db.session.commit()
    sent_at = time.monotonic()
    lines = []
    while time.monotonic() - sent_at < 4.5:
        kind, line = inbox.get(timeout=4.5)
        lines.append(line)
        if line.startswith("data: "):
            break
    assert f"id: {nid}" in lines and "event: notification" in lines
    assert "Your swap was accepted" in lines[-1] and '"link":"/swaps/1"' in lines[-1]
    assert time.monotonic() - sent_at < 4.5  # pushed, not found by the keep-alive catch-up
    # keep-alive comments flow, and the other person never receives it
    deadline = time.monotonic() + 8
    seen_other = []
    while time.monotonic() < deadline:
        try:
            seen_other.append(other_inbox.get(timeout=0.5)[1])
        except queue.Empty:
            pass
    assert ": keep-alive" in seen_other
    assert not any("swap was accepted" in line for line in seen_other)
    stop.set()


def test_the_centre_lists_marks_read_and_marks_all_read(client, make):
    user = make.user()
    a, b = (notify([user.id], kind="k", text=t)[0] for t in ("First news", "Second news"))
    db.session.commit()
    login(client, user)
    page = client.get("/notifications").get_data(as_text=True)
    assert "First news" in page and "Second news" in page and 'data-testid="unread-count"' in page
    client.post(f"/notifications/{a.id}/read")
    assert client.get("/api/v1/notifications").json["unread"] == 1
    opened = client.get(f"/notifications/{b.id}/open")
    assert opened.status_code == 302
    assert client.get("/api/v1/notifications?unread_only=true").json["total"] == 0
    notify([user.id], kind="k", text="Third")
    notify([user.id], kind="k", text="Fourth")
    db.session.commit()
    assert client.post("/api/v1/notifications/read-all").json == {"marked": 2, "unread": 0}


def test_nobody_reads_or_opens_someone_elses_notifications(client, make, bearer):
    owner, other = make.user(), make.user()
    [n] = notify([owner.id], kind="k", text="Private")
    db.session.commit()
    headers = bearer(make.token(other))
    assert client.post(f"/api/v1/notifications/{n.id}/read", headers=headers).status_code == 404
    assert client.get("/api/v1/notifications", headers=headers).json["total"] == 0
