"""Gaps on the team grid (issue #15): nothing can be opened for a day that has passed — the grid offers no button
there, and the service refuses with a message that says why, changing nothing."""

from datetime import time, timedelta

import pytest
from sqlalchemy import func, select

from core import timeutil
from core.db import db, now_utc
from core.errors import RuleViolation
from rota import services
from rota.models import Shift
from tests.conftest import login
from tests.factories import ward


def _shifts() -> int:
    return db.session.scalar(select(func.count()).select_from(Shift))


def _ward_with_a_requirement(make):
    team, coord, staff, types = ward(make)
    req = services.create_requirement(team, shift_type=types["E"], min_count=1, actor=coord)
    db.session.commit()
    return team, coord, req


def test_a_gap_on_a_past_day_cannot_be_opened(make):
    team, coord, req = _ward_with_a_requirement(make)
    yesterday = timeutil.local_date(now_utc(), team.timezone) - timedelta(days=1)
    before = _shifts()
    with pytest.raises(RuleViolation) as refused:
        services.open_gap(team, requirement=req, day=yesterday, actor=coord)
    db.session.rollback()
    assert "already started" in refused.value.detail and refused.value.extra["code"] == "started"
    assert _shifts() == before


def test_the_grid_offers_open_shift_only_for_days_to_come_and_a_forged_post_is_refused(client, make):
    team, coord, req = _ward_with_a_requirement(make)
    today = timeutil.local_date(now_utc(), team.timezone)
    monday = today - timedelta(days=today.weekday())
    login(client, coord)
    page = client.get(f"/teams/{team.id}/rota?days=14&start={monday.isoformat()}").get_data(as_text=True)
    cover = page[page.index('data-testid="coverage-row"'):]
    days = cover.split('data-testid="coverage"')[1:]
    for i, cell in enumerate(days):
        day = monday + timedelta(days=i)
        start = timeutil.shift_instants(day, req.shift_type.start_local, req.shift_type.duration_minutes,
                                        team.timezone)[0]
        assert ('data-testid="open-gap"' in cell) == (start > now_utc()), day
    yesterday = today - timedelta(days=1)
    before = _shifts()
    r = client.post(f"/teams/{team.id}/gaps/open", data={"requirement_id": req.id, "day": yesterday.isoformat()})
    assert r.status_code == 302
    shown = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "already started" in shown
    assert _shifts() == before


def test_no_open_shift_button_for_today_s_gap_whose_shift_has_started(client, make):
    """A shift type that starts at midnight: today's shift has started, so today's gap offers no "Open shift" button
    while tomorrow's does (the button follows the shift's start, not the day)."""
    w = ward(make)
    early = services.create_shift_type(w.team, actor=w.coordinator, code="M", name="Midnight", start_local=time(0),
                                       duration_minutes=480)
    services.create_requirement(w.team, shift_type=early, min_count=1, actor=w.coordinator)
    db.session.commit()
    login(client, w.coordinator)
    for _ in range(2):  # asked again if the local midnight passed during the request (tomorrow's shift then started)
        today = timeutil.local_date(now_utc(), w.team.timezone)
        page = client.get(f"/teams/{w.team.id}/rota?days=14&start={today.isoformat()}").get_data(as_text=True)
        if timeutil.local_date(now_utc(), w.team.timezone) == today:
            break
    cover = page[page.index('data-testid="coverage-row"'):]
    cells = {c[c.index('data-day="') + 10:][:10]: c for c in cover.split('data-testid="coverage"')[1:]}
    today_cell, tomorrow_cell = cells[today.isoformat()], cells[(today + timedelta(days=1)).isoformat()]
    assert "M: 0/1" in today_cell and 'data-testid="open-gap"' not in today_cell
    assert "M: 0/1" in tomorrow_cell and 'data-testid="open-gap"' in tomorrow_cell
