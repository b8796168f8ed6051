"""The pages people open most run a fixed number of SQL queries (issue #22): each is measured on a small ward and on a
ward four times larger, with more shifts each, more open shifts and more pending swaps, and the counts must match.
(Time per request is measured by ``make bench``, not here.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from core.db import db
from rota.feeds import service as feeds
from rota.feeds.models import FeedKind
from rota.models import Leave, LeaveKind
from tests.conftest import count_queries, login
from tests.factories import ward as shared_ward
from tests.rota.swaps import factories as data

SMALL, LARGE = (3, 4, 1), (12, 10, 3)  # (staff, days of shifts each, open shifts)


@dataclass
class Ward:
    team: object
    coord: object
    nurse: object
    staff: list


def _ward(make, size) -> Ward:
    staff_count, days, gaps = size
    team, coord, staff, _ = shared_ward(make, staff_count)
    for k, person in enumerate(staff):
        for d in range(days if k != 1 else 0):  # staff[1] is free to be offered shifts
            data.shift(team, starts_at=data.soon(2 + d, hour=7) + timedelta(minutes=5 * k), assignee=person,
                       commit=False)
    for g in range(gaps):
        data.shift(team, starts_at=data.soon(3 + g, hour=13), commit=False)
    db.session.commit()
    return Ward(team, coord, staff[0], staff)


def _count(call) -> int:
    call()  # first request: session touch, token use, feed fetch record are written once and not counted
    with count_queries() as seen:
        resp = call()
    assert resp.status_code in (200, 304), (resp.status_code, resp.get_data(as_text=True)[:300])
    return len(seen)


def _offer_pending(client, bearer, make, ward: Ward, how_many: int) -> None:
    token = make.token(ward.nurse)
    mine = client.get(f"/api/v1/shifts?person_id={ward.nurse.id}&per_page=50", headers=bearer(token)).json["items"]
    for shift in mine[:how_many]:
        r = client.post("/api/v1/swaps", json={"shift_id": shift["id"], "kind": "offer",
                                                "to_user_ids": [ward.staff[1].id]}, headers=bearer(token))
        assert r.status_code == 201, r.json


PAGES = ["my shifts", "grid", "api shifts", "open shifts", "api open shifts", "calendar feed", "team calendar feed",
         "compliance check", "page frame"]


@pytest.mark.parametrize("page", PAGES)
def test_queries_do_not_grow_with_the_data(app, make, bearer, page):
    counts = []
    for size, pending in ((SMALL, 1), (LARGE, 3)):
        ward = _ward(make, size)
        _offer_pending(app.test_client(), bearer, make, ward, pending)
        nurse_client, coord_client = app.test_client(), app.test_client()
        login(nurse_client, ward.nurse)
        login(coord_client, ward.coord)
        team_id, nurse_id = ward.team.id, ward.nurse.id
        if page == "my shifts":
            call = lambda c=nurse_client: c.get("/my/shifts")  # noqa: E731
        elif page == "grid":
            start = data.soon(0).date().isoformat()
            call = lambda c=coord_client, t=team_id, s=start: c.get(f"/teams/{t}/rota?days=28&start={s}")  # noqa: E731
        elif page == "api shifts":
            call = lambda c=coord_client, t=team_id: c.get(f"/api/v1/shifts?team_id={t}&per_page=50")  # noqa: E731
        elif page == "open shifts":
            call = lambda c=nurse_client: c.get("/open-shifts")  # noqa: E731
        elif page == "page frame":  # a near-empty page: session, menu, notification and channel badges, base page
            call = lambda c=nurse_client: c.get("/teams")  # noqa: E731
        elif page == "api open shifts":
            call = lambda c=nurse_client: c.get("/api/v1/open-shifts?per_page=50")  # noqa: E731
        elif page == "calendar feed":
            _, token = feeds.rotate(ward.nurse, FeedKind.mine, actor=ward.nurse)
            db.session.commit()
            call = lambda c=nurse_client, t=token: c.get(f"/calendar/{t}.ics")  # noqa: E731
        elif page == "team calendar feed":
            _, token = feeds.rotate(ward.coord, FeedKind.team, actor=ward.coord)
            db.session.commit()
            call = lambda c=coord_client, t=token: c.get(f"/calendar/{t}.ics")  # noqa: E731
        else:
            body = {"user_id": nurse_id, "add": [{"starts_at": data.soon(20, hour=7).isoformat(),
                                                  "ends_at": data.soon(20, hour=15).isoformat(),
                                                  "team_id": team_id}]}
            call = lambda c=nurse_client, b=body: c.post("/api/v1/compliance/check", json=b)  # noqa: E731
        counts.append(_count(call))
    small, large = counts
    assert large <= small, f"{page}: {small} queries on the small ward, {large} on one four times larger"


def test_a_large_team_grid_shows_fifty_people_a_page_and_cover_counts_everyone(app, make):
    """A coordinator of a 56-person ward sees 50 people, then the other 6 on the next page; the cover line is the
    same on both pages because it counts the whole team."""
    coord = make.user(grade="Band 7")
    staff = [make.user(display_name=f"Nurse {i:02d}") for i in range(55)]
    team = make.team(coordinators=[coord], staff=staff)
    day = data.soon(3, hour=7)
    for person in staff:
        data.shift(team, starts_at=day, assignee=person, commit=False)
    db.session.commit()
    client = app.test_client()
    login(client, coord)
    start = (day.date() - timedelta(days=day.weekday())).isoformat()
    pages = [client.get(f"/teams/{team.id}/rota?start={start}&page={n}").get_data(as_text=True) for n in (1, 2)]
    assert [p.count('data-testid="grid-row"') for p in pages] == [50, 6]
    assert "People 1–50 of 56" in pages[0] and "People 51–56 of 56" in pages[1]
    assert 'data-testid="grid-next-people"' in pages[0] and 'data-testid="grid-next-people"' not in pages[1]
    shown = [p.count('class="sb-code') for p in pages]
    assert sum(shown) >= 55  # every shift appears on exactly one page (plus the legend's codes)
    cover = [p[p.index('data-testid="coverage-row"'):p.index('</tfoot>')] for p in pages]
    assert cover[0] == cover[1]


def test_open_shifts_take_the_same_queries_whatever_the_number_of_teams_and_shift_types(app, make):
    """A bank nurse (with leave booked) sees the gaps of every ward whose pool she is in: one ward with one kind of
    shift, or three wards each with three kinds, costs the same number of queries (no query per team's settings,
    per team's leave rules or per shift type)."""
    counts = []
    for wards in (1, 3):
        bank = shared_ward(make, 1)
        nurse = bank.staff[0]
        day = data.soon(20).date()
        db.session.add(Leave(user_id=nurse.id, team_id=bank.team.id, kind=LeaveKind.annual, first_day=day,
                             last_day=day))
        for _ in range(wards):
            other = shared_ward(make, 1)
            data.settings(other.team, pool_team_ids=[bank.team.id])
            for k, code in enumerate(["E", "L", "N"][:1 if wards == 1 else 3]):
                data.shift(other.team, starts_at=data.soon(3 + k, hour=13), stype=other.types[code], commit=False)
        db.session.commit()
        client = app.test_client()
        login(client, nurse)
        counts.append(_count(lambda c=client: c.get("/open-shifts")))
    assert counts[1] <= counts[0], f"{counts[0]} queries for one ward, {counts[1]} for three"


def test_the_page_frame_takes_the_same_queries_whatever_the_number_of_teams(app, make):
    """Every signed-in page's header (the person's teams listed in the menu, the channel and notification badges)
    costs the same queries for someone in one team as for someone in three: no query per team."""
    counts = []
    for teams in (1, 3):
        person = make.user()
        for _ in range(teams):
            make.team(staff=[person])
        db.session.commit()
        client = app.test_client()
        login(client, person)
        counts.append(_count(lambda c=client: c.get("/notifications")))
    assert counts[1] <= counts[0], f"{counts[0]} queries for one team, {counts[1]} for three"
