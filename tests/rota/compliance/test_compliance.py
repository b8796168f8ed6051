"""The compliance service: every assignment is checked, blocked changes change nothing, coordinators override with a
reason that is audited, warnings are recorded; the API endpoints and the per-person page."""

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from core import accounts
from core.accounts import TeamRole
from core.audit import AuditEntry
from core.db import db
from core.errors import Forbidden, RuleViolation
from rota.assignment import set_assignee
from rota.compliance import rules
from rota.compliance.models import PersonComplianceSettings, TeamComplianceSettings
from rota.compliance.profiles import profile_for
from rota.compliance.rotas import MARGIN, as_work_shift, focus_rotas, load_leave, load_shifts
from rota.compliance.verdicts import verdicts_for_candidates, verdicts_for_change
from rota.models import Shift, ShiftState
from tests.conftest import login

MON = datetime(2026, 6, 1, tzinfo=UTC).date()  # Monday, BST (UTC+1)


def local(day, hh, mm=0):
    from rota.compliance.rules import local_datetime

    return local_datetime(day, time(hh, mm), "Europe/London")


def add_shift(ward, st, day, who=None, hh=None, hours=None):
    start = local(day, hh if hh is not None else st.start_local.hour, st.start_local.minute if hh is None else 0)
    end = start + timedelta(minutes=hours * 60 if hours else st.duration_minutes)
    s = Shift(team_id=ward.team.id, shift_type_id=st.id, starts_at=start, ends_at=end,
              assignee_id=who.id if who else None, state=ShiftState.scheduled if who else ShiftState.open)
    db.session.add(s)
    db.session.commit()
    return s


def actions(prefix):
    return [e for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)) if e.action.startswith(prefix)]


# ------------------------------------------------------------------------------------------------ assignment


def test_blocking_breach_refuses_assignment_and_changes_nothing(ward):
    add_shift(ward, ward.late, MON, ward.doctor)  # Late ends Mon 21:30
    early = add_shift(ward, ward.early, MON + timedelta(days=1))  # Early starts Tue 07:00: 9 h 30 min rest
    with pytest.raises(RuleViolation) as err:
        set_assignee(early, ward.doctor, actor=ward.coord)
    db.session.rollback()
    exc = err.value
    assert "Only 9 h 30 min rest between your Late ending Mon 1 Jun 21:30 and your Early starting Tue 07:00" \
        in exc.detail
    rules_hit = {v["rule_id"] for v in exc.extra["verdicts"]}
    assert {"TCS-rest11", "WTR-rest11"} <= rules_hit
    assert exc.extra["overridable"] is True
    assert db.session.get(Shift, early.id).assignee_id is None


def test_coordinator_override_with_reason_is_allowed_and_audited(ward):
    add_shift(ward, ward.late, MON, ward.doctor)
    early = add_shift(ward, ward.early, MON + timedelta(days=1))
    set_assignee(early, ward.doctor, actor=ward.coord, override_reason="No one else ALS-trained; agreed 9991234567")
    db.session.commit()
    assert db.session.get(Shift, early.id).assignee_id == ward.doctor.id
    [entry] = actions("compliance.overridden")
    assert entry.actor_id == ward.coord.id and entry.entity_id == str(early.id)
    assert entry.summary["rule_ids"] == "TCS-rest11"
    assert entry.summary["reason"].startswith("No one else ALS-trained; agreed [number removed]")
    assert "9991234567" not in entry.summary_json


def test_only_a_coordinator_may_override(ward):
    add_shift(ward, ward.late, MON, ward.doctor)
    early = add_shift(ward, ward.early, MON + timedelta(days=1))
    with pytest.raises(Forbidden):
        set_assignee(early, ward.doctor, actor=ward.other, override_reason="I said so")
    db.session.rollback()
    assert db.session.get(Shift, early.id).assignee_id is None


