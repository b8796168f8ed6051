"""CSRF is skipped only for requests that a bearer token really authenticated (issue #13 item 10)."""

import re

import pytest
from sqlalchemy import func, select

from core.accounts import User
from core.audit import AuditEntry
from core.db import db
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
JUNK = {"Authorization": "Bearer not-a-token"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_REFUSAL = "The CSRF token is missing."


def _is_csrf_refusal(resp) -> bool:
    """Exactly the CSRF check's refusal: a 401 (the junk token refused by the API) would mean CSRF was skipped."""
    return (resp.status_code == 400 and resp.mimetype == "application/problem+json"
            and resp.get_json().get("detail") == CSRF_REFUSAL)


def _sign_in(client, user):
    page = client.get("/auth/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    resp = client.post("/auth/login", data={"email": user.email, "password": TEST_PASSWORD, "csrf_token": token})
    assert resp.status_code == 302


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_junk_bearer_header_with_a_signed_in_cookie_does_not_skip_csrf(client, make, app_config):
    _sign_in(client, make.admin())
    users = _count(User)
    body = {"email": "forged.person@example.test", "display_name": "Forged Person", "password": "long enough pw"}
    resp = client.post("/api/v1/users", json=body, headers=JUNK)
    assert _is_csrf_refusal(resp), (resp.status_code, resp.get_data(as_text=True))
    assert _count(User) == users


def test_a_real_bearer_token_still_needs_no_csrf_token(client, make, bearer, app_config):
    admin = make.admin()
    _sign_in(client, admin)  # a cookie as well does not matter: the token authenticates the call
    body = {"email": "new.person@example.test", "display_name": "New Person", "password": "long enough pw"}
    assert client.post("/api/v1/users", json=body, headers=bearer(make.token(admin))).status_code == 201


def test_no_api_write_accepts_a_cookie_session_with_a_junk_bearer_header(app, client, make, app_config):
    """The class of defect: any API write that trusts the mere presence of an Authorization header."""
    _sign_in(client, make.admin())
    audit_before = _count(AuditEntry)
    checked = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        for method in sorted(rule.methods & UNSAFE):
            url = re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>",
                         lambda m: "1" if m.group(1) in ("int", "float") else "mine", rule.rule)
            resp = client.open(url, method=method, json={}, headers=JUNK)
            assert _is_csrf_refusal(resp), f"{method} {url}: {resp.status_code} {resp.get_data(as_text=True)[:200]}"
            checked.append(f"{method} {url}")
    assert len(checked) > 10
    assert _count(AuditEntry) == audit_before, "a refused write changed something"


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Bearer ", "Basic dXNlcjpwdw=="])
def test_the_csrf_guard_itself_checks_requests_whose_authorization_header_authenticated_nobody(app, header,
                                                                                               app_config):
    """The guard, called directly: an Authorization header that signed nobody in does not skip the CSRF check."""
    from flask_wtf.csrf import CSRFError

    from core.security import _csrf_unless_bearer

    with app.test_request_context("/api/v1/users", method="POST", json={}, headers={"Authorization": header}):
        with pytest.raises(CSRFError):
            _csrf_unless_bearer()


def test_the_csrf_guard_skips_a_request_a_bearer_token_authenticated(app, make, app_config):
    from flask_login import current_user

    from core.security import _csrf_unless_bearer

    secret = make.token(make.admin())
    with app.test_request_context("/api/v1/users", method="POST", json={},
                                  headers={"Authorization": f"Bearer {secret}"}):
        assert current_user.is_authenticated
        assert _csrf_unless_bearer() is None
