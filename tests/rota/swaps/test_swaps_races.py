"""Races through real concurrent HTTP requests (threads against the live server, one bearer token each).

Exactly one outcome wins, the others get 409 with an explanation, nobody is double-booked, and SQLite queues its
writers instead of answering 500 "database is locked". Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests
from sqlalchemy import select

from core.db import db
from rota.models import Shift, ShiftRelease
from rota.swaps.models import SwapRequest, SwapState
from tests.rota.swaps import factories as data


def race(base_url: str, calls: list[tuple[str, str, dict | None]]) -> list[tuple[int, dict]]:
    """Fire every (path, token, json) POST at the same moment; return (status, body) in call order."""
    # End the test's own transaction first: on SQLite every transaction holds the write lock (BEGIN IMMEDIATE).
    db.session.commit()
    barrier = threading.Barrier(len(calls))

    def one(call):
        path, token, body = call
        barrier.wait()
        r = requests.post(base_url + path, json=body or {}, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        return r.status_code, (r.json() if r.content else {})

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def statuses(results) -> list[int]:
    return sorted(s for s, _ in results)


def test_fifty_people_claim_one_open_shift_and_exactly_one_wins(live_server, make):
    w = data.ward(make, 50)
    gap = data.shift(w.team, starts_at=data.soon(2))
    tokens = {u.id: w.token(make, u) for u in w.staff}
    results = race(live_server.url, [(f"/api/v1/shifts/{gap.id}/claim", t, None) for t in tokens.values()])
    assert statuses(results) == [200] + [409] * 49, statuses(results)
    winner = next(body for status, body in results if status == 200)
    assert winner["outcome"] == "claimed"
    for status, body in results:
        if status == 409:
            assert "someone else" in body["detail"] or "already been taken" in body["detail"], body
    db.session.expire_all()
    held = db.session.get(Shift, gap.id)
    assert held.state.value == "scheduled" and held.assignee_id in tokens
    assert held.version == winner["shift"]["version"]
    assert data.count_overlaps() == 0


def test_two_colleagues_accept_the_same_offer_at_once(live_server, make, client, bearer):
    w = data.ward(make, 3)
    a, b, c = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    sid = client.post("/api/v1/swaps", json={"shift_id": x.id, "kind": "offer", "to_user_ids": [b.id, c.id]},
                      headers=bearer(w.token(make, a))).json["id"]
    tb, tc = w.token(make, b), w.token(make, c)
    results = race(live_server.url, [(f"/api/v1/swaps/{sid}/accept", tb, None),
                                     (f"/api/v1/swaps/{sid}/accept", tc, None)])
    assert statuses(results) == [200, 409], results
    loser = next(body for status, body in results if status == 409)
    assert "accepted it first" in loser["detail"]
    db.session.expire_all()
    req = db.session.get(SwapRequest, sid)
    winner_id = b.id if results[0][0] == 200 else c.id
    assert req.state == SwapState.awaiting_approval and req.accepted_by_id == winner_id


def test_approval_racing_cancellation_has_one_outcome(live_server, make, client, bearer):
    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    ta, tb, tco = w.token(make, a), w.token(make, b), w.token(make, w.coordinator)
    sid = client.post("/api/v1/swaps", json={"shift_id": x.id, "kind": "offer", "to_user_ids": [b.id]},
                      headers=bearer(ta)).json["id"]
    assert client.post(f"/api/v1/swaps/{sid}/accept", headers=bearer(tb)).status_code == 200
    results = race(live_server.url, [(f"/api/v1/swaps/{sid}/approve", tco, None),
                                     (f"/api/v1/swaps/{sid}/cancel", ta, {"reason": "Changed my mind"})])
    assert statuses(results) == [200, 409], results
    db.session.expire_all()
    req = db.session.get(SwapRequest, sid)
    releases = db.session.scalars(select(ShiftRelease).where(ShiftRelease.shift_id == x.id)).all()
    if results[0][0] == 200:  # approval won: B works it, and the cancel was told why it was too late
        assert req.state == SwapState.approved and data.holder(x.id) == b.id and len(releases) == 1
        assert "approved" in results[1][1]["detail"]
    else:
        assert req.state == SwapState.cancelled and data.holder(x.id) == a.id and releases == []
        assert "cancelled" in results[0][1]["detail"]


def test_two_approvals_that_would_double_book_one_person(live_server, make, client, bearer):
    """B accepted two offers for overlapping shifts; two coordinators approve both at once: only one can stand."""
    w = data.ward(make, 3)
    a, b, c = w.staff
    second = make.user(display_name="Second Coordinator", grade="Band 7")
    from core.accounts import TeamRole, add_member

    add_member(w.team, second, TeamRole.coordinator)
    db.session.commit()
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    z = data.shift(w.team, starts_at=data.soon(3) + timedelta(hours=2), assignee=c)
    tb = w.token(make, b)
    ids = []
    for shift, giver in ((x, a), (z, c)):
        sid = client.post("/api/v1/swaps", json={"shift_id": shift.id, "kind": "offer", "to_user_ids": [b.id]},
                          headers=bearer(w.token(make, giver))).json["id"]
        ids.append(sid)
    assert client.post(f"/api/v1/swaps/{ids[0]}/accept", headers=bearer(tb)).status_code == 200
    # Accepting the second is allowed: B holds neither shift yet, so nothing overlaps until an approval.
    r = client.post(f"/api/v1/swaps/{ids[1]}/accept", headers=bearer(tb))
    assert r.status_code == 200, r.json
    results = race(live_server.url, [(f"/api/v1/swaps/{ids[0]}/approve", w.token(make, w.coordinator), None),
                                     (f"/api/v1/swaps/{ids[1]}/approve", w.token(make, second), None)])
    assert statuses(results) == [200, 409], results
    loser = next(body for status, body in results if status == 409)
    assert "already" in loser["detail"] or "overlap" in loser["detail"] or "at the same time" in loser["detail"], loser
    assert data.count_overlaps() == 0


def test_two_approvals_in_one_night_that_together_would_break_cover(live_server, make, client, bearer):
    """Four RNs on a night that needs three; two of them gave their night to HCAs, each fine alone. Approved at the
    same moment, only one can stand: the other gets the cover verdict (PostgreSQL: the slot is locked, no write
    skew)."""
    from tests.rota.swaps.test_swaps_cover import NightWard

    w = NightWard(make, nurses_on=4)
    ids = []
    for giver_shift, hca in zip(w.nights[:2], w.hcas, strict=True):
        r = client.post("/api/v1/swaps", json={"shift_id": giver_shift.id, "kind": "offer", "to_user_ids": [hca.id]},
                        headers=bearer(make.token(giver_shift.assignee)))
        assert r.status_code == 201, r.json
        assert client.post(f"/api/v1/swaps/{r.json['id']}/accept", headers=bearer(make.token(hca))).status_code == 200
        ids.append(r.json["id"])
    token = make.token(w.coordinator)
    results = race(live_server.url, [(f"/api/v1/swaps/{i}/approve", token, None) for i in ids])
    assert statuses(results) == [200, 422], results
    loser = next(body for status, body in results if status == 422)
    assert f"{w.slot} would have 2 of 3 registered nurses" in loser["detail"], loser
    db.session.expire_all()
    assert sum(1 for n in w.nights if db.session.get(Shift, n.id).assignee.staff_group.value == "nursing") == 3


def test_two_hca_claims_in_one_night_that_together_would_break_cover(live_server, make, client, bearer):
    """Two RNs and two open RN places on a night that needs three RNs; two HCAs claim one place each at the same
    moment, each fine alone. Only one can stand: the other gets the cover verdict (PostgreSQL: claims lock the slot
    before checking its cover)."""
    from rota import services
    from tests.rota.swaps.test_swaps_cover import NightWard

    w = NightWard(make, nurses_on=4)
    gaps = w.nights[2:]
    for s in gaps:
        services.assign(s, None, actor=w.coordinator)
    db.session.commit()
    results = race(live_server.url, [(f"/api/v1/shifts/{g.id}/claim", make.token(hca), None)
                                     for g, hca in zip(gaps, w.hcas, strict=True)])
    assert statuses(results) == [200, 422], results
    loser = next(body for status, body in results if status == 422)
    assert f"{w.slot} would have 2 of 3 registered nurses" in loser["detail"], loser
    db.session.expire_all()
    assert sum(1 for g in gaps if db.session.get(Shift, g.id).assignee_id is None) == 1


def test_many_offers_and_claims_at_once_never_give_a_500(live_server, make, client, bearer):
    """A burst of mixed writers (SQLite must queue them, PostgreSQL must lock rows): no 5xx, no double booking."""
    w = data.ward(make, 12)
    givers, takers = w.staff[:6], w.staff[6:]
    calls = []
    for i, (giver, taker) in enumerate(zip(givers, takers, strict=True)):
        s = data.shift(w.team, starts_at=data.soon(3 + i), assignee=giver)
        calls.append(("/api/v1/swaps", w.token(make, giver), {"shift_id": s.id, "kind": "offer",
                                                              "to_user_ids": [taker.id]}))
        gap = data.shift(w.team, starts_at=data.soon(20 + i))
        calls.append((f"/api/v1/shifts/{gap.id}/claim", w.token(make, taker), None))
        calls.append((f"/api/v1/shifts/{gap.id}/claim", w.token(make, givers[(i + 1) % 6]), None))
    results = race(live_server.url, calls)
    assert all(status < 500 for status, _ in results), results
    assert sum(1 for s, _ in results if s == 201) == 6
    assert sum(1 for s, _ in results if s == 200) == 6 and sum(1 for s, _ in results if s == 409) == 6
    assert data.count_overlaps() == 0
