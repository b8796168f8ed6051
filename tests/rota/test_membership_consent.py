"""Joining a team needs the person's consent (issue #13, item 3).

A coordinator may add someone directly only if they already coordinate that person in another team (or are an
administrator); anyone else gets an invitation, sees it in the app and on their profile, and joins only by
accepting it. Every step is audited; refusals are problem+json 403 (API) or a form error (pages).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db
from notifications.models import Notification
from rota.models import InvitationState, TeamInvitation
from tests.conftest import login


@pytest.fixture
def trust(make):
    admin = make.admin()
    wendy = make.user(display_name="Wendy Ward-Manager", grade="Band 7")  # coordinates Ward 7B only
    rosa = make.user(display_name="Rosa Respiratory", grade="Band 7")  # coordinates Ward 8 and the bank
    sam = make.user(display_name="Sam Patel")  # Ward 8 and the bank, never in Ward 7B
    bo = make.user(display_name="Bo Bank")  # the bank only
    stranger = make.user(display_name="Stella Stranger")  # in no team at all
    ward7b = make.team("Ward 7B", coordinators=[wendy])
    ward8 = make.team("Ward 8", coordinators=[rosa], staff=[sam])
    bank = make.team("Staff bank", coordinators=[rosa], staff=[sam, bo])
    return {"admin": admin, "wendy": wendy, "rosa": rosa, "sam": sam, "bo": bo, "stranger": stranger,
            "ward7b": ward7b, "ward8": ward8, "bank": bank}


def _actions(action):
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _follow(client, resp):
    assert resp.status_code == 302, resp.status_code
    return client.get(resp.headers["Location"])


def _member_ids(team):
    db.session.expire_all()
    return {m.user_id for m in team.memberships}


# ------------------------------------------------------------------------------------- the failing-first tests


def test_coordinator_cannot_enrol_someone_from_another_team_through_the_api(client, make, bearer, trust):
    wendy, sam, ward7b = trust["wendy"], trust["sam"], trust["ward7b"]
    r = client.post(f"/api/v1/teams/{ward7b.id}/members", json={"user_id": sam.id}, headers=bearer(make.token(wendy)))
    assert r.status_code == 403 and r.content_type == "application/problem+json"
    body = r.get_json()
    assert body["code"] == "consent_required"
    assert body["detail"] == ("Sam Patel is not in a team you coordinate, so they must agree to join Ward 7B: send "
                              "them an invitation instead.")
    assert sam.id not in _member_ids(ward7b)
    assert not _actions("membership.added") or all(e.summary["user_id"] != sam.id or e.team_id != ward7b.id
                                                   for e in _actions("membership.added"))


def test_coordinator_page_invites_instead_of_enrolling(client, trust):
    wendy, stranger, ward7b = trust["wendy"], trust["stranger"], trust["ward7b"]
    login(client, wendy)
    r = _follow(client, client.post(f"/teams/{ward7b.id}/members",
                                    data={"email": stranger.email.upper(), "role": "staff"}))
    assert r.status_code == 200
    assert "Invitation sent to Stella Stranger. They join Ward 7B when they accept it." in r.get_data(as_text=True)
    assert stranger.id not in _member_ids(ward7b)


# ------------------------------------------------------------------------------------------ the whole journey


def test_invited_person_sees_the_invitation_accepts_and_both_sides_are_audited_and_told(client, trust):
    wendy, stranger, ward7b = trust["wendy"], trust["stranger"], trust["ward7b"]
    login(client, wendy)
    client.post(f"/teams/{ward7b.id}/members", data={"email": stranger.email, "role": "coordinator"})
    page = client.get(f"/teams/{ward7b.id}/members").get_data(as_text=True)
    assert 'data-testid="pending-invitations"' in page and "Stella Stranger" in page
    again = client.post(f"/teams/{ward7b.id}/members", data={"email": stranger.email, "role": "staff"})
    assert again.status_code == 422 and "Already invited; waiting for their answer." in again.get_data(as_text=True)
    client.post("/auth/logout")

    note = db.session.scalar(select(Notification).where(Notification.user_id == stranger.id,
                                                        Notification.kind == "team.invitation"))
    assert note.text == ("Wendy Ward-Manager invited you to join Ward 7B as a coordinator. Accept or decline it in "
                         "Shiftbridge.") and note.link == "/my/invitations"
    login(client, stranger)
    profile = client.get("/profile").get_data(as_text=True)
    assert 'data-testid="profile-invitations"' in profile and "Ward 7B (as coordinator)" in profile
    inv = db.session.scalar(select(TeamInvitation).where(TeamInvitation.user_id == stranger.id))
    mine = client.get("/my/invitations").get_data(as_text=True)
    assert f'data-testid="invitation-{inv.id}"' in mine and "invited by Wendy Ward-Manager" in mine
    r = _follow(client, client.post(f"/my/invitations/{inv.id}/accept"))
    assert r.status_code == 200 and "You joined Ward 7B." in r.get_data(as_text=True)
    assert stranger.id in _member_ids(ward7b)
    assert stranger.role_in(ward7b).value == "coordinator"
    twice = _follow(client, client.post(f"/my/invitations/{inv.id}/decline"))
    assert "This invitation was already accepted." in twice.get_data(as_text=True)
    assert stranger.id in _member_ids(ward7b)

    invited, accepted = _actions("membership.invited"), _actions("membership.invitation_accepted")
    assert [(e.actor_id, e.team_id, e.summary["user_id"]) for e in invited] == [(wendy.id, ward7b.id, stranger.id)]
    assert [(e.actor_id, e.team_id) for e in accepted] == [(stranger.id, ward7b.id)]
    added = [e for e in _actions("membership.added") if e.team_id == ward7b.id and e.summary["user_id"] == stranger.id]
    assert [(e.actor_id, e.summary["via"], e.summary["invitation_id"]) for e in added] == [(stranger.id, "invitation",
                                                                                            inv.id)]
    told = db.session.scalar(select(Notification).where(Notification.user_id == wendy.id,
                                                        Notification.kind == "team.invitation_answered"))
    assert told.text == "Stella Stranger accepted your invitation to join Ward 7B."


def test_declining_leaves_the_person_out_and_is_audited(client, trust):
    wendy, stranger, ward7b = trust["wendy"], trust["stranger"], trust["ward7b"]
    login(client, wendy)
    client.post(f"/teams/{ward7b.id}/members", data={"email": stranger.email, "role": "staff"})
    client.post("/auth/logout")
    inv = db.session.scalar(select(TeamInvitation).where(TeamInvitation.user_id == stranger.id))
    login(client, stranger)
    r = _follow(client, client.post(f"/my/invitations/{inv.id}/decline"))
    assert "You declined the invitation to Ward 7B." in r.get_data(as_text=True)
    assert stranger.id not in _member_ids(ward7b)
    assert "You have no invitations waiting for an answer." in client.get("/my/invitations").get_data(as_text=True)
    assert [e.actor_id for e in _actions("membership.invitation_declined")] == [stranger.id]
    client.post("/auth/logout")
    # A declined invitation can be sent again; it reopens the same row.
    login(client, wendy)
    client.post(f"/teams/{ward7b.id}/members", data={"email": stranger.email, "role": "staff"})
    db.session.expire_all()
    assert db.session.scalar(select(TeamInvitation).where(TeamInvitation.user_id == stranger.id)).state == \
        InvitationState.pending


def test_unknown_email_is_a_form_error_and_typed_text_is_kept(client, trust):
    login(client, trust["wendy"])
    r = client.post(f"/teams/{trust['ward7b'].id}/members", data={"email": "nobody@example.test", "role": "staff"})
    text = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "No active account uses that email address. Ask an administrator to create the account first." in text
    assert 'value="nobody@example.test"' in text


def test_api_invitation_journey(client, make, bearer, trust):
    wendy, stranger, sam, ward7b, rosa = trust["wendy"], trust["stranger"], trust["sam"], trust["ward7b"], \
        trust["rosa"]
    hw, hs, hsam, hr = (bearer(make.token(u)) for u in (wendy, stranger, sam, rosa))
    r = client.post(f"/api/v1/teams/{ward7b.id}/invitations", json={"email": stranger.email}, headers=hw)
    assert r.status_code == 201 and r.get_json()["state"] == "pending"
    inv_id = r.get_json()["id"]
    assert [i["id"] for i in client.get(f"/api/v1/teams/{ward7b.id}/invitations", headers=hw).get_json()] == [inv_id]
    assert client.get(f"/api/v1/teams/{ward7b.id}/invitations", headers=hr).status_code == 403
    mine = client.get("/api/v1/me/invitations", headers=hs).get_json()
    assert [(i["id"], i["team_name"], i["role"], i["invited_by"]) for i in mine] == [
        (inv_id, "Ward 7B", "staff", "Wendy Ward-Manager")]
    assert client.get("/api/v1/me/invitations", headers=hsam).get_json() == []
    other = client.post(f"/api/v1/invitations/{inv_id}/accept", headers=hsam)
    assert other.status_code == 404 and other.content_type == "application/problem+json"
    assert client.post(f"/api/v1/invitations/{inv_id}/withdraw", headers=hr).status_code == 403
    ok = client.post(f"/api/v1/invitations/{inv_id}/accept", headers=hs)
    assert ok.status_code == 200 and ok.get_json()["state"] == "accepted"
    late = client.post(f"/api/v1/invitations/{inv_id}/decline", headers=hs)
    assert late.status_code == 409 and late.content_type == "application/problem+json"
    assert stranger.id in _member_ids(ward7b)
    assert client.post(f"/api/v1/teams/{ward7b.id}/invitations", json={"user_id": stranger.id},
                       headers=hw).status_code == 409  # already a member


def test_withdrawn_invitation_cannot_be_accepted(client, make, bearer, trust):
    wendy, stranger, ward7b = trust["wendy"], trust["stranger"], trust["ward7b"]
    hw, hs = bearer(make.token(wendy)), bearer(make.token(stranger))
    inv_id = client.post(f"/api/v1/teams/{ward7b.id}/invitations", json={"user_id": stranger.id},
                         headers=hw).get_json()["id"]
    assert client.post(f"/api/v1/invitations/{inv_id}/withdraw", headers=hw).get_json()["state"] == "withdrawn"
    r = client.post(f"/api/v1/invitations/{inv_id}/accept", headers=hs)
    assert r.status_code == 409 and r.get_json()["detail"] == "This invitation was already withdrawn."
    assert stranger.id not in _member_ids(ward7b)
    assert [e.actor_id for e in _actions("membership.invitation_withdrawn")] == [wendy.id]


# ------------------------------------------------------------------------------------- who may add directly


def test_coordinator_of_a_team_the_person_is_in_adds_them_directly(client, make, bearer, trust):
    rosa, bo, ward8 = trust["rosa"], trust["bo"], trust["ward8"]
    r = client.post(f"/api/v1/teams/{ward8.id}/members", json={"user_id": bo.id}, headers=bearer(make.token(rosa)))
    assert r.status_code == 201 and bo.id in _member_ids(ward8)
    # the page does the same and says so
    login(client, rosa)
    stranger = trust["stranger"]
    r = _follow(client, client.post(f"/teams/{ward8.id}/members",
                                    data={"email": trust["sam"].email, "role": "coordinator"}))
    assert "Sam Patel added to Ward 8." in r.get_data(as_text=True)  # a role change for a member of Ward 8
    r = _follow(client, client.post(f"/teams/{ward8.id}/members", data={"email": stranger.email, "role": "staff"}))
    assert "Invitation sent to Stella Stranger." in r.get_data(as_text=True) and stranger.id not in _member_ids(ward8)


def test_administrator_adds_anyone_directly(client, make, bearer, trust):
    r = client.post(f"/api/v1/teams/{trust['ward7b'].id}/members", json={"user_id": trust["stranger"].id},
                    headers=bearer(make.token(trust["admin"])))
    assert r.status_code == 201 and trust["stranger"].id in _member_ids(trust["ward7b"])


# -------------------------------------------------------------------------- every membership route × actor


def _routes(t):
    """Every route that changes who is in a team, with a body aimed at putting ``stranger`` into Ward 7B."""
    s, w = t["stranger"], t["ward7b"]
    return [
        ("api add member", "api", "post", f"/api/v1/teams/{w.id}/members", {"json": {"user_id": s.id}}),
        ("api add coordinator", "api", "post", f"/api/v1/teams/{w.id}/members",
         {"json": {"user_id": s.id, "role": "coordinator"}}),
        ("api invite", "api", "post", f"/api/v1/teams/{w.id}/invitations", {"json": {"user_id": s.id}}),
        ("page add or invite", "page", "post", f"/teams/{w.id}/members", {"data": {"email": s.email, "role": "staff"}}),
    ]


@pytest.mark.parametrize("actor", ["rosa", "sam", "stranger"])  # coordinator elsewhere, staff elsewhere, nobody
def test_nobody_outside_the_team_can_add_or_invite(client, make, bearer, trust, actor):
    user = trust[actor]
    token = bearer(make.token(user))
    login(client, user)
    for name, kind, method, url, kw in _routes(trust):
        r = getattr(client, method)(url, headers=token if kind == "api" else {}, **kw)
        assert r.status_code == 403, (name, r.status_code)
        if kind == "api":
            assert r.content_type == "application/problem+json", name
    assert trust["stranger"].id not in _member_ids(trust["ward7b"])
    assert db.session.scalar(select(TeamInvitation)) is None


@pytest.mark.parametrize("route", range(3))
def test_coordinator_without_a_shared_team_never_enrols_directly(client, make, bearer, trust, route):
    name, kind, method, url, kw = _routes(trust)[route]
    r = getattr(client, method)(url, headers=bearer(make.token(trust["wendy"])), **kw)
    assert trust["stranger"].id not in _member_ids(trust["ward7b"]), name
    assert r.status_code in (201, 403), name
    if r.status_code == 201:  # only the invitation route succeeds, and it only invites
        assert r.get_json()["state"] == "pending", name


# ------------------------------------------------------------------------------------------------------ races


def test_accept_racing_decline_and_withdraw_one_answer_wins(make, live_server, trust):
    from rota import membership
    from tests.rota.test_rota_api import _race

    wendy, stranger, ward7b = trust["wendy"], trust["stranger"], trust["ward7b"]

    inv = membership.invite(ward7b, stranger, "staff", actor=wendy)
    db.session.commit()
    tokens = [make.token(stranger), make.token(stranger), make.token(wendy)]
    reqs = [("post", f"/api/v1/invitations/{inv.id}/accept", None),
            ("post", f"/api/v1/invitations/{inv.id}/decline", None),
            ("post", f"/api/v1/invitations/{inv.id}/withdraw", None)]
    codes = sorted(code for code, _ in _race(live_server, tokens, reqs))
    assert codes == [200, 409, 409], codes
    db.session.expire_all()
    state = db.session.get(TeamInvitation, inv.id).state
    assert (stranger.id in _member_ids(ward7b)) == (state == InvitationState.accepted)
    answers = db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("membership.invitation_%"))).all()
    assert len(answers) == 1
