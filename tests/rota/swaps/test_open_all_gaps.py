"""Issue #15: "Open all gaps" for a day or a week on the team grid — a confirmation that lists what will be opened,
then every missing place still to come becomes an open shift (each audited) and ONE message asks everyone eligible;
a double tap opens and sends nothing more; days gone by are left alone; only coordinators may."""

from datetime import timedelta

from sqlalchemy import func, select

from core import timeutil
from core.audit import AuditEntry
from core.db import db, now_utc
from notifications.models import Broadcast
from rota import services
from rota.models import Shift, ShiftState
from tests.conftest import login
from tests.factories import ward


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _ward(make):
    team, coord, staff, types = ward(make, nurses=4)
    services.create_requirement(team, shift_type=types["E"], min_count=2, staff_group="nursing", actor=coord)
    db.session.commit()
    today = timeutil.local_date(now_utc(), team.timezone)
    return team, coord, staff, types, today + timedelta(days=7 - today.weekday())


def test_a_week_opens_after_a_confirmation_with_one_message_and_a_double_tap_changes_nothing(client, make):
    team, coord, staff, types, monday = _ward(make)
    services.add_shift(team, actor=coord, shift_type=types["E"], day=monday, assignee=staff[0])  # Monday: 1 of 2
    db.session.commit()
    login(client, coord)
    grid = client.get(f"/teams/{team.id}/rota?start={monday.isoformat()}").get_data(as_text=True)
    assert 'data-testid="open-all-week"' in grid and "(13)" in grid
    before = _count(Shift)
    week = {"first": monday.isoformat(), "last": (monday + timedelta(days=6)).isoformat(), "days": "7"}
    confirm = client.get(f"/teams/{team.id}/gaps/open-all", query_string=week).get_data(as_text=True)
    assert confirm.count('data-testid="gap-to-open"') == 7 and "Open 13 shifts and ask for cover" in confirm
    assert "1 open shift for 2 RN (has 1 of 2)" in confirm
    assert _count(Shift) == before  # looking changes nothing

    done = client.post(f"/teams/{team.id}/gaps/open-all", data=week)
    assert done.status_code == 302 and f"start={monday.isoformat()}" in done.headers["Location"]
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Opened 13 shifts and asked" in page and "in one message" in page
    assert _count(Shift, Shift.state == ShiftState.open) == 13
    assert _count(Broadcast) == 1
    b = db.session.scalar(select(Broadcast))
    assert b.audience == "eligible_for_any_shift" and len(b.audience_params["shift_ids"]) == 13
    assert b.text.startswith(f"13 open shifts on {team.name}: Early") and "and 8 more" in b.text
    assert _count(AuditEntry, AuditEntry.action == "gap.opened") == 13
    assert _count(AuditEntry, AuditEntry.action == "gaps.opened_all") == 1
    assert 'data-testid="open-all-week"' not in page

    again = client.post(f"/teams/{team.id}/gaps/open-all", data=week)  # the double tap
    assert "Nothing to open" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert _count(Shift, Shift.state == ShiftState.open) == 13 and _count(Broadcast) == 1


def test_a_day_opens_only_that_day_and_days_gone_by_are_left_alone(client, make):
    team, coord, staff, types, monday = _ward(make)
    login(client, coord)
    wednesday = (monday + timedelta(days=2)).isoformat()
    grid = client.get(f"/teams/{team.id}/rota?start={monday.isoformat()}").get_data(as_text=True)
    assert grid.count('data-testid="open-all-day"') == 7
    r = client.post(f"/teams/{team.id}/gaps/open-all", data={"first": wednesday, "last": wednesday, "days": "7"})
    assert r.status_code == 302
    opened = db.session.scalars(select(Shift).where(Shift.state == ShiftState.open)).all()
    assert len(opened) == 2 and {timeutil.local_date(s.starts_at, team.timezone).isoformat() for s in opened} == {
        wednesday}
    last_week = monday - timedelta(days=14)
    past = {"first": last_week.isoformat(), "last": (last_week + timedelta(days=6)).isoformat(), "days": "7"}
    confirm = client.get(f"/teams/{team.id}/gaps/open-all", query_string=past).get_data(as_text=True)
    assert 'data-testid="nothing-to-open"' in confirm and "confirm-open-all" not in confirm
    r = client.post(f"/teams/{team.id}/gaps/open-all", data=past)
    assert "Nothing to open" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert _count(Shift, Shift.state == ShiftState.open) == 2
    grid = client.get(f"/teams/{team.id}/rota?start={last_week.isoformat()}").get_data(as_text=True)
    assert "open-all" not in grid and 'data-testid="open-gap"' not in grid


def test_only_a_coordinator_opens_all_gaps_and_odd_input_is_refused_plainly(app, client, make):
    team, coord, staff, types, monday = _ward(make)
    login(client, staff[0])
    week = {"first": monday.isoformat(), "last": (monday + timedelta(days=6)).isoformat(), "days": "7"}
    assert client.post(f"/teams/{team.id}/gaps/open-all", data=week).status_code == 403
    assert client.get(f"/teams/{team.id}/gaps/open-all", query_string=week).status_code == 403
    assert "open-all" not in client.get(f"/teams/{team.id}/rota?start={monday.isoformat()}").get_data(as_text=True)
    client = app.test_client()
    login(client, coord)
    for bad in ({"first": "soon", "last": "x"}, {"first": monday.isoformat(),
                                                  "last": (monday + timedelta(days=9)).isoformat()}):
        r = client.post(f"/teams/{team.id}/gaps/open-all", data=bad)
        assert r.status_code == 302
        r = client.get(f"/teams/{team.id}/gaps/open-all", query_string=bad)
        assert r.status_code == 302
    assert _count(Shift, Shift.state == ShiftState.open) == 0
