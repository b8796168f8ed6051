"""A coordinator's power over a person stops at their own team (issue #13, item 3).

Dr Dee Doctor (a doctor in training) works in Ward 7B (coordinator Wendy) and Ward 8 (coordinator Rosa). Each
coordinator may record leave for their own team, read their own team's leave records and see the person's
working-time settings, but nothing they do reaches the other team: no other team's sickness record is read, no
other team's shift is released or blocked, and no person-wide working-time setting (which applies in both teams)
is changed. A stranger in no shared team cannot be enrolled at all. Every test here goes through HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from core.db import db
from rota.compliance.models import PersonComplianceSettings
from rota.models import Leave, Shift, ShiftKind, ShiftState, ShiftType
from tests.conftest import login

DAY = datetime(2027, 2, 10, tzinfo=UTC).date()  # a Wednesday, GMT


def _type(team, code="LD"):
    st = ShiftType(team_id=team.id, code=code, name="Long day", start_local=time(8, 0), duration_minutes=720,
                   kind=ShiftKind.day)
    db.session.add(st)
    db.session.commit()
    return st


def _shift(team, st, day, person=None, *, hour=8):
    """A 4-hour shift from ``hour`` (UTC = London time in February) on ``day``."""
    starts = datetime.combine(day, time(hour, 0), tzinfo=UTC)
    s = Shift(team_id=team.id, shift_type_id=st.id, starts_at=starts, ends_at=starts + timedelta(hours=4),
              assignee_id=person.id if person else None,
              state=ShiftState.scheduled if person else ShiftState.open)
    db.session.add(s)
    db.session.commit()
    return s


@pytest.fixture
def two_teams(make):
    wendy = make.user(display_name="Wendy Ward-Manager", grade="Band 7")
    rosa = make.user(display_name="Rosa Respiratory", grade="Band 7")
    dee = make.user(display_name="Dee Doctor", staff_group="medical", grade="FY2")
    stranger = make.user(display_name="Stella Stranger")
    ward7b = make.team("Ward 7B", coordinators=[wendy], staff=[dee])
    ward8 = make.team("Ward 8", coordinators=[rosa], staff=[dee])
    st7, st8 = _type(ward7b), _type(ward8)
    return {"wendy": wendy, "rosa": rosa, "dee": dee, "stranger": stranger, "ward7b": ward7b, "ward8": ward8,
            "st7": st7, "st8": st8}


def _sickness(client, bearer, make, coordinator, person, team, first, last, note="Flu"):
    r = client.post("/api/v1/leave", headers=bearer(make.token(coordinator)),
                    json={"user_id": person.id, "team_id": team.id, "kind": "sickness", "first_day": first.isoformat(),
                          "last_day": last.isoformat(), "note": note})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


# ------------------------------------------------------------------------ the four leaks named in the issue


def test_coordinator_cannot_enrol_an_account_without_consent(client, make, bearer, two_teams):
    t = two_teams
    r = client.post(f"/api/v1/teams/{t['ward7b'].id}/members", json={"user_id": t["stranger"].id},
                    headers=bearer(make.token(t["wendy"])))
    assert r.status_code == 403 and r.content_type == "application/problem+json"
    assert t["stranger"].id not in {m["user_id"] for m in client.get(
        f"/api/v1/teams/{t['ward7b'].id}", headers=bearer(make.token(t["wendy"]))).get_json()["members"]}


def test_coordinator_does_not_read_another_teams_sickness_records(client, make, bearer, two_teams):
    t = two_teams
    _sickness(client, bearer, make, t["rosa"], t["dee"], t["ward8"], DAY, DAY + timedelta(days=2))
    hw = bearer(make.token(t["wendy"]))
    for query in (f"user_id={t['dee'].id}", f"team_id={t['ward7b'].id}", f"team_id={t['ward8'].id}", ""):
        items = client.get(f"/api/v1/leave?{query}", headers=hw).get_json()["items"]
        assert items == [], (query, items)
    login(client, t["wendy"])
    grid = client.get(f"/teams/{t['ward7b'].id}/rota?start={DAY - timedelta(days=DAY.weekday())}&days=7")
    assert grid.status_code == 200 and 'data-testid="leave"' not in grid.get_data(as_text=True)
    page = client.get(f"/teams/{t['ward7b'].id}/leave").get_data(as_text=True)
    assert 'nhsuk-table__cell">sickness' not in page and "Flu" not in page
    client.post("/auth/logout")
    # Rosa, whose team recorded it, still sees it (and Dee sees her own).
    for who in ("rosa", "dee"):
        items = client.get(f"/api/v1/leave?user_id={t['dee'].id}", headers=bearer(make.token(t[who]))).get_json()
        assert [(i["kind"], i["team_id"]) for i in items["items"]] == [("sickness", t["ward8"].id)], who


def test_coordinator_cannot_remove_a_doctors_contract_rules_in_every_team(client, make, bearer, two_teams):
    t = two_teams
    r = client.put(f"/api/v1/users/{t['dee'].id}/compliance-settings", json={"rule_sets": ["WTR"]},
                   headers=bearer(make.token(t["wendy"])))
    assert r.status_code == 403 and r.content_type == "application/problem+json"
    assert r.get_json()["detail"] == ("Dee Doctor also works in teams you do not coordinate, and their own "
                                      "working-time settings apply in all of them: ask an administrator to change "
                                      "them.")
    seen = client.get(f"/api/v1/users/{t['dee'].id}/compliance-settings", headers=bearer(make.token(t["rosa"])))
    assert seen.get_json()["applies"]["rule_sets"] == ["TCS2016", "WTR"]


def test_leave_recorded_by_one_team_releases_only_that_teams_shifts(client, make, bearer, two_teams):
    t = two_teams
    mine = _shift(t["ward7b"], t["st7"], DAY, t["dee"])
    theirs = _shift(t["ward8"], t["st8"], DAY + timedelta(days=1), t["dee"])
    for body_team in ({"team_id": t["ward7b"].id}, {}):  # naming the team, or letting it default to Wendy's own
        r = client.post("/api/v1/leave", headers=bearer(make.token(t["wendy"])),
                        json={"user_id": t["dee"].id, "kind": "annual", "first_day": DAY.isoformat(),
                              "last_day": (DAY + timedelta(days=1)).isoformat(), **body_team})
        if not body_team:
            assert r.status_code == 409  # the first record already covers those days in Ward 7B
            continue
        assert r.status_code == 201 and r.get_json()["opened_shift_ids"] == [mine.id]
        assert r.get_json()["team_id"] == t["ward7b"].id
    db.session.expire_all()
    assert db.session.get(Shift, theirs.id).assignee_id == t["dee"].id
    assert db.session.get(Shift, mine.id).assignee_id is None
    # Dee is unavailable on those days wherever she works (her own team recorded it), so Ward 8 cannot give her
    # another shift then — and is not told what kind of leave it is (that record is Ward 7B's).
    extra = _shift(t["ward8"], t["st8"], DAY, hour=14)
    r = client.patch(f"/api/v1/shifts/{extra.id}", json={"version": extra.version, "assignee_id": t["dee"].id},
                     headers=bearer(make.token(t["rosa"])))
    assert r.status_code == 409, r.get_json()
    assert r.get_json()["detail"] == "Dee Doctor is unavailable 10 Feb–11 Feb (leave recorded by another team)."
    assert "leave_id" not in r.get_json()


# ---------------------------------------------------------- every leave / person-compliance route × acting team


def _writes(t, me, other):
    """(name, kind, method, url, body) for every route that records leave or changes a person's settings."""
    dee = t["dee"]
    leave = {"user_id": dee.id, "kind": "sickness", "first_day": DAY.isoformat(),
             "last_day": (DAY + timedelta(days=2)).isoformat(), "note": "Flu"}
    return [
        ("api leave, own team", "api", "post", "/api/v1/leave", {"json": {**leave, "team_id": me.id}}),
        ("api leave, other team", "api", "post", "/api/v1/leave", {"json": {**leave, "team_id": other.id}}),
        ("api leave, no team", "api", "post", "/api/v1/leave", {"json": leave}),
        ("page leave, other team", "page", "post", f"/teams/{other.id}/leave",
         {"data": {"user": dee.id, "kind": "sickness", "first_day": DAY.isoformat(),
                   "last_day": (DAY + timedelta(days=2)).isoformat()}}),
        ("api person settings", "api", "put", f"/api/v1/users/{dee.id}/compliance-settings",
         {"json": {"rule_sets": ["WTR"], "wtr_opt_out": True, "note": "changed"}}),
        ("page person settings", "page", "post", f"/teams/{me.id}/compliance-settings/people/{dee.id}",
         {"data": {f"p{dee.id}-rule_sets": "WTR", f"p{dee.id}-wtr_opt_out": "yes", f"p{dee.id}-note": "changed"}}),
        ("page person settings via other team", "page", "post",
         f"/teams/{other.id}/compliance-settings/people/{dee.id}",
         {"data": {f"p{dee.id}-rule_sets": "WTR", f"p{dee.id}-wtr_opt_out": "yes"}}),
    ]


