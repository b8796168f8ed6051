"""The demo's staff requests: made through the services on Ward 7B, once."""

from __future__ import annotations

from sqlalchemy import func, select

from core.db import db
from rota import demo
from rota.requests import demo as requests_demo
from rota.requests.models import LeaveRequest, RequestWindow, RotaRequest, StaffPreference


def test_demo_has_a_request_window_with_requests_and_leave_requests_and_seeds_once(app):
    demo.seed_people_and_teams()
    demo.seed_rota(weeks=3)
    assert requests_demo.seed_requests()
    db.session.commit()
    states = sorted(r.state.value for r in db.session.scalars(select(LeaveRequest)))
    assert states == ["approved", "pending"]
    assert db.session.scalar(select(func.count()).select_from(RequestWindow)) == 1
    assert db.session.scalar(select(func.count()).select_from(RotaRequest)) >= 2
    assert db.session.scalar(select(func.count()).select_from(StaffPreference)) >= 2
    assert requests_demo.seed_requests() == []
