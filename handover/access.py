"""A team's side of handover: who may see and manage its patients and handovers, its time zone (local times read
there), and its handover settings."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app

from core import audit, timeutil
from core.accounts import Team
from core.db import db
from core.errors import Forbidden, ValidationFailed
from handover.models import (
    HandoverSettings,
    HandoverStyle,
)


def require_view(team: Team, user) -> None:
    if not team.can_view(user):
        raise Forbidden(f"Only members of {team.name} and administrators can see its patients and handovers.")


def require_manage(team: Team, user) -> None:
    if not team.can_manage(user):
        raise Forbidden(f"Only coordinators of {team.name} and administrators can do this.")


def team_zone(team: Team) -> ZoneInfo:
    return timeutil.zone(team.timezone or timeutil.DEFAULT_ZONE)


def local_to_utc(value: datetime, tz: ZoneInfo, field: str = "starts_at") -> datetime:
    """An aware datetime is taken as given; a naive one is read in ``tz`` and refused if it does not exist there
    (spring-forward gap) or happens twice (autumn fold)."""
    try:
        return timeutil.localize(value, tz)
    except timeutil.NonexistentLocalTime:
        raise ValidationFailed("That local time does not exist (the clocks go forward).",
                               errors={field: [f"{value:%H:%M} does not exist on {value:%d %b} in {tz.key}. "
                                               "Give a time with a UTC offset."]}) from None
    except timeutil.AmbiguousLocalTime:
        raise ValidationFailed("That local time happens twice (the clocks go back).",
                               errors={field: [f"{value:%H:%M} happens twice on {value:%d %b} in {tz.key}. "
                                               "Give a time with a UTC offset, e.g. +01:00 or +00:00."]}) from None


# ---------------------------------------------------------------------------------------------------- settings


def settings_for(team: Team) -> HandoverSettings:
    found = db.session.get(HandoverSettings, team.id)
    if found is None:
        found = HandoverSettings(team_id=team.id, style=HandoverStyle.sbar,
                                 ack_minutes=current_app.config.get("HANDOVER_ACK_MINUTES", 60))
    return found


def update_settings(team: Team, actor, *, style: str, ack_minutes: int) -> HandoverSettings:
    require_manage(team, actor)
    settings = settings_for(team)
    settings.style = HandoverStyle(style)
    settings.ack_minutes = ack_minutes
    db.session.add(settings)
    db.session.flush()
    audit.record("handover.settings_changed", actor=actor, entity_type="team", entity_id=team.id, team_id=team.id,
                 summary={"style": settings.style.value, "ack_minutes": ack_minutes})
    return settings
