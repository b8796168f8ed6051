"""Rota pages through the test client: grid, my shifts, building, gaps, leave and CSV import forms."""

from datetime import date, timedelta

from sqlalchemy import func, select

from core.db import db
from rota import services
from rota.models import PeriodState, Shift, ShiftState
from tests.conftest import login
from tests.factories import ward


def _post(client, url, data):
    """POST a form and follow its redirect (the isolated test client cannot follow redirects itself)."""
    r = client.post(url, data=data)
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    return client.get(r.headers["Location"])


def _next_monday():
    today = date.today()
    return today + timedelta(days=7 - today.weekday())


def test_coordinator_builds_from_pattern_opens_gap_and_publishes(client, make):
    team, coord, staff, types = ward(make)
    services.create_requirement(team, shift_type=types["E"], min_count=2, actor=coord)
    db.session.commit()
    login(client, coord)
    mon = _next_monday()
    r = _post(client, f"/teams/{team.id}/rota/pattern", {
        "p-first_day": mon.isoformat(), "p-weeks": "1", "p-cycle": "E E E E E - -",
        "p-people": [str(staff[0].id)], "p-make_period": "y"})
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "5 shifts created (0 open)" in page
    assert page.count('data-status="short"') == 7  # one of two earlies on weekdays, none at the weekend
    assert 'data-testid="publish"' in page
    period = services.periods(team)[0]
    assert period.state == PeriodState.draft
    req = services.requirements(team)[0]
    r = _post(client, f"/teams/{team.id}/gaps/open", {"requirement_id": req.id, "day": mon.isoformat()})
    assert f"1 open Early for anyone on {mon:%a %d %b}." in r.get_data(as_text=True)
    assert 'data-testid="open-shift"' in r.get_data(as_text=True)
    r = _post(client, f"/teams/{team.id}/rota/periods/{period.id}/publish", {})
    assert "published; the team has been told" in r.get_data(as_text=True)
    db.session.refresh(period)
    assert period.state == PeriodState.published


def test_my_shifts_lists_colleagues_and_hides_drafts(client, make):
    team, coord, staff, types = ward(make)
    mon = _next_monday()
    services.add_shift(team, actor=coord, shift_type=types["N"], day=mon, assignee=staff[0])
    services.add_shift(team, actor=coord, shift_type=types["N"], day=mon, assignee=staff[1])
    period = services.create_period(team, first_day=mon + timedelta(7), last_day=mon + timedelta(13), actor=coord)
    services.add_shift(team, actor=coord, shift_type=types["E"], day=mon + timedelta(8), assignee=staff[0])
    db.session.commit()
    login(client, staff[0])
    page = client.get("/my/shifts").get_data(as_text=True)
    assert page.count('data-testid="my-shift"') == 1  # the draft-period shift is not shown yet
    assert f"With: {staff[1].display_name}" in page
    assert "19:30–08:00 (next day)" in page
    home = client.get("/").get_data(as_text=True)
    assert "N 19:30–08:00" in home
    services.publish_period(period, actor=coord)
    db.session.commit()
    assert client.get("/my/shifts").get_data(as_text=True).count('data-testid="my-shift"') == 2


def test_staff_see_grid_but_not_editing_screens(client, make):
    team, coord, staff, types = ward(make)
    services.record_leave(staff[1], kind="sickness", first_day=_next_monday(), last_day=_next_monday(), team=team,
                          actor=coord)
    db.session.commit()
    login(client, staff[0])
    r = client.get(f"/teams/{team.id}/rota?start={_next_monday().isoformat()}")
    assert r.status_code == 200 and ">Off<" in r.get_data(as_text=True)  # not the reason
    assert client.get(f"/teams/{team.id}/rota/build").status_code == 403
    assert client.post(f"/teams/{team.id}/leave", data={}).status_code == 403
    other = make.team()
    assert client.get(f"/teams/{other.id}/rota").status_code == 403
    assert client.get(f"/teams/{team.id}/rota?start=garbage&days=99").status_code == 200