@pytest.mark.parametrize("acting", ["wendy", "rosa"])
def test_no_leave_or_person_setting_route_reaches_the_other_team(client, make, bearer, two_teams, acting):
    t = two_teams
    me, other = (t["ward7b"], t["ward8"]) if acting == "wendy" else (t["ward8"], t["ward7b"])
    other_coord = t["rosa"] if acting == "wendy" else t["wendy"]
    st_other = t["st8"] if acting == "wendy" else t["st7"]
    st_me = t["st7"] if acting == "wendy" else t["st8"]
    theirs = [_shift(other, st_other, DAY + timedelta(days=i), t["dee"], hour=14) for i in range(3)]
    mine = [_shift(me, st_me, DAY + timedelta(days=i), t["dee"]) for i in range(3)]
    _sickness(client, bearer, make, other_coord, t["dee"], other, DAY - timedelta(days=10), DAY - timedelta(days=9),
              note="Other team's secret")
    actor = t[acting]
    token = bearer(make.token(actor))
    login(client, actor)
    codes = {}
    for name, kind, method, url, kw in _writes(t, me, other):
        r = getattr(client, method)(url, headers=token if kind == "api" else {}, **kw)
        codes[name] = r.status_code
        if kind == "api" and r.status_code >= 400:
            assert r.content_type == "application/problem+json", name
    assert codes["api leave, own team"] == 201
    assert codes["api leave, other team"] == 403
    assert codes["api leave, no team"] == 409  # defaults to the actor's own team, where it is now a duplicate
    assert codes["page leave, other team"] == 403
    assert codes["api person settings"] == 403
    assert codes["page person settings"] in (403, 422)
    assert codes["page person settings via other team"] in (403, 404)

    db.session.expire_all()
    # No effect on the other team: its shifts are still Dee's, and no leave record was made in its name.
    assert [db.session.get(Shift, s.id).assignee_id for s in theirs] == [t["dee"].id] * 3
    assert [db.session.get(Shift, s.id).assignee_id for s in mine] == [None] * 3
    records = db.session.scalars(select(Leave).where(Leave.user_id == t["dee"].id)).all()
    assert sorted((lv.team_id, lv.first_day) for lv in records) == sorted(
        [(other.id, DAY - timedelta(days=10)), (me.id, DAY)])
    # No person-wide working-time setting changed.
    assert db.session.scalar(select(PersonComplianceSettings)) is None
    # Reads: the other team's record never shows, through the API or the acting team's pages.
    listed = client.get("/api/v1/leave", headers=token).get_json()["items"]
    assert [(i["team_id"], i["note"]) for i in listed] == [(me.id, "Flu")]
    page = client.get(f"/teams/{me.id}/leave").get_data(as_text=True)
    assert "Other team's secret" not in page
    assert client.get(f"/teams/{other.id}/leave").status_code == 403


