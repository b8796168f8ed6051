"""#15 coordinator home: "Waiting for you" counts the swaps to approve and the open shifts with volunteers, and leads
to the approvals queue."""

from __future__ import annotations

import re

from core.db import db
from rota.swaps import decisions, open_shifts
from rota.swaps import requests as swap_requests
from rota.swaps.models import ApprovalPolicy, OpenShiftPolicy
from tests.conftest import login
from tests.rota.swaps import factories as data


def _waiting(page: str) -> str:
    m = re.search(r'data-testid="home-approvals">(.*?)</li>', page, re.S)
    assert m, "no 'Waiting for you' line on Home"
    return re.sub(r"<[^>]+>", "", m.group(1)).strip()


def test_home_counts_approvals_and_volunteers_and_links_to_the_queue(make, client):
    w = data.ward(make, 2, approval_policy=ApprovalPolicy.always,
                  open_shift_policy=OpenShiftPolicy.coordinator_chooses)
    a, b = w.staff
    early = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    req = swap_requests.propose(actor=a, shift=early, kind="offer", to_users=[b])
    decisions.accept(req, actor=b)
    gap = data.shift(w.team, starts_at=data.soon(4))
    open_shifts.claim(gap, actor=b)
    db.session.commit()
    login(client, w.coordinator)
    page = client.get("/").get_data(as_text=True)
    assert _waiting(page) == "1 request(s) to approve, 1 open shift(s) with volunteers"
    assert 'data-testid="home-approvals"><a href="/approvals"' in page
