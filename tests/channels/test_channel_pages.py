"""Channel pages: post, refusal keeps the typed text, thread, unread badge in the menu and on the home page."""

from __future__ import annotations

from tests.conftest import login
from tests.factories import ward


def _csrf_off(app):
    app.config["WTF_CSRF_ENABLED"] = False


def test_post_and_read_on_the_page(app, client, make):
    _csrf_off(app)
    team, coord, (a, b, _), _ = ward(make)
    login(client, a)
    page = client.get("/channels")
    assert page.status_code == 200 and "Channels" in page.get_data(as_text=True)
    from channels import services

    cid = services.team_channel(team).id
    from core.db import db

    db.session.commit()
    resp = client.post(f"/channels/{cid}/posts", data={"text": "Bay 3 needs a hand"})
    assert resp.status_code == 302
    client.post("/auth/logout")
    login(client, b)
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="channels-unread">1<' in home and 'data-testid="home-channels"' in home
    channel = client.get(f"/channels/{cid}").get_data(as_text=True)
    assert "Bay 3 needs a hand" in channel
    assert 'data-testid="channels-unread"' not in client.get("/").get_data(as_text=True)


def test_refusal_keeps_the_typed_text_and_points_to_handover(app, client, make):
    _csrf_off(app)
    team, coord, (a, *_), _ = ward(make)
    login(client, a)
    from channels import services
    from core.db import db

    cid = services.team_channel(team).id
    db.session.commit()
    resp = client.post(f"/channels/{cid}/posts", data={"text": "Can someone check 943 476 5919"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "move this to the handover" in body and 'data-testid="to-handover"' in body
    assert "Can someone check 943 476 5919</textarea>" in body
    from sqlalchemy import select

    from core.audit import AuditEntry

    refused = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "channel.post_refused")).all()
    assert [r.summary for r in refused] == [{"reason": "nhs_number"}]  # counted by reason, the text nowhere


def test_outsider_gets_403_on_channel_pages(app, client, make):
    _csrf_off(app)
    team, coord, (a, *_), _ = ward(make)
    from channels import services
    from core.db import db

    channel = services.team_channel(team)
    p = services.post(channel, a, "hello")
    db.session.commit()
    cid, pid = channel.id, p.id
    login(client, make.user())
    for url in (f"/channels/{cid}", f"/channels/{cid}/posts/{pid}", f"/channels/{cid}/posts/{pid}/fragment",
                f"/channels/{cid}/posts/{pid}/seen", f"/channels/{cid}/stream", f"/channels/posts/{pid}/hide",
                f"/channels/posts/{pid}/report"):
        assert client.get(url).status_code == 403, url
    for url in (f"/channels/{cid}/posts", f"/channels/{cid}/posts/{pid}/replies", f"/channels/{cid}/read",
                f"/channels/posts/{pid}/react", f"/channels/posts/{pid}/claim", f"/channels/posts/{pid}/delete"):
        assert client.post(url, data={"text": "x", "emoji": "👍"}).status_code == 403, url


def test_muting_drops_a_channel_from_the_unread_count(app, client, make):
    _csrf_off(app)
    team, coord, (a, b, _), _ = ward(make)
    from channels import services
    from core.db import db

    channel = services.team_channel(team)
    db.session.commit()
    cid = channel.id
    login(client, b)
    assert client.post(f"/channels/{cid}/mute").status_code == 302
    services.post(db.session.get(type(channel), cid), a, "Kettle is broken")
    db.session.commit()
    assert 'data-testid="channels-unread"' not in client.get("/").get_data(as_text=True)
    assert "Unmute this channel" in client.get(f"/channels/{cid}").get_data(as_text=True)
    client.post(f"/channels/{cid}/unmute")
    services.post(db.session.get(type(channel), cid), a, "Fixed it")
    db.session.commit()
    assert 'data-testid="channels-unread">1<' in client.get("/").get_data(as_text=True)


def test_coordinator_adds_a_rule_channel_that_only_matching_staff_see(app, client, make):
    _csrf_off(app)
    team, coord, (a, b, _), _ = ward(make)
    senior = make.user(grade="Band 6", staff_group="nursing")
    from core import accounts
    from core.db import db

    accounts.add_member(team, senior)
    db.session.commit()
    login(client, a)
    assert client.get(f"/teams/{team.id}/channels/new").status_code == 403
    client.post("/auth/logout")
    login(client, coord)
    assert client.post(f"/teams/{team.id}/channels/new", data={"name": ""}).status_code == 422
    resp = client.post(f"/teams/{team.id}/channels/new", data={"name": "Band 6+", "min_grade": "Band 6",
                                                               "staff_group": ""})
    assert resp.status_code == 302
    cid = int(resp.headers["Location"].rsplit("/", 1)[1])
    client.post("/auth/logout")
    login(client, senior)
    assert client.get(f"/channels/{cid}").status_code == 200
    client.post("/auth/logout")
    login(client, a)
    assert client.get(f"/channels/{cid}").status_code == 403


def test_same_site_links_become_links_and_other_sites_stay_text(app, client, make):
    _csrf_off(app)
    app.config["PUBLIC_BASE_URL"] = "https://rota.example.nhs.uk"
    team, coord, (a, *_), _ = ward(make)
    from channels import services
    from core.db import db

    channel = services.team_channel(team)
    services.post(channel, a, "Card is on /open-shifts and https://rota.example.nhs.uk/swaps/3, not "
                              "https://evil.example/track or <b>bold</b>")
    db.session.commit()
    cid = channel.id
    login(client, a)
    body = client.get(f"/channels/{cid}").get_data(as_text=True)
    assert '<a href="/open-shifts" class="sb-post__link">/open-shifts</a> <span class="sb-link-preview">(Open shifts)' \
        in body
    assert '<a href="/swaps/3" class="sb-post__link">https://rota.example.nhs.uk/swaps/3</a>' in body
    assert 'href="https://evil.example' not in body and "&lt;b&gt;bold&lt;/b&gt;" in body


def test_post_times_are_in_the_team_s_local_time_with_the_zone_named(client, make):
    """Issue #15: times always in the team's local time. A post at 12:05 UTC in July is 13:05 BST on a London ward;
    the channel page, the thread and the live fragment all showed "12:05 UTC"."""
    from datetime import UTC, datetime

    from channels import services
    from core.db import db

    team, coord, (a, *_), _ = ward(make)
    channel = services.team_channel(team)
    p = services.post(channel, a, "Bay 3 needs a hand")
    p.created_at = datetime(2026, 7, 1, 12, 5, tzinfo=UTC)
    cid, pid = channel.id, p.id
    db.session.commit()
    login(client, a)
    for url in (f"/channels/{cid}", f"/channels/{cid}/posts/{pid}", f"/channels/{cid}/posts/{pid}/fragment"):
        page = client.get(url).get_data(as_text=True)
        assert "Wed 01 Jul 13:05 BST" in page and "UTC" not in page, url
