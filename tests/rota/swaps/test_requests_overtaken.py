"""#15: a swap or offer that became impossible says why in plain words and the requester is told (in-app, audited).
Here: the coordinator moves the shift's times while an offer of it is pending (its holder stays the same, so the
"changed hands" hook never ran): the offer ends at once, not when someone next tries to act on it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db
from notifications.models import Notification
from rota import services
from rota.swaps import requests as swap_requests
from rota.swaps.models import SwapState
from tests.conftest import login
from tests.rota.swaps import factories as data


def test_moving_the_shift_of_a_pending_offer_ends_it_and_tells_the_requester_why(make, client):
    w = data.ward(make, 2)
    a, b = w.staff
    early = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    req = swap_requests.propose(actor=a, shift=early, kind="offer", to_users=[b])
    db.session.commit()
    services.edit_shift(early, actor=w.coordinator, starts_at=early.starts_at + timedelta(hours=6))
    db.session.commit()
    db.session.refresh(req)
    assert req.state == SwapState.cancelled
    assert req.reason.startswith("The rota changed: the coordinator moved Early") and "to " in req.reason
    told = db.session.scalars(select(Notification).where(Notification.user_id == a.id,
                                                         Notification.kind == "swap.cancelled")).all()
    assert len(told) == 1 and "was cancelled: The rota changed: the coordinator moved" in told[0].text
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "swap.cancelled")).one()
    assert entry.summary["rota_changed"] is True
    login(client, a)  # her Requests page says why, in the same words
    page = client.get("/swaps").get_data(as_text=True)
    assert "Reason: The rota changed: the coordinator moved Early" in page


def test_editing_only_the_note_leaves_the_offer_alone(make):
    w = data.ward(make, 2)
    a, b = w.staff
    early = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    req = swap_requests.propose(actor=a, shift=early, kind="offer", to_users=[b])
    db.session.commit()
    services.edit_shift(early, actor=w.coordinator, note="Bay 2 lead")
    db.session.commit()
    db.session.refresh(req)
    assert req.pending and req.state == SwapState.proposed
