"""What a single sign-on does to accounts (on both engines): just-in-time creation, provider groups to team roles,
Entra ID's group overage, password sign-in switched off per account or globally, and signing out at the provider."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core import accounts, passwords
from core.accounts import Membership, TeamRole, User
from core.audit import AuditEntry
from core.db import db
from core.errors import Conflict
from notifications.models import Notification
from tests.conftest import TEST_PASSWORD
from tests.sso.fixtures import path_of

GROUP_ROLES = json.dumps({"g-ward7-nurses": "Ward 7:staff", "g-ward7-coordinators": "Ward 7:coordinator"})


@pytest.fixture
def app_config(idp):
    return idp.config(SSO_JIT=True, SSO_GROUP_ROLES=GROUP_ROLES)


def sso_sign_in(client, idp, account):
    start = client.get("/auth/sso/start")
    return client.get(path_of(idp.sign_in_at_provider(start.headers["Location"], account)))


def role(user, team):
    db.session.expire_all()
    m = db.session.scalar(select(Membership).where(Membership.user_id == user.id, Membership.team_id == team.id))
    return m and m.role


def test_just_in_time_creation_makes_a_passwordless_account_and_tells_administrators(client, idp, make):
    admin = make.admin()
    make.team("Ward 7")
    resp = sso_sign_in(client, idp, "newcomer")
    assert resp.status_code == 302
    nia = db.session.scalar(select(User).where(User.email == "newcomer@trust.example"))
    assert nia.display_name == "Nia Newcomer" and nia.password_sign_in_disabled
    told = db.session.scalars(select(Notification).where(Notification.user_id == admin.id)).all()
    assert len(told) == 1 and "Nia Newcomer" in told[0].text and told[0].link == "/admin/users"
    # Nobody can sign in to it with a password, not even one that happened to be guessed.
    client.post("/auth/logout")
    assert client.post("/auth/login", data={"email": nia.email, "password": TEST_PASSWORD}).status_code == 401


def test_without_jit_an_unknown_person_is_refused_and_nothing_is_created(client, idp, make):
    client.application.config["SSO_JIT"] = False
    assert sso_sign_in(client, idp, "newcomer").status_code == 403
    assert db.session.scalar(select(User).where(User.email == "newcomer@trust.example")) is None


def test_groups_map_to_team_roles_at_every_sign_in(client, idp, make):
    ward7, other = make.team("Ward 7"), make.team("Ward 9")
    bola = make.user(email="bola@trust.example")
    accounts.add_member(other, bola, TeamRole.coordinator)
    db.session.commit()
    assert sso_sign_in(client, idp, "bola").status_code == 302
    assert role(bola, ward7) == TeamRole.coordinator
    assert role(bola, other) == TeamRole.coordinator  # a team the mapping does not name is left alone

    # She leaves the coordinators' group at the provider: at her next sign-in she is staff on Ward 7.
    client.post("/auth/logout")
    idp.control("mutate", claims={"groups": ["g-ward7-nurses"]})
    assert sso_sign_in(client, idp, "bola").status_code == 302
    assert role(bola, ward7) == TeamRole.staff
    changed = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "membership.role_changed"))
    assert changed.summary["role"] == "staff"


def test_jit_person_lands_in_the_mapped_team(client, idp, make):
    ward7 = make.team("Ward 7")
    assert sso_sign_in(client, idp, "newcomer").status_code == 302
    nia = db.session.scalar(select(User).where(User.email == "newcomer@trust.example"))
    assert role(nia, ward7) == TeamRole.staff


@pytest.mark.parametrize("account", ["overage", "hasgroups"])
def test_group_overage_changes_no_roles_and_says_so(client, idp, make, no_secrets_in_logs, account):
    ward7 = make.team("Ward 7")
    dan = make.user(email="dan@trust.example")
    accounts.add_member(ward7, dan, TeamRole.coordinator)
    db.session.commit()
    assert sso_sign_in(client, idp, account).status_code == 302
    assert role(dan, ward7) == TeamRole.coordinator
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "auth.sso_groups_overage"))
    assert entry.entity_id == str(dan.id) and entry.outcome == "denied"
    assert any("overage" in line for line in no_secrets_in_logs.records)


def test_signing_out_also_signs_out_at_the_provider(client, idp, make):
    make.user(email="alice@trust.example")
    assert sso_sign_in(client, idp, "alice").status_code == 302
    resp = client.post("/auth/logout")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith(idp.issuer + "/session/end?")
    assert "post_logout_redirect_uri=http%3A%2F%2Flocalhost%2Fauth%2Fsso%2Fsigned-out" in resp.headers["Location"]
    assert client.get("/profile").status_code == 302  # the local session is over whatever the provider does
    assert client.get("/auth/sso/signed-out").headers["Location"].endswith("/auth/login?signed_out=1")


def test_a_password_sign_in_signs_out_locally_only(client, idp, make):
    user = make.user()
    client.post("/auth/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert client.post("/auth/logout").headers["Location"] == "/auth/login?signed_out=1"


def test_password_sign_in_switched_off_per_account_but_never_for_the_last_admin(client, make):
    from tests.conftest import login

    admin, nurse = make.admin(), make.user()
    login(client, admin)
    assert client.post(f"/admin/users/{nurse.id}/password-sign-in/off").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, nurse.id).password_sign_in_disabled
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.password_sign_in_disabled"))
    resp = client.post(f"/admin/users/{admin.id}/password-sign-in/off")
    assert resp.status_code == 409
    db.session.expire_all()
    assert not db.session.get(User, admin.id).password_sign_in_disabled
    with pytest.raises(Conflict):
        passwords.set_password_sign_in(db.session.get(User, admin.id), False, actor=None)
    other = client.application.test_client()
    assert other.post("/auth/login", data={"email": nurse.email, "password": TEST_PASSWORD}).status_code == 403


def test_global_switch_needs_a_break_glass_admin(idp, database_url):
    from app import create_app
    from tests.conftest import base_config

    with pytest.raises(RuntimeError, match="BREAK_GLASS_ADMINS"):
        create_app({**base_config(database_url), **idp.config(PASSWORD_SIGN_IN="off")})


def test_the_demo_and_a_default_install_keep_passwords_and_show_no_trust_button(database_url):
    from app import create_app
    from tests.conftest import base_config

    app = create_app(base_config(database_url))
    with app.test_client() as c:
        page = c.get("/auth/login").get_data(as_text=True)
    assert "sso-sign-in" not in page and 'name="password"' in page
    assert app.test_client().get("/auth/sso/start").status_code == 404
