"""Rota services: building, editing, gaps, leave, publishing — as a coordinator would notice them."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.db import db
from core.errors import Conflict, RuleViolation, ValidationFailed
from notifications.models import Notification
from rota import services
from rota.models import PeriodState, ReleaseKind, Shift, ShiftRelease, ShiftState
from tests.factories import ward

MON = date(2026, 3, 2)


def _count(model=Shift):
    return db.session.scalar(select(func.count()).select_from(model))


def test_pattern_builds_a_week_with_people_on_rotating_lines(make):
    team, coord, staff, types = ward(make)
    report = services.generate_from_pattern(
        team, pattern={"cycle": "E E L L - - - N N N - - - -", "person_ids": [u.id for u in staff[:2]]},
        first_day=MON, last_day=MON + timedelta(days=6), actor=coord)
    db.session.commit()
    assert not report.problems
    first = [s for s in report.created if s.assignee_id == staff[0].id]
    second = [s for s in report.created if s.assignee_id == staff[1].id]
    assert [s.shift_type.code for s in first] == ["E", "E", "L", "L"]
    assert [s.shift_type.code for s in second] == ["N", "N", "N"]  # line 2 starts a week into the cycle
    assert first[0].starts_at == datetime(2026, 3, 2, 7, tzinfo=UTC)


def test_pattern_rule_every_other_week_and_unknown_code(make):
    team, coord, staff, types = ward(make)
    report = services.generate_from_pattern(
        team, pattern={"rules": [{"code": "N", "interval": 2, "weekdays": ["MO", "TU", "WE"]}]},
        first_day=MON, last_day=MON + timedelta(days=27), actor=coord)
    days = sorted(services.local_day(s) for s in report.created)
    assert days == [MON, MON + timedelta(1), MON + timedelta(2), MON + timedelta(14), MON + timedelta(15),
                    MON + timedelta(16)]
    assert all(s.state == ShiftState.open for s in report.created)
    db.session.commit()
    before = _count()
    with pytest.raises(ValidationFailed, match="Unknown shift code"):
        services.generate_from_pattern(team, pattern={"cycle": "X - - - - - -", "person_ids": [staff[0].id]},
                                       first_day=MON, last_day=MON, actor=coord)
    db.session.rollback()
    assert _count() == before


def test_night_across_clock_changes_has_true_length(make):
    team, coord, staff, types = ward(make)
    spring = services.add_shift(team, actor=coord, shift_type=types["N"], day=date(2026, 3, 28))
    autumn = services.add_shift(team, actor=coord, shift_type=types["N"], day=date(2026, 10, 24))
    assert spring.duration == timedelta(hours=11, minutes=30)
    assert autumn.duration == timedelta(hours=13, minutes=30)


def test_overlap_and_leave_clash_refused_with_clear_message_and_nothing_changes(make):
    team, coord, staff, types = ward(make)
    nurse = staff[0]
    services.add_shift(team, actor=coord, shift_type=types["E"], day=MON, assignee=nurse)
    db.session.commit()
    before = _count()
    with pytest.raises(Conflict, match="overlaps this shift"):
        services.add_shift(team, actor=coord, shift_type=types["L"], day=MON, assignee=nurse)
    db.session.rollback()
    assert _count() == before
    services.record_leave(nurse, kind="annual", first_day=MON + timedelta(3), last_day=MON + timedelta(4),
                          team=team, actor=coord)
    db.session.commit()
    before = _count()
    with pytest.raises(Conflict, match="annual leave"):
        services.add_shift(team, actor=coord, shift_type=types["E"], day=MON + timedelta(3), assignee=nurse)
    db.session.rollback()
    assert _count() == before


def test_leave_opens_the_persons_shifts_and_tells_coordinators(make):
    team, coord, staff, types = ward(make)
    nurse = staff[0]
    on_leave = services.add_shift(team, actor=coord, shift_type=types["N"], day=MON + timedelta(1), assignee=nurse)
    after = services.add_shift(team, actor=coord, shift_type=types["E"], day=MON + timedelta(5), assignee=nurse)
    db.session.commit()
    leave, opened = services.record_leave(nurse, kind="sickness", first_day=MON + timedelta(1),
                                          last_day=MON + timedelta(2), team=team, actor=coord)
    db.session.commit()
    assert [s.id for s in opened] == [on_leave.id]
    assert on_leave.state == ShiftState.open and on_leave.assignee_id is None
    assert after.assignee_id == nurse.id
    release = db.session.scalar(select(ShiftRelease).where(ShiftRelease.shift_id == on_leave.id))
    assert release.kind == ReleaseKind.leave and release.user_id == nurse.id
    note = db.session.scalar(select(Notification).where(Notification.user_id == coord.id,
                                                        Notification.kind == "rota.leave_opened"))
    assert "1 shift(s) are now open" in note.text
    assert "sick" not in note.text.lower()  # the reason for absence is not broadcast


def test_gaps_are_grade_and_skill_aware_and_one_click_opens_one(make):
    team, coord, staff, types = ward(make)
    day = date.today() + timedelta(days=7)  # a gap can be opened only for a shift still to come
    senior = make.user(grade="Band 6", skills=["IV-trained"])
    hca = make.user(grade="Band 3", staff_group="support")
    from core import accounts

    accounts.add_member(team, senior)
    accounts.add_member(team, hca)
    rn = services.create_requirement(team, shift_type=types["N"], min_count=2, staff_group="nursing", actor=coord)
    b6 = services.create_requirement(team, shift_type=types["N"], min_count=1, min_grade="Band 6",
                                     skill="IV-trained", actor=coord)
    services.add_shift(team, actor=coord, shift_type=types["N"], day=day, assignee=hca)
    services.add_shift(team, actor=coord, shift_type=types["N"], day=day, assignee=staff[0])
    db.session.commit()
    gaps = {g.requirement.id: g for g in services.gaps_for(team, day, day)}
    assert gaps[rn.id].have == 1 and gaps[rn.id].missing == 1  # the HCA does not count as an RN
    assert gaps[b6.id].have == 0 and gaps[b6.id].missing == 1
    shift = services.open_gap(team, requirement=b6, day=day, actor=coord)
    db.session.commit()
    assert shift.state == ShiftState.open and shift.required_grade == "Band 6"
    assert shift.required_skills == ["IV-trained"]
    gaps = {g.requirement.id: g for g in services.gaps_for(team, day, day)}
    assert gaps[b6.id].missing == 0 and gaps[b6.id].open_count == 1
    with pytest.raises(Conflict):
        services.open_gap(team, requirement=b6, day=day, actor=coord)
    db.session.rollback()
    services.assign(shift, senior, actor=coord)
    db.session.commit()
    gaps = {g.requirement.id: g for g in services.gaps_for(team, day, day)}
    assert b6.id not in gaps  # filled: the senior nurse counts for the Band 6+ clause and for the RN count
    assert rn.id not in gaps


def test_publish_runs_checks_and_notifies_staff(make):
    team, coord, staff, types = ward(make)
    period = services.create_period(team, first_day=MON, last_day=MON + timedelta(6), actor=coord)
    shift = services.add_shift(team, actor=coord, shift_type=types["E"], day=MON, assignee=staff[0])
    db.session.commit()
    assert shift.rota_period_id == period.id
    assert services.next_shifts(staff[0], now=datetime(2026, 3, 1, tzinfo=UTC)) == []  # draft: not shown yet
    seen = []

    def blocker(p, shifts):
        seen.append(len(shifts))
        raise RuleViolation("Dr X would work 80 h in 7 days.")

    services.PUBLISH_CHECKS.append(blocker)
    try:
        with pytest.raises(RuleViolation):
            services.publish_period(period, actor=coord)
        db.session.rollback()
        assert period.state == PeriodState.draft and seen == [1]
    finally:
        services.PUBLISH_CHECKS.remove(blocker)
    services.PUBLISH_CHECKS.append(lambda p, shifts: {staff[0].id: {"hours": 8.5}})
    try:
        reports = services.publish_period(period, actor=coord)
    finally:
        services.PUBLISH_CHECKS.pop()
    db.session.commit()
    assert reports[staff[0].id] == {"hours": 8.5}
    assert period.state == PeriodState.published and period.published_by_id == coord.id
    texts = db.session.scalars(select(Notification.text).where(Notification.kind == "rota.published")).all()
    assert len(texts) == len(staff) + 1
    mine = services.next_shifts(staff[0], now=datetime(2026, 3, 1, tzinfo=UTC))
    assert [m.shift.id for m in mine] == [shift.id]


def test_copy_week_keeps_local_times_across_the_clock_change(make):
    team, coord, staff, types = ward(make)
    week = date(2026, 3, 23)
    services.add_shift(team, actor=coord, shift_type=types["E"], day=week, assignee=staff[0])
    services.add_shift(team, actor=coord, shift_type=types["L"], day=week + timedelta(1))
    db.session.commit()
    report = services.copy_week(team, source_monday=week, target_monday=week + timedelta(7), actor=coord)
    db.session.commit()
    copied = sorted(report.created, key=lambda s: s.starts_at)
    assert copied[0].starts_at == datetime(2026, 3, 30, 6, tzinfo=UTC)  # 07:00 BST
    assert copied[0].assignee_id == staff[0].id
    assert copied[1].state == ShiftState.open


def test_cancel_needs_a_reason_and_releases_the_holder(make):
    team, coord, staff, types = ward(make)
    shift = services.add_shift(team, actor=coord, shift_type=types["E"], day=MON, assignee=staff[0])
    db.session.commit()
    with pytest.raises(ValidationFailed):
        services.cancel_shift(shift, reason="  ", actor=coord)
    db.session.rollback()
    services.cancel_shift(shift, reason="Ward closed for deep clean", actor=coord)
    db.session.commit()
    assert shift.state == ShiftState.cancelled
    assert db.session.scalar(select(ShiftRelease.kind).where(ShiftRelease.shift_id == shift.id)) == \
        ReleaseKind.cancelled


def test_grid_shows_people_open_row_leave_and_coverage(make):
    team, coord, staff, types = ward(make)
    services.create_requirement(team, shift_type=types["E"], min_count=1, actor=coord)
    services.add_shift(team, actor=coord, shift_type=types["E"], day=MON, assignee=staff[0])
    services.add_shift(team, actor=coord, shift_type=types["L"], day=MON + timedelta(1))
    services.record_leave(staff[1], kind="annual", first_day=MON, last_day=MON, team=team, actor=coord)
    db.session.commit()
    services.GRID_CELL_HOOKS.append(lambda t, cells: [c.markers.append("!") for c in cells if c.shifts])
    try:
        grid = services.team_grid(team, MON, 7, viewer=coord)
    finally:
        services.GRID_CELL_HOOKS.pop()
    row = next(r for r in grid.rows if r.user.id == staff[0].id)
    assert row.cells[0].shifts[0].shift_type.code == "E" and row.cells[0].markers == ["!"]
    assert next(r for r in grid.rows if r.user.id == staff[1].id).cells[0].leave is not None
    assert grid.open_row.cells[1].shifts and grid.open_row.cells[1].markers == ["!"]
    assert [c.status for c in grid.coverage[:2]] == ["ok", "short"]


def test_database_refuses_a_shift_longer_than_24_hours(make):
    from sqlalchemy.exc import IntegrityError

    team = make.team()
    t0 = datetime(2026, 3, 2, 7, tzinfo=UTC)
    db.session.add(Shift(team_id=team.id, state=ShiftState.open, starts_at=t0, ends_at=t0 + timedelta(hours=24)))
    db.session.commit()
    db.session.add(Shift(team_id=team.id, state=ShiftState.open, starts_at=t0,
                         ends_at=t0 + timedelta(hours=24, minutes=1)))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
