"""#17: a coordinator (or the author) pins a post, everyone sees it pinned, a colleague cannot pin someone else's post,
and pinning is audited."""

from __future__ import annotations

from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db
from tests.factories import ward


def test_a_coordinator_pins_a_post_a_colleague_cannot_and_it_is_audited(client, make, bearer):
    team, coord, (a, b, *_), _ = ward(make)
    ta, tb, tc = make.token(a), make.token(b), make.token(coord)
    channel = client.get(f"/api/v1/teams/{team.id}/channels", headers=bearer(ta)).get_json()[0]
    post = client.post(f"/api/v1/channels/{channel['id']}/posts", json={"text": "Bladder scanner is in bay 3"},
                       headers=bearer(ta)).get_json()
    assert client.patch(f"/api/v1/posts/{post['id']}", json={"pinned": True}, headers=bearer(tb)).status_code == 403
    assert client.get(f"/api/v1/posts/{post['id']}", headers=bearer(tb)).get_json()["pinned"] is False
    resp = client.patch(f"/api/v1/posts/{post['id']}", json={"pinned": True}, headers=bearer(tc))
    assert resp.status_code == 200 and resp.get_json()["pinned"] is True
    assert client.get(f"/api/v1/posts/{post['id']}", headers=bearer(tb)).get_json()["pinned"] is True
    assert client.patch(f"/api/v1/posts/{post['id']}", json={"pinned": False}, headers=bearer(ta)).status_code == 200
    assert client.get(f"/api/v1/posts/{post['id']}", headers=bearer(tb)).get_json()["pinned"] is False
    actions = list(db.session.scalars(select(AuditEntry.action)))
    assert actions.count("channel.post_pinned") == 1 and actions.count("channel.post_unpinned") == 1
