"""Editing a team's escalation ladder: the API and the coordinator's screen."""

from __future__ import annotations

from datetime import timedelta

from core.audit import AuditEntry
from core.db import db
from notifications import broadcasts
from notifications.models import EscalationPolicy
from tests.conftest import login


def _setup(make):
    coordinator = make.user(display_name="Coordinator")
    nurse = make.user(display_name="Nurse")
    team = make.team("Ward 7", coordinators=[coordinator], staff=[nurse])
    return coordinator, nurse, team


def _url(team):
    return f"/api/v1/teams/{team.id}/escalation-policy"


def test_api_reads_and_replaces_the_ladder(client, make, bearer, fake_registry):
    coordinator, nurse, team = _setup(make)
    fake_registry.register_audience("staff_bank", "Staff bank", lambda team_id, params: [])
    headers = bearer(make.token(coordinator))
    got = client.get(_url(team), headers=headers)
    assert got.status_code == 200 and got.json["steps"] == []
    assert {"name": "staff_bank", "label": "Staff bank"} in got.json["choices"]
    steps = [{"after_minutes": 30, "audience": "staff_bank"}, {"after_minutes": 15, "audience": "coordinators"}]
    put = client.put(_url(team), json={"steps": steps}, headers=headers)
    assert put.status_code == 200, put.json
    assert [(s["after_minutes"], s["audience"]) for s in put.json["steps"]] == [(30, "staff_bank"),
                                                                               (15, "coordinators")]
    assert client.get(_url(team), headers=headers).json["steps"] == put.json["steps"]
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "broadcast.escalation_policy"))
    assert entry.summary["steps"] == 2 and entry.actor_id == coordinator.id
    # An open-shift broadcast now waits 30 minutes before its first step.
    b = broadcasts.create(team, coordinator, audience="team", text="Gap tonight", kind="open_shift")
    assert b.next_escalation_at == b.created_at + timedelta(minutes=30)


def test_api_refuses_bad_ladders_and_changes_nothing(client, make, bearer):
    coordinator, nurse, team = _setup(make)
    headers = bearer(make.token(coordinator))
    good = [{"after_minutes": 20, "audience": "coordinators"}]
    assert client.put(_url(team), json={"steps": good}, headers=headers).status_code == 200
    for bad in ([{"after_minutes": 0, "audience": "coordinators"}],
                [{"after_minutes": 1441, "audience": "coordinators"}],
                [{"after_minutes": "30", "audience": "coordinators"}],
                [{"after_minutes": 30, "audience": "the whole trust"}],
                [{"after_minutes": 30}],
                [{"after_minutes": 10, "audience": "coordinators"}] * 7,
                "not a list"):
        resp = client.put(_url(team), json={"steps": bad}, headers=headers)
        assert resp.status_code == 422, (bad, resp.status_code)
        assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert client.get(_url(team), headers=headers).json["steps"] == [{**good[0], "params": {}}]


def test_api_is_for_the_teams_coordinators_only(client, make, bearer):
    coordinator, nurse, team = _setup(make)
    other = make.user()
    make.team("Ward 8", coordinators=[other])
    steps = {"steps": [{"after_minutes": 30, "audience": "coordinators"}]}
    for who in (nurse, other):
        headers = bearer(make.token(who))
        assert client.get(_url(team), headers=headers).status_code == 403
        assert client.put(_url(team), json=steps, headers=headers).status_code == 403
    assert db.session.get(EscalationPolicy, team.id) is None
    assert client.get("/api/v1/teams/999999/escalation-policy", headers=bearer(make.token(coordinator))
                      ).status_code == 404
    assert client.get("/api/v1/teams/99999999999/escalation-policy", headers=bearer(make.token(coordinator))
                      ).status_code == 404


def _form(steps, action="save"):
    data = {"action": action}
    for i, (minutes, audience) in enumerate(steps):
        data[f"steps-{i}-after_minutes"] = str(minutes)
        data[f"steps-{i}-audience"] = audience
    return data


