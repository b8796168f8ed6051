"""Server-side sessions end after idle and absolute limits (configurable); the warning's status/keep-alive endpoints;
a form posted after the sign-out keeps its text through the new sign-in. Issue #13 item 9. Time is moved with the
``clock`` fixture, never slept."""

import threading
import urllib.error
import urllib.request
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from core.accounts import ApiToken, UserSession
from core.audit import AuditEntry
from core.db import db
from tests.conftest import TEST_PASSWORD, login

BACKGROUND = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}  # what fetch()/EventSource send


class _Forms(HTMLParser):
    """The page's forms: action, method and (name, value) of every input and textarea."""

    def __init__(self, html):
        super().__init__()
        self.forms, self._textarea = [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method"), "fields": []})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"].append((a["name"], a.get("value", "")))
        elif tag == "textarea" and self.forms:
            self._textarea = [a.get("name"), ""]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea is not None:
            self.forms[-1]["fields"].append(tuple(self._textarea))
            self._textarea = None


def _form_with(html, field_name):
    return next(f for f in _Forms(html).forms if any(n == field_name for n, _ in f["fields"]))


def test_a_400_day_old_session_no_longer_works(client, make, clock):
    login(client, make.user())
    clock.advance(days=400)
    resp = client.get("/")
    assert resp.status_code == 302 and "/auth/login" in resp.location


def test_idle_sign_out_after_fifteen_minutes_and_use_keeps_the_session(client, make, clock):
    nurse = make.user()
    login(client, nurse)
    for _ in range(4):  # used every 14 minutes for almost an hour: still signed in
        clock.advance(minutes=14)
        assert client.get("/").status_code == 200
    clock.advance(minutes=16)
    resp = client.get("/my/shifts")
    assert resp.status_code == 302 and "/auth/login" in resp.location
    page = client.get(resp.location).get_data(as_text=True)
    assert "You were signed out because Shiftbridge was not used for 15 minutes." in page
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == nurse.id))
    assert row.revoked_at is not None
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "auth.session_expired"))
    assert entry is not None and entry.actor_id == nurse.id and entry.summary == {"reason": "idle"}


def test_absolute_limit_ends_even_a_busy_session(client, make, clock):
    login(client, make.user())
    for _ in range(71):  # used every 10 minutes for 11 h 50 min
        clock.advance(minutes=10)
        assert client.get("/").status_code == 200
    clock.advance(minutes=11)
    resp = client.get("/")
    assert resp.status_code == 302
    page = client.get(resp.location).get_data(as_text=True)
    assert "Sessions last at most 12 hours" in page


@pytest.mark.parametrize("app_config", [{"SESSION_IDLE_MINUTES": 5, "SESSION_ABSOLUTE_MINUTES": 60}])
def test_limits_are_configurable(client, make, clock, app_config):
    login(client, make.user())
    clock.advance(minutes=4)
    assert client.get("/").status_code == 200
    clock.advance(minutes=6)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("background", [BACKGROUND, {"Accept": "application/json"}],
                         ids=["fetch-metadata", "plain-http-json"])
