"""One table of off-site link tricks (WHATWG URL parsing), sent to every place that takes a link from a person.

Entry points: ``next`` after sign-in, broadcast links (API and form), and the redirects that follow a stored
notification or text-message link. A new entry point gets a row in ``ENTRY_POINTS``.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select

from core.db import db
from core.links import local_path
from notifications.models import Broadcast, Notification, OutboxMessage
from tests.conftest import TEST_PASSWORD, login

# Each of these reaches another site (or breaks the response) in a browser or in a Location header.
OFFSITE = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/x\r\nSet-Cookie: a=b",
    "/%09/evil.example",
    "/%0d%0a/evil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%255C%255Cevil.example",
    "https://evil.example",
    "HTTPS://evil.example/",
    "javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,hi",
    "evil.example",
    "//user@evil.example",
    "/@evil.example",
    "https://localhost@evil.example",
    "/\uff0fevil.example",  # full-width solidus
    "//evil\u3002example",  # ideographic full stop
    "/\uff3cevil.example",  # full-width reverse solidus
    "/\x00/evil.example",
    "/\x7f/evil.example",
    " //evil.example",
    "",
]
LOCAL = ["/", "/rota/shifts/12", "/notifications?page=2", "/handover/3#entry-4", "/a/b?next=/c"]


@pytest.mark.parametrize("link", OFFSITE)
def test_offsite_links_are_refused(link):
    assert local_path(link) is None


@pytest.mark.parametrize("link", LOCAL)
def test_paths_inside_the_site_are_kept(link):
    assert local_path(link) == link


def _stays_here(location: str) -> bool:
    target = urlsplit(urljoin("http://localhost/auth/login", location.replace("\\", "/")))
    return target.scheme == "http" and target.hostname == "localhost" and "\t" not in location


def _sign_in_next(app, make, links):
    user = make.user()
    for link in links:
        resp = app.test_client().post("/auth/login", query_string={"next": link},
                                      data={"email": user.email, "password": TEST_PASSWORD})
        if "\x00" in link:  # refused whole before the view (docs/security.md, tests/core/test_nul_input.py)
            assert resp.status_code == 400, (link, resp.status_code)
            continue
        assert resp.status_code == 302, (link, resp.status_code)
        assert _stays_here(resp.headers["Location"]), (link, resp.headers["Location"])


def _broadcast_api(app, make, links):
    coordinator = make.user()
    team = make.team(coordinators=[coordinator])
    headers = {"Authorization": f"Bearer {make.token(coordinator)}"}
    for link in links:
        resp = app.test_client().post("/api/v1/broadcasts", headers=headers,
                                      json={"team_id": team.id, "audience": "team", "text": "x", "link": link})
        assert resp.status_code == 422 and resp.mimetype == "application/problem+json", (link, resp.status_code)
        assert "link" in resp.json["errors"], link
    assert db.session.scalar(select(Broadcast.id)) is None


def _broadcast_form(app, make, links):
    coordinator = make.user()
    team = make.team(coordinators=[coordinator])
    client = app.test_client()
    login(client, coordinator)
    for link in links:
        resp = client.post("/broadcasts/new", data={"team_id": team.id, "audience": "team", "kind": "message",
                                                    "text": "x", "link": link, "channels": ["in_app"],
                                                    "confirm": "send"})
        assert resp.status_code == (400 if "\x00" in link else 422), (link, resp.status_code)
    assert db.session.scalar(select(Broadcast.id)) is None


def _notification_redirect(app, make, links):
    user = make.user()
    client = app.test_client()
    login(client, user)
    for link in (x for x in links if "\x00" not in x):  # PostgreSQL cannot store NUL, so no stored link has one
        n = Notification(user_id=user.id, kind="test", text="hi", link=link)
        msg = OutboxMessage(user_id=user.id, channel="sms", kind="test", text="hi", link=link,
                            to_number="+447700900001")
        db.session.add_all([n, msg])
        db.session.commit()
        for url in (f"/notifications/{n.id}/open", f"/n/{msg.id}"):
            resp = client.get(url)
            assert resp.status_code == 302 and _stays_here(resp.headers["Location"]), (link, url, resp.headers)


ENTRY_POINTS = {"sign-in next": _sign_in_next, "broadcast API link": _broadcast_api,
                "broadcast form link": _broadcast_form, "notification redirect": _notification_redirect}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_every_link_entry_point_keeps_people_on_the_site(app, make, entry):
    """Every row of OFFSITE through every entry point (one test per entry point keeps the suite quick)."""
    ENTRY_POINTS[entry](app, make, [x for x in OFFSITE if x])

def test_sign_in_next_with_an_encoded_tab_stays_on_the_site(client, make):
    """The reported request: ``next=/%09/evil.example`` redirected to ``//evil.example`` after signing in."""
    user = make.user()
    resp = client.post("/auth/login?next=/%09/evil.example", data={"email": user.email, "password": TEST_PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    resp = client.get("/")
    assert resp.status_code == 200  # signed in, on the home page


def test_page_links_follow_the_mount_point_of_each_request(app, make):
    """The menu's and the stylesheet's addresses are built once per process, yet a page served under a path prefix
    (the app mounted at /rota behind a proxy) links inside that prefix, and one served at the root does not."""
    person = make.user()
    make.team(staff=[person])
    db.session.commit()
    client = app.test_client()
    login(client, person)
    for _ in range(2):
        plain = client.get("/teams").get_data(as_text=True)
        mounted = client.get("/teams", base_url="http://localhost/rota/").get_data(as_text=True)
        assert 'href="/static/css/app.css"' in plain and 'href="/notifications"' in plain
        assert 'href="/rota/static/css/app.css"' in mounted and 'href="/rota/notifications"' in mounted
