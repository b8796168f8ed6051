"""Race-critical guards, deterministically: the object a person acted on is stale because another session changed it
and committed in between. Each test fails on every engine (SQLite too) when its guard — the conditional update on the
shift (claim, assign, approve) or on the request (accept, approve) — is removed, unlike the concurrent tests in
test_swaps_races.py, which SQLite's one-writer-at-a-time lock settles before the guard is ever reached.

The pattern: load the object in the test's session, end that transaction without expiring it (as a page or an API
handler would hold what it read), let another connection change the row and commit, then call the service with the
stale object and expect a 409 ``Conflict`` with its explanation and the database as the other session left it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from core.db import db
from core.errors import Conflict
from rota.models import Shift, ShiftState
from rota.swaps import decisions, open_shifts
from rota.swaps import requests as swap_requests
from rota.swaps.models import OpenShiftPolicy, SwapRequest, SwapState
from tests.rota.swaps import factories as data


@pytest.fixture
def stale_session(app):
    """Commit without expiring loaded objects, so what the test loaded stays as it was read."""
    session = db.session()
    session.expire_on_commit = False
    yield
    session.expire_on_commit = True


def commit_elsewhere(*statements) -> None:
    """Another session's change, committed on its own connection while the test's objects are loaded."""
    db.session.commit()  # the test's session must not hold the write lock (SQLite: BEGIN IMMEDIATE)
    with db.engine.begin() as conn:
        for stmt in statements:
            conn.execute(stmt)


def _fresh(model, ident):
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(model, ident)


def _give(shift_id: int, user_id: int):
    return (update(Shift).where(Shift.id == shift_id)
            .values(assignee_id=user_id, state=ShiftState.scheduled.value, version=Shift.version + 1))


def test_claim_with_a_stale_open_shift_is_refused_and_keeps_the_winner(make, stale_session):
    w = data.ward(make, 2)
    a, b = w.staff
    gap = data.shift(w.team, starts_at=data.soon(3))
    seen = db.session.get(Shift, gap.id)  # a's board showed it open
    commit_elsewhere(_give(gap.id, b.id))  # b claimed it first
    with pytest.raises(Conflict) as err:
        open_shifts.claim(seen, actor=a)
    assert err.value.detail == "Too late: someone else claimed this shift a moment before you."
    assert err.value.extra["code"] == "shift_changed"
    assert _fresh(Shift, gap.id).assignee_id == b.id


def test_coordinator_assigning_a_stale_open_shift_is_refused(make, stale_session):
    w = data.ward(make, 3, open_shift_policy=OpenShiftPolicy.coordinator_chooses)
    a, b, c = w.staff
    gap = data.shift(w.team, starts_at=data.soon(3))
    seen = db.session.get(Shift, gap.id)  # the coordinator's volunteers list
    commit_elsewhere(_give(gap.id, b.id))  # another coordinator gave it to b meanwhile
    with pytest.raises(Conflict) as err:
        open_shifts.assign(seen, c, actor=w.coordinator)
    assert err.value.detail == "This shift was changed or taken a moment ago. Reload and try again."
    assert _fresh(Shift, gap.id).assignee_id == b.id


def _offer(w, giver, to):
    x = data.shift(w.team, starts_at=data.soon(3), assignee=giver)
    req = swap_requests.propose(actor=giver, shift=x, kind="offer", to_users=to)
    db.session.commit()
    return x, req


def test_accepting_a_stale_offer_someone_else_accepted_is_refused(make, stale_session):
    w = data.ward(make, 3)
    a, b, c = w.staff
    x, req = _offer(w, a, [b, c])
    seen = db.session.get(SwapRequest, req.id)  # b's page: still "proposed"
    commit_elsewhere(update(SwapRequest).where(SwapRequest.id == req.id).values(
        state=SwapState.awaiting_approval.value, accepted_by_id=c.id, version=SwapRequest.version + 1))
    with pytest.raises(Conflict) as err:
        decisions.accept(seen, actor=b)
    assert err.value.extra["code"] == "state_changed"
    assert err.value.detail == ("You cannot accept this request: it is now waiting for approval. "
                                f"{c.display_name} accepted it first.")
    fresh = _fresh(SwapRequest, req.id)
    assert fresh.accepted_by_id == c.id and fresh.state == SwapState.awaiting_approval


def _accepted_offer(w, giver, taker):
    x, req = _offer(w, giver, [taker])
    decisions.accept(req, actor=taker)
    db.session.commit()
    return x, req


def test_approving_a_stale_request_the_requester_cancelled_is_refused(make, stale_session):
    w = data.ward(make, 2)
    a, b = w.staff
    x, req = _accepted_offer(w, a, b)
    seen = db.session.get(SwapRequest, req.id)  # the approval card: "waiting for approval"
    commit_elsewhere(update(SwapRequest).where(SwapRequest.id == req.id).values(
        state=SwapState.cancelled.value, reason="Sorted it out myself", version=SwapRequest.version + 1))
    with pytest.raises(Conflict) as err:
        decisions.approve(seen, actor=w.coordinator)
    assert err.value.detail.startswith("You cannot approve this request: it is now cancelled.")
    assert _fresh(Shift, x.id).assignee_id == a.id
    assert _fresh(SwapRequest, req.id).state == SwapState.cancelled


def test_approving_after_the_shift_changed_since_the_offer_is_refused(make, stale_session):
    """The request remembers the shift's version when it was made; a coordinator moving the shift meanwhile (same
    holder, so nothing cancelled the request) makes the approval a 409, even though the shift itself loads fresh."""
    w = data.ward(make, 2)
    a, b = w.staff
    x, req = _accepted_offer(w, a, b)
    commit_elsewhere(update(Shift).where(Shift.id == x.id).values(
        starts_at=x.starts_at + (x.ends_at - x.starts_at), ends_at=x.ends_at + (x.ends_at - x.starts_at),
        version=Shift.version + 1))
    fresh_req = _fresh(SwapRequest, req.id)
    with pytest.raises(Conflict) as err:
        decisions.approve(fresh_req, actor=w.coordinator)
    assert err.value.detail == ("The rota changed since this request was made, so it cannot go ahead. "
                                "Cancel it and make a new one.")
    assert _fresh(Shift, x.id).assignee_id == a.id
    assert db.session.scalar(select(SwapRequest.state).where(SwapRequest.id == req.id)) == SwapState.awaiting_approval


@pytest.mark.parametrize("route", ["claim", "assign"])
def test_two_hca_fills_each_fine_alone_cannot_leave_a_night_short(make, stale_session, route):
    """Night needs 3 RNs: 2 RNs and two open RN places. HCA P fills one place (4 → 3 places, fine alone) while HCA Q's
    fill of the other was committed by another session after P's page loaded the slot. Filling the slot locks and
    reloads it first, so P sees Q's change and gets the cover verdict; the night keeps its last RN place."""
    from rota import services
    from rota.swaps.eligibility import to_local
    from tests.rota.swaps.test_swaps_cover import NightWard

    w = NightWard(make, nurses_on=4)
    first, second = w.nights[2], w.nights[3]
    for s in (first, second):
        services.assign(s, None, actor=w.coordinator)
    db.session.commit()
    p, q = w.hcas
    slot = f"Night {to_local(first.starts_at, w.team.timezone):%a %d %b}"
    assert (first.state, second.state) == (ShiftState.open, ShiftState.open)  # what P's page (and session) holds
    commit_elsewhere(_give(second.id, q.id))
    with pytest.raises(Exception) as err:
        if route == "claim":
            open_shifts.claim(first, actor=p)
        else:
            open_shifts.assign(first, p, actor=w.coordinator)
    assert f"{slot} would have 2 of 3 registered nurses" in err.value.detail
    assert _fresh(Shift, first.id).state == ShiftState.open
