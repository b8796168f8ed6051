"""The grid says what was done and leads to each person's working time (issue #15)."""

from datetime import date, timedelta

from core.db import db
from rota import services
from tests.conftest import login
from tests.factories import ward


def _next_monday():
    today = date.today()
    return today + timedelta(days=7 - today.weekday())


def test_opening_one_gap_says_which_shift_was_opened_for_whom(client, make):
    team, coord, _staff, types = ward(make)
    hca = services.create_requirement(team, shift_type=types["N"], min_count=2, staff_group="support", actor=coord)
    band6 = services.create_requirement(team, shift_type=types["E"], min_count=1, min_grade="Band 6", actor=coord)
    db.session.commit()
    login(client, coord)
    mon = _next_monday()
    for req, words in ((hca, "1 open Night for an HCA"), (band6, "1 open Early for a Band 6+")):
        r = client.post(f"/teams/{team.id}/gaps/open", data={"requirement_id": req.id, "day": mon.isoformat()})
        assert r.status_code == 302
        page = client.get(r.headers["Location"]).get_data(as_text=True)
        assert f"{words} on {mon:%a %d %b}." in page, page[:3000]


def test_the_coordinators_grid_links_each_name_to_their_working_time(app, client, make):
    team, coord, staff, _types = ward(make)
    login(client, coord)
    page = client.get(f"/teams/{team.id}/rota").get_data(as_text=True)
    for person in staff:
        assert f'href="/compliance/{person.id}"' in page
    nurse = app.test_client()
    login(nurse, staff[0])
    page = nurse.get(f"/teams/{team.id}/rota").get_data(as_text=True)
    assert f'href="/compliance/{staff[1].id}"' not in page  # a colleague's working time is not hers to see


def test_the_team_page_links_each_member_to_their_working_time(client, make):
    team, coord, staff, _types = ward(make)
    login(client, coord)
    page = client.get(f"/teams/{team.id}/members").get_data(as_text=True)
    for person in [coord, *staff]:
        assert f'href="/compliance/{person.id}"' in page
    assert client.get(f"/compliance/{staff[0].id}").status_code == 200  # and the link leads to a page she may see