def test_background_requests_do_not_keep_an_unattended_screen_signed_in(client, make, clock, background):
    login(client, make.user())
    for _ in range(3):  # the notifications badge polls; nobody is at the computer
        clock.advance(minutes=4)
        assert client.get("/api/v1/notifications", headers=background).status_code == 200
    clock.advance(minutes=4)
    assert client.get("/", headers={"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}).status_code == 302


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_pages_opened_from_another_site_do_not_keep_the_session_alive(client, make, clock, site):
    """Another site embedding or opening Shiftbridge pages every few minutes must not keep an unattended screen
    signed in: only the app's own pages (or the address bar) count as use."""
    login(client, make.user())
    from_elsewhere = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": site}
    for _ in range(3):
        clock.advance(minutes=4)
        assert client.get("/", headers=from_elsewhere).status_code == 200
    clock.advance(minutes=4)
    assert client.get("/", headers=from_elsewhere).status_code == 302


def test_forms_sent_from_a_sibling_site_do_not_keep_the_session_alive(client, make, clock):
    """A same-site page (another subdomain: the session cookie goes with it) sending a form every few minutes: refused
    or not, it is not the person using Shiftbridge."""
    login(client, make.user())
    sibling = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-site"}
    for _ in range(3):
        clock.advance(minutes=4)
        assert client.post("/profile/tokens", data={}, headers=sibling).status_code == 422
    clock.advance(minutes=4)
    assert client.post("/profile/tokens", data={}, headers=sibling).status_code in (302, 401)


@pytest.mark.parametrize("site", ["same-origin", "none"])
def test_pages_opened_in_the_app_or_from_the_address_bar_count_as_use(client, make, clock, site):
    login(client, make.user())
    own = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": site}
    for _ in range(4):
        clock.advance(minutes=14)
        assert client.get("/", headers=own).status_code == 200


def test_status_tells_the_time_left_without_extending_and_keepalive_extends(client, make, clock):
    clock.freeze()
    login(client, make.user())
    status = client.get("/auth/session", headers=BACKGROUND)
    assert status.status_code == 200 and status.json["seconds_left"] == 900 and status.json["extendable"] is True
    assert status.json["warn_seconds"] == 120
    clock.advance(minutes=10)
    assert client.get("/auth/session", headers=BACKGROUND).json["seconds_left"] == 300
    clock.advance(minutes=1)
    assert client.get("/auth/session", headers=BACKGROUND).json["seconds_left"] == 240, "asking extended the session"
    keep = client.post("/auth/session/keepalive", headers=BACKGROUND)
    assert keep.status_code == 200 and keep.json["seconds_left"] == 900
    clock.advance(minutes=14)
    assert client.get("/").status_code == 200
    clock.advance(minutes=16)
    assert client.get("/auth/session", headers=BACKGROUND).status_code == 401


def test_form_posted_after_the_sign_out_keeps_its_text_through_the_new_sign_in(client, make, clock):
    nurse = make.user()
    login(client, nurse)
    clock.advance(minutes=20)
    typed = "Ward 7B rota script – typed before the lunch break <b>&amp;"
    resp = client.post("/profile/tokens", data={"tok-name": typed})
    assert resp.status_code == 401
    page = resp.get_data(as_text=True)
    assert "What you typed has been kept" in page
    sign_in = _form_with(page, "email")
    fields = dict(sign_in["fields"])
    fields.update(email=nurse.email, password=TEST_PASSWORD)
    resp = client.post(sign_in["action"] or "/auth/login", data=fields)
    assert resp.status_code == 200, resp.status_code
    page = resp.get_data(as_text=True)
    assert "Your changes have not been saved yet" in page
    save = _form_with(page, "tok-name")
    assert save["action"] == "/profile/tokens" and dict(save["fields"])["tok-name"] == typed
    resp = client.post(save["action"], data=dict(save["fields"]))
    assert resp.status_code == 200
    assert db.session.scalar(select(ApiToken.name)) == typed


def test_a_wrong_password_on_the_way_back_keeps_the_text_too(client, make, clock):
    nurse = make.user()
    login(client, nurse)
    clock.advance(minutes=20)
    resp = client.post("/profile/tokens", data={"tok-name": "kept through a typo"})
    fields = dict(_form_with(resp.get_data(as_text=True), "email")["fields"])
    resp = client.post("/auth/login", data={**fields, "email": nurse.email, "password": "typo typo"})
    assert resp.status_code == 401
    assert "kept through a typo" in dict(_form_with(resp.get_data(as_text=True), "email")["fields"]).values()


@pytest.mark.parametrize("confirm", ["a brand new passphrase", "a brand new passfrase"], ids=["matching", "mistyped"])
def test_passwords_are_never_carried_over_a_sign_out(client, make, clock, confirm):
    """Not even a confirmation that does not match the new password (so is not "a value equal to a typed password"):
    nothing of a form with a password in it travels through the sign-in page."""
    nurse = make.user()
    login(client, nurse)
    clock.advance(minutes=20)
    resp = client.post("/profile/password", data={"pw-current_password": TEST_PASSWORD,
                                                  "pw-new_password": "a brand new passphrase", "pw-confirm": confirm})
    page = resp.get_data(as_text=True) if resp.status_code != 302 else client.get(resp.location).get_data(as_text=True)
    assert TEST_PASSWORD not in page and "passphrase" not in page and "passfrase" not in page
    for form in _Forms(page).forms:
        assert not any(value for name, value in form["fields"] if name.startswith("carry:")), form


def test_confirmation_fields_are_never_carried_even_without_a_password_field(app):
    from core.auth import _carriable

    with app.test_request_context():
        assert _carriable([("csrf_token", "x"), ("email-confirm", "typo@example"), ("pin_confirmation", "1234"),
                           ("note", "kept"), ("confirm_off_rota", "y")]) == [("csrf_token", ""), ("note", "kept"),
                                                                             ("confirm_off_rota", "y")]
        assert _carriable([("pw-current_password", "a"), ("pw-new_password", "b"), ("pw-confirm", "c"),
                           ("label", "d")]) == []


def test_someone_else_signing_in_does_not_get_the_first_persons_text(client, make, clock):
    nurse, other = make.user(), make.user()
    login(client, nurse)
    clock.advance(minutes=20)
    resp = client.post("/profile/tokens", data={"tok-name": "not for the next person"})
    fields = dict(_form_with(resp.get_data(as_text=True), "email")["fields"])
    resp = client.post("/auth/login", data={**fields, "email": other.email, "password": TEST_PASSWORD})
    assert resp.status_code == 302
    assert "not for the next person" not in client.get(resp.location).get_data(as_text=True)


def test_every_page_carries_the_warning_with_the_time_left(client, make, clock):
    clock.freeze()  # exact seconds: a loaded machine's second between sign-in and page read 899
    login(client, make.user())
    clock.advance(minutes=5)
    page = client.get("/").get_data(as_text=True)
    assert 'data-testid="session-warning"' in page and 'data-warn-seconds="120"' in page
    assert 'data-seconds-left="900"' in page  # opening the page was use: the full 15 minutes again


def test_near_the_absolute_limit_the_warning_cannot_extend(client, make, clock):
    login(client, make.user())
    for _ in range(71):
        clock.advance(minutes=10)
        client.get("/")
    status = client.get("/auth/session", headers=BACKGROUND).json
    assert status["extendable"] is False and 590 <= status["seconds_left"] <= 600  # the test's own run time aside
    assert client.post("/auth/session/keepalive", headers=BACKGROUND).json["seconds_left"] <= 600


def test_a_page_opened_with_an_api_token_has_no_session_to_time(app, make, bearer):
    secret = make.token(make.user())
    resp = app.test_client().get("/", headers=bearer(secret))
    assert resp.status_code == 200 and 'id="session-timeout"' not in resp.get_data(as_text=True)
    assert app.test_client().get("/auth/session", headers=bearer(secret)).status_code == 404


def test_requests_arriving_together_on_an_expired_session_record_one_expiry(app, make, clock, live_server):
    nurse = make.user()
    browser = app.test_client()
    login(browser, nurse)
    cookie = browser.get_cookie("shiftbridge_session").value
    db.session.commit()
    clock.advance(minutes=20)
    barrier, statuses = threading.Barrier(8), []

    def open_page():
        request = urllib.request.Request(live_server.url + "/my/shifts",
                                         headers={"Cookie": f"shiftbridge_session={cookie}"})
        barrier.wait()
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            statuses.append(opener.open(request, timeout=30).status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)

    threads = [threading.Thread(target=open_page) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [302] * 8
    expiries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "auth.session_expired")).all()
    assert len(expiries) == 1


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
