"""One set of limits: the what-if (compliance check) API and the rota answer alike at every boundary.

The longest shift was 24 h in the rota but 48 h in the what-if API, so a coordinator could be told a shift was
fine that the rota then refused. Each limit is defined once in ``core/limits.py``; these tests send the values
either side of each boundary to every entry point that enforces it and require the same answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core import limits
from tests.factories import ward

START = datetime.fromisoformat("2026-06-02T07:00:00+01:00")
MINUTE = timedelta(minutes=1)
LENGTHS = [MINUTE, limits.MAX_SHIFT - MINUTE, limits.MAX_SHIFT, limits.MAX_SHIFT + MINUTE,
           timedelta(hours=48), timedelta(hours=48) + MINUTE, timedelta(0), -MINUTE]


@pytest.mark.parametrize("length", LENGTHS, ids=lambda d: f"{d.total_seconds() / 3600:g}h")
def test_what_if_and_rota_agree_on_shift_length(client, make, bearer, length):
    team, coord, staff, _ = ward(make, nurses=1)
    headers = bearer(make.token(coord))
    times = {"starts_at": START.isoformat(), "ends_at": (START + length).isoformat()}
    what_if = client.post("/api/v1/compliance/check", headers=headers,
                          json={"user_id": staff[0].id, "add": [{**times, "team_id": team.id}]})
    rota = client.post("/api/v1/shifts", headers=headers, json={"team_id": team.id, **times})
    assert what_if.status_code in (200, 422) and rota.status_code in (201, 422)
    allowed = timedelta(0) < length <= limits.MAX_SHIFT
    assert (what_if.status_code == 200) == allowed, what_if.get_json()
    assert (rota.status_code == 201) == allowed, rota.get_json()
    if not allowed:
        assert what_if.get_json()["detail"] == rota.get_json()["detail"]


@pytest.mark.parametrize("minutes", [limits.MAX_SHIFT_MINUTES, limits.MAX_SHIFT_MINUTES + 1])
def test_a_shift_type_is_never_longer_than_a_shift(client, make, bearer, minutes):
    team, coord, _, _ = ward(make, nurses=0)
    resp = client.post(f"/api/v1/teams/{team.id}/shift-types", headers=bearer(make.token(coord)),
                       json={"code": "LONG", "name": "Long", "start_local": "07:00", "duration_minutes": minutes})
    assert resp.status_code == (201 if minutes <= limits.MAX_SHIFT_MINUTES else 422), resp.get_json()


@pytest.mark.parametrize("hours", [limits.MAX_SHIFT_HOURS, limits.MAX_SHIFT_HOURS + 1])
def test_a_team_cannot_allow_shifts_longer_than_the_rota_stores(client, make, bearer, hours):
    team, coord, _, _ = ward(make, nurses=0)
    resp = client.put(f"/api/v1/teams/{team.id}/compliance-settings", headers=bearer(make.token(coord)),
                      json={"extra_rules": [{"id": "LOCAL-max", "check": "max_shift_length", "max_hours": hours}]})
    assert (resp.status_code == 200) == (hours <= limits.MAX_SHIFT_HOURS), resp.get_json()


def _edges(bounds):
    lo, hi = bounds
    return [(lo - 1, False), (lo, True), (hi, True), (hi + 1, False)]


@pytest.mark.parametrize(("minutes", "ok"), _edges(limits.LADDER_STEP_MINUTES))
def test_ladder_api_and_screen_agree_on_step_minutes(app, client, make, bearer, minutes, ok):
    from tests.conftest import login

    team, coord, _, _ = ward(make, nurses=0)
    api = client.put(f"/api/v1/teams/{team.id}/escalation-policy", headers=bearer(make.token(coord)),
                     json={"steps": [{"after_minutes": minutes, "audience": "coordinators"}]})
    assert api.status_code == (200 if ok else 422), api.get_json()
    browser = app.test_client()
    login(browser, coord)
    page = browser.post(f"/teams/{team.id}/escalation", data={
        "action": "save", "steps-0-after_minutes": str(minutes), "steps-0-audience": "coordinators"})
    assert page.status_code == (200 if ok else 422)
    assert f"From {limits.LADDER_STEP_MINUTES[0]} to {limits.LADDER_STEP_MINUTES[1]}" in page.get_data(as_text=True)


@pytest.mark.parametrize("field", ["cutoff_hours", "expiry_hours"])
def test_swap_settings_screen_and_database_agree(app, make, field):
    from sqlalchemy.exc import IntegrityError

    from core.db import db
    from rota.swaps import shared
    from tests.conftest import login

    team, coord, _, _ = ward(make, nurses=0)
    browser = app.test_client()
    login(browser, coord)
    bounds = limits.SWAP_CUTOFF_HOURS if field == "cutoff_hours" else limits.SWAP_EXPIRY_HOURS
    for value, ok in _edges(bounds):
        form = {"approval_policy": "always", "open_shift_policy": "first_claim_wins", "cutoff_hours": 12,
                "expiry_hours": 72, field: value}
        assert browser.post(f"/teams/{team.id}/swap-settings", data=form).status_code == (302 if ok else 422)
        row = shared.settings_for(team.id)
        setattr(row, field, value)
        db.session.add(row)
        if ok:
            db.session.commit()
        else:
            with pytest.raises(IntegrityError):
                db.session.commit()
            db.session.rollback()