def test_nurse_gets_a_recorded_warning_not_a_refusal(ward):
    add_shift(ward, ward.late, MON, ward.nurse)
    early = add_shift(ward, ward.early, MON + timedelta(days=1))
    set_assignee(early, ward.nurse, actor=ward.coord)
    assert [v.rule_id for v in early.compliance_verdicts] == ["WTR-rest11"]
    db.session.commit()
    [entry] = actions("compliance.warned")
    assert entry.summary == {"rule_ids": "WTR-rest11", "shift_id": early.id, "user_id": ward.nurse.id}


def test_team_can_make_a_warning_blocking_and_add_a_local_rule(ward):
    db.session.add(TeamComplianceSettings(team_id=ward.team.id, severities={"WTR-rest11": "block"},
                                          extra_rules=[{"id": "LOCAL-long3", "severity": "block"}]))
    db.session.commit()
    add_shift(ward, ward.late, MON, ward.nurse)
    early = add_shift(ward, ward.early, MON + timedelta(days=1))
    with pytest.raises(RuleViolation):
        set_assignee(early, ward.nurse, actor=ward.coord)
    db.session.rollback()
    for i in range(3):  # three long days in a row are fine, a fourth is not
        add_shift(ward, ward.early, MON + timedelta(days=10 + i), ward.other, hh=7, hours=12.5)
    fourth = add_shift(ward, ward.early, MON + timedelta(days=13), hh=7, hours=12.5)
    with pytest.raises(RuleViolation) as err:
        set_assignee(fourth, ward.other, actor=ward.coord)
    assert [v["rule_id"] for v in err.value.extra["verdicts"]] == ["LOCAL-long3"]


def test_opt_out_and_rule_set_choice(ward):
    doctor_prof = profile_for(ward.doctor)
    assert doctor_prof.names == ["TCS2016", "WTR"] and not doctor_prof.opted_out
    assert profile_for(ward.nurse).names == ["WTR"]
    db.session.add(PersonComplianceSettings(user_id=ward.doctor.id, wtr_opt_out=True, rule_sets=["TCS2016v1"]))
    db.session.commit()
    prof = profile_for(ward.doctor)
    assert prof.names == ["TCS2016v1"] and prof.opted_out
    assert profile_for(ward.doctor, rule_sets=["WTR"]).names == ["WTR"]


def test_what_if_counts_removed_shifts_out_and_blames_only_the_change(ward):
    late = add_shift(ward, ward.late, MON, ward.doctor)
    add_shift(ward, ward.late, MON + timedelta(days=20), ward.doctor)
    add_shift(ward, ward.early, MON + timedelta(days=21), ward.doctor)  # a pre-existing short rest
    early = add_shift(ward, ward.early, MON + timedelta(days=1))
    found = verdicts_for_change(ward.doctor, add=[early])
    assert {v.rule_id for v in found} == {"TCS-rest11", "WTR-rest11"}
    assert all(early.id in v.shift_ids for v in found)
    assert verdicts_for_change(ward.doctor, add=[early], remove=[late]) == []
    assert verdicts_for_change(ward.doctor, add=[early], rule_sets=["WTR"])[0].severity == "warn"


def test_publish_report_and_grid_markers(ward):
    from rota import services

    add_shift(ward, ward.late, MON, ward.nurse)
    early = add_shift(ward, ward.early, MON + timedelta(days=1), ward.nurse)
    grid = services.team_grid(ward.team, MON, 7, viewer=ward.coord)
    marked = {(c.user.id, c.day): c.markers for c in grid.cells if c.user is not None and c.markers}
    assert marked == {(ward.nurse.id, MON): ["⚠ WTR-rest11"], (ward.nurse.id, MON + timedelta(days=1)):
                      ["⚠ WTR-rest11"]}
    period = services.create_period(ward.team, first_day=MON, last_day=MON + timedelta(days=6), actor=ward.coord)
    result = services.publish_period(period, actor=ward.coord)
    [row] = result["compliance"]
    assert row["user_id"] == ward.nurse.id and row["warnings"] == 1 and row["blocking"] == 0
    assert row["verdicts"][0]["shift_ids"] == sorted(row["verdicts"][0]["shift_ids"]) and early.id in \
        row["verdicts"][0]["shift_ids"]


