"""Rota services: rota periods and publishing.

``PUBLISH_CHECKS``: ``fn(period, shifts) -> dict`` (a per-person report, merged into the publish result); may
raise ``core.errors.RuleViolation`` to block publishing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import select

from core import audit, events, timeutil
from core.accounts import Team
from core.db import db, now_utc
from core.errors import Conflict, RuleViolation, ValidationFailed
from rota.models import (
    PeriodState,
    RotaPeriod,
    Shift,
    ShiftState,
)
from rota.services.access import require_manage
from rota.services.shifts import MAX_RANGE_DAYS

PUBLISH_CHECKS: list[Callable] = []


# --------------------------------------------------------------------------------------- periods, publishing


def create_period(team: Team, *, first_day: date, last_day: date, actor) -> RotaPeriod:
    require_manage(team, actor)
    if last_day < first_day:
        raise ValidationFailed("The last day is before the first day.", errors={"last_day": ["Before first_day."]})
    if (last_day - first_day).days >= MAX_RANGE_DAYS:
        raise ValidationFailed("A rota period covers at most 60 weeks.", errors={"last_day": ["Too far."]})
    clash = db.session.scalar(select(RotaPeriod).where(RotaPeriod.team_id == team.id,
                                                       RotaPeriod.first_day <= last_day,
                                                       RotaPeriod.last_day >= first_day).limit(1))
    if clash is not None:
        raise Conflict(f"That overlaps the rota period {clash.first_day:%d %b %Y}–{clash.last_day:%d %b %Y}.",
                       extra={"code": "period_overlap", "period_id": clash.id})
    period = RotaPeriod(team_id=team.id, first_day=first_day, last_day=last_day, state=PeriodState.draft)
    db.session.add(period)
    db.session.flush()
    lo, hi = timeutil.day_bounds(first_day, last_day, team.timezone)
    for s in db.session.scalars(select(Shift).where(Shift.team_id == team.id, Shift.starts_at >= lo,
                                                    Shift.starts_at < hi, Shift.rota_period_id.is_(None))):
        s.rota_period_id = period.id
    db.session.flush()
    audit.record("rota_period.created", actor=actor, entity=period)
    return period


def periods(team: Team) -> list[RotaPeriod]:
    return list(db.session.scalars(select(RotaPeriod).where(RotaPeriod.team_id == team.id)
                                   .order_by(RotaPeriod.first_day.desc())))


def publish_period(period: RotaPeriod, *, actor, confirm_empty: bool = False) -> dict:
    """Publish: run every PUBLISH_CHECKS function (any may refuse), stamp the period, tell the team. A period with no
    shifts is refused unless ``confirm_empty`` (the team would be told of an empty rota)."""
    from notifications.service import notify

    team = period.team
    require_manage(team, actor)
    if period.state == PeriodState.published:
        raise Conflict("This rota period is already published.", extra={"code": "already_published"})
    lo, hi = timeutil.day_bounds(period.first_day, period.last_day, team.timezone)
    shifts = list(db.session.scalars(select(Shift).where(Shift.team_id == team.id, Shift.starts_at >= lo,
                                                         Shift.starts_at < hi).order_by(Shift.starts_at)))
    for s in shifts:
        if s.rota_period_id is None:
            s.rota_period_id = period.id
    live = [s for s in shifts if s.state != ShiftState.cancelled]
    if not live and not confirm_empty:
        raise RuleViolation("This period has no shifts: publishing it tells the team their rota is empty. Confirm "
                            "again to publish it anyway.", extra={"code": "empty_period"},
                            errors={"confirm_empty": ["Tick to publish a period with no shifts."]})
    reports: dict = {}
    for check in PUBLISH_CHECKS:
        reports.update(check(period, live) or {})
    period.state = PeriodState.published
    period.published_at = now_utc()
    period.published_by_id = actor.id
    db.session.flush()
    members = [m.user_id for m in team.memberships]
    notify(members, kind="rota.published", team_id=team.id, link="/my/shifts",
           text=f"The {team.name} rota for {period.first_day:%d %b}–{period.last_day:%d %b %Y} is published.",
           idempotency_key=f"rota.published:{period.id}")
    events.emit("rota.published", period=period)
    audit.record("rota_period.published", actor=actor, entity=period,
                 summary={"shifts": len(live), "open": sum(1 for s in live if s.state == ShiftState.open)})
    return reports
