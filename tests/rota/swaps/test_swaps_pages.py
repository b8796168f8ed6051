"""The swap pages: wizards list only allowed colleagues/shifts, requests, open shifts board, approvals queue."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.db import db
from rota.models import Leave, LeaveKind
from rota.swaps.models import OpenShiftPolicy, SwapRequest
from tests.conftest import login
from tests.rota.swaps import factories as data


def signed_in(app, user):
    """A browser of one's own per person (signing in again in one browser keeps the first session)."""
    c = app.test_client()
    login(c, user)
    return c


def test_offer_wizard_lists_only_colleagues_who_could_take_it(app, make):
    w = data.ward(make, 3)
    a, ok, away = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a, skills=["IV-trained"])
    db.session.add(Leave(user_id=away.id, kind=LeaveKind.annual, first_day=x.starts_at.date(),
                         last_day=x.starts_at.date()))
    db.session.commit()
    client = signed_in(app, a)
    page = client.get(f"/shifts/{x.id}/offer").get_data(as_text=True)
    assert ok.display_name in page and away.display_name not in page
    assert w.coordinator.display_name not in page  # no IV-trained skill recorded
    r = client.post(f"/shifts/{x.id}/offer", data={"to": "chosen", "user_ids": [ok.id], "note": ""})
    assert r.status_code == 302
    req = db.session.scalar(select(SwapRequest))
    assert [rc.user_id for rc in req.recipients] == [ok.id]
    assert client.get(r.headers["Location"]).status_code == 200


def test_offer_wizard_explains_what_went_wrong(app, make):
    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    client = signed_in(app, a)
    r = client.post(f"/shifts/{x.id}/offer", data={"to": "chosen"})
    assert r.status_code == 422 and "Tick at least one colleague" in r.get_data(as_text=True)
    assert db.session.scalar(select(SwapRequest.id)) is None
    client = signed_in(app, b)
    assert client.get(f"/shifts/{x.id}/offer").status_code == 403  # not B's shift


def test_swap_wizard_lists_only_shifts_both_could_work(app, make):
    w = data.ward(make, 3)
    a, b, c = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    good = data.shift(w.team, starts_at=data.soon(5), assignee=b)
    clash = data.shift(w.team, starts_at=data.soon(6), assignee=c)
    data.shift(w.team, starts_at=clash.starts_at + timedelta(hours=1), hours=4, assignee=a)  # A is busy then
    client = signed_in(app, a)
    page = client.get(f"/shifts/{x.id}/swap").get_data(as_text=True)
    assert f'data-testid="candidate-{good.id}"' in page
    assert f'data-testid="candidate-{clash.id}"' not in page
    r = client.post(f"/shifts/{x.id}/swap", data={"counterpart_shift_id": good.id})
    assert r.status_code == 302
    req = db.session.scalar(select(SwapRequest))
    assert req.counterpart_shift_id == good.id and req.kind.value == "swap"


def test_requests_page_accept_and_coordinator_approval_queue(app, make):
    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    client = signed_in(app, a)
    client.post(f"/shifts/{x.id}/offer", data={"to": "everyone"})
    req = db.session.scalar(select(SwapRequest))
    client = signed_in(app, b)
    page = client.get("/swaps").get_data(as_text=True)
    assert f'data-testid="request-{req.id}"' in page
    client.post(f"/swaps/{req.id}/accept")
    client = signed_in(app, w.coordinator)
    page = client.get("/approvals").get_data(as_text=True)
    assert f'data-testid="approval-{req.id}"' in page and "Allowed, no warnings" in page
    r = client.post(f"/swaps/{req.id}/refuse", data={"reason": ""})
    assert r.status_code == 302 and data.holder(x.id) == a.id  # a reason is required: nothing changed
    r = client.post(f"/swaps/{req.id}/approve", data={"note": ""})
    assert r.status_code == 302 and data.holder(x.id) == b.id
    client = signed_in(app, b)
    assert client.get("/approvals").status_code == 403


def test_open_shifts_board_claim_and_volunteer(app, make):
    w = data.ward(make, 2)
    a, b = w.staff
    gap = data.shift(w.team, starts_at=data.soon(2))
    client = signed_in(app, a)
    page = client.get("/open-shifts").get_data(as_text=True)
    assert f'data-testid="claim-{gap.id}"' in page and "I&#39;ll take it" in page
    client.post(f"/shifts/{gap.id}/claim")
    assert data.holder(gap.id) == a.id
    client = signed_in(app, b)
    r = client.post(f"/shifts/{gap.id}/claim")
    assert "already been taken" in client.get(r.headers["Location"]).get_data(as_text=True)

    data.settings(w.team, open_shift_policy=OpenShiftPolicy.coordinator_chooses)
    gap2 = data.shift(w.team, starts_at=data.soon(5))
    client.post(f"/shifts/{gap2.id}/claim")
    client = signed_in(app, w.coordinator)
    page = client.get("/approvals").get_data(as_text=True)
    assert f'data-testid="assign-{gap2.id}-{b.id}"' in page
    client.post(f"/shifts/{gap2.id}/assign", data={"user_id": b.id})
    assert data.holder(gap2.id) == b.id


def test_the_shift_page_offers_swap_offer_and_cant_make_it_to_its_holder_only(app, make):
    """The shift's page shows the buttons My shifts shows below the card (one writer for both), to its holder."""
    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    db.session.commit()
    mine = signed_in(app, a).get(f"/shifts/{x.id}").get_data(as_text=True)
    for testid in (f"swap-{x.id}", f"offer-{x.id}", f"cant-make-it-{x.id}"):
        assert f'data-testid="{testid}"' in mine
    theirs = signed_in(app, b).get(f"/shifts/{x.id}")
    assert theirs.status_code == 200 and f'data-testid="shift-actions-{x.id}"' not in theirs.get_data(as_text=True)


def test_settings_page_for_coordinators_only(app, make):
    w = data.ward(make, 1)
    client = signed_in(app, w.staff[0])
    assert client.get(f"/teams/{w.team.id}/swap-settings").status_code == 403
    client = signed_in(app, w.coordinator)
    r = client.post(f"/teams/{w.team.id}/swap-settings", data={
        "approval_policy": "auto_when_clean", "open_shift_policy": "coordinator_chooses", "cutoff_hours": 24,
        "expiry_hours": 48})
    assert r.status_code == 302
    from rota.swaps import shared

    s = shared.settings_for(w.team.id)
    assert s.approval_policy.value == "auto_when_clean" and s.cutoff_hours == 24
    r = client.post(f"/teams/{w.team.id}/swap-settings", data={
        "approval_policy": "auto_when_clean", "open_shift_policy": "coordinator_chooses", "cutoff_hours": 9999,
        "expiry_hours": 48})
    assert r.status_code == 422
