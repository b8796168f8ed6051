"""Requests expire without anyone running cron: `swaps.expire` is a periodic task the notifications worker runs
(`flask swaps expire` still works)."""

from __future__ import annotations

from datetime import timedelta

from core.db import db, now_utc
from notifications import worker
from notifications.models import Notification
from rota.swaps import requests as swap_requests
from rota.swaps.models import SwapKind, SwapRequest, SwapState
from tests.rota.swaps import factories as data


def _stale_offer(make):
    w = data.ward(make, 2)
    giver, taker = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=giver)
    # Made four days ago with the default 72 h expiry: its time ran out yesterday, nobody has looked since.
    req = swap_requests.propose(actor=giver, shift=x, kind=SwapKind.offer, to_users=[taker],
                                now=now_utc() - timedelta(days=4))
    db.session.commit()
    assert req.state == SwapState.proposed
    return req, giver


def test_the_worker_expires_requests_through_the_registered_task(app, make):
    assert ("swaps.expire", swap_requests.expire_due) in app.extensions["periodic_tasks"]
    req, giver = _stale_offer(make)
    stats = worker.run(once=True)
    assert stats.periodic_runs.get("swaps.expire") == 1 and not stats.periodic_failures
    db.session.expire_all()
    assert db.session.get(SwapRequest, req.id).state == SwapState.expired
    texts = [n.text for n in db.session.scalars(db.select(Notification).where(Notification.user_id == giver.id))]
    assert any("expired without being completed" in t for t in texts)
    # The shift is free for a new request again (its lock was released).
    assert swap_requests.propose(actor=giver, shift=req.shift, kind=SwapKind.offer, to_users=[req.recipients[0].user])


def test_the_cli_still_expires(app, make, runner):
    req, _ = _stale_offer(make)
    result = runner.invoke(args=["swaps", "expire"])
    assert result.exit_code == 0 and "1 request(s) expired." in result.output
    db.session.expire_all()
    assert db.session.get(SwapRequest, req.id).state == SwapState.expired
