"""Changing the working-time rules: a team's severities, switched-off and local rules, a person's opt-out and rule
sets — through the service, the API and the screens — change what the engine says; refusals change nothing; every
change is audited."""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from core.audit import AuditEntry
from core.db import db
from core.errors import Forbidden, RuleViolation, ValidationFailed
from rota.assignment import set_assignee
from rota.compliance import settings as cs
from rota.compliance.models import PersonComplianceSettings, TeamComplianceSettings
from rota.compliance.position import verdicts_between
from rota.compliance.profiles import profile_for
from rota.compliance.verdicts import verdicts_for_change
from rota.models import Shift
from tests.conftest import login
from tests.rota.compliance.test_compliance import MON, add_shift


def audit_rows(prefix="compliance_settings."):
    return [e for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)) if e.action.startswith(prefix)]


def counts():
    return (db.session.scalar(select(func.count()).select_from(TeamComplianceSettings)),
            db.session.scalar(select(func.count()).select_from(PersonComplianceSettings)),
            db.session.scalar(select(func.count()).select_from(AuditEntry)))


def short_rest(ward, who, day=MON):
    """A Late, then an open Early the next morning: 9 h 30 min rest if ``who`` takes it."""
    add_shift(ward, ward.late, day, who)
    return add_shift(ward, ward.early, day + timedelta(days=1))


def long_days(ward, who, first, n):
    for i in range(n):
        add_shift(ward, ward.early, first + timedelta(days=i), who, hh=7, hours=12.5)


# ------------------------------------------------------------------------------------------- engine effects


def test_severity_to_warn_lets_a_blocked_assignment_through_with_a_warning_and_back(ward):
    early = short_rest(ward, ward.doctor)
    with pytest.raises(RuleViolation):
        set_assignee(early, ward.doctor, actor=ward.coord)
    db.session.rollback()
    cs.update_team_settings(ward.team, actor=ward.coord, changes={"severities": {"TCS-rest11": "warn"}})
    db.session.commit()
    set_assignee(early, ward.doctor, actor=ward.coord)
    db.session.commit()
    assert {(v.rule_id, v.severity) for v in early.compliance_verdicts} == {("TCS-rest11", "warn"),
                                                                           ("WTR-rest11", "warn")}
    assert db.session.get(Shift, early.id).assignee_id == ward.doctor.id
    [warned] = audit_rows("compliance.warned")
    assert warned.summary["rule_ids"] == "TCS-rest11,WTR-rest11"
    # and back: the default (block) again refuses the same kind of change a week later
    cs.update_team_settings(ward.team, actor=ward.coord, changes={"severities": {}})
    db.session.commit()
    later = short_rest(ward, ward.doctor, MON + timedelta(days=7))
    with pytest.raises(RuleViolation):
        set_assignee(later, ward.doctor, actor=ward.coord)
    db.session.rollback()
    assert db.session.get(Shift, later.id).assignee_id is None


def test_disabling_a_rule_removes_its_verdicts(ward):
    early = short_rest(ward, ward.nurse)
    assert [v.rule_id for v in verdicts_for_change(ward.nurse, add=[early])] == ["WTR-rest11"]
    cs.update_team_settings(ward.team, actor=ward.coord, changes={"disabled_rules": ["WTR-rest11"]})
    db.session.commit()
    assert verdicts_for_change(ward.nurse, add=[early]) == []
    assert "WTR-rest11" not in {r["rule_id"] for r in cs.applicable_rules(ward.nurse)["rules"]}
    assert {r["rule_id"]: r["severity"] for r in cs.team_settings(ward.team)["rules"]}["WTR-rest11"] == "off"