def test_grid_colours_are_a_stylesheet_not_inline_styles(client, make):
    team, coord, staff, types = ward(make)
    login(client, coord)
    page = client.get(f"/teams/{team.id}/rota").get_data(as_text=True)
    assert "style=" not in page and "onclick" not in page
    css = client.get(f"/teams/{team.id}/rota/colours.css")
    assert css.mimetype == "text/css" and f".sb-st-{types['E'].id}{{background:#005eb8;}}" in css.get_data(as_text=True)


def test_leave_form_opens_shifts_and_says_so(client, make):
    team, coord, staff, types = ward(make)
    mon = _next_monday()
    shift = services.add_shift(team, actor=coord, shift_type=types["E"], day=mon, assignee=staff[0])
    db.session.commit()
    login(client, coord)
    r = _post(client, f"/teams/{team.id}/leave", {"user": staff[0].id, "kind": "annual",
                                                     "first_day": mon.isoformat(), "last_day": mon.isoformat()})
    assert "1 shift(s) are now open and need cover" in r.get_data(as_text=True)
    db.session.refresh(shift)
    assert shift.state == ShiftState.open
    bad = client.post(f"/teams/{team.id}/leave", data={"user": staff[0].id, "kind": "annual",
                                                       "first_day": mon.isoformat(), "last_day": mon.isoformat()})
    assert bad.status_code == 422 and "already has leave recorded" in bad.get_data(as_text=True)


def test_csv_import_page_reports_each_bad_row_and_imports_nothing(client, make):
    team, coord, staff, types = ward(make)
    login(client, coord)
    text = f"staff,date,shift_code\n{staff[0].email},2026-03-29,E\nghost@example.test,2026-03-29,E\n"
    r = client.post(f"/teams/{team.id}/import", data={"text": text})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "Nothing was imported" in page and "Unknown person" in page
    assert db.session.scalar(select(func.count()).select_from(Shift)) == 0
    r = client.post(f"/teams/{team.id}/import", data={"text": text.splitlines()[0] + "\n" + text.splitlines()[1]})
    assert "Imported 1 rows: 1 shifts added" in r.get_data(as_text=True)
    export = client.get(f"/teams/{team.id}/rota.csv?from=2026-03-23&to=2026-04-05")
    lines = export.get_data(as_text=True).splitlines()
    assert lines[0].startswith("date,weekday,shift_code") and "2026-03-29T07:00+01:00" in lines[1]


def test_add_shift_form_refuses_overlap_with_a_form_error(client, make):
    team, coord, staff, types = ward(make)
    services.add_shift(team, actor=coord, shift_type=types["E"], day=date(2026, 3, 2), assignee=staff[0])
    db.session.commit()
    login(client, coord)
    r = client.post(f"/teams/{team.id}/shifts/new", data={"shift_type": types["L"].id, "day": "2026-03-02",
                                                          "assignee": staff[0].id, "required_grade": ""})
    assert r.status_code == 422 and "overlaps this shift" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Shift)) == 1


def test_a_shift_page_answers_404_for_a_shift_one_may_not_see_and_403_for_a_change_one_may_not_make(client, make):
    """One shift loader for the shift pages and the short-notice pages: a shift that does not exist (or an id beyond
    the integer range) and a draft one a nurse may not see yet are 404; marking the nurse in charge is the
    coordinator's, so a nurse who can see the shift is refused with 403."""
    team, coord, staff, types = ward(make)
    mon = _next_monday()
    period = services.create_period(team, first_day=mon, last_day=mon + timedelta(days=6), actor=coord)
    draft = services.add_shift(team, shift_type=types["E"], day=mon, assignee=staff[0], actor=coord)
    published = services.add_shift(team, shift_type=types["L"], day=mon + timedelta(days=14), assignee=staff[0],
                                   actor=coord)
    db.session.commit()
    assert draft.rota_period_id == period.id and published.rota_period_id is None
    login(client, staff[0])
    for shift_id in (draft.id, published.id + 1000, 2**40):
        assert client.get(f"/shifts/{shift_id}").status_code == 404
        assert client.get(f"/shifts/{shift_id}/cant-make-it").status_code == 404
    assert client.get(f"/shifts/{published.id}").status_code == 200
    assert client.get(f"/shifts/{published.id}/cant-make-it").status_code == 200
    assert client.post(f"/shifts/{published.id}/in-charge", data={}).status_code == 403
