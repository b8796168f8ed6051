"""Every way a single sign-on must fail, through HTTP against the real provider: the browser gets a clear page,
nobody is signed in, and the audit trail says why (a reason code, never a token)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from core.accounts import UserSession
from core.audit import AuditEntry
from core.db import db
from tests.conftest import TEST_PASSWORD
from tests.sso.fixtures import path_of


@pytest.fixture
def app_config(idp):
    return idp.config()


@pytest.fixture
def alice(make):
    return make.user(email="alice@trust.example", display_name="Alice A")


def to_callback(client, idp, account="alice") -> str:
    start = client.get("/auth/sso/start")
    assert start.status_code == 302
    return path_of(idp.sign_in_at_provider(start.headers["Location"], account))


def signed_in(client) -> bool:
    return client.get("/profile").status_code == 200


def last_failure() -> dict:
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "auth.login_failed")
                              .order_by(AuditEntry.id.desc()))
    assert entry is not None and entry.outcome == "denied"
    return entry.summary


def refused(resp, client, reason: str, status: int = 401):
    assert resp.status_code == status, resp.get_data(as_text=True)[:400]
    assert 'data-testid="sso-problem"' in resp.get_data(as_text=True)
    assert not signed_in(client)
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0
    assert last_failure() == {"via": "sso", "reason": reason}


def test_the_happy_path_works_so_the_failures_below_mean_something(client, idp, alice):
    assert client.get(to_callback(client, idp)).status_code == 302 and signed_in(client)


def test_wrong_state_is_refused(client, idp, alice):
    back = to_callback(client, idp)
    refused(client.get(back.replace("state=", "state=x")), client, "state")


def test_a_callback_without_a_started_sign_in_is_refused(client, idp, alice):
    back = to_callback(client, idp)
    other = type(client)(client.application, client.response_wrapper)  # another browser: no flow in its session
    refused(other.get(back), other, "state")


def test_a_replayed_code_is_refused_by_the_provider(client, idp, alice):
    first = to_callback(client, idp)
    assert client.get(first).status_code == 302
    client.post("/auth/logout")
    db.session.execute(db.delete(UserSession))
    db.session.commit()
    start = client.get("/auth/sso/start")  # a new sign-in: its own state, nonce and PKCE verifier
    state = start.headers["Location"].split("state=")[1].split("&")[0]
    old_code = first.split("code=")[1].split("&")[0]
    resp = client.get(f"/auth/sso/callback?code={old_code}&state={state}")
    refused(resp, client, "token_invalid_grant")


@pytest.mark.parametrize(("claims", "reason"), [
    ({"nonce": "someone-elses-nonce"}, "bad_nonce"),
    ({"aud": "another-app"}, "bad_aud"),
    ({"iss": "http://127.0.0.1:9/evil"}, "bad_iss"),
])
def test_id_tokens_with_wrong_claims_are_refused(client, idp, alice, claims, reason):
    back = to_callback(client, idp)
    idp.control("mutate", claims=claims)
    refused(client.get(back), client, reason)


def test_an_expired_id_token_is_refused(client, idp, alice):
    back = to_callback(client, idp)
    now = int(time.time())
    idp.control("mutate", claims={"iat": now - 1200, "exp": now - 600})
    refused(client.get(back), client, "expired")


def test_a_provider_clock_a_little_behind_is_tolerated(client, idp, alice):
    back = to_callback(client, idp)
    now = int(time.time())
    idp.control("mutate", claims={"iat": now - 700, "exp": now - 60})  # within SSO_CLOCK_SKEW_SECONDS (120)
    assert client.get(back).status_code == 302 and signed_in(client)


def test_a_rotated_key_is_fetched_and_an_unknown_key_refused(client, idp, alice):
    client.application.config["SSO_JWKS_MIN_REFRESH_SECONDS"] = 0  # rotation seconds after the first fetch
    assert client.get(to_callback(client, idp)).status_code == 302  # the app now holds the JWKS with key-a only
    client.post("/auth/logout")
    db.session.execute(db.delete(UserSession))
    db.session.commit()

    back = to_callback(client, idp)
    idp.control("rotate")  # the provider publishes key-b and signs with it
    idp.control("mutate", sign="rotated")
    assert client.get(back).status_code == 302 and signed_in(client)
    client.post("/auth/logout")
    db.session.execute(db.delete(UserSession))
    db.session.commit()

    back = to_callback(client, idp)
    idp.control("mutate", sign="unknown")  # a key the provider never published
    refused(client.get(back), client, "unknown_key")


@pytest.mark.parametrize("sign", ["none", "hs256-public"])
def test_unsigned_and_hmac_with_the_public_key_are_refused(client, idp, alice, sign):
    back = to_callback(client, idp)
    idp.control("mutate", sign=sign)
    refused(client.get(back), client, "bad_algorithm")


def test_an_unverified_email_is_not_linked(client, idp, make):
    make.user(email="carol@trust.example")
    resp = client.get(to_callback(client, idp, "unverified"))
    refused(resp, client, "email_unverified", 403)
    assert "verified email address" in resp.get_data(as_text=True)


def test_someone_without_an_account_is_refused_with_a_clear_page(client, idp):
    resp = client.get(to_callback(client, idp, "alice"))
    refused(resp, client, "unknown_person", 403)
    assert "no Shiftbridge account" in resp.get_data(as_text=True)


def test_a_deactivated_account_is_refused(client, idp, alice, make):
    admin = make.admin()
    from core import accounts

    accounts.set_active(alice, False, actor=admin)
    db.session.commit()
    refused(client.get(to_callback(client, idp)), client, "inactive", 403)


def test_cancelling_at_the_provider_is_a_clear_page(client, idp, alice):
    start = client.get("/auth/sso/start")
    state = start.headers["Location"].split("state=")[1].split("&")[0]
    refused(client.get(f"/auth/sso/callback?error=access_denied&state={state}"), client, "provider_access_denied")


@pytest.mark.parametrize("app_config", [{"LOGIN_CLIENT_ATTEMPTS": "2 per 15 minutes"}], indirect=False)
def test_failed_sign_ins_are_throttled_like_passwords(client, idp, alice, app_config):
    client.application.config.update(idp.config())
    for _ in range(2):
        assert client.get("/auth/sso/callback?code=x&state=y").status_code == 401
    resp = client.get("/auth/sso/callback?code=x&state=y")
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "auth.throttled")).outcome == "denied"


class TestProviderDown:
    @pytest.fixture
    def app_config(self, idp):
        return idp.config(SSO_ISSUER="http://127.0.0.1:9", PASSWORD_SIGN_IN="off",
                          BREAK_GLASS_ADMINS="keeper@trust.example")

    def test_a_clear_page_and_the_break_glass_administrator_still_gets_in(self, client, make):
        keeper = make.admin(email="keeper@trust.example")
        nurse = make.user(email="nurse@trust.example")
        resp = client.get("/auth/sso/start")
        assert resp.status_code == 503
        assert "not answering" in resp.get_data(as_text=True)
        # Everyone else's password is switched off (told only after the right password) ...
        resp = client.post("/auth/login", data={"email": nurse.email, "password": TEST_PASSWORD})
        assert resp.status_code == 403 and "signs in with the trust" in resp.get_data(as_text=True)
        assert client.post("/auth/login", data={"email": nurse.email, "password": "wrong password!"}).status_code == 401
        # ... but the break-glass administrator's is not.
        resp = client.post("/auth/login", data={"email": keeper.email, "password": TEST_PASSWORD})
        assert resp.status_code == 302 and signed_in(client)


@pytest.mark.parametrize("query", ["", "?state=", "?code=&state=", "?code=a&code=b&state=x&state=y", "?error=",
                                   "?state=x&iss=", "?code=%ff%fe&state=%c3"])
def test_odd_callbacks_are_a_clear_page_never_a_500(client, idp, alice, query):
    client.get("/auth/sso/start")  # a sign-in under way in this browser
    resp = client.get("/auth/sso/callback" + query)
    assert resp.status_code in (400, 401), resp.status_code
    assert not signed_in(client)


def test_a_stale_tab_is_refused_and_leaves_the_newer_sign_in_working(client, idp, alice):
    first = to_callback(client, idp)
    second = to_callback(client, idp)  # a second tab's sign-in replaced the first one's state
    refused(client.get(first), client, "state")
    assert client.get(second).status_code == 302 and signed_in(client)
    assert client.get(second).status_code in (302, 401)  # and it works once only