def test_local_max_three_long_days_blocks_a_fourth(ward):
    cs.add_local_rule(ward.team, actor=ward.coord, kind="long_run", value=3, severity="block")
    db.session.commit()
    [spec] = cs.team_settings(ward.team)["extra_rules"]
    assert spec["id"] == "LOCAL-long3" and spec["max_run"] == 3 and spec["title"] == \
        "At most 3 long shifts (over 10 h) in a row"
    long_days(ward, ward.nurse, MON + timedelta(days=10), 3)  # three in a row are fine
    fourth = add_shift(ward, ward.early, MON + timedelta(days=13), hh=7, hours=12.5)
    with pytest.raises(RuleViolation) as err:
        set_assignee(fourth, ward.nurse, actor=ward.coord)
    db.session.rollback()
    assert [v["rule_id"] for v in err.value.extra["verdicts"]] == ["LOCAL-long3"]
    assert "4 long shifts in a row" in err.value.detail
    cs.remove_local_rule(ward.team, actor=ward.coord, rule_id="LOCAL-long3")
    db.session.commit()
    set_assignee(fourth, ward.nurse, actor=ward.coord)  # without the rule, the fourth is fine for a nurse
    db.session.commit()
    assert db.session.get(Shift, fourth.id).assignee_id == ward.nurse.id


def test_opt_out_removes_the_48_hour_average_but_not_the_night_limit(ward):
    # 26 weeks of 4 nights a week, 12 h each: an average of 48 h + and a night worker's average well over 8 h in 24
    first = MON - timedelta(weeks=26)
    for w in range(26):
        for d in range(4):
            add_shift(ward, ward.night, first + timedelta(weeks=w, days=d), ward.nurse, hh=20, hours=13)
    before = {v.rule_id for v in verdicts_between(ward.nurse, first, MON)[1]}
    assert {"WTR-avg48", "WTR-night8"} <= before
    cs.update_person_settings(ward.nurse, actor=ward.nurse, changes={"wtr_opt_out": True})
    db.session.commit()
    prof, verdicts = verdicts_between(ward.nurse, first, MON)
    after = {v.rule_id for v in verdicts}
    assert prof.opted_out and "WTR-avg48" not in after and "WTR-night8" in after
    # withdrawing it brings the 48-hour average back
    cs.update_person_settings(ward.nurse, actor=ward.nurse, changes={"wtr_opt_out": False})
    db.session.commit()
    assert "WTR-avg48" in {v.rule_id for v in verdicts_between(ward.nurse, first, MON)[1]}
    acts = [e.action for e in audit_rows()]
    assert acts == ["compliance_settings.opt_out_recorded", "compliance_settings.opt_out_withdrawn"]
    assert audit_rows()[0].summary["self_service"] is True


def test_person_rule_set_override_and_fortnightly_rest_and_cycle(ward):
    cs.update_person_settings(ward.doctor, actor=ward.coord, changes={"rule_sets": ["TCS2016v1", "WTR"],
                                                                       "note": "On the 2016 terms until August"})
    cs.update_team_settings(ward.team, actor=ward.coord, changes={"weekly_rest_fortnightly": True,
                                                                  "rota_cycle_weeks": 6, "break_minutes": 30})
    db.session.commit()
    prof = profile_for(ward.doctor, ward.team)
    assert prof.names == ["TCS2016v1", "WTR"] and prof.break_minutes == 30
    rules_by_id = {r.id: r for rs in prof.rule_sets for r in rs.rules}
    assert rules_by_id["WTR-weekly"].params["fortnightly"] is True
    assert rules_by_id["TCS-weekend"].params["cycle_weeks"] == 6
    assert cs.person_settings(ward.doctor)["note"] == "On the 2016 terms until August"
    [entry] = [e for e in audit_rows() if e.action == "compliance_settings.person_updated"]
    assert entry.summary["after"] == {"note": "set", "rule_sets": ["TCS2016v1", "WTR"]}
    assert "August" not in entry.summary_json  # the note's text stays out of the audit trail


# ------------------------------------------------------------------------------------ permissions, validation


