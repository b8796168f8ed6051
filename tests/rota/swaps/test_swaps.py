"""Swaps, offers and open shifts through the API: the three flows, approval policy, safety rails, audit, messages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db, now_utc
from notifications.models import Notification
from rota.compliance.rules import Verdict
from rota.models import Leave, LeaveKind, ReleaseKind, Shift, ShiftRelease
from rota.swaps.models import ApprovalPolicy, OpenShiftPolicy, SwapRequest
from tests.rota.swaps import factories as data


def _post(client, bearer, token, url, json=None):
    return client.post(url, json=json or {}, headers=bearer(token))


def _texts(user) -> list[str]:
    return list(db.session.scalars(select(Notification.text).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def _actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# ------------------------------------------------------------------------------------------------- offers


def test_offer_to_one_colleague_accept_then_coordinator_approves(client, make, bearer):
    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    r = _post(client, bearer, w.token(make, a), "/api/v1/swaps", {"shift_id": x.id, "kind": "offer",
                                                                     "to_user_ids": [b.id], "note": "Family event"})
    assert r.status_code == 201, r.json
    sid = r.json["id"]
    assert r.json["state"] == "proposed" and [p["user_id"] for p in r.json["recipients"]] == [b.id]
    assert any("is offering their Early" in t for t in _texts(b))

    r = _post(client, bearer, w.token(make, b), f"/api/v1/swaps/{sid}/accept")
    assert r.status_code == 200 and r.json["state"] == "awaiting_approval"
    assert any(t.startswith(f"{b.display_name} accepted your offer — waiting for approval") for t in _texts(a))
    assert data.holder(x.id) == a.id  # nothing moves before approval

    r = _post(client, bearer, w.token(make, w.coordinator), f"/api/v1/swaps/{sid}/approve")
    assert r.status_code == 200, r.json
    assert r.json["state"] == "approved" and r.json["decided_by"]["id"] == w.coordinator.id
    assert r.json["auto_approved"] is False
    assert data.holder(x.id) == b.id
    release = db.session.scalar(select(ShiftRelease).where(ShiftRelease.shift_id == x.id))
    assert release.user_id == a.id and release.kind == ReleaseKind.given_away
    assert any("you now work Early" in t for t in _texts(b))
    assert {"swap.proposed", "swap.accepted", "swap.approved", "shift.assigned"} <= set(_actions())


def test_offer_to_everyone_goes_only_to_eligible_colleagues(client, make, bearer):
    w = data.ward(make, 5)
    a, ok1, junior, on_leave, busy = w.staff
    junior.grade = "Band 4"
    x = data.shift(w.team, starts_at=data.soon(4), assignee=a, required_grade="Band 5", skills=["IV-trained"])
    db.session.add(Leave(user_id=on_leave.id, kind=LeaveKind.annual, first_day=x.starts_at.date() - timedelta(days=1),
                         last_day=x.starts_at.date() + timedelta(days=1)))
    data.shift(w.team, starts_at=x.starts_at + timedelta(hours=2), assignee=busy)
    db.session.commit()
    r = _post(client, bearer, w.token(make, a), "/api/v1/swaps", {"shift_id": x.id, "kind": "offer"})
    assert r.status_code == 201, r.json
    asked = {p["user_id"] for p in r.json["recipients"]}
    assert asked == {ok1.id}  # not the Band 4, not the one on leave, not the one already working then
    assert r.json["to_everyone"] is True


def test_offer_to_a_named_ineligible_colleague_is_refused_with_the_reason(client, make, bearer):
    w = data.ward(make, 2)
    a, b = w.staff
    b.skills = []
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a, skills=["IV-trained"])
    r = _post(client, bearer, w.token(make, a), "/api/v1/swaps", {"shift_id": x.id, "kind": "offer",
                                                                     "to_user_ids": [b.id]})
    assert r.status_code == 422
    assert "not recorded as IV-trained" in r.json["detail"]
    assert db.session.scalar(select(SwapRequest.id)) is None


def test_first_acceptance_wins_and_the_others_are_told(client, make, bearer):
    w = data.ward(make, 3)
    a, b, c = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    sid = _post(client, bearer, w.token(make, a), "/api/v1/swaps",
                {"shift_id": x.id, "kind": "offer", "to_user_ids": [b.id, c.id]}).json["id"]
    assert _post(client, bearer, w.token(make, b), f"/api/v1/swaps/{sid}/accept").status_code == 200
    r = _post(client, bearer, w.token(make, c), f"/api/v1/swaps/{sid}/accept")
    assert r.status_code == 409
    assert f"{b.display_name} accepted it first" in r.json["detail"]


# -------------------------------------------------------------------------------------------------- swaps


def test_clean_like_for_like_swap_is_approved_automatically(client, make, bearer):
    w = data.ward(make, 2, approval_policy=ApprovalPolicy.auto_when_clean)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    y = data.shift(w.team, starts_at=data.soon(5), assignee=b)
    r = _post(client, bearer, w.token(make, a), "/api/v1/swaps",
              {"shift_id": x.id, "kind": "swap", "counterpart_shift_id": y.id})
    assert r.status_code == 201, r.json
    r = _post(client, bearer, w.token(make, b), f"/api/v1/swaps/{r.json['id']}/accept")
    assert r.status_code == 200
    assert r.json["state"] == "approved" and r.json["auto_approved"] is True and r.json["decided_by"] is None
    assert data.holder(x.id) == b.id and data.holder(y.id) == a.id
    approved = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "swap.approved"))
    assert approved.actor_id is None and approved.summary["auto"] is True
    assert any("approved automatically" in t and "you now work Early" in t for t in _texts(a))
    assert data.count_overlaps() == 0


def test_swap_of_different_kinds_goes_to_the_coordinator_even_with_auto_policy(client, make, bearer):
    w = data.ward(make, 2, approval_policy=ApprovalPolicy.auto_when_clean)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    y = data.shift(w.team, starts_at=data.soon(6, hour=19), hours=12.5, assignee=b, stype=data.night(w.team))
    sid = _post(client, bearer, w.token(make, a), "/api/v1/swaps",
                {"shift_id": x.id, "kind": "swap", "counterpart_shift_id": y.id}).json["id"]
    r = _post(client, bearer, w.token(make, b), f"/api/v1/swaps/{sid}/accept")
    assert r.json["state"] == "awaiting_approval"
    assert data.holder(x.id) == a.id


def test_warning_verdict_sends_a_swap_to_the_queue_and_approval_needs_a_reason(client, make, bearer, monkeypatch):
    w = data.ward(make, 2, approval_policy=ApprovalPolicy.auto_when_clean)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    y = data.shift(w.team, starts_at=data.soon(5), assignee=b)
    b_id = b.id  # (the fake engine runs inside the request: it must not touch the test's session)
    warn = Verdict("WTR-rest11", "warn", "9 h", "11 h", "Only 9 h rest before this shift.", (0,))
    data.fake_engine(monkeypatch,
                     lambda user, *, add=(), remove=(), rule_sets=None: [warn] if user.id == b_id else [])
    r = _post(client, bearer, w.token(make, a), "/api/v1/swaps",
              {"shift_id": x.id, "kind": "swap", "counterpart_shift_id": y.id})
    assert r.status_code == 201, r.json
    sid = r.json["id"]
    assert _post(client, bearer, w.token(make, b), f"/api/v1/swaps/{sid}/accept").json["state"] == "awaiting_approval"
    detail = client.get(f"/api/v1/swaps/{sid}", headers=bearer(w.token(make, w.coordinator))).json
    assert [v["rule_id"] for c in detail["checks"] for v in c["verdicts"]] == ["WTR-rest11"]
    coord = w.token(make, w.coordinator)
    r = _post(client, bearer, coord, f"/api/v1/swaps/{sid}/approve")
    assert r.status_code == 422 and "warnings" in r.json["detail"] and data.holder(x.id) == a.id
    r = _post(client, bearer, coord, f"/api/v1/swaps/{sid}/approve", {"note": "Agreed with both; short staffed"})
    assert r.status_code == 200 and data.holder(x.id) == b.id


def test_blocking_verdict_makes_a_colleague_ineligible_for_a_swap(client, make, bearer, monkeypatch):
    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    y = data.shift(w.team, starts_at=data.soon(5), assignee=b)
    a_id = a.id
    block = Verdict("TCS-72in168", "block", "80 h", "72 h", "80 hours in 7 days is over the 72-hour limit.", (0,))
    data.fake_engine(monkeypatch,
                     lambda user, *, add=(), remove=(), rule_sets=None: [block] if user.id == a_id else [])
    r = _post(client, bearer, w.token(make, a), "/api/v1/swaps",
              {"shift_id": x.id, "kind": "swap", "counterpart_shift_id": y.id})
    assert r.status_code == 422
    assert "72-hour limit" in r.json["detail"] and r.json["verdicts"][0]["rule_id"] == "TCS-72in168"


def test_a_swap_whose_shift_changed_since_it_was_proposed_is_refused(client, make, bearer):
    w = data.ward(make, 3)
    a, b, c = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    y = data.shift(w.team, starts_at=data.soon(5), assignee=b)
    sid = _post(client, bearer, w.token(make, a), "/api/v1/swaps",
                {"shift_id": x.id, "kind": "swap", "counterpart_shift_id": y.id}).json["id"]
    assert _post(client, bearer, w.token(make, b), f"/api/v1/swaps/{sid}/accept").status_code == 200
    # The coordinator moves B's shift to C behind the request's back.
    y = db.session.get(Shift, y.id)
    y.assignee_id = c.id
    db.session.commit()
    r = _post(client, bearer, w.token(make, w.coordinator), f"/api/v1/swaps/{sid}/approve")
    assert r.status_code == 409 and "rota changed" in r.json["detail"]
    assert data.holder(x.id) == a.id and data.holder(y.id) == c.id


# ------------------------------------------------------------------------------------------- safety rails


def test_one_pending_request_per_shift(client, make, bearer):
    w = data.ward(make, 3)
    a, b, c = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    tok = w.token(make, a)
    assert _post(client, bearer, tok, "/api/v1/swaps", {"shift_id": x.id, "kind": "offer",
                                                         "to_user_ids": [b.id]}).status_code == 201
    r = _post(client, bearer, tok, "/api/v1/swaps", {"shift_id": x.id, "kind": "offer", "to_user_ids": [c.id]})
    assert r.status_code == 409 and "already a pending request" in r.json["detail"]


def test_no_requests_for_started_shifts_or_within_the_cutoff(client, make, bearer):
    w = data.ward(make, 2, cutoff_hours=12)
    a, b = w.staff
    now = now_utc()
    started = data.shift(w.team, starts_at=now - timedelta(hours=2), hours=4, assignee=a)
    close = data.shift(w.team, starts_at=now + timedelta(hours=5), assignee=a)
    tok = w.token(make, a)
    r = _post(client, bearer, tok, "/api/v1/swaps", {"shift_id": started.id, "kind": "offer"})
    assert r.status_code == 422 and "already started" in r.json["detail"]
    r = _post(client, bearer, tok, "/api/v1/swaps", {"shift_id": close.id, "kind": "offer", "to_user_ids": [b.id]})
    assert r.status_code == 422 and "within 12 hours" in r.json["detail"] and r.json["code"] == "cutoff"
    assert db.session.scalar(select(SwapRequest.id)) is None


def test_decline_refuse_and_cancel_need_a_reason_which_people_are_shown(client, make, bearer):
    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    sid = _post(client, bearer, w.token(make, a), "/api/v1/swaps",
                {"shift_id": x.id, "kind": "offer", "to_user_ids": [b.id]}).json["id"]
    for who, action in ((b, "decline"), (w.coordinator, "refuse"), (a, "cancel")):
        r = _post(client, bearer, w.token(make, who), f"/api/v1/swaps/{sid}/{action}", {"reason": ""})
        assert r.status_code == 422, action
        assert "reason" in r.json["errors"]
    r = _post(client, bearer, w.token(make, b), f"/api/v1/swaps/{sid}/decline", {"reason": "I'm on nights that week"})
    assert r.status_code == 200 and r.json["state"] == "declined" and r.json["reason"] == "I'm on nights that week"
    assert any("I'm on nights that week" in t for t in _texts(a))
    # Declined requests free the shift for a new one.
    assert _post(client, bearer, w.token(make, a), "/api/v1/swaps",
                 {"shift_id": x.id, "kind": "offer", "to_user_ids": [b.id]}).status_code == 201


def test_refusal_is_explained_to_both_and_changes_nothing(client, make, bearer):
    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    sid = _post(client, bearer, w.token(make, a), "/api/v1/swaps",
                {"shift_id": x.id, "kind": "offer", "to_user_ids": [b.id]}).json["id"]
    _post(client, bearer, w.token(make, b), f"/api/v1/swaps/{sid}/accept")
    r = _post(client, bearer, w.token(make, w.coordinator), f"/api/v1/swaps/{sid}/refuse",
              {"reason": "Skill mix on that day"})
    assert r.status_code == 200 and r.json["state"] == "refused"
    assert data.holder(x.id) == a.id
    assert any("Skill mix on that day" in t for t in _texts(a)) and any("Skill mix" in t for t in _texts(b))
    # A refused request cannot then be approved.
    r = _post(client, bearer, w.token(make, w.coordinator), f"/api/v1/swaps/{sid}/approve")
    assert r.status_code == 409 and "refused" in r.json["detail"]


def test_only_the_people_involved_see_or_act_on_a_request(client, make, bearer):
    w = data.ward(make, 3)
    a, b, c = w.staff
    outsider = make.user()
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    sid = _post(client, bearer, w.token(make, a), "/api/v1/swaps",
                {"shift_id": x.id, "kind": "offer", "to_user_ids": [b.id]}).json["id"]
    assert client.get(f"/api/v1/swaps/{sid}", headers=bearer(make.token(outsider))).status_code == 404
    assert _post(client, bearer, w.token(make, c), f"/api/v1/swaps/{sid}/accept").status_code == 404
    assert _post(client, bearer, w.token(make, b), f"/api/v1/swaps/{sid}/approve").status_code == 403
    r = _post(client, bearer, w.token(make, b), "/api/v1/swaps", {"shift_id": x.id, "kind": "offer"})
    assert r.status_code == 403 and "a shift you are working" in r.json["detail"]


def test_requests_expire_when_their_time_runs_out(app, client, make, bearer):
    from rota.swaps import requests as swap_requests

    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    sid = _post(client, bearer, w.token(make, a), "/api/v1/swaps",
                {"shift_id": x.id, "kind": "offer", "to_user_ids": [b.id]}).json["id"]
    req = db.session.get(SwapRequest, sid)
    assert swap_requests.expire_due(now=req.expires_at + timedelta(seconds=1)) == 1
    db.session.commit()
    r = _post(client, bearer, w.token(make, b), f"/api/v1/swaps/{sid}/accept")
    assert r.status_code == 409 and "expired" in r.json["detail"]
    assert any("expired" in t for t in _texts(a))


def test_list_filters_incoming_outgoing_and_approvals(client, make, bearer):
    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    sid = _post(client, bearer, w.token(make, a), "/api/v1/swaps",
                {"shift_id": x.id, "kind": "offer", "to_user_ids": [b.id]}).json["id"]
    get = lambda who, q: client.get(f"/api/v1/swaps?{q}", headers=bearer(w.token(make, who))).json  # noqa: E731
    assert [i["id"] for i in get(b, "mine=incoming")["items"]] == [sid]
    assert get(b, "mine=outgoing")["total"] == 0
    assert [i["id"] for i in get(a, "mine=outgoing&state=proposed")["items"]] == [sid]
    assert get(w.coordinator, "mine=approvals")["total"] == 0
    _post(client, bearer, w.token(make, b), f"/api/v1/swaps/{sid}/accept")
    assert [i["id"] for i in get(w.coordinator, "mine=approvals")["items"]] == [sid]


# -------------------------------------------------------------------------------------------- open shifts


def test_first_valid_claim_wins_an_open_shift(client, make, bearer):
    w = data.ward(make, 3)
    a, b, junior = w.staff
    junior.grade = "Band 3"
    db.session.commit()
    gap = data.shift(w.team, starts_at=data.soon(2), required_grade="Band 5")
    listed = client.get(f"/api/v1/open-shifts?team_id={w.team.id}", headers=bearer(w.token(make, junior))).json
    assert "items" in listed, listed
    assert listed["items"][0]["eligible"] is False and "needs Band 5" in listed["items"][0]["reasons"][0]
    r = _post(client, bearer, w.token(make, junior), f"/api/v1/shifts/{gap.id}/claim")
    assert r.status_code == 422 and "needs Band 5" in r.json["detail"]
    r = _post(client, bearer, w.token(make, a), f"/api/v1/shifts/{gap.id}/claim")
    assert r.status_code == 200 and r.json["outcome"] == "claimed"
    r = _post(client, bearer, w.token(make, b), f"/api/v1/shifts/{gap.id}/claim")
    assert r.status_code == 409 and "already been taken" in r.json["detail"]
    assert data.holder(gap.id) == a.id
    assert any("claimed" in t for t in _texts(w.coordinator))


def test_coordinator_chooses_among_ranked_volunteers(client, make, bearer):
    from rota.swaps import open_shifts

    w = data.ward(make, 3, open_shift_policy=OpenShiftPolicy.coordinator_chooses)
    busy, fresh, _ = w.staff
    gap = data.shift(w.team, starts_at=data.soon(6))
    for d in (1, 2, 3):  # `busy` already worked three shifts this period
        data.shift(w.team, starts_at=data.soon(6) - timedelta(days=d + 1), assignee=busy)
    for who in (busy, fresh):
        r = _post(client, bearer, w.token(make, who), f"/api/v1/shifts/{gap.id}/claim")
        assert r.status_code == 202 and r.json["outcome"] == "volunteered"
    assert _post(client, bearer, w.token(make, fresh), f"/api/v1/shifts/{gap.id}/claim").status_code == 409
    assert data.holder(gap.id) is None
    ranked = open_shifts.ranked_volunteers(db.session.get(Shift, gap.id))
    assert [r.volunteer.user_id for r in ranked] == [fresh.id, busy.id]
    assert ranked[1].hours == 25.5
    r = _post(client, bearer, w.token(make, fresh), f"/api/v1/shifts/{gap.id}/assign", {"user_id": fresh.id})
    assert r.status_code == 403
    r = _post(client, bearer, w.token(make, w.coordinator), f"/api/v1/shifts/{gap.id}/assign", {"user_id": fresh.id})
    assert r.status_code == 200 and data.holder(gap.id) == fresh.id
    assert any("gone to someone else" in t for t in _texts(busy))


def test_eligible_shifts_for_a_person(client, make, bearer):
    w = data.ward(make, 2)
    a, b = w.staff
    ok = data.shift(w.team, starts_at=data.soon(2))
    needs_skill = data.shift(w.team, starts_at=data.soon(3), skills=["Chemo-trained"])
    r = client.get(f"/api/v1/users/{a.id}/eligible-shifts", headers=bearer(w.token(make, a)))
    assert [i["shift"]["id"] for i in r.json["items"]] == [ok.id]
    assert needs_skill.id not in [i["shift"]["id"] for i in r.json["items"]]
    assert client.get(f"/api/v1/users/{a.id}/eligible-shifts", headers=bearer(w.token(make, b))).status_code == 404
    assert client.get(f"/api/v1/users/{a.id}/eligible-shifts",
                      headers=bearer(w.token(make, w.coordinator))).status_code == 200


def test_leave_turns_shifts_into_open_shifts_and_tells_the_coordinator(app, make, bearer, client):
    from rota import services

    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    sid = _post(client, bearer, w.token(make, a), "/api/v1/swaps",
                {"shift_id": x.id, "kind": "offer", "to_user_ids": [b.id]}).json["id"]
    day = services.local_day(x)
    _, opened = services.record_leave(a, kind=LeaveKind.sickness, first_day=day, last_day=day, actor=w.coordinator,
                                      team=w.team)
    db.session.commit()
    assert [s.id for s in opened] == [x.id] and data.holder(x.id) is None
    assert db.session.get(SwapRequest, sid).state.value == "cancelled"
    assert any("now open and need cover" in t for t in _texts(w.coordinator))
    assert any("was cancelled" in t for t in _texts(b))


@pytest.mark.parametrize("body", [
    {"shift_id": 0, "kind": "offer"}, {"shift_id": 1, "kind": "trade"}, {"kind": "offer"},
    {"shift_id": 1, "kind": "offer", "note": "x" * 201}, {"shift_id": 1, "kind": "offer", "note": "bad\x00"},
])
def test_bad_input_gets_field_errors_and_changes_nothing(client, make, bearer, body):
    w = data.ward(make, 1)
    r = _post(client, bearer, w.token(make, w.staff[0]), "/api/v1/swaps", body)
    assert r.status_code == 422 and r.mimetype == "application/problem+json" and r.json["errors"]
    assert db.session.scalar(select(SwapRequest.id)) is None


def test_a_reassignment_outside_swaps_ends_pending_requests_and_says_why(client, make, bearer):
    from rota.assignment import set_assignee

    w = data.ward(make, 3)
    a, b, c = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    sid = _post(client, bearer, w.token(make, a), "/api/v1/swaps",
                {"shift_id": x.id, "kind": "offer", "to_user_ids": [b.id]}).json["id"]
    set_assignee(db.session.get(Shift, x.id), c, actor=w.coordinator, reason="Coordinator moved it")
    db.session.commit()
    req = db.session.get(SwapRequest, sid)
    assert req.state.value == "cancelled" and "rota changed" in req.reason
    assert any("was cancelled: The rota changed" in t for t in _texts(b))
    r = _post(client, bearer, w.token(make, b), f"/api/v1/swaps/{sid}/accept")
    assert r.status_code == 409
    # The new holder can offer it at once: the old request no longer holds the shift.
    r = _post(client, bearer, w.token(make, c), "/api/v1/swaps", {"shift_id": x.id, "kind": "offer",
                                                                     "to_user_ids": [b.id]})
    assert r.status_code == 201, r.json


def test_shifts_at_the_edge_of_the_calendar_get_a_clear_answer(client, make, bearer):
    from datetime import UTC, datetime

    w = data.ward(make, 1)
    far = data.shift(w.team, starts_at=datetime(9999, 12, 31, 12, tzinfo=UTC), hours=8)
    tok = w.token(make, w.staff[0])
    r = client.get("/api/v1/open-shifts", headers=bearer(tok))
    assert r.status_code == 200 and r.json["total"] == 0
    r = _post(client, bearer, tok, f"/api/v1/shifts/{far.id}/claim")
    assert r.status_code == 422 and "two years" in r.json["detail"]
    r = _post(client, bearer, w.token(make, w.coordinator), f"/api/v1/shifts/{far.id}/assign",
              {"user_id": w.staff[0].id})
    assert r.status_code == 422