def test_a_coordinator_of_every_team_of_the_person_may_change_their_settings(client, make, bearer, two_teams):
    t = two_teams
    make_both = make.team("Ward 9", coordinators=[t["wendy"]])
    del make_both
    solo = make.user(display_name="Solo Nurse")
    from core import accounts

    accounts.add_member(t["ward7b"], solo, "staff")
    db.session.commit()
    r = client.put(f"/api/v1/users/{solo.id}/compliance-settings", json={"note": "Prefers days"},
                   headers=bearer(make.token(t["wendy"])))
    assert r.status_code == 200 and r.get_json()["note"] == "Prefers days"


def test_coordinator_lists_a_persons_eligible_open_shifts_only_in_their_own_teams(client, make, bearer, two_teams):
    t = two_teams
    ours = _shift(t["ward7b"], t["st7"], DAY)
    theirs = _shift(t["ward8"], t["st8"], DAY + timedelta(days=1))

    def listed(who):
        r = client.get(f"/api/v1/users/{t['dee'].id}/eligible-shifts", headers=bearer(make.token(t[who])))
        assert r.status_code == 200, r.get_json()
        return {i["shift"]["id"] if "shift" in i else i["id"] for i in r.get_json()["items"]}

    assert listed("wendy") == {ours.id}, "Ward 8's open shifts are Ward 8's business"
    assert listed("rosa") == {theirs.id}
    assert listed("dee") == {ours.id, theirs.id}
    stranger = client.get(f"/api/v1/users/{t['dee'].id}/eligible-shifts", headers=bearer(make.token(t["stranger"])))
    assert stranger.status_code == 404
    # Leave Ward 7B records for its own member makes Dee unavailable on those days in every team she works in.
    r = client.post("/api/v1/leave", headers=bearer(make.token(t["wendy"])),
                    json={"user_id": t["dee"].id, "team_id": t["ward7b"].id, "kind": "study",
                          "first_day": DAY.isoformat(), "last_day": (DAY + timedelta(days=1)).isoformat()})
    assert r.status_code == 201
    assert listed("dee") == set()
    assert listed("rosa") == set()