def test_who_may_change_what(ward, make):
    other_coord = make.user(display_name="Other Coordinator")
    make.team("Ward 9", coordinators=[other_coord], staff=[make.user()])
    before = counts()
    for actor in (ward.nurse, other_coord):
        with pytest.raises(Forbidden):
            cs.update_team_settings(ward.team, actor=actor, changes={"break_minutes": 30})
    with pytest.raises(Forbidden):  # a person cannot change their own rule sets
        cs.update_person_settings(ward.nurse, actor=ward.nurse, changes={"rule_sets": ["WTR"], "wtr_opt_out": True})
    with pytest.raises(Forbidden):  # nor anyone else's opt-out
        cs.update_person_settings(ward.nurse, actor=ward.other, changes={"wtr_opt_out": True})
    with pytest.raises(Forbidden):  # a coordinator of another team
        cs.update_person_settings(ward.nurse, actor=other_coord, changes={"wtr_opt_out": True})
    db.session.rollback()
    assert counts() == before
    # sending back unchanged values with the opt-out is fine for the person
    cs.update_person_settings(ward.nurse, actor=ward.nurse, changes={"rule_sets": None, "wtr_opt_out": True})
    admin = make.admin()
    cs.update_team_settings(ward.team, actor=admin, changes={"break_minutes": 30})
    db.session.commit()
    assert cs.team_settings(ward.team)["break_minutes"] == 30


@pytest.mark.parametrize("changes, field", [
    ({"severities": {"WTR-nope": "warn"}}, "severities"),
    ({"severities": {"WTR-rest11": "sometimes"}}, "severities"),
    ({"disabled_rules": ["TCS-whatever"]}, "disabled_rules"),
    ({"rule_sets": ["WTR", "EWTD"]}, "rule_sets"),
    ({"rule_sets": ["TCS2016", "TCS2016v1"]}, "rule_sets"),
    ({"rota_cycle_weeks": 53}, "rota_cycle_weeks"),
    ({"break_minutes": -1}, "break_minutes"),
    ({"extra_rules": [{"id": "long3", "max_run": 3}]}, "extra_rules.0.id"),
    ({"extra_rules": [{"id": "LOCAL-long3", "max_run": 0}]}, "extra_rules.0.max_run"),
    ({"extra_rules": [{"id": "LOCAL-x", "check": "consecutive_run", "filter": "weekends", "max_run": 2}]},
     "extra_rules.0.filter"),
    ({"extra_rules": [{"id": "LOCAL-x", "check": "max_in_window", "max_hours": 200, "window_hours": 168}]},
     "extra_rules.0.max_hours"),
    ({"extra_rules": [{"id": "LOCAL-x", "check": "rest_between", "min_rest_hours": 12, "colour": "red"}]},
     "extra_rules.0"),
    ({"extra_rules": [{"id": "LOCAL-a", "max_run": 3, "check": "consecutive_run", "filter": "any"}] * 2},
     "extra_rules.1.id"),
])
def test_invalid_team_settings_change_nothing(ward, changes, field):
    cs.update_team_settings(ward.team, actor=ward.coord, changes={"break_minutes": 20})
    db.session.commit()
    before = (counts(), cs.team_settings(ward.team))
    with pytest.raises(ValidationFailed) as err:
        cs.update_team_settings(ward.team, actor=ward.coord, changes={"weekly_rest_fortnightly": True, **changes})
    db.session.rollback()
    assert field in err.value.errors
    assert (counts(), cs.team_settings(ward.team)) == before


def test_invalid_person_settings(ward):
    tomorrow = date.today() + timedelta(days=2)
    for changes, field in [({"wtr_opt_out": True, "opted_out_at": tomorrow}, "opted_out_at"),
                           ({"wtr_opt_out": True, "opted_out_at": date(1990, 1, 1)}, "opted_out_at"),
                           ({"wtr_opt_out": False, "opted_out_at": date(2026, 1, 1)}, "opted_out_at"),
                           ({"note": "Patient 943 476 5919 asked"}, "note"),
                           ({"note": "x" * 201}, "note")]:
        with pytest.raises(ValidationFailed) as err:
            cs.update_person_settings(ward.nurse, actor=ward.coord, changes=changes)
        assert field in err.value.errors
    db.session.rollback()
    assert cs.person_settings(ward.nurse)["wtr_opt_out"] is False and not audit_rows()


