"""The channel's live stream: a post reaches an open stream at once (ids only, no text); someone who leaves the team
has their open stream ended at the next keep-alive."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from sqlalchemy import delete

from channels import services
from core.accounts import Membership
from core.db import db
from tests.factories import ward


@pytest.fixture
def app_config():
    return {"NOTIFICATIONS_KEEPALIVE_SECONDS": 0.5}


def test_stream_carries_ids_only_and_ends_when_the_person_leaves_the_team(app, make, live_server):
    team, coord, (a, b, _), _ = ward(make)
    channel = services.team_channel(team)
    db.session.commit()
    cid, a_id, b_id, team_id = channel.id, a.id, b.id, team.id
    token = make.token(b)  # commits: the test holds no transaction (on SQLite, the write lock) while the stream runs
    lines: list[str] = []
    done = threading.Event()

    def listen():
        with requests.get(f"{live_server.url}/channels/{cid}/stream", stream=True, timeout=20,
                          headers={"Accept": "text/event-stream", "Authorization": f"Bearer {token}"}) as resp:
            assert resp.status_code == 200
            for line in resp.iter_lines(decode_unicode=True):
                lines.append(line)
        done.set()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not any(line.startswith(": connected") for line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    services.post(db.session.get(services.Channel, cid), db.session.get(type(a), a_id), "Kettle is fixed")
    db.session.commit()
    deadline = time.monotonic() + 10
    while not any(line.startswith("data:") for line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    data = [line for line in lines if line.startswith("data:")]
    assert data, lines
    assert "Kettle" not in " ".join(lines) and '"kind": "post"' in data[0]
    db.session.execute(delete(Membership).where(Membership.team_id == team_id, Membership.user_id == b_id))
    db.session.commit()
    assert done.wait(10), "the leaver's stream is still open"
    thread.join(1)
