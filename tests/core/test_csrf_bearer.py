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
    assert resp.status_code in (400, 401), resp.status_code
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
            assert resp.status_code in (400, 401), f"{method} {url}: {resp.status_code}"
            checked.append(f"{method} {url}")
    assert len(checked) > 10
    assert _count(AuditEntry) == audit_before, "a refused write changed something"