def test_local_rules_run_in_the_engine_for_every_check(ward):
    """Each local check the service accepts builds a rule the engine can evaluate (no crash, sensible verdict)."""
    specs = [{"id": "LOCAL-max9", "check": "max_shift_length", "max_hours": 9, "severity": "warn"},
             {"id": "LOCAL-rest12", "check": "rest_between", "min_rest_hours": 12},
             {"id": "LOCAL-week20", "check": "max_in_window", "max_hours": 20, "window_hours": 168},
             {"id": "LOCAL-nights1", "check": "consecutive_run", "filter": "night", "max_run": 1}]
    cs.update_person_settings(ward.nurse, actor=ward.coord, changes={"extra_rules": specs})
    db.session.commit()
    add_shift(ward, ward.night, MON, ward.nurse)
    add_shift(ward, ward.night, MON + timedelta(days=1), ward.nurse)
    add_shift(ward, ward.late, MON + timedelta(days=2), ward.nurse, hh=19, hours=3)  # 11 h after Tuesday's night
    late = add_shift(ward, ward.late, MON + timedelta(days=3), ward.nurse, hh=11, hours=10)
    found = {v.rule_id for v in verdicts_for_change(ward.nurse, add=[late])}
    assert {"LOCAL-max9", "LOCAL-week20"} <= found
    _, all_found = verdicts_between(ward.nurse, MON, MON + timedelta(days=6))
    assert {"LOCAL-nights1", "LOCAL-rest12"} <= {v.rule_id for v in all_found}


# --------------------------------------------------------------------------------------------------------- API


