"""Sign-in, sessions that die on the server, tokens, throttling, CSRF and security headers."""

import pytest
from sqlalchemy import select

from core.accounts import ApiToken, UserSession
from core.audit import AuditEntry
from core.db import db
from tests.conftest import TEST_PASSWORD, login


def test_sign_in_and_out(client, make):
    nurse = make.user(display_name="Priya Patel")
    assert client.get("/").status_code == 302
    login(client, nurse)
    page = client.get("/")
    assert page.status_code == 200 and "Hello, Priya Patel" in page.get_data(as_text=True)
    resp = client.post("/auth/logout")
    assert resp.status_code == 302 and "/auth/login" in resp.location
    assert client.get("/").status_code == 302


def test_wrong_password_says_so_and_is_audited(client, make):
    nurse = make.user()
    resp = client.post("/auth/login", data={"email": nurse.email, "password": "not the password"})
    assert resp.status_code == 401
    assert "Email address or password is not right." in resp.get_data(as_text=True)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "auth.login_failed"))
    assert entry is not None and entry.outcome == "denied"


def test_empty_login_form_gets_field_errors(client):
    resp = client.post("/auth/login", data={"email": "", "password": ""})
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "Enter your email address." in body and "Enter your password." in body


def test_open_redirect_refused(client, make):
    nurse = make.user()
    resp = client.post("/auth/login?next=//evil.example/", data={"email": nurse.email, "password": TEST_PASSWORD})
    assert resp.location == "/"


def test_cookie_replayed_after_logout_is_refused(app, make):
    nurse = make.user()
    first = app.test_client()
    login(first, nurse)
    captured = first.get_cookie("shiftbridge_session").value
    first.post("/auth/logout")
    attacker = app.test_client()
    attacker.set_cookie("shiftbridge_session", captured)
    assert attacker.get("/").status_code == 302, "a cookie captured before logout still worked"
    assert db.session.scalar(select(UserSession).where(UserSession.user_id == nurse.id)).revoked_at is not None


def test_password_change_signs_out_other_browsers_and_tokens(app, make, bearer):
    nurse = make.user()
    secret = make.token(nurse)
    phone, laptop = app.test_client(), app.test_client()
    login(phone, nurse)
    login(laptop, nurse)
    resp = laptop.post("/profile/password", data={"pw-current_password": TEST_PASSWORD,
                                                  "pw-new_password": "a brand new passphrase",
                                                  "pw-confirm": "a brand new passphrase"})
    assert resp.status_code == 200 and "Password changed" in resp.get_data(as_text=True)
    assert laptop.get("/").status_code == 200, "the browser that changed the password stays signed in"
    assert phone.get("/").status_code == 302
    assert app.test_client().get("/api/v1/me", headers=bearer(secret)).status_code == 401
    assert login(app.test_client(), nurse, "a brand new passphrase")


def test_password_change_errors(client, make):
    nurse = make.user()
    login(client, nurse)
    resp = client.post("/profile/password", data={"pw-current_password": "wrong", "pw-new_password": "short",
                                                  "pw-confirm": "different"})
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "Use 10 to 256 characters." in body and "do not match" in body
    resp = client.post("/profile/password", data={"pw-current_password": "wrong", "pw-new_password": "long enough pw",
                                                  "pw-confirm": "long enough pw"})
    assert resp.status_code == 422 and "current password is not right" in resp.get_data(as_text=True)


def test_deactivation_kills_sessions_and_tokens(app, make, bearer):
    admin, nurse = make.admin(), make.user()
    secret = make.token(nurse)
    nurse_browser, admin_browser = app.test_client(), app.test_client()
    login(nurse_browser, nurse)
    login(admin_browser, admin)
    assert admin_browser.post(f"/admin/users/{nurse.id}/deactivate").status_code == 302
    assert nurse_browser.get("/").status_code == 302
    assert app.test_client().get("/api/v1/me", headers=bearer(secret)).status_code == 401
    resp = app.test_client().post("/auth/login", data={"email": nurse.email, "password": TEST_PASSWORD})
    assert resp.status_code == 401


