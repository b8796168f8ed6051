"""Calendar-feed links die with a password change (and stay dead after reactivation); guessing feed tokens is
throttled per client. Issue #13 item 12."""

import secrets

import pytest
from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db
from rota.feeds import service as feeds
from rota.feeds.models import FeedKind
from tests.conftest import TEST_PASSWORD, login

NEW = "a brand new passphrase"


def _link(user, kind=FeedKind.mine):
    _, token = feeds.rotate(user, kind, actor=user)
    db.session.commit()
    return f"/calendar/{token}.ics"


def _change_password(client, user):
    login(client, user)
    return client.post("/profile/password", data={"pw-current_password": TEST_PASSWORD, "pw-new_password": NEW,
                                                  "pw-confirm": NEW})


def test_password_change_turns_off_calendar_links(app, client, make):
    nurse = make.user()
    url = _link(nurse)
    assert app.test_client().get(url).status_code == 200
    resp = _change_password(client, nurse)
    assert resp.status_code == 200
    assert "calendar links" in resp.get_data(as_text=True)
    assert app.test_client().get(url).status_code == 410  # Gone: the calendar drops the subscription
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "calendar_feed.revoked"))
    assert entry is not None and entry.actor_id == nurse.id


@pytest.mark.parametrize("kind", list(FeedKind))
def test_no_feed_kind_survives_a_password_change(app, client, make, kind):
    """The class of defect: a credential kind that a password change forgets."""
    coordinator = make.user()
    make.team(coordinators=[coordinator])
    url = _link(coordinator, kind)
    assert app.test_client().get(url).status_code == 200
    _change_password(client, coordinator)
    assert app.test_client().get(url).status_code == 410


def test_reactivated_account_does_not_get_its_old_links_back(app, client, make):
    admin, nurse = make.admin(), make.user()
    url = _link(nurse)
    login(client, admin)
    client.post(f"/admin/users/{nurse.id}/deactivate")
    client.post(f"/admin/users/{nurse.id}/reactivate")
    assert app.test_client().get(url).status_code == 410


@pytest.mark.parametrize("app_config", [{"FEED_MISS_LIMIT": "5 per hour"}])
def test_guessing_feed_tokens_is_throttled_per_client(app, make, app_config):
    nurse = make.user()
    url = _link(nurse)
    guesser = {"REMOTE_ADDR": "198.51.100.5"}
    for i in range(5):
        guess = "sbcal_m" + secrets.token_urlsafe(32)[:43] if i % 2 else "not-even-a-token"
        assert app.test_client().get(f"/calendar/{guess}.ics", environ_base=guesser).status_code == 404
    resp = app.test_client().get("/calendar/sbcal_m" + secrets.token_urlsafe(32)[:43] + ".ics", environ_base=guesser)
    assert resp.status_code == 429 and resp.headers.get("Retry-After")
    # Refused before the look-up: a guesser cannot tell a hit from a miss by the answer.
    assert app.test_client().get(url, environ_base=guesser).status_code == 429
    assert app.test_client().get(url, environ_base={"REMOTE_ADDR": "10.3.0.1"}).status_code == 200


@pytest.mark.parametrize("app_config", [{"FEED_MISS_LIMIT": "5 per hour"}])
def test_revoked_links_polled_from_a_shared_address_never_block_a_live_link(app, client, make, app_config):
    """A calendar service fetches everyone's feeds from one address; dead subscriptions (a password change turned
    them off) keep polling. They answer 410 Gone (the subscription is over) and never count as guesses."""
    nurse, colleague = make.user(), make.user()
    old_links = [_link(nurse, FeedKind.mine)]
    old_links.append(_link(nurse, FeedKind.mine))  # a rotated link is dead too
    _change_password(client, nurse)  # turns off the current one
    live = _link(colleague)
    calendar_service = {"REMOTE_ADDR": "203.0.113.9"}
    for _ in range(4):
        for url in old_links:
            resp = app.test_client().get(url, environ_base=calendar_service)
            assert resp.status_code == 410
    assert app.test_client().get(live, environ_base=calendar_service).status_code == 200
    for _ in range(5):  # never-issued tokens from the same address are still guesses
        guess = "/calendar/sbcal_m" + secrets.token_urlsafe(32)[:43] + ".ics"
        assert app.test_client().get(guess, environ_base=calendar_service).status_code == 404
    assert app.test_client().get(live, environ_base=calendar_service).status_code == 429
