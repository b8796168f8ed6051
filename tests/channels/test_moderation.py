"""#17 moderation: staff report a post (coordinators are told), only a coordinator hides it and must say why; once
hidden, colleagues see the reason, not the text."""

from __future__ import annotations

from sqlalchemy import select

from core.db import db
from notifications.models import Notification
from tests.factories import ward


def test_staff_report_a_post_and_only_a_coordinator_hides_it_with_a_reason(client, make, bearer):
    team, coord, (a, b, *_), _ = ward(make)
    ta, tb, tc = make.token(a), make.token(b), make.token(coord)
    channel = client.get(f"/api/v1/teams/{team.id}/channels", headers=bearer(ta)).get_json()[0]
    pid = client.post(f"/api/v1/channels/{channel['id']}/posts", json={"text": "Rude remark about a colleague"},
                      headers=bearer(ta)).get_json()["id"]
    assert client.post(f"/api/v1/posts/{pid}/report", json={"reason": "Unkind"}, headers=bearer(tb)).status_code < 300
    told = db.session.scalars(select(Notification.user_id).where(Notification.kind == "channel.report")).all()
    assert told == [coord.id]
    assert client.post(f"/api/v1/posts/{pid}/hide", json={"reason": "Unkind"}, headers=bearer(tb)).status_code == 403
    refused = client.post(f"/api/v1/posts/{pid}/hide", json={"reason": "  "}, headers=bearer(tc))
    assert refused.status_code == 422
    assert client.get(f"/api/v1/posts/{pid}", headers=bearer(tb)).get_json()["text"] == "Rude remark about a colleague"
    assert client.post(f"/api/v1/posts/{pid}/hide", json={"reason": "Personal remark"},
                       headers=bearer(tc)).status_code == 200
    seen = client.get(f"/api/v1/posts/{pid}", headers=bearer(tb)).get_json()
    assert seen["hidden"] is True and seen["hidden_reason"] == "Personal remark" and seen["text"] == ""
    listed = client.get(f"/api/v1/channels/{channel['id']}/posts", headers=bearer(tb)).get_data(as_text=True)
    assert "Rude remark" not in listed
