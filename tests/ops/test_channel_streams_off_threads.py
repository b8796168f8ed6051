"""Issue #19: open channel pages never hold a web-tier thread.

A channel page keeps a Server-Sent Events stream open (``/channels/<id>/stream``). On the gunicorn web tier (gthread)
each open page used to hold one of its few threads for up to ten minutes, so a ward's worth of open channel pages
stalled every other request. Now the web tier never holds a channel stream (it says "come back later"); the stream
service (gevent) holds them with the same membership check, heartbeat wheel and per-person cap as notification streams.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import delete

from channels import services
from core.accounts import Membership
from core.db import db
from tests.factories import ward
from tests.servers import Gunicorn

THREADS = 4  # the web tier: one worker process with four threads (N)


def _open_channel_page(url: str, token: str, out: queue.Queue, stop: threading.Event) -> None:
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {token}"}
    try:
        with requests.get(url, stream=True, timeout=30, headers=headers) as resp:
            out.put(("status", resp.status_code))
            for line in resp.iter_lines(decode_unicode=True):
                out.put(("line", line))
                if stop.is_set():
                    return
            out.put(("end", None))
    except requests.RequestException as exc:
        out.put(("error", repr(exc)))


def _until(q: queue.Queue, done, timeout: float = 20) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        kind, line = q.get(timeout=max(0.1, deadline - time.monotonic()))
        if kind == "status":
            continue
        if kind != "line":
            raise AssertionError(f"stream ended: {kind} {line} after {lines}")
        lines.append(line)
        if done(line):
            return lines
    raise AssertionError(f"not seen in {timeout} s: {lines}")


def test_n_plus_two_open_channel_pages_do_not_stall_other_requests_on_the_web_tier(app, make, database_url):
    team, _, (nurse, colleague, _), _ = ward(make)
    channel = services.team_channel(team)
    db.session.commit()
    cid = channel.id
    token, other_token = make.token(nurse), make.token(colleague)
    db.session.commit()
    stop = threading.Event()
    with Gunicorn(database_url, "web", GUNICORN_WORKERS="1", GUNICORN_THREADS=str(THREADS)) as web:
        for _ in range(THREADS + 2):
            threading.Thread(target=_open_channel_page, args=(f"{web.url}/channels/{cid}/stream", token,
                                                              queue.Queue(), stop), daemon=True).start()
        time.sleep(2)  # the pages are open (or their streams wait for a thread: that was the defect)

        def other_request(_):
            try:
                return requests.get(f"{web.url}/api/v1/notifications", timeout=10,
                                    headers={"Authorization": f"Bearer {other_token}"}).status_code
            except requests.RequestException as exc:
                return repr(exc)

        with ThreadPoolExecutor(THREADS) as pool:
            answers = list(pool.map(other_request, range(2 * THREADS)))
        stop.set()
        assert answers == [200] * (2 * THREADS), answers


def test_the_stream_service_holds_channel_pages_carries_posts_and_drops_leavers(app, make, database_url):
    team, _, (author, nurse, _), _ = ward(make)
    channel = services.team_channel(team)
    db.session.commit()
    cid, author_id, nurse_id, team_id = channel.id, author.id, nurse.id, team.id
    token = make.token(nurse)
    db.session.commit()
    stop = threading.Event()
    with Gunicorn(database_url, "stream", NOTIFICATIONS_STREAMS_PER_USER="2",
                  NOTIFICATIONS_KEEPALIVE_SECONDS="0.5") as service:
        pages = [queue.Queue() for _ in range(3)]
        for q in pages:
            threading.Thread(target=_open_channel_page, args=(f"{service.url}/channels/{cid}/stream", token, q,
                                                              stop), daemon=True).start()
            time.sleep(0.1)
        statuses = [q.get(timeout=30)[1] for q in pages]
        assert sorted(statuses) == [200, 200, 429], service.output()[-3000:]  # the cap counts channel pages too
        held = [q for q, s in zip(pages, statuses, strict=True) if s == 200]
        for q in held:
            _until(q, lambda line: line.startswith(": connected"))
        services.post(db.session.get(services.Channel, cid), db.session.get(type(author), author_id),
                      "Kettle is fixed")
        db.session.commit()
        for q in held:
            lines = _until(q, lambda line: line.startswith("data:"))
            assert "Kettle" not in " ".join(lines) and '"kind": "post"' in lines[-1]
        # The nurse leaves the team: the open pages lose the channel at the next keep-alive.
        db.session.execute(delete(Membership).where(Membership.team_id == team_id, Membership.user_id == nurse_id))
        db.session.commit()
        for q in held:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                kind, _ = q.get(timeout=10)
                if kind == "end":
                    break
            else:
                raise AssertionError("the leaver's channel page is still live")
        stop.set()
