"""What swap requests and open shifts share: a team's swap settings, the guards every change goes through (the
two-year horizon, a required reason, a refusal carrying the compliance verdicts, the conditional update on a shift)
and notifying the people involved. Services never commit."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from core import audit
from core.accounts import Membership, Team, TeamRole
from core.db import db
from core.errors import Conflict, Forbidden, RuleViolation, ValidationFailed
from notifications.service import notify
from rota.assignment import hold_refusal
from rota.models import Shift, ShiftState
from rota.swaps import eligibility
from rota.swaps.eligibility import Eligibility
from rota.swaps.models import TeamSwapSettings

MAX_REASON = 200
HORIZON = timedelta(days=730)  # nobody swaps or claims shifts further ahead than this


def tell(user_ids, *, kind: str, text: str, link: str | None, team_id: int, key: str) -> None:
    """Notify each person once (empty ids dropped); ``key`` keeps a retried transaction from notifying twice."""
    ids = [i for i in dict.fromkeys(user_ids) if i]
    if ids:
        notify(ids, kind=kind, text=text, link=link, team_id=team_id, idempotency_key=key)


def coordinator_ids(team_id: int) -> list[int]:
    return list(db.session.scalars(select(Membership.user_id).where(Membership.team_id == team_id,
                                                                     Membership.role == TeamRole.coordinator)))


def required_reason(reason: str | None, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(f"Give a reason {what}; it is shown to the people affected.",
                               errors={"reason": [f"Give a reason {what}."]})
    if len(reason) > MAX_REASON:
        raise ValidationFailed("Keep the reason under 200 characters.",
                               errors={"reason": ["Keep the reason under 200 characters."]})
    return reason


def hours_until(instant: datetime, now: datetime) -> float:
    return (instant - now).total_seconds() / 3600


def refuse_ineligible(results: list[Eligibility], intro: str, *, actor=None, override_reason: str | None = None,
                      overridable: bool = False) -> bool:
    """Refuse unless everyone is eligible. Where ``overridable`` (a coordinator deciding), a change that only breaks
    staffing cover (``COVER-`` verdicts) goes ahead with ``override_reason``; returns whether it was overridden."""
    only_cover = [r for r in results if r.short_of_cover]
    if overridable and override_reason and only_cover and all(r.ok or r in only_cover for r in results):
        return True
    bad = [r for r in results if not r.ok]
    if bad:
        for r in bad:
            hold_refusal(r.shift, r.user, r.blocking, actor=actor)
        # A clash with another shift is a conflict with the rota as it is now (409); the rest are rules (422).
        error = Conflict if any("overlap" in r.codes for r in bad) else RuleViolation
        all_cover = len(only_cover) == len(bad)
        hint = " A coordinator may go ahead anyway by giving a reason (it is recorded)." \
            if overridable and all_cover else ""
        raise error(intro + " " + " ".join(r.explain() for r in bad) + hint, extra={
            "code": "overlap" if error is Conflict else "cover" if all_cover else "not_eligible",
            "verdicts": [verdict_dict(v) for r in bad for v in r.blocking],
            "cover": [e.text for r in bad for e in r.cover],
            "overridable": overridable and all_cover,
        })
    return False


def verdict_dict(v) -> dict:
    return {"rule_id": v.rule_id, "severity": v.severity, "observed": v.observed, "limit": v.limit,
            "message": v.message, "shift_ids": list(v.shift_ids)}


def take_shift(shift: Shift, *, expected_holder: int | None, expected_version: int, what: str) -> None:
    """Conditional update on the shift: proceeds only if it is exactly as the request saw it (and row-locks it)."""
    stmt = update(Shift).where(Shift.id == shift.id, Shift.version == expected_version,
                               Shift.state != ShiftState.cancelled)
    stmt = stmt.where(Shift.assignee_id == expected_holder) if expected_holder else stmt.where(
        Shift.state == ShiftState.open)
    result = db.session.execute(stmt.values(version=Shift.version + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict(what, extra={"code": "shift_changed"})
    db.session.refresh(shift)


# --------------------------------------------------------------------------------------------------- settings


def settings_for(team_id: int) -> TeamSwapSettings:
    return eligibility.settings_for(team_id)


def update_settings(team, *, actor, **values) -> TeamSwapSettings:
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can change its swap settings.")
    _check_pool_teams(team, actor, values.get("pool_team_ids"))
    row = db.session.get(TeamSwapSettings, team.id)
    if row is None:
        row = settings_for(team.id)
        db.session.add(row)
    for key, value in values.items():
        if value is not None:
            setattr(row, key, value)
    db.session.flush()
    audit.record("swap_settings.updated", actor=actor, entity_type="team_swap_settings", entity_id=team.id,
                 team_id=team.id, summary={k: (v.value if hasattr(v, "value") else v) for k, v in values.items()
                                           if v is not None and k != "pool_team_ids"})
    return row


def _check_pool_teams(team, actor, pool_team_ids) -> None:
    """A pool team's staff become candidates for this team's shifts, so only someone who manages that team too (its
    coordinator, or an administrator) may name it as a pool: a coordinator's power stops at their own teams."""
    new_ids = set(pool_team_ids or []) - set(settings_for(team.id).pool_team_ids or []) - {team.id}
    if not new_ids:
        return
    pools = db.session.scalars(select(Team).where(Team.id.in_(new_ids))).all()
    if len(pools) != len(new_ids):
        raise ValidationFailed("A staff pool must be an existing team.", errors={"pool_team_ids": ["Unknown team."]})
    for pool in pools:
        if not pool.can_manage(actor):
            raise Forbidden(f"Only a coordinator of {pool.name} or an administrator can make it a staff pool of "
                            f"{team.name}.")