def test_coordinator_cannot_make_another_team_their_staff_pool(make, app):
    """A pool team's staff become candidates for the team's shifts (claims, assignment, the ladder's bank step),
    so naming a pool is a power over the other team: only its coordinators or an administrator may grant it."""
    from core.errors import Forbidden
    from rota.swaps import shared

    wendy = make.user(display_name="Wendy Ward-Manager", grade="Band 7")
    rosa = make.user(display_name="Rosa Respiratory", grade="Band 7")
    ward = make.team("Ward 7B", coordinators=[wendy])
    other = make.team("Ward 8", coordinators=[rosa])
    with pytest.raises(Forbidden, match="Ward 8"):
        shared.update_settings(ward, actor=wendy, pool_team_ids=[other.id])
    db.session.rollback()
    assert not (shared.settings_for(ward.id).pool_team_ids or [])

    both = make.user(display_name="Bea Both", grade="Band 7")
    bank = make.team("Bank", coordinators=[both])
    ward2 = make.team("Ward 9", coordinators=[both])
    shared.update_settings(ward2, actor=both, pool_team_ids=[bank.id])
    admin = make.admin()
    shared.update_settings(ward, actor=admin, pool_team_ids=[other.id])
    db.session.commit()
    assert shared.settings_for(ward.id).pool_team_ids == [other.id]
