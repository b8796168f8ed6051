"""The coordinator's team working-time report (#15): one row per member over a period with hours worked, the average
week against its limit, blocking and warning verdict counts and a plain status, the worst first."""

from __future__ import annotations

import re
from datetime import date, time

from core.accounts import Membership, TeamRole
from core.db import db
from rota.compliance import team_report
from rota.compliance.rules import local_datetime
from rota.models import Shift, ShiftState
from tests.conftest import count_queries, login
from tests.rota.compliance.test_position_page import TZ, _fortnight


def _team(make):
    """Dev Doctor is over the 48-hour average (the clock-change fortnight); Nia Nurse works one day, within limits."""
    coord, doctor = _fortnight(make)
    team = doctor.memberships[0].team
    nurse = make.user(display_name="Nia Nurse", grade="Band 5")
    make_member(team, nurse)
    db.session.add(Shift(team_id=team.id, assignee_id=nurse.id, state=ShiftState.scheduled,
                         starts_at=local_datetime(date(2025, 10, 21), time(8), TZ),
                         ends_at=local_datetime(date(2025, 10, 21), time(16), TZ)))
    db.session.commit()
    return team, coord, doctor, nurse


def make_member(team, user):
    db.session.add(Membership(team_id=team.id, user_id=user.id, role=TeamRole.staff))
    db.session.flush()


def _rows(html):
    return [(re.sub(r"<[^>]+>", "", m.group(1)).strip(), *(re.sub(r"<[^>]+>", "", c).strip() for c in m.groups()[1:]))
            for m in re.finditer(r'data-testid="team-row".*?<th scope="row">(.*?)</th>\s*<td data-testid="worked">'
                                 r'(.*?)</td>\s*<td data-testid="average">(.*?)</td>\s*<td data-testid="blocking">'
                                 r'(.*?)</td>\s*<td data-testid="warnings">(.*?)</td>\s*<td data-testid="status">'
                                 r'(.*?)</td>', html, re.S)]


def test_the_service_puts_the_person_over_the_limit_first(app, make):
    team, coord, doctor, nurse = _team(make)
    rows = team_report.team_working_time(team, date(2025, 10, 20), date(2025, 11, 2))
    assert [r.user.display_name for r in rows] == ["Dev Doctor", "Nia Nurse", "Cora Coordinator"]
    assert rows[0].worked == 103.5 and not rows[0].average.within and rows[0].blocking > 0
    assert rows[1].worked == 8.0 and rows[1].average.within and rows[1].problems == 0
    assert rows[1].status == "within limits" and rows[0].status == f"{rows[0].problems} problems"


def test_the_coordinator_sees_each_member_with_numbers_and_status(client, make):
    team, coord, doctor, nurse = _team(make)
    login(client, coord)
    resp = client.get(f"/teams/{team.id}/working-time?from=2025-10-20&to=2025-11-02")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    rows = _rows(html)
    assert [r[0] for r in rows] == ["Dev Doctor", "Nia Nurse", "Cora Coordinator"]
    assert rows[0][1] == "103.5" and rows[0][2].startswith("51 h 45 min a week (at most 48 h a week") \
        and rows[0][2].endswith("over") and rows[0][5].endswith("problems")
    assert rows[1][1:] == ("8.0", rows[1][2], "0", "0", "within limits")
    assert f'href="/compliance/{doctor.id}?' in html
    # the team page and the grid link to the report
    assert f'href="/teams/{team.id}/working-time"' in client.get(f"/teams/{team.id}/members").get_data(as_text=True)
    assert f'href="/teams/{team.id}/working-time"' in client.get(f"/teams/{team.id}/rota").get_data(as_text=True)


def test_default_period_is_the_next_four_weeks(client, make):
    team, coord, doctor, nurse = _team(make)
    login(client, coord)
    resp = client.get(f"/teams/{team.id}/working-time")
    assert resp.status_code == 200 and len(_rows(resp.get_data(as_text=True))) == 3


def test_staff_and_strangers_are_refused_admins_allowed(client, make):
    team, coord, doctor, nurse = _team(make)
    login(client, doctor)
    assert client.get(f"/teams/{team.id}/working-time").status_code == 403
    client.post("/auth/logout")
    stranger = make.user(display_name="Sam Stranger")
    login(client, stranger)
    assert client.get(f"/teams/{team.id}/working-time").status_code == 403
    client.post("/auth/logout")
    login(client, make.admin(display_name="Ada Admin"))
    assert client.get(f"/teams/{team.id}/working-time").status_code == 200


def test_bad_dates_give_a_form_error_and_keep_the_typed_text(client, make):
    team, coord, doctor, nurse = _team(make)
    login(client, coord)
    resp = client.get(f"/teams/{team.id}/working-time?from=2025-13-45&to=2025-10-01")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "There is a problem" in html and 'value="2025-13-45"' in html and 'data-testid="team-row"' not in html
    resp = client.get(f"/teams/{team.id}/working-time?from=2025-11-02&to=2025-10-20")
    assert resp.status_code == 422 and "The end date must not be before the start date." in resp.get_data(as_text=True)


def _report_queries(make, size):
    members = [make.user(display_name=f"Member {size}-{i}") for i in range(size)]
    team = make.team(f"Ward of {size}", staff=members, timezone=TZ)
    for i, person in enumerate(members):
        db.session.add(Shift(team_id=team.id, assignee_id=person.id, state=ShiftState.scheduled,
                             starts_at=local_datetime(date(2025, 10, 20 + i % 7), time(8), TZ),
                             ends_at=local_datetime(date(2025, 10, 20 + i % 7), time(20), TZ)))
    db.session.commit()
    db.session.expire_all()
    with count_queries() as statements:
        rows = team_report.team_working_time(team, date(2025, 10, 20), date(2025, 11, 2))
    assert len(rows) == size
    return len(statements)


def test_the_report_costs_the_same_queries_for_3_or_12_members(app, make):
    assert _report_queries(make, 3) == _report_queries(make, 12)