def _problem(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return resp.get_json()


def test_api_catalogue_and_team_settings_round_trip(ward, client, make, bearer):
    coord = bearer(make.token(ward.coord))
    cat = client.get("/api/v1/compliance/rules", headers=bearer(make.token(ward.nurse))).get_json()
    assert [s["name"] for s in cat["rule_sets"]] == ["WTR", "TCS2016", "TCS2016v1"]
    wtr_rest = next(r for r in cat["rule_sets"][0]["rules"] if r["id"] == "WTR-rest11")
    assert wtr_rest["default_severity"] == "warn" and "reg 10" in wtr_rest["source"]
    assert wtr_rest["params"] == {"min_rest_hours": 11}
    assert "consecutive_run" in {c["check"] for c in cat["local_checks"]}
    url = f"/api/v1/teams/{ward.team.id}/compliance-settings"
    got = client.get(url, headers=coord).get_json()
    assert got["by_staff_group"] is True and got["updated_at"] is None
    body = {"severities": {"WTR-rest11": "block"}, "disabled_rules": ["WTR-break"],
            "extra_rules": [{"id": "LOCAL-long3", "severity": "block"}], "rota_cycle_weeks": 6,
            "rule_sets": ["TCS2016", "WTR"]}
    resp = client.put(url, json=body, headers=coord)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    out = resp.get_json()
    assert out["severities"] == {"WTR-rest11": "block"} and out["rule_sets"] == ["TCS2016", "WTR"]
    assert out["extra_rules"][0]["max_run"] == 3 and out["by_staff_group"] is False
    sev = {r["rule_id"]: r["severity"] for r in out["rules"]}
    assert sev["WTR-rest11"] == "block" and sev["WTR-break"] == "off" and sev["LOCAL-long3"] == "block"
    # a staff member may read, not write
    nurse = bearer(make.token(ward.nurse))
    assert client.get(url, headers=nurse).status_code == 200
    _problem(client.put(url, json={"break_minutes": 10}, headers=nurse), 403)
    [entry] = audit_rows()
    assert entry.action == "compliance_settings.team_updated" and entry.actor_id == ward.coord.id
    assert entry.summary["before"]["severities"] == {} and entry.summary["after"]["rota_cycle_weeks"] == 6


def test_api_refusals_are_problem_json_and_change_nothing(ward, client, make, bearer):
    other_coord = make.user()
    other_team = make.team("Ward 10", coordinators=[other_coord])
    coord = bearer(make.token(ward.coord))
    url = f"/api/v1/teams/{ward.team.id}/compliance-settings"
    before = counts()
    p = _problem(client.put(url, json={"severities": {"WTR-nope": "warn"}, "break_minutes": 30}, headers=coord), 422)
    assert "severities" in p["errors"]
    p = _problem(client.put(url, json={"rota_cycle_weeks": 99}, headers=coord), 422)
    assert "rota_cycle_weeks" in p["errors"]
    _problem(client.put(url, json={"rule_sets": ["NOPE"]}, headers=coord), 422)
    _problem(client.put(url, json={"severities": {"WTR-rest11": "off"}}, headers=coord), 422)
    _problem(client.put(url, json={"extra_rules": [{"id": "LOCAL-x", "check": "rest_between",
                                                    "min_rest_hours": 99}]}, headers=coord), 422)
    _problem(client.put(url, json={"break_minutes": 30}, headers=bearer(make.token(other_coord))), 403)
    _problem(client.get(url, headers=bearer(make.token(other_coord))), 403)
    _problem(client.put(url, json={"break_minutes": 30}), 401)
    _problem(client.get("/api/v1/teams/999999/compliance-settings", headers=coord), 404)
    _problem(client.get(f"/api/v1/users/{ward.nurse.id}/compliance-settings",
                        headers=bearer(make.token(other_coord))), 403)
    assert counts()[:2] == before[:2]
    assert not audit_rows() and other_team.id


def test_api_person_opt_out_self_service(ward, client, make, bearer):
    nurse = bearer(make.token(ward.nurse))
    url = f"/api/v1/users/{ward.nurse.id}/compliance-settings"
    got = client.get(url, headers=nurse).get_json()
    assert got["wtr_opt_out"] is False and got["applies"]["rule_sets"] == ["WTR"]
    assert "WTR-avg48" in {r["rule_id"] for r in got["applies"]["rules"]}
    resp = client.put(url, json={"wtr_opt_out": True, "opted_out_at": "2026-05-01"}, headers=nurse)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["wtr_opt_out"] is True and body["opted_out_at"] == "2026-05-01" and body["applies"]["opted_out"]
    p = _problem(client.put(url, json={"rule_sets": ["TCS2016", "WTR"]}, headers=nurse), 403)
    assert "opt-out" in p["detail"]
    # the coordinator sees it, and may set the person's rule sets
    coord = bearer(make.token(ward.coord))
    assert client.get(url, headers=coord).get_json()["opted_out_at"] == "2026-05-01"
    assert client.put(url, json={"rule_sets": ["TCS2016", "WTR"]}, headers=coord).get_json()["applies"][
        "rule_sets"] == ["TCS2016", "WTR"]
    resp = client.put(url, json={"wtr_opt_out": False}, headers=nurse)
    assert resp.get_json()["wtr_opt_out"] is False and resp.get_json()["opted_out_at"] is None
    assert [e.action for e in audit_rows()] == ["compliance_settings.opt_out_recorded",
                                                "compliance_settings.person_updated",
                                                "compliance_settings.opt_out_withdrawn"]


# ------------------------------------------------------------------------------------------------------ pages


def test_team_screen_lists_rules_and_saves_a_severity(ward, client):
    login(client, ward.coord)
    grid = client.get(f"/teams/{ward.team.id}/compliance-settings")
    html = grid.get_data(as_text=True)
    assert grid.status_code == 200 and "Working-time rules" in html
    assert 'data-rule="TCS-72in168"' in html and 'data-rule="WTR-rest11"' in html
    assert "<script>" not in html and "style=" not in html
    form = {"rule_sets": "", "rota_cycle_weeks": "", "break_minutes": "30", "sev_WTR_rest11": "block"}
    for r in cs.effective_team_rules(ward.team):
        form.setdefault("sev_" + r["rule_id"].replace("-", "_"), r["severity"])
    resp = client.post(f"/teams/{ward.team.id}/compliance-settings", data=form)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    s = cs.team_settings(ward.team)
    assert s["severities"] == {"WTR-rest11": "block"} and s["break_minutes"] == 30 and s["disabled_rules"] == []
    bad = client.post(f"/teams/{ward.team.id}/compliance-settings", data={**form, "break_minutes": "999"})
    assert bad.status_code == 422 and "Give a number of minutes from 0 to 240." in bad.get_data(as_text=True)
    assert cs.team_settings(ward.team)["break_minutes"] == 30
    added = client.post(f"/teams/{ward.team.id}/compliance-settings/local-rules",
                        data={"local-kind": "long_run", "local-value": "3", "local-severity": "block"})
    assert added.status_code == 302
    page = client.get(f"/teams/{ward.team.id}/compliance-settings").get_data(as_text=True)
    assert "At most 3 long shifts (over 10 h) in a row" in page
    removed = client.post(f"/teams/{ward.team.id}/compliance-settings/local-rules/LOCAL-long3/remove")
    assert removed.status_code == 302 and cs.team_settings(ward.team)["extra_rules"] == []


def test_team_screen_is_for_coordinators_only(ward, client):
    login(client, ward.nurse)
    assert client.get(f"/teams/{ward.team.id}/compliance-settings").status_code == 403
    assert client.post(f"/teams/{ward.team.id}/compliance-settings", data={"break_minutes": "5"}).status_code == 403
    assert cs.team_settings(ward.team)["break_minutes"] is None


def test_coordinator_records_a_members_opt_out_on_the_team_screen(ward, client):
    login(client, ward.coord)
    prefix = f"p{ward.doctor.id}-"
    resp = client.post(f"/teams/{ward.team.id}/compliance-settings/people/{ward.doctor.id}",
                       data={prefix + "rule_sets": "TCS2016v1,WTR", prefix + "wtr_opt_out": "yes",
                             prefix + "opted_out_at": "2026-04-01", prefix + "note": ""})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    s = cs.person_settings(ward.doctor)
    assert s["wtr_opt_out"] and s["opted_out_at"] == date(2026, 4, 1) and s["rule_sets"] == ["TCS2016v1", "WTR"]
    bad = client.post(f"/teams/{ward.team.id}/compliance-settings/people/{ward.doctor.id}",
                      data={prefix + "wtr_opt_out": "yes", prefix + "opted_out_at": "2026-04-01",
                            prefix + "note": "re 943 476 5919"})
    assert bad.status_code == 422 and "could identify a patient" in bad.get_data(as_text=True)


def test_profile_section_records_and_withdraws_the_opt_out_with_confirmation(ward, client):
    login(client, ward.nurse)
    html = client.get("/profile").get_data(as_text=True)
    assert 'data-testid="working-time"' in html and "You have not opted out" in html
    unconfirmed = client.post("/profile/working-time/opt-out", data={"action": "record", "wt-opted_out_at": ""})
    assert unconfirmed.status_code == 422 and "Tick the box to confirm." in unconfirmed.get_data(as_text=True)
    assert cs.person_settings(ward.nurse)["wtr_opt_out"] is False
    ok = client.post("/profile/working-time/opt-out", data={"action": "record", "wt-confirm": "y",
                                                             "wt-opted_out_at": "2026-03-02"})
    assert ok.status_code == 302
    page = client.get("/profile").get_data(as_text=True)
    assert "You have opted out" in page and "2 March 2026" in page
    client.post("/profile/working-time/opt-out", data={"action": "withdraw", "wt-confirm": "y"})
    assert cs.person_settings(ward.nurse)["wtr_opt_out"] is False


def test_rule_sets_set_through_the_api_survive_a_save_on_the_screen(ward, client):
    cs.update_person_settings(ward.doctor, actor=ward.coord, changes={"rule_sets": ["TCS2016v1"]})
    db.session.commit()
    login(client, ward.coord)
    html = client.get(f"/teams/{ward.team.id}/compliance-settings").get_data(as_text=True)
    assert '<option selected value="TCS2016v1">TCS2016v1</option>' in html
    prefix = f"p{ward.doctor.id}-"
    resp = client.post(f"/teams/{ward.team.id}/compliance-settings/people/{ward.doctor.id}",
                       data={prefix + "rule_sets": "TCS2016v1", prefix + "wtr_opt_out": "yes"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    s = cs.person_settings(ward.doctor)
    assert s["rule_sets"] == ["TCS2016v1"] and s["wtr_opt_out"] and s["opted_out_at"] is not None
