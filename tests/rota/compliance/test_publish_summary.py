"""Publishing shows a summary first and refuses an empty period without a second confirmation (issue #15)."""

from __future__ import annotations

from datetime import date, timedelta

from core.db import db
from rota import services
from rota.models import PeriodState, RotaPeriod
from tests.conftest import login
from tests.rota.swaps import factories as data


def _period(make, with_shift=True):
    w = data.ward(make, 2)
    first = date.today() + timedelta(days=14)
    period = services.create_period(w.team, first_day=first, last_day=first + timedelta(days=6), actor=w.coordinator)
    if with_shift:
        services.add_shift(w.team, actor=w.coordinator, shift_type=data.shift_type(w.team), day=first,
                           assignee=w.staff[0])
    db.session.commit()
    return w, period


def test_summary_names_the_shifts_and_each_persons_hours_before_publishing(client, make):
    w, period = _period(make)
    login(client, w.coordinator)
    page = client.get(f"/teams/{w.team.id}/rota/periods/{period.id}/publish").get_data(as_text=True)
    assert 'data-testid="publish-shifts">1<' in page and "Nurse A" in page and "8.5" in page
    assert db.session.get(RotaPeriod, period.id).state == PeriodState.draft  # looking publishes nothing
    resp = client.post(f"/teams/{w.team.id}/rota/periods/{period.id}/publish", data={})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(RotaPeriod, period.id).state == PeriodState.published


def test_an_empty_period_needs_a_second_confirmation(client, make):
    w, period = _period(make, with_shift=False)
    login(client, w.coordinator)
    url = f"/teams/{w.team.id}/rota/periods/{period.id}/publish"
    assert 'data-testid="confirm-empty"' in client.get(url).get_data(as_text=True)
    resp = client.post(url, data={})
    assert resp.status_code == 422 and "no shifts" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(RotaPeriod, period.id).state == PeriodState.draft
    assert client.post(url, data={"confirm_empty": "yes"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(RotaPeriod, period.id).state == PeriodState.published


def test_summary_counts_the_open_shifts_and_the_places_still_needed(client, make):
    """The gaps part of the summary: an open shift nobody is on yet, and a staffing requirement still short."""
    w, period = _period(make)
    st = data.shift_type(w.team)
    services.create_requirement(w.team, shift_type=st, min_count=3, weekday=period.first_day.weekday(),
                                actor=w.coordinator)
    services.add_shift(w.team, actor=w.coordinator, shift_type=st, day=period.first_day)  # open, for anyone
    db.session.commit()
    login(client, w.coordinator)
    page = client.get(f"/teams/{w.team.id}/rota/periods/{period.id}/publish").get_data(as_text=True)
    assert 'data-testid="publish-shifts">2<' in page and "<strong>1</strong> open" in page
    assert 'data-testid="publish-missing">2<' in page  # 3 needed, Nurse A on it, the open shift is nobody's place