def test_the_screen_adds_moves_removes_and_saves_steps(client, make, fake_registry):
    coordinator, nurse, team = _setup(make)
    fake_registry.register_audience("staff_bank", "Staff bank (eligible)", lambda team_id, params: [])
    login(client, coordinator)
    page = client.get("/broadcasts").get_data(as_text=True)
    assert f"/teams/{team.id}/escalation" in page and "Escalation ladder for Ward 7" in page
    url = f"/teams/{team.id}/escalation"
    page = client.get(url).get_data(as_text=True)
    assert "No steps" in page
    # Add a step: shown, nothing saved yet.
    page = client.post(url, data=_form([(30, "staff_bank")], action="add")).get_data(as_text=True)
    assert page.count('data-testid="ladder-step"') == 2
    assert db.session.get(EscalationPolicy, team.id) is None
    # Move the second step up, then save.
    page = client.post(url, data=_form([(30, "staff_bank"), (10, "coordinators")], action="up-1")
                       ).get_data(as_text=True)
    assert page.index('selected value="coordinators"') < page.index('selected value="staff_bank"')
    resp = client.post(url, data=_form([(10, "coordinators"), (30, "staff_bank")]))
    assert resp.status_code == 200 and 'data-testid="ladder-saved"' in resp.get_data(as_text=True)
    db.session.expire_all()
    assert [(s["after_minutes"], s["audience"]) for s in db.session.get(EscalationPolicy, team.id).steps] == [
        (10, "coordinators"), (30, "staff_bank")]
    # Remove the first step and save: one left.
    page = client.post(url, data=_form([(10, "coordinators"), (30, "staff_bank")], action="remove-0")
                       ).get_data(as_text=True)
    assert page.count('data-testid="ladder-step"') == 1
    client.post(url, data=_form([(30, "staff_bank")]))
    db.session.expire_all()
    assert [s["audience"] for s in db.session.get(EscalationPolicy, team.id).steps] == ["staff_bank"]
    # At most six steps: no "Add a step" button at six.
    page = client.post(url, data=_form([(5, "coordinators")] * 6, action="add")).get_data(as_text=True)
    assert page.count('data-testid="ladder-step"') == 6 and 'data-testid="step-add"' not in page


def test_the_screen_shows_form_errors_and_saves_nothing(client, make):
    coordinator, nurse, team = _setup(make)
    login(client, coordinator)
    url = f"/teams/{team.id}/escalation"
    for steps, message in (([(0, "coordinators")], "Enter minutes from 1 to 1440."),
                           ([(2000, "coordinators")], "Enter minutes from 1 to 1440."),
                           ([("soon", "coordinators")], "Not a valid integer value"),
                           ([("", "coordinators")], "Enter a number of minutes."),
                           ([(30, "the whole trust")], "Not a valid choice")):
        resp = client.post(url, data=_form(steps))
        page = resp.get_data(as_text=True)
        assert resp.status_code == 422 and "There is a problem" in page and message in page, (steps, page[-3000:])
    assert db.session.get(EscalationPolicy, team.id) is None


def test_only_the_teams_coordinators_see_the_screen(client, make):
    coordinator, nurse, team = _setup(make)
    login(client, nurse)
    assert client.get(f"/teams/{team.id}/escalation").status_code == 403
    assert client.post(f"/teams/{team.id}/escalation", data=_form([(5, "coordinators")])).status_code == 403
    assert client.get("/teams/999999/escalation").status_code == 404
    assert db.session.get(EscalationPolicy, team.id) is None


def test_a_ladder_step_is_told_which_shift_the_broadcast_is_about(make, fake_registry):
    coordinator, nurse, team = _setup(make)
    bank = make.user()
    asked = []

    def staff_bank(team_id, params):
        asked.append(params)
        return [bank.id]

    fake_registry.register_audience("staff_bank", "Staff bank", staff_bank)
    broadcasts.set_policy(team, coordinator, [{"after_minutes": 5, "audience": "staff_bank"}])
    b = broadcasts.create(team, coordinator, audience="team", params={"shift_id": 42}, text="Gap",
                          kind="open_shift", reference="shift:42")
    db.session.commit()
    assert broadcasts.escalate_due(b.created_at + timedelta(minutes=6)) == 1
    assert asked == [{"reference": "shift:42", "shift_id": 42}]
    assert bank.id in {r.user_id for r in b.recipients}
