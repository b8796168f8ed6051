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