def test_only_admins_deactivate(client, make):
    a, b = make.user(), make.user()
    login(client, a)
    resp = client.post(f"/admin/users/{b.id}/deactivate")
    assert resp.status_code == 403
    denied = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "access.denied"))
    assert denied is not None and denied.actor_id == a.id


def test_token_shown_once_stored_hashed_and_revocable(client, make, bearer):
    nurse = make.user()
    login(client, nurse)
    page = client.post("/profile/tokens", data={"tok-name": "rota script"}).get_data(as_text=True)
    secret = page.split('data-testid="new-token">')[1].split("<")[0]
    assert secret.startswith("sb_")
    token = db.session.scalar(select(ApiToken))
    assert secret not in (token.token_hash, token.prefix) and token.token_hash != secret
    assert secret not in client.get("/profile").get_data(as_text=True), "token shown again"
    me = client.application.test_client().get("/api/v1/me", headers=bearer(secret))
    assert me.status_code == 200 and me.json["email"] == nurse.email
    client.post(f"/profile/tokens/{token.id}/revoke")
    assert client.application.test_client().get("/api/v1/me", headers=bearer(secret)).status_code == 401


def test_token_form_needs_a_name(client, make):
    login(client, make.user())
    resp = client.post("/profile/tokens", data={"tok-name": ""})
    assert resp.status_code == 422 and "Give the token a name." in resp.get_data(as_text=True)


# Throttling of failed sign-ins (who is refused, and who never is): tests/core/test_sign_in_throttle.py.


def test_successful_logins_are_not_throttled(app, make):
    nurse = make.user()
    for _ in range(7):
        c = app.test_client()
        login(c, nurse)


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_forms_need_csrf_token(client, make, app_config):
    nurse = make.user()
    resp = client.post("/auth/login", data={"email": nurse.email, "password": TEST_PASSWORD})
    assert resp.status_code == 400
    page = client.get("/auth/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    resp = client.post("/auth/login", data={"email": nurse.email, "password": TEST_PASSWORD, "csrf_token": token})
    assert resp.status_code == 302


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_bearer_api_calls_skip_csrf_but_cookie_calls_do_not(client, make, bearer, app_config):
    admin = make.admin()
    body = {"email": "new.person@example.test", "display_name": "New Person", "password": "long enough pw"}
    resp = client.post("/api/v1/users", json=body, headers=bearer(make.token(admin)))
    assert resp.status_code == 201


def test_security_headers_and_cookie_flags(client, make):
    resp = client.get("/auth/login")
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"]
    nurse = make.user()
    resp = client.post("/auth/login", data={"email": nurse.email, "password": TEST_PASSWORD})
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_no_inline_scripts_in_pages(client, make):
    login(client, make.admin())
    for path in ("/", "/profile", "/audit", "/admin/users", "/notifications"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>" not in html and "onclick=" not in html, path


def test_token_use_is_recorded_to_the_minute_without_a_write_per_call(client, make, bearer):
    from datetime import timedelta

    from sqlalchemy import event, update

    nurse = make.user()
    secret = make.token(nurse)
    api = client.application.test_client()
    assert api.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    db.session.expire_all()
    first = db.session.scalar(select(ApiToken.last_used_at))
    assert first is not None  # the profile page shows when a token was last used
    writes = []
    listener = lambda conn, cur, stmt, *a: writes.append(stmt) if stmt.startswith("UPDATE api_tokens") and "WHERE" in stmt else None  # noqa: E501,E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        for _ in range(3):
            assert api.get("/api/v1/me", headers=bearer(secret)).status_code == 200
        assert writes == []  # calls within the minute read only
        db.session.execute(update(ApiToken).values(last_used_at=first - timedelta(minutes=5)))
        db.session.commit()
        assert api.get("/api/v1/me", headers=bearer(secret)).status_code == 200
        assert len(writes) == 1
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    db.session.expire_all()
    assert db.session.scalar(select(ApiToken.last_used_at)) > first - timedelta(minutes=1)