# ------------------------------------------------------------------------------------------------------- API


def _problem(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return resp.get_json()


def test_person_sees_their_own_verdicts_coordinator_theirs_others_403(ward, client, make, bearer):
    add_shift(ward, ward.late, MON, ward.nurse)
    add_shift(ward, ward.early, MON + timedelta(days=1), ward.nurse)
    url = f"/api/v1/users/{ward.nurse.id}/compliance?from={MON}&to={MON + timedelta(days=6)}"
    for who in (ward.nurse, ward.coord):
        resp = client.get(url, headers=bearer(make.token(who)))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        assert body["rule_sets"] == ["WTR"] and body["warnings"] == 1
        [v] = body["verdicts"]
        assert v["rule_id"] == "WTR-rest11" and v["message"].startswith("Only 9 h 30 min rest")
    _problem(client.get(url, headers=bearer(make.token(ward.other))), 403)
    _problem(client.get("/api/v1/users/999999/compliance", headers=bearer(make.token(ward.coord))), 404)
    bad = _problem(client.get(f"/api/v1/users/{ward.nurse.id}/compliance?from=2026-06-10&to=2026-06-01",
                              headers=bearer(make.token(ward.nurse))), 422)
    assert "to" in bad["errors"]
    # nothing before the week: the same shifts are outside a later range
    later = client.get(f"/api/v1/users/{ward.nurse.id}/compliance?from=2026-07-01&to=2026-07-07",
                       headers=bearer(make.token(ward.nurse))).get_json()
    assert later["verdicts"] == []


def test_what_if_check_changes_nothing_and_compares_rule_sets(ward, client, make, bearer):
    for i in range(5):  # 5 long days in a row for a doctor: TCS2016 says max 4, v1 says max 5
        add_shift(ward, ward.early, MON + timedelta(days=i), ward.doctor, hh=8, hours=11)
    headers = bearer(make.token(ward.coord))
    before = db.session.scalar(select(db.func.count()).select_from(Shift))
    audit_before = db.session.scalar(select(db.func.count()).select_from(AuditEntry))
    sixth = {"starts_at": "2026-06-06T08:00:00", "ends_at": "2026-06-06T19:00:00+01:00", "team_id": ward.team.id,
             "name": "Long day"}
    resp = client.post("/api/v1/compliance/check", json={"user_id": ward.doctor.id, "add": [sixth]}, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["blocking"] is True and body["rule_sets"] == ["TCS2016", "WTR"]
    assert "TCS-long4" in {v["rule_id"] for v in body["verdicts"]}
    v1 = client.post("/api/v1/compliance/check", json={"user_id": ward.doctor.id, "add": [sixth],
                                                       "rule_sets": ["TCS2016v1"]}, headers=headers).get_json()
    assert v1["rule_sets"] == ["TCS2016v1"]
    assert [v["observed"] for v in v1["verdicts"] if v["rule_id"] == "TCS-long4"] == ["6 days"]
    assert db.session.scalar(select(db.func.count()).select_from(Shift)) == before
    assert db.session.scalar(select(db.func.count()).select_from(AuditEntry)) == audit_before


def test_what_if_refuses_bad_input_with_problem_json(ward, client, make, bearer):
    other_shift = add_shift(ward, ward.late, MON, ward.nurse)
    headers = bearer(make.token(ward.coord))
    ok = {"starts_at": "2026-06-06T08:00:00+01:00", "ends_at": "2026-06-06T16:00:00+01:00"}

    def post(body):
        return client.post("/api/v1/compliance/check", json=body, headers=headers)

    assert "add" in _problem(post({"user_id": ward.doctor.id, "add": []}), 422)["errors"]
    gap = {"starts_at": "2026-03-29T01:30:00", "ends_at": "2026-03-29T09:00:00+01:00", "team_id": ward.team.id}
    p = _problem(post({"user_id": ward.doctor.id, "add": [gap]}), 422)
    assert "does not exist" in p["detail"] and "add.0.starts_at" in p["errors"]
    backwards = {"starts_at": "2026-06-06T16:00:00+01:00", "ends_at": "2026-06-06T08:00:00+01:00"}
    _problem(post({"user_id": ward.doctor.id, "add": [backwards]}), 422)
    p = _problem(post({"user_id": ward.doctor.id, "add": [ok], "remove": [other_shift.id]}), 422)
    assert "remove" in p["errors"]
    _problem(post({"user_id": ward.doctor.id, "add": [ok], "rule_sets": ["NOPE"]}), 422)
    _problem(post({"user_id": 999999, "add": [ok]}), 404)
    _problem(client.post("/api/v1/compliance/check", json={"user_id": ward.doctor.id, "add": [ok]},
                         headers=bearer(make.token(ward.other))), 403)
    _problem(client.post("/api/v1/compliance/check", json={"user_id": ward.doctor.id, "add": [ok]}), 401)


def test_compliance_page_for_self_and_403_for_others(ward, client):
    add_shift(ward, ward.late, MON, ward.nurse)
    add_shift(ward, ward.early, MON + timedelta(days=1), ward.nurse)
    login(client, ward.nurse)
    resp = client.get(f"/compliance?from={MON}&to={MON + timedelta(days=6)}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Your working time" in html and "Only 9 h 30 min rest between your Late ending Mon 1 Jun 21:30" in html
    assert 'data-rule="WTR-rest11"' in html and "Warning" in html
    assert client.get(f"/compliance/{ward.other.id}").status_code == 403
    bad = client.get("/compliance?from=2026-06-10&to=2026-06-01")
    assert bad.status_code == 422 and "must not be before" in bad.get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html


def test_a_shift_given_up_in_the_same_change_does_not_count(ward):
    mine = add_shift(ward, ward.late, MON, ward.doctor)  # to be swapped away
    theirs = add_shift(ward, ward.early, MON + timedelta(days=1), ward.other)
    set_assignee(theirs, ward.doctor, actor=ward.coord, exclude_ids=(mine.id,))  # a swap: no short rest
    set_assignee(mine, ward.other, actor=ward.coord, exclude_ids=(theirs.id,))
    db.session.commit()
    assert db.session.get(Shift, theirs.id).assignee_id == ward.doctor.id


def test_bulk_check_for_candidates_matches_one_by_one(ward):
    add_shift(ward, ward.late, MON, ward.doctor)
    add_shift(ward, ward.late, MON, ward.nurse)
    gap = add_shift(ward, ward.early, MON + timedelta(days=1))
    people = [ward.doctor, ward.nurse, ward.other]
    bulk = verdicts_for_candidates(gap, people)
    for p in people:
        assert bulk[p.id] == verdicts_for_change(p, add=[gap])
    assert [v.rule_id for v in bulk[ward.nurse.id]] == ["WTR-rest11"] and bulk[ward.other.id] == []



def test_bulk_check_reads_a_short_slice_only_when_the_long_rules_cannot_fire(ward, make, monkeypatch):
    """The bulk what-if reads about ten days either side of the gap for people whose busiest 26 weeks stay under the
    average-week limit, and everything for the rest; either way it must give exactly the one-by-one answers."""
    monkeypatch.setattr("rota.compliance.rotas.SCREEN_FROM", 1)  # screen even these four (a pool is usually larger)
    from rota.models import Leave, LeaveKind

    light, heavy, nights, on_leave = (make.user(display_name=n) for n in ("Lia Light", "Hal Heavy", "Nel Nights",
                                                                         "Lee Leave"))
    for u in (light, heavy, nights, on_leave):
        accounts.add_member(ward.team, u, TeamRole.staff)
    first = MON - timedelta(weeks=28)
    rows = []
    for d in range(7 * 56):
        day = first + timedelta(days=d)
        wd = day.weekday()
        if wd < 3:  # Mon-Wed earlies: 25.5 h a week
            rows.append((light, local(day, 7), 8.5))
            rows.append((on_leave, local(day, 7), 8.5))
        if wd < 5 and d % 7 != 4:  # Mon-Thu long days: 50 h a week, over 48 on average
            rows.append((heavy, local(day, 7, 30), 12.5))
        if wd in (0, 1, 2):  # three nights a week: a night worker
            rows.append((nights, local(day, 20), 12))
    db.session.add_all(Shift(team_id=ward.team.id, shift_type_id=ward.early.id, starts_at=s,
                             ends_at=s + timedelta(hours=h), assignee_id=u.id, state=ShiftState.scheduled)
                       for u, s, h in rows)
    db.session.add(Leave(user_id=on_leave.id, kind=LeaveKind.annual, first_day=MON - timedelta(weeks=6),
                         last_day=MON - timedelta(weeks=4)))
    db.session.commit()
    gap = add_shift(ward, ward.late, MON + timedelta(days=5))  # a Saturday late, nobody's shift overlaps
    people = [light, heavy, nights, on_leave]
    added = as_work_shift(gap, 0, ward.team)
    profiles = {p.id: profile_for(p, ward.team) for p in people}
    rotas, _ = focus_rotas(profiles, added)
    assert len(rotas[light.id]) < 15  # a short slice ...
    assert len(rotas[heavy.id]) > 200 and len(rotas[on_leave.id]) > 100  # ... but everything where it matters
    bulk = verdicts_for_candidates(gap, people)
    lo, hi = added.starts_at - MARGIN, added.ends_at + MARGIN
    for p in people:  # the reference: everything read, no screening
        prof = profiles[p.id]
        everything = load_shifts([p.id], lo, hi)[p.id] + [added]
        full = rules.evaluate(everything, prof.rule_sets, leave=load_leave([p.id], lo, hi)[p.id],
                              opted_out=prof.opted_out, focus=[added.identity])
        assert bulk[p.id] == full, p.display_name
        monkeypatch.setattr("rota.compliance.rotas.SCREEN_FROM", 8)  # one person: the whole margin is read
        assert verdicts_for_change(p, add=[gap]) == full, p.display_name
        monkeypatch.setattr("rota.compliance.rotas.SCREEN_FROM", 1)
    assert "WTR-avg48" in {v.rule_id for v in bulk[heavy.id]}
    assert "WTR-avg48" not in {v.rule_id for v in bulk[light.id]}


def test_a_refused_assignment_leaves_an_audit_entry_with_the_rules_and_no_names(ward, client, make, bearer):
    """Blocking verdicts avoided are counted (insights): the refusal itself is recorded though the change is not."""
    add_shift(ward, ward.late, MON, ward.doctor)
    early = add_shift(ward, ward.early, MON + timedelta(days=1))
    resp = client.patch(f"/api/v1/shifts/{early.id}", json={"assignee_id": ward.doctor.id, "version": early.version},
                        headers=bearer(make.token(ward.coord)))
    assert resp.status_code == 422, resp.get_data(as_text=True)
    login(client, ward.coord)  # and from the shift's page: the refusal shows on the form, and is recorded too
    page = client.post(f"/shifts/{early.id}", data={"a-assignee": str(ward.doctor.id), "a-version": early.version})
    assert page.status_code == 422
    db.session.expire_all()
    assert db.session.get(Shift, early.id).assignee_id is None
    refused = actions("compliance.refused")
    assert len(refused) == 2
    for entry in refused:
        assert (entry.team_id, entry.entity_id, entry.actor_id, entry.outcome) == \
            (ward.team.id, str(early.id), ward.coord.id, "refused")
        assert entry.summary["rule_ids"] == "TCS-rest11"  # the blocking rule (WTR-rest11 only warns here)
        assert "Dev Doctor" not in entry.summary_json
