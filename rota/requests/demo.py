"""Demo data for staff requests: on the demo ward, entitlements (a part-timer, long service, carry-over), an approved
and a waiting leave request, the team's "at most 3 off" rule, a request window open for the next draft period with
some requests, and a preference and a flexible-working agreement."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from core.accounts import Team, TeamRole
from core.db import db
from rota import services
from rota.demo import WARD, demo_nurse_email
from rota.models import PeriodState, RotaPeriod, ShiftKind, ShiftType
from rota.requests import balance, rota_requests, service, settings
from rota.requests.models import LeaveRequest


def seed_requests() -> list[str]:
    """Idempotent: a ward that already has leave requests is left alone. The demo nurse is left without requests, so
    she can make her own."""
    ward = db.session.scalar(select(Team).where(Team.name == WARD))
    if ward is None or db.session.scalar(select(LeaveRequest.id).where(LeaveRequest.team_id == ward.id).limit(1)):
        return []
    boss = next((m.user for m in ward.memberships if m.role == TeamRole.coordinator), None)
    nurse = demo_nurse_email()
    staff = sorted((m.user for m in ward.memberships if m.role != TeamRole.coordinator and m.user.email != nurse),
                   key=lambda u: u.id)
    if boss is None or len(staff) < 4:
        return []
    today = balance.today_for(boss)
    settings.set_max_off(ward, 3, actor=boss)
    settings.set_profile(staff[0], actor=boss, service_start=today.replace(year=today.year - 12), fte=1.0)
    settings.set_profile(staff[1], actor=boss, service_start=today.replace(year=today.year - 6), fte=0.6)
    settings.set_carry_over(staff[0], year=balance.leave_year_of(today), minutes=900, actor=boss,
                           note="Carried from last year")
    # In the published rota (so the approval page shows shifts that would open) where nobody has leave yet.
    start = _next_monday(today + timedelta(days=14))
    free = [u for u in staff if services.leave_overlapping(u, start, start + timedelta(days=4), ward) is None]
    if len(free) >= 2:
        approved = service.request_leave(free[0], actor=free[0], first_day=start, last_day=start + timedelta(days=4),
                                         note="Family holiday")
        service.approve(approved, actor=boss, reason="Enjoy it")
        service.request_leave(free[1], actor=free[1], first_day=start + timedelta(days=2),
                              last_day=start + timedelta(days=3), note="Wedding")
    late = db.session.scalar(select(ShiftType).where(ShiftType.team_id == ward.id, ShiftType.name.ilike("late%")))
    night = db.session.scalar(select(ShiftType).where(ShiftType.team_id == ward.id, ShiftType.kind == ShiftKind.night))
    if late is not None:
        rota_requests.add_preference(ward, staff[3], actor=boss, kind="prefers_shift", shift_type_id=late.id)
    rota_requests.add_preference(ward, staff[1], actor=boss, kind="no_nights", agreement=True,
                                 note="Flexible-working agreement (caring responsibilities)")
    rota_requests.add_preference(ward, staff[1], actor=boss, kind="fixed_day_off", weekday=2, agreement=True)
    period = _future_period(ward, today)
    window = rota_requests.open_window(period, actor=boss, opens_on=today - timedelta(days=2),
                                       closes_on=min(today + timedelta(days=14), period.first_day - timedelta(1)),
                                       max_per_person=3)
    day = period.first_day
    rota_requests.add_request(window, actor=staff[0], day=day + timedelta(days=5), kind="avoid", priority=1,
                              note="Daughter's birthday")
    if late is not None:
        rota_requests.add_request(window, actor=staff[3], day=day + timedelta(days=1), kind="want",
                                  shift_type_id=late.id, priority=2)
    if night is not None:
        rota_requests.add_request(window, actor=staff[2], day=day + timedelta(days=9), kind="avoid",
                                  shift_type_id=night.id, priority=3)
    db.session.flush()
    return [f"  {WARD}: leave requests (one approved, one waiting), at most 3 off a day, a request window for "
            f"{period.first_day:%d %b}–{period.last_day:%d %b} with requests, preferences and agreements"]


def _next_monday(day: date) -> date:
    return day + timedelta(days=(7 - day.weekday()) % 7)


def _future_period(ward: Team, today: date) -> RotaPeriod:
    """A draft period of four weeks just after the ward's last one (the rota to ask about)."""
    last = db.session.scalar(select(func.max(RotaPeriod.last_day)).where(RotaPeriod.team_id == ward.id))
    first = _next_monday(max(last + timedelta(days=1) if last else today, today + timedelta(days=15)))
    period = RotaPeriod(team_id=ward.id, first_day=first, last_day=first + timedelta(days=27), state=PeriodState.draft)
    db.session.add(period)
    db.session.flush()
    return period
