"""Finishing a handover: marking it ready, who may accept it (and whether they are on the rota), acceptance with
read-back, and the overdue flag.

Services never commit. Every change writes an audit entry whose summary holds ids only (see ``handover.services``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import url_for
from sqlalchemy import select

from core import audit
from core.accounts import Team, TeamRole
from core.db import db, now_utc
from core.errors import Conflict, Forbidden, NotFound, RuleViolation
from handover.access import require_view, settings_for, team_zone
from handover.models import (
    Handover,
    HandoverEntry,
    HandoverState,
)
from handover.services import current_entries, lock_for_writing
from notifications.service import notify
from rota.models import Shift, ShiftState


def mark_ready(handover: Handover, actor) -> Handover:
    """The outgoing clinician hands over: the incoming clinician is told (no patient data in the message)."""


    require_view(handover.team, actor)
    if handover.state != HandoverState.open:
        raise Conflict("This handover has already been handed over.")
    unreviewed = [e for e in current_entries(handover).values() if e.reviewed_at is None]
    if unreviewed:
        raise RuleViolation(f"{len(unreviewed)} patient entr{'y has' if len(unreviewed) == 1 else 'ies have'} not "
                            "been reviewed since being carried over. Open each one, check it, and save it.")
    handover.state = HandoverState.ready
    handover.ready_at = now_utc()
    recipients = [handover.incoming_id] if handover.incoming_id else [
        m.user_id for m in handover.team.memberships if m.user_id != handover.outgoing_id]
    notify(recipients, kind="handover.ready", text=f"Handover for {handover.team.name} is ready for you",
           link=url_for("handover.sheet", handover_id=handover.id), team_id=handover.team_id,
           idempotency_key=f"handover-ready-{handover.id}")
    audit.record("handover.ready", actor=actor, entity=handover, team_id=handover.team_id,
                 summary={"recipients": len(recipients)})
    return handover


def can_accept(handover: Handover, user) -> bool:
    if user is None or not user.is_authenticated or user.role_in(handover.team) is None:
        return False
    if handover.incoming_id is not None:
        return user.id == handover.incoming_id
    return user.id != handover.outgoing_id


ROTA_WINDOW = timedelta(hours=2)
FLAG_OVERDUE_TASK = "handover.flag_overdue"  # the periodic task: tell coordinators of handovers not accepted in time


def off_rota_notice(team: Team, user, now: datetime | None = None) -> str | None:
    """None if ``user`` has a shift on ``team``'s rota overlapping the next 2 hours; else a sentence saying so."""

    now = now or now_utc()
    until = now + ROTA_WINDOW
    rostered = db.session.scalar(select(Shift.id).where(
        Shift.team_id == team.id, Shift.assignee_id == user.id, Shift.state == ShiftState.scheduled,
        Shift.starts_at < until, Shift.ends_at > now).limit(1))
    if rostered is not None:
        return None
    zone = team_zone(team)
    return (f"You are not on the rota for {team.name} in the next 2 hours (no shift of yours between "
            f"{now.astimezone(zone):%H:%M} and {until.astimezone(zone):%H:%M}).")


def accept(handover: Handover, actor, *, patient_ids: list[int] | None = None, readback_note: str = "",
           seen_at: datetime | None = None, confirm_off_rota: bool = False) -> list[HandoverEntry]:
    """The incoming clinician takes responsibility for some entries or the whole handover. ``seen_at`` (when the
    page they read was rendered) refuses acceptance of an entry changed after they read it. Someone with no shift
    on the team's rota in the next 2 hours must confirm (``confirm_off_rota``); the acceptance records it."""
    require_view(handover.team, actor)
    if not can_accept(handover, actor):
        who = handover.incoming.display_name if handover.incoming else "a team member other than the outgoing one"
        raise Forbidden(f"Only the incoming clinician ({who}) can accept this handover.")
    if not lock_for_writing(handover):
        raise Conflict("This handover is closed because the team has started a later one.")
    entries = current_entries(handover)
    if patient_ids:
        unknown = [pid for pid in patient_ids if pid not in entries]
        if unknown:
            raise NotFound("Some of those patients are not in this handover.",
                           errors={"patient_ids": [f"Not in this handover: {', '.join(map(str, unknown))}."]})
        chosen = [entries[pid] for pid in dict.fromkeys(patient_ids)]
    else:
        chosen = list(entries.values())
    pending = [e for e in chosen if e.accepted_at is None]
    if not pending:
        raise Conflict("Those entries have already been accepted.")
    unreviewed = [e for e in pending if e.reviewed_at is None]
    if unreviewed:
        beds = ", ".join(e.patient.location or f"patient {e.patient_id}" for e in unreviewed)
        raise RuleViolation(f"Not yet reviewed by the outgoing clinician (carried over unchanged): {beds}. "
                            "Ask them to check and save these entries before you accept.")
    if seen_at is not None:
        changed = [e for e in pending if e.updated_at > seen_at]
        if changed:
            beds = ", ".join(e.patient.location or f"patient {e.patient_id}" for e in changed)
            raise Conflict(f"Changed since you opened the handover: {beds}. Reload and read the latest version "
                           "before accepting.")
    now = now_utc()
    notice = off_rota_notice(handover.team, actor, now)
    if notice and not confirm_off_rota:
        raise RuleViolation(f"{notice} Confirm that you are taking responsibility anyway.",
                            errors={"confirm_off_rota": ["Confirm that you are taking responsibility although you "
                                                         "are not on the rota."]})
    note = (readback_note or "").strip() or None
    for entry in pending:
        entry.accepted_at, entry.accepted_by_id, entry.readback_note = now, actor.id, note
        entry.accepted_off_rota = notice is not None
    if all(e.accepted_at is not None for e in entries.values()):
        handover.state = HandoverState.accepted
        handover.accepted_at, handover.accepted_by_id = now, actor.id
        handover.accepted_off_rota = notice is not None
        if not patient_ids:
            handover.readback_note = note
    db.session.flush()
    audit.record("handover.accepted", actor=actor, entity=handover, team_id=handover.team_id,
                 summary={"patient_ids": sorted(e.patient_id for e in pending),
                          "entry_ids": sorted(e.id for e in pending), "whole": not patient_ids,
                          "off_rota": notice is not None})
    return pending


def flag_overdue(now: datetime | None = None) -> list[Handover]:
    """Tell a team's coordinators about handovers nobody has accepted within the team's set time. Idempotent;
    called by ``flask handover flag-overdue`` from cron or the notifications worker."""

    now = now or now_utc()
    flagged = []
    candidates = db.session.scalars(select(Handover).where(Handover.state != HandoverState.accepted,
                                                           Handover.flagged_at.is_(None), Handover.starts_at <= now))
    for handover in candidates:
        minutes = settings_for(handover.team).ack_minutes
        if handover.starts_at + timedelta(minutes=minutes) > now:
            continue
        coordinators = [m.user_id for m in handover.team.memberships if m.role == TeamRole.coordinator]
        notify(coordinators, kind="handover.overdue",
               text=f"Handover for {handover.team.name} has not been accepted {minutes} minutes after the shift "
                    "change",
               link=f"/handover/{handover.id}", team_id=handover.team_id, urgent=True,
               idempotency_key=f"handover-overdue-{handover.id}")
        handover.flagged_at = now
        audit.record("handover.overdue_flagged", entity=handover, team_id=handover.team_id,
                     summary={"coordinators": len(coordinators), "ack_minutes": minutes})
        flagged.append(handover)
    db.session.flush()
    return flagged
