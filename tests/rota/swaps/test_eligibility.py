"""The one eligibility service: membership and pools, grade, skills, leave, overlap, compliance, query count."""

from __future__ import annotations

from datetime import timedelta

from core.accounts import TeamRole, add_member
from core.db import db
from rota.compliance.rules import Verdict
from rota.models import Leave, LeaveKind
from rota.swaps import eligibility
from rota.swaps import requests as swap_requests
from tests.conftest import count_queries
from tests.rota.swaps import factories as data


def test_grade_ladders_compare_within_their_own_ladder():
    assert eligibility.grade_meets("Band 6", "Band 5")
    assert eligibility.grade_meets("Band 5", "Band 5")
    assert not eligibility.grade_meets("Band 4", "Band 5")
    assert not eligibility.grade_meets("ST3", "Band 5")  # a doctor is not a Band 5 nurse
    assert eligibility.grade_meets("ST4", "ST3") and not eligibility.grade_meets("CT2", "ST3")
    assert eligibility.grade_meets(None, None) and not eligibility.grade_meets(None, "Band 2")
    assert eligibility.missing_skills(["iv-trained", "ALS"], ["IV-trained", "Chemo-trained"]) == ["Chemo-trained"]


def test_each_reason_is_explained_in_plain_english(app, make):
    w = data.ward(make, 6)
    holder, fine, junior, unskilled, on_leave, busy = w.staff
    junior.grade = "Band 4"
    unskilled.skills = []
    x = data.shift(w.team, starts_at=data.soon(4), assignee=holder, required_grade="Band 5", skills=["IV-trained"])
    db.session.add(Leave(user_id=on_leave.id, kind=LeaveKind.annual, first_day=x.starts_at.date(),
                         last_day=x.starts_at.date()))
    data.shift(w.team, starts_at=x.starts_at - timedelta(hours=4), assignee=busy)
    outsider = make.user(display_name="Olive Outsider")
    results = eligibility.by_user(eligibility.assess(x, [fine, junior, unskilled, on_leave, busy, outsider]))
    assert results[fine.id].ok and results[fine.id].clean
    assert "is Band 4; this shift needs Band 5 or above" in results[junior.id].explain()
    assert "not recorded as IV-trained" in results[unskilled.id].explain()
    assert "on annual leave" in results[on_leave.id].explain()
    assert "which overlaps" in results[busy.id].explain() and "overlap" in results[busy.id].codes
    assert "not in this team" in results[outsider.id].explain()
    everyone = {r.user.id for r in eligibility.eligible(x)}
    assert everyone == {fine.id}


def test_a_pool_widens_who_may_take_a_teams_shifts(app, make):
    w = data.ward(make, 1)
    bank_nurse = make.user(display_name="Bank Nurse", skills=["IV-trained"])
    bank = make.team("Bank staff", staff=[bank_nurse])
    gap = data.shift(w.team, starts_at=data.soon(2))
    assert bank_nurse.id not in eligibility.eligible_user_ids(gap)
    data.settings(w.team, pool_team_ids=[bank.id])
    assert bank_nurse.id in eligibility.eligible_user_ids(gap)
    assert [e.shift.id for e in eligibility.eligible_open_shifts(bank_nurse)] == [gap.id]


def test_the_shift_given_up_in_a_swap_does_not_count_as_an_overlap(app, make):
    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    y = data.shift(w.team, starts_at=data.soon(3) + timedelta(hours=1), assignee=b)
    assert not eligibility.check(x, b).ok
    assert eligibility.check(x, b, giving_up=[y]).ok


def test_compliance_verdicts_are_checked_for_both_parties_of_a_swap(app, make, monkeypatch):
    w = data.ward(make, 2)
    a, b = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=a)
    y = data.shift(w.team, starts_at=data.soon(5), assignee=b)
    seen = []

    def fake(user, *, add=(), remove=(), rule_sets=None):
        seen.append((user.id, [s.id for s in add], [s.id for s in remove]))
        if user.id == a.id:
            return [Verdict("WTR-avg48", "block", "50 h", "48 h", "Average over 48 hours a week.", (0,))]
        return []

    data.fake_engine(monkeypatch, fake)
    results = swap_requests.swap_eligibility(x, y)
    assert sorted(seen) == sorted([(b.id, [x.id], [y.id]), (a.id, [y.id], [x.id])])
    by = eligibility.by_user(results)
    assert by[b.id].ok and not by[a.id].ok and "Average over 48 hours" in by[a.id].explain()


def test_eligibility_for_a_whole_team_takes_a_fixed_number_of_queries(app, make, monkeypatch):
    """No N+1: the cheap checks cost the same handful of queries for 5 or 40 people."""
    data.fake_engine(monkeypatch, lambda user, **kw: [])

    def count_for(n):
        w = data.ward(make, n, name=f"Ward of {n}")
        x = data.shift(w.team, starts_at=data.soon(4))
        for i, u in enumerate(w.staff):
            data.shift(w.team, starts_at=data.soon(6 + i % 5), assignee=u, commit=False)
        db.session.commit()
        db.session.expire_all()
        x = db.session.get(type(x), x.id)
        _ = x.team.timezone
        with count_queries() as statements:
            result = eligibility.eligible(x)
        assert len(result) == n + 1  # every nurse and the coordinator (the shift has no requirements)
        return len(statements)

    small, large = count_for(5), count_for(40)
    assert large == small, (small, large)


def test_coordinators_of_another_team_are_not_candidates_unless_members(app, make):
    w = data.ward(make, 1)
    other_coord = make.user(display_name="Other Coordinator")
    make.team("Other ward", coordinators=[other_coord])
    gap = data.shift(w.team, starts_at=data.soon(2))
    assert other_coord.id not in eligibility.eligible_user_ids(gap)
    add_member(w.team, other_coord, TeamRole.staff)
    db.session.commit()
    assert other_coord.id in eligibility.eligible_user_ids(gap)
