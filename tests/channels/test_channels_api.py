"""Channels through the JSON API: posting, threads, read receipts, rota-aware mentions, the patient-data guard,
rota cards and who may see what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from channels.models import Post
from core.audit import AuditEntry
from core.db import db
from rota import services as rota
from tests.conftest import count_queries
from tests.factories import ward
from tests.rota.swaps.factories import settings, shift, soon


def _team_channel(client, bearer, token, team_id):
    resp = client.get(f"/api/v1/teams/{team_id}/channels", headers=bearer(token))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()[0]


def test_post_reply_seen_by_and_unread(client, make, bearer):
    team, coord, (a, b, c), _ = ward(make)
    ta, tb = make.token(a), make.token(b)
    channel = _team_channel(client, bearer, ta, team.id)
    assert channel["kind"] == "team" and channel["unread"] == 0
    resp = client.post(f"/api/v1/channels/{channel['id']}/posts", json={"text": "Anyone seen the bladder scanner?"},
                       headers=bearer(ta))
    assert resp.status_code == 201, resp.get_json()
    post = resp.get_json()
    assert post["seen_count"] == 0 and post["member_count"] == 4
    assert _team_channel(client, bearer, tb, team.id)["unread"] == 1
    reply = client.post(f"/api/v1/posts/{post['id']}/replies", json={"text": "In bay 2"}, headers=bearer(tb))
    assert reply.status_code == 201
    assert client.post(f"/api/v1/channels/{channel['id']}/read", json={}, headers=bearer(tb)).status_code == 200
    assert _team_channel(client, bearer, tb, team.id)["unread"] == 0
    again = client.get(f"/api/v1/posts/{post['id']}", headers=bearer(ta)).get_json()
    assert again["seen_count"] == 1 and again["reply_count"] == 1
    seen = client.get(f"/api/v1/posts/{post['id']}/seen", headers=bearer(ta)).get_json()
    assert seen["people"] == [b.display_name]
    replies = client.get(f"/api/v1/posts/{post['id']}/replies", headers=bearer(ta)).get_json()["items"]
    assert [r["text"] for r in replies] == ["In bay 2"]


def test_nhs_number_is_refused_counted_and_never_stored(client, make, bearer):
    team, coord, (a, *_), _ = ward(make)
    ta = make.token(a)
    channel = _team_channel(client, bearer, ta, team.id)
    resp = client.post(f"/api/v1/channels/{channel['id']}/posts", json={"text": "Bed 4 is 943 476 5919, can someone"},
                       headers=bearer(ta))
    assert resp.status_code == 422
    body = resp.get_json()
    assert "move this to the handover" in body["detail"] and body["code"] == "patient_data"
    assert db.session.scalar(select(func.count(Post.id))) == 0
    refused = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "channel.post_refused")).all()
    assert len(refused) == 1 and refused[0].summary == {"reason": "nhs_number"}
    assert "943" not in refused[0].summary_json
    for text in ("RM1234567 needs a review", "Mr Smith 12/03/1948 in bay 2"):
        assert client.post(f"/api/v1/channels/{channel['id']}/posts", json={"text": text},
                           headers=bearer(ta)).status_code == 422
    ok = client.post(f"/api/v1/channels/{channel['id']}/posts", json={"text": "Night Sat 12/12/2026 needs 1 RN"},
                     headers=bearer(ta))
    assert ok.status_code == 201


def test_on_shift_mention_reaches_exactly_the_people_rostered_now(client, make, bearer):
    team, coord, (a, b, c), types = ward(make)
    now = datetime.now(UTC)
    shift(team, starts_at=now - timedelta(hours=2), assignee=a)
    shift(team, starts_at=now - timedelta(hours=1), assignee=b)
    shift(team, starts_at=now + timedelta(hours=10), assignee=c)  # later: not on shift now
    tc = make.token(coord)
    channel = _team_channel(client, bearer, tc, team.id)
    resp = client.post(f"/api/v1/channels/{channel['id']}/posts", json={"text": "@on-shift fire drill at 3"},
                       headers=bearer(tc))
    reached = resp.get_json()["reached"]
    assert reached == [{"mention": "@on-shift", "people": sorted([a.display_name, b.display_name],
                                                                key=[a.display_name, b.display_name].index)}]
    from notifications.models import Notification

    told = set(db.session.scalars(select(Notification.user_id).where(Notification.kind == "channel.mention")))
    assert told == {a.id, b.id}


def test_outsider_gets_403_on_every_channel_path(client, make, bearer):
    team, coord, (a, *_), _ = ward(make)
    outsider = make.user()
    ta, to = make.token(a), make.token(outsider)
    channel = _team_channel(client, bearer, ta, team.id)
    post = client.post(f"/api/v1/channels/{channel['id']}/posts", json={"text": "hello"}, headers=bearer(ta))
    pid, cid = post.get_json()["id"], channel["id"]
    calls = [("get", f"/api/v1/teams/{team.id}/channels", None), ("get", f"/api/v1/channels/{cid}/posts", None),
             ("post", f"/api/v1/channels/{cid}/posts", {"text": "x"}), ("post", f"/api/v1/channels/{cid}/read", {}),
             ("get", f"/api/v1/posts/{pid}", None), ("patch", f"/api/v1/posts/{pid}", {"text": "x"}),
             ("delete", f"/api/v1/posts/{pid}", None), ("get", f"/api/v1/posts/{pid}/replies", None),
             ("post", f"/api/v1/posts/{pid}/replies", {"text": "x"}), ("get", f"/api/v1/posts/{pid}/seen", None),
             ("post", f"/api/v1/posts/{pid}/acknowledge", None), ("post", f"/api/v1/posts/{pid}/reactions",
                                                                   {"emoji": "👍"}),
             ("post", f"/api/v1/posts/{pid}/hide", {"reason": "x"}), ("post", f"/api/v1/posts/{pid}/report",
                                                                     {"reason": "x"}),
             ("post", f"/api/v1/posts/{pid}/claim", None)]
    for method, url, body in calls:
        resp = getattr(client, method)(url, json=body, headers=bearer(to))
        assert resp.status_code == 403, (method, url, resp.status_code)


def test_edit_keeps_versions_delete_leaves_tombstone(client, make, bearer):
    team, coord, (a, b, _), _ = ward(make)
    ta, tb = make.token(a), make.token(b)
    cid = _team_channel(client, bearer, ta, team.id)["id"]
    pid = client.post(f"/api/v1/channels/{cid}/posts", json={"text": "Running 10 min late"},
                      headers=bearer(ta)).get_json()["id"]
    assert client.patch(f"/api/v1/posts/{pid}", json={"text": "x"}, headers=bearer(tb)).status_code == 403
    edited = client.patch(f"/api/v1/posts/{pid}", json={"text": "Running 20 min late"}, headers=bearer(ta))
    assert edited.get_json()["version"] == 2 and edited.get_json()["edited_at"]
    gone = client.delete(f"/api/v1/posts/{pid}", headers=bearer(ta)).get_json()
    assert gone["deleted"] and gone["text"] == "" and gone["deleted_by"] == a.display_name
    page = client.get(f"/api/v1/channels/{cid}/posts", headers=bearer(tb)).get_json()
    assert page["items"][0]["deleted"]


def test_cursor_pages(client, make, bearer):
    team, coord, (a, *_), _ = ward(make)
    ta = make.token(a)
    cid = _team_channel(client, bearer, ta, team.id)["id"]
    for i in range(7):
        client.post(f"/api/v1/channels/{cid}/posts", json={"text": f"message {i}"}, headers=bearer(ta))
    first = client.get(f"/api/v1/channels/{cid}/posts?limit=3", headers=bearer(ta)).get_json()
    assert [p["text"] for p in first["items"]] == ["message 6", "message 5", "message 4"]
    second = client.get(f"/api/v1/channels/{cid}/posts?limit=3&before={first['next_cursor']}",
                        headers=bearer(ta)).get_json()
    assert [p["text"] for p in second["items"]] == ["message 3", "message 2", "message 1"]
    last = client.get(f"/api/v1/channels/{cid}/posts?limit=3&before={second['next_cursor']}",
                      headers=bearer(ta)).get_json()
    assert [p["text"] for p in last["items"]] == ["message 0"] and last["next_cursor"] is None


def test_open_shift_card_is_claimed_through_the_rota(client, make, bearer):
    team, coord, (a, b, _), types = ward(make)
    settings(team)
    s = shift(team, starts_at=soon(3), assignee=b)
    rota.assign(s, None, actor=coord)  # b's shift becomes open: rota announces it, the channel shows a card
    db.session.commit()
    ta = make.token(a)
    cid = _team_channel(client, bearer, ta, team.id)["id"]
    items = client.get(f"/api/v1/channels/{cid}/posts", headers=bearer(ta)).get_json()["items"]
    card = items[0]
    assert card["kind"] == "card" and card["card"]["state"] == "open" and card["card"]["action"] == "claim"
    resp = client.post(f"/api/v1/posts/{card['id']}/claim", headers=bearer(ta))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["outcome"] == "claimed"
    after = client.get(f"/api/v1/posts/{card['id']}", headers=bearer(make.token(b))).get_json()
    assert after["card"]["state"] == "taken" and after["card"]["holder"] == a.display_name
    assert client.post(f"/api/v1/posts/{card['id']}/claim", headers=bearer(make.token(b))).status_code == 409


def test_urgent_post_is_a_broadcast_needing_acknowledgement(client, make, bearer):
    team, coord, (a, b, _), _ = ward(make)
    tc, ta = make.token(coord), make.token(a)
    cid = _team_channel(client, bearer, tc, team.id)["id"]
    assert client.post(f"/api/v1/channels/{cid}/posts", json={"text": "x", "urgent": True},
                       headers=bearer(ta)).status_code == 403
    post = client.post(f"/api/v1/channels/{cid}/posts", json={"text": "Fire alarm test at 10, do not evacuate",
                                                              "urgent": True}, headers=bearer(tc)).get_json()
    # Everyone in the team but the coordinator who posted it (a sender is never one of the recipients).
    assert post["kind"] == "urgent" and post["acknowledged"] == 0 and post["recipients"] == 3
    assert client.post(f"/api/v1/posts/{post['id']}/acknowledge", headers=bearer(ta)).status_code == 200
    assert client.get(f"/api/v1/posts/{post['id']}", headers=bearer(tc)).get_json()["acknowledged"] == 1


def test_urgent_post_escalates_up_the_ladder_until_everyone_acknowledges(client, make, bearer):
    from notifications import broadcasts
    from notifications.models import Notification

    team, coord, (a, b, c), _ = ward(make)
    broadcasts.set_policy(team, coord, [{"after_minutes": 30, "audience": "coordinators"}])
    db.session.commit()
    tc = make.token(coord)
    cid = _team_channel(client, bearer, tc, team.id)["id"]
    post = client.post(f"/api/v1/channels/{cid}/posts", json={"text": "Resus trolley missing, check your bay",
                                                              "urgent": True}, headers=bearer(tc)).get_json()
    assert client.post(f"/api/v1/posts/{post['id']}/acknowledge", headers=bearer(make.token(a))).status_code == 200
    start = db.session.get(Post, post["id"]).created_at
    assert broadcasts.escalate_due(start + timedelta(minutes=29)) == 0
    assert broadcasts.escalate_due(start + timedelta(minutes=31)) == 1
    db.session.commit()
    # The ladder's step ran: those who have not acknowledged are asked again, the coordinators are told.
    reminded = db.session.scalars(select(Notification.user_id).where(Notification.kind == "broadcast.reminder")).all()
    assert sorted(reminded) == sorted([b.id, c.id])
    assert db.session.scalar(select(Notification.id).where(Notification.user_id == coord.id,
                                                           Notification.kind == "broadcast.unanswered"))
    # An urgent post everyone has acknowledged does not escalate.
    done = client.post(f"/api/v1/channels/{cid}/posts", json={"text": "Fire alarm test at 10", "urgent": True},
                       headers=bearer(tc)).get_json()
    for person in (a, b, c):
        client.post(f"/api/v1/posts/{done['id']}/acknowledge", headers=bearer(make.token(person)))
    assert broadcasts.escalate_due(start + timedelta(hours=3)) == 0


def test_a_refused_post_leaves_the_transaction_to_the_caller(app, make):
    """Services never commit: a refusal rolls back with everything else the request did; the view records the
    count (carried by the error) afterwards in its own transaction."""
    import pytest

    from channels import services
    from channels.models import Channel
    from core.errors import RuleViolation

    team, coord, (a, *_), _ = ward(make)
    channel = services.team_channel(team)
    db.session.commit()
    services.create_channel(team, coord, name="Not yet saved")
    with pytest.raises(RuleViolation) as refused:
        services.post(channel, a, "Bed 4 is 943 476 5919, can someone")
    db.session.rollback()
    assert db.session.scalar(select(Channel.id).where(Channel.name == "Not yet saved")) is None
    assert refused.value.audit["summary"] == {"reason": "nhs_number"}


def test_unread_counts_for_ten_channels_take_one_query(app, make):

    from channels import reading, services

    team, coord, (a, b, _), _ = ward(make)
    channels = [services.team_channel(team)] + [services.create_channel(team, coord, name=f"Channel {i}")
                                                for i in range(9)]
    for i, channel in enumerate(channels):
        for j in range(i + 1):
            services.post(channel, b, f"post {j}")
    db.session.commit()
    user = db.session.get(type(a), a.id)
    _ = user.team_ids  # the signed-in user's memberships are already loaded on every page
    with count_queries() as statements:
        counts = reading.unread_counts(user)
    assert counts == {c.id: i + 1 for i, c in enumerate(channels)}
    assert len(statements) == 1


def test_on_nights_this_week_channel_follows_the_rota(client, make, bearer):
    from channels import services
    from tests.rota.swaps.factories import night

    team, coord, (a, b, c), _ = ward(make)
    now = datetime.now(UTC)
    monday = now - timedelta(days=now.weekday())
    # a works a night this week (Monday 19:30 UTC is Monday evening in London), b only next week
    shift(team, starts_at=monday.replace(hour=19, minute=30, second=0, microsecond=0), hours=12.5, assignee=a,
          stype=night(team))
    shift(team, starts_at=monday.replace(hour=19, minute=30, second=0, microsecond=0) + timedelta(days=7),
          hours=12.5, assignee=b, stype=night(team))
    resp = client.post(f"/api/v1/teams/{team.id}/channels", json={"name": "Nights", "rule": {"nights_this_week": True}},
                       headers=bearer(make.token(coord)))
    assert resp.status_code == 201, resp.get_json()
    channel = db.session.get(services.Channel, resp.get_json()["id"])
    assert set(services.member_ids(channel)) == {coord.id, a.id}
    assert client.get(f"/api/v1/channels/{channel.id}/posts", headers=bearer(make.token(b))).status_code == 403
    assert client.get(f"/api/v1/channels/{channel.id}/posts", headers=bearer(make.token(a))).status_code == 200


def test_replies_and_edits_go_through_the_patient_data_guard_too(client, make, bearer):
    team, coord, (a, b, _), _ = ward(make)
    ta, tb = make.token(a), make.token(b)
    cid = _team_channel(client, bearer, ta, team.id)["id"]
    pid = client.post(f"/api/v1/channels/{cid}/posts", json={"text": "Who can do the 15:00 obs round?"},
                      headers=bearer(ta)).get_json()["id"]
    reply = client.post(f"/api/v1/posts/{pid}/replies", json={"text": "Me, is that 943 476 5919 in bed 4?"},
                        headers=bearer(tb))
    edit = client.patch(f"/api/v1/posts/{pid}", json={"text": "Who can do obs for RM1234567?"}, headers=bearer(ta))
    for resp in (reply, edit):
        assert resp.status_code == 422 and resp.get_json()["code"] == "patient_data", resp.get_json()
        assert "move this to the handover" in resp.get_json()["detail"]
    post = client.get(f"/api/v1/posts/{pid}", headers=bearer(tb)).get_json()
    assert post["text"] == "Who can do the 15:00 obs round?" and post["version"] == 1 and post["reply_count"] == 0
    refused = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "channel.post_refused")).all()
    assert sorted(e.summary["reason"] for e in refused) == ["hospital_number", "nhs_number"]
    assert not any("5919" in e.summary_json or "RM123" in e.summary_json for e in refused)


def test_a_page_costs_the_same_queries_at_any_depth_and_any_channel_size(client, make, bearer):
    """The first page and a page deep in the history, in a channel of 40 posts and one of 400, with replies and
    reactions: the same number of queries (the bench measures the time on 20,000 against 200)."""
    from sqlalchemy import insert

    from channels import services
    from channels.models import Reaction
    from core.db import now_utc

    team, coord, (a, b, c), _ = ward(make)
    ta = make.token(a)
    big = services.team_channel(team)
    small = services.team_channel(make.team("Ward 8", coordinators=[coord], staff=[a, b, c]))  # the same kind
    for channel, n in ((big, 400), (small, 40)):
        db.session.execute(insert(Post), [{"channel_id": channel.id, "author_id": (a, b, c)[i % 3].id, "kind": "text",
                                           "text": f"message {i}", "reached": [], "reply_count": 0, "version": 1,
                                           "created_at": now_utc()} for i in range(n)])
        ids = list(db.session.scalars(select(Post.id).where(Post.channel_id == channel.id).order_by(Post.id)))
        db.session.execute(insert(Reaction), [{"post_id": pid, "user_id": (a, b, c)[pid % 3].id, "emoji": "👍",
                                               "created_at": now_utc()} for pid in ids[::2]])
        channel.middle = ids[len(ids) // 2]
    db.session.commit()
    client.get(f"/api/v1/channels/{big.id}/posts", headers=bearer(ta))  # the token's "last used" write, once
    counts = {}
    for name, channel in (("big", big), ("small", small)):
        for depth, query in (("first", ""), ("deep", f"&before={channel.middle}")):
            with count_queries() as statements:
                resp = client.get(f"/api/v1/channels/{channel.id}/posts?limit=15{query}", headers=bearer(ta))
            assert resp.status_code == 200 and len(resp.get_json()["items"]) == 15
            counts[name, depth] = len(statements)
    assert len(set(counts.values())) == 1, counts


def test_a_list_channel_is_its_list_and_only_people_on_the_team_can_be_on_it(client, make, bearer):
    team, coord, (a, b, c), _ = ward(make)
    tc, ta, tb = make.token(coord), make.token(a), make.token(b)
    outsider = make.user()
    make.team("Ward 9", staff=[outsider])
    url = f"/api/v1/teams/{team.id}/channels"
    refused = client.post(url, json={"name": "Link nurses", "kind": "list", "people": [a.id, outsider.id]},
                          headers=bearer(tc))
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert client.post(url, json={"name": "Link nurses", "kind": "list", "people": [a.id]},
                       headers=bearer(ta)).status_code == 403  # coordinators only
    made = client.post(url, json={"name": "Link nurses", "kind": "list", "people": [a.id, c.id]}, headers=bearer(tc))
    assert made.status_code == 201, made.get_json()
    cid = made.get_json()["id"]
    assert "Link nurses" in [ch["name"] for ch in client.get(url, headers=bearer(ta)).get_json()]
    assert "Link nurses" not in [ch["name"] for ch in client.get(url, headers=bearer(tb)).get_json()]
    assert client.get(f"/api/v1/channels/{cid}/posts", headers=bearer(tb)).status_code == 403
    post = client.post(f"/api/v1/channels/{cid}/posts", json={"text": "Audit dates are on the board"},
                       headers=bearer(ta)).get_json()
    assert post["member_count"] == 2 and post["seen_of"] == 1  # the list: a and c (a wrote it)
