"""Handover rules: sessions pre-filled from the last handover and versioned entries. The rest of the handover rules
sit beside this module: ``access`` (who may see and manage, the team's zone, settings), ``patient_records`` (the
patient list), ``acceptance`` (ready, accept, overdue flags) and ``retention`` (the access report and the purge).

Services never commit. Every change and every view of clinical content writes an audit entry whose summary holds
ids only (``patient_ids`` lists the patients whose content was touched, which is what the access report reads).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from core import audit
from core.accounts import Membership, Team, User
from core.audit import AuditEntry
from core.db import db, get_by_id, now_utc
from core.errors import Conflict, NotFound, ValidationFailed
from handover.access import local_to_utc, require_view, settings_for, team_zone
from handover.models import (
    Handover,
    HandoverEntry,
    HandoverState,
    Patient,
    Severity,
)
from handover.patient_records import list_patients

CONTENT_FIELDS = ("severity", "situation", "background", "assessment", "recommendation", "contingency", "synthesis",
                  "actions")
MAX_TEXT = 4000
MAX_ACTIONS = 30


# --------------------------------------------------------------------------------------------------- handovers


def get_handover(handover_id: int) -> Handover:
    handover = get_by_id(Handover, handover_id)
    if handover is None:
        raise NotFound(f"No handover with id {handover_id}.")
    return handover


def latest_handover(team: Team) -> Handover | None:
    return db.session.scalar(select(Handover).where(Handover.team_id == team.id).order_by(Handover.id.desc())
                             .limit(1))


def list_handovers(team: Team, limit: int = 20) -> list[Handover]:
    return list(db.session.scalars(select(Handover).where(Handover.team_id == team.id)
                                   .options(selectinload(Handover.outgoing), selectinload(Handover.incoming))
                                   .order_by(Handover.id.desc()).limit(limit)))


def _member(team: Team, user_id: int | None, field: str) -> User | None:
    if user_id is None:
        return None
    user = get_by_id(User, user_id)
    if user is None or user.role_in(team) is None:
        raise ValidationFailed("That person is not a member of this team.",
                               errors={field: ["Choose someone on this team."]})
    return user


def start_handover(team: Team, actor, *, label: str, starts_at: datetime, outgoing_id: int | None = None,
                   incoming_id: int | None = None) -> Handover:
    """Open a handover with one entry per patient still on the list, pre-filled from the previous handover."""
    require_view(team, actor)
    label = (label or "").strip()
    if not label:
        raise ValidationFailed("Name the shift change.", errors={"label": ["For example: Night → Early."]})
    outgoing = _member(team, outgoing_id, "outgoing_id") if outgoing_id else actor
    if outgoing.role_in(team) is None:
        raise ValidationFailed("The outgoing clinician must be a member of this team.",
                               errors={"outgoing_id": ["Choose the outgoing clinician (a team member)."]})
    incoming = _member(team, incoming_id, "incoming_id")
    if incoming is not None and incoming.id == outgoing.id:
        raise ValidationFailed("The incoming and outgoing clinicians must be different people.",
                               errors={"incoming_id": ["Choose the person taking over."]})
    previous = latest_handover(team)
    if previous is not None and not lock_for_writing(previous):
        later = next_handover(previous)
        who = _starter(later)
        raise Conflict(f"{who} has just started the next handover ({later.label}); open it from the team's "
                       "handovers instead of starting another.", extra={"next_handover_id": later.id})
    handover = Handover(team_id=team.id, label=label, style=settings_for(team).style,
                        starts_at=starts_at.astimezone(UTC), outgoing_id=outgoing.id,
                        incoming_id=incoming.id if incoming else None, previous_id=previous.id if previous else None)
    db.session.add(handover)
    db.session.flush()
    carried = current_entries(previous) if previous else {}
    patients = list_patients(team)
    for patient in patients:
        before = carried.get(patient.id)
        entry = HandoverEntry(handover_id=handover.id, patient_id=patient.id, version=1, current=True,
                              author_id=outgoing.id)
        if before is not None:
            entry.carried_from_id = before.id
            for f in ("severity", "situation", "background", "assessment", "recommendation", "contingency"):
                setattr(entry, f, getattr(before, f))
            entry.actions = [a for i, a in enumerate(before.actions or [])
                             if str(i) not in (before.action_status or {})]
        db.session.add(entry)
    db.session.flush()
    audit.record("handover.started", actor=actor, entity=handover, team_id=team.id,
                 summary={"patient_ids": [p.id for p in patients], "previous_id": handover.previous_id,
                          "carried": len(carried)})
    return handover


def current_entries(handover: Handover) -> dict[int, HandoverEntry]:
    """Patient id -> current entry version, in one query (with patient, author and acceptor)."""
    rows = db.session.scalars(
        select(HandoverEntry).where(HandoverEntry.handover_id == handover.id, HandoverEntry.current.is_(True))
        .options(selectinload(HandoverEntry.patient), selectinload(HandoverEntry.author),
                 selectinload(HandoverEntry.accepted_by))
    )
    return {e.patient_id: e for e in rows}


def ordered_entries(handover: Handover) -> list[HandoverEntry]:
    entries = list(current_entries(handover).values())
    return sorted(entries, key=lambda e: (e.patient.location or "~", e.patient_id))


def entry_versions(handover: Handover, patient_id: int) -> list[HandoverEntry]:
    return list(db.session.scalars(
        select(HandoverEntry).where(HandoverEntry.handover_id == handover.id, HandoverEntry.patient_id == patient_id)
        .options(selectinload(HandoverEntry.author), selectinload(HandoverEntry.accepted_by))
        .order_by(HandoverEntry.version.desc())))


def previous_entry(handover: Handover, patient_id: int) -> HandoverEntry | None:
    """The patient's current entry in the handover before this one: shown alongside the edit form."""
    if handover.previous_id is None:
        return None
    return db.session.scalar(select(HandoverEntry).where(
        HandoverEntry.handover_id == handover.previous_id, HandoverEntry.patient_id == patient_id,
        HandoverEntry.current.is_(True)))


def is_closed(handover: Handover) -> bool:
    """A handover stays editable until the team starts the next one."""
    return db.session.scalar(select(Handover.id).where(Handover.team_id == handover.team_id,
                                                       Handover.id > handover.id).limit(1)) is not None


def next_handover(handover: Handover) -> Handover | None:
    """The handover the team started after this one (which closed it), if any."""
    return db.session.scalar(select(Handover).where(Handover.team_id == handover.team_id, Handover.id > handover.id)
                             .order_by(Handover.id).limit(1))


def lock_for_writing(handover: Handover) -> bool:
    """Lock the handover's row for the rest of the transaction and say whether it is still open (the latest).

    Starting the next handover copies each patient's current entry from this one, and closes it; a save to this one
    must happen wholly before that copy or be refused, never in between. So both take this row lock first and only
    then look: PostgreSQL ``SELECT … FOR UPDATE`` makes the second wait until the first commits, and the check it
    then makes (a new statement under READ COMMITTED) sees what the first did. SQLite needs no row lock: a writing
    transaction holds the write lock (core.db), so writers already run one at a time. The lock is FOR UPDATE, not FOR
    SHARE, because a save may also change the handover row (an amended accepted entry makes it *ready* again): two
    FOR SHARE holders both updating the row would deadlock."""
    db.session.execute(select(Handover.id).where(Handover.id == handover.id).with_for_update())
    return not is_closed(handover)


def _starter(later: Handover) -> str:
    """Who started ``later`` (from its audit entry; the outgoing clinician if that is gone)."""

    actor_id = db.session.scalar(select(AuditEntry.actor_id).where(
        AuditEntry.action == "handover.started", AuditEntry.entity_type == "handover",
        AuditEntry.entity_id == str(later.id)).limit(1))
    user = db.session.get(User, actor_id) if actor_id else None
    return (user or later.outgoing).display_name


class HandoverClosed(Conflict):
    """A save to a handover the team has closed by starting the next one: nothing is written; the editor's text is
    kept (on the page, or by the API client) to be saved in ``later``."""

    OUTCOMES = {"save": ("Not saved", "Your text is kept: save it in the new handover."),
                "tick": ("Not done", "Tick the action off in the new handover.")}

    def __init__(self, later: Handover, doing: str = "save"):
        when = later.created_at.astimezone(team_zone(later.team))
        refused, instead = self.OUTCOMES[doing]
        super().__init__(
            f"{refused}: this handover was closed when {_starter(later)} started the next one ({later.label}) at "
            f"{when:%H:%M on %a %d %b}. {instead}", extra={"next_handover_id": later.id})
        self.later = later


def carry_base(closed: Handover, later: Handover, patient: Patient, base_version: str | None) -> int:
    """The version of ``patient``'s entry in ``later`` that a text refused by the closed handover was written from:
    version 1 there if that is the copy of the version the editor had in front of her; otherwise 0, which makes a
    save of her text show what is there now beside hers to merge (nothing is overwritten unseen)."""
    first = db.session.scalar(select(HandoverEntry).where(HandoverEntry.handover_id == later.id,
                                                          HandoverEntry.patient_id == patient.id,
                                                          HandoverEntry.version == 1))
    current = db.session.scalar(select(HandoverEntry).where(HandoverEntry.handover_id == closed.id,
                                                            HandoverEntry.patient_id == patient.id,
                                                            HandoverEntry.current.is_(True)))
    if first is None or current is None or first.carried_from_id != current.id or base_version != str(current.version):
        return 0
    return 1


def lock_open(handover: Handover, doing: str = "save") -> None:
    """Take the handover's row lock (see ``_lock``) and refuse with ``HandoverClosed`` if it is closed. Every write
    to a handover's content calls this before it looks at or writes anything."""
    if not lock_for_writing(handover):
        raise HandoverClosed(next_handover(handover), doing)


def record_view(handover: Handover, actor, patient_ids: list[int], what: str = "handover.viewed") -> None:
    audit.record(what, actor=actor, entity=handover, team_id=handover.team_id,
                 summary={"patient_ids": sorted(patient_ids)})


def _clean_actions(actions, handover: Handover) -> list[dict]:
    cleaned = []
    if len(actions or []) > MAX_ACTIONS:
        raise ValidationFailed("Too many actions.", errors={"actions": [f"At most {MAX_ACTIONS} actions."]})
    for i, item in enumerate(actions or []):
        text = (item.get("text") or "").strip()
        if not text:
            raise ValidationFailed("An action needs a description.",
                                   errors={"actions": [f"Action {i + 1}: say what needs doing."]})
        due = item.get("due_at")
        if isinstance(due, datetime):
            due = local_to_utc(due, team_zone(handover.team), "actions").isoformat()
        cleaned.append({"text": text[:300], "owner": (item.get("owner") or "").strip()[:120] or None,
                        "due_at": due})
    return cleaned


TEXT_FIELDS = ("situation", "background", "assessment", "recommendation", "contingency", "synthesis")


def as_stored(text: str | None) -> str:
    """Text as ``save_entry`` stores it: browsers send CRLF line ends, and stray spaces around it are dropped."""
    return (text or "").replace("\r\n", "\n").strip()


def saved_fields(entry: HandoverEntry | None, actions_text: str = "") -> dict[str, str]:
    """What an editor compares her form with: the entry's severity and texts (an empty entry's if ``entry`` is None),
    and its actions as the form shows them (``actions_text``)."""
    saved = {"severity": entry.severity.value if entry else Severity.stable.value, "actions": actions_text}
    saved.update({k: getattr(entry, k) if entry else "" for k in TEXT_FIELDS})
    return saved


def changed_fields(typed: Mapping[str, str], saved: dict[str, str]) -> dict[str, str]:
    """The fields present in ``typed`` (a submitted form) whose text, as ``save_entry`` would store it, differs from
    ``saved`` (``saved_fields``): field -> the saved value. Decides whether a page has unsaved text, which fields a
    save should write (actions), and what another editor's version shows beside hers."""
    return {k: v for k, v in saved.items() if k in typed and as_stored(typed[k]) != as_stored(v)}


class StaleEntry(Conflict):
    """A save made from a version that is no longer the current one. ``current`` is what is there now (to show it
    beside the editor's own text, which the page keeps)."""

    def __init__(self, current: HandoverEntry, base_version: int | None):
        who = current.author.display_name if current.author else "Someone"
        when = current.updated_at.astimezone(team_zone(current.handover.team))
        edited = f"you edited version {base_version}" if base_version else "you had not seen it"
        super().__init__(
            f"Not saved: {who} saved this entry at {when:%H:%M on %a %d %b} (version {current.version}); "
            f"{edited}. Compare your text with theirs, merge, and save again from version {current.version}.",
            extra={"current_version": current.version, "saved_at": current.updated_at.isoformat(),
                   "saved_by": {"id": current.author.id, "display_name": who} if current.author else None})
        self.current = current


def _stale(handover: Handover, patient: Patient, base_version: int | None) -> Conflict:
    current = db.session.scalar(select(HandoverEntry).where(
        HandoverEntry.handover_id == handover.id, HandoverEntry.patient_id == patient.id,
        HandoverEntry.current.is_(True)).options(selectinload(HandoverEntry.author))
        .execution_options(populate_existing=True))
    if current is None:
        return Conflict("This patient's entry has changed meanwhile. Reload the page and edit again.")
    return StaleEntry(current, base_version)


def save_entry(handover: Handover, patient: Patient, actor, data: dict, *, base_version: int | None
               ) -> HandoverEntry:
    """Write a patient's entry as a new version. ``base_version`` is the version the editor saw (0 when the patient
    has no entry yet): if anyone saved since, nothing is written and ``StaleEntry`` (409) says who saved what when.
    Every save is a new row, so every saved text stays in the history; an accepted version is never changed, and an
    edit of it needs accepting again (``replaced_accepted`` on the returned entry)."""
    require_view(handover.team, actor)
    if patient.team_id != handover.team_id:
        raise NotFound("That patient is not on this team's list.")
    lock_open(handover)
    changes = {k: v for k, v in data.items() if k in CONTENT_FIELDS}
    if "severity" in changes:
        changes["severity"] = Severity(changes["severity"])
    for key in CONTENT_FIELDS:
        if isinstance(changes.get(key), str):
            changes[key] = as_stored(changes[key])
            if len(changes[key]) > MAX_TEXT:
                raise ValidationFailed("Too long.", errors={key: [f"At most {MAX_TEXT} characters."]})
    if "actions" in changes:
        changes["actions"] = _clean_actions(changes["actions"], handover)
    current = db.session.scalar(select(HandoverEntry).where(
        HandoverEntry.handover_id == handover.id, HandoverEntry.patient_id == patient.id,
        HandoverEntry.current.is_(True)))
    entry = HandoverEntry(handover_id=handover.id, patient_id=patient.id, current=True)
    if current is None:
        if base_version:
            raise _stale(handover, patient, base_version)
        entry.version = 1
        try:
            with db.session.begin_nested():  # someone else creating it at the same moment: the unique key refuses
                db.session.add(entry)
                db.session.flush()
        except IntegrityError:
            raise _stale(handover, patient, base_version) from None
        action = "handover.entry_created"
    else:
        # The guard: only the editor of the current version may replace it. One conditional UPDATE decides (the
        # row lock on PostgreSQL, the write lock on SQLite), so of many saves made from one version exactly one wins.
        won = db.session.execute(
            update(HandoverEntry)
            .where(HandoverEntry.id == current.id, HandoverEntry.current.is_(True),
                   HandoverEntry.version == base_version)
            .values(current=False, row_version=HandoverEntry.row_version + 1)
            .execution_options(synchronize_session=False)).rowcount
        if won != 1:
            raise _stale(handover, patient, base_version)
        db.session.refresh(current)  # what the winner replaces, as locked (actions ticked off meanwhile included)
        entry.version, entry.carried_from_id = current.version + 1, current.carried_from_id
        for f in CONTENT_FIELDS:
            setattr(entry, f, getattr(current, f))
        entry.action_status = dict(current.action_status or {})
        entry.replaced_accepted = current.accepted_at is not None
        db.session.add(entry)
        action = "handover.entry_amended" if entry.replaced_accepted else "handover.entry_updated"
        if entry.replaced_accepted and handover.state == HandoverState.accepted:
            handover.state = HandoverState.ready
    for key, value in changes.items():
        setattr(entry, key, value)
    if "actions" in changes and entry.action_status:
        entry.action_status = {k: v for k, v in entry.action_status.items() if int(k) < len(entry.actions)}
    now = now_utc()
    entry.author_id = actor.id
    entry.updated_at = now
    entry.reviewed_at = now
    db.session.flush()
    audit.record(action, actor=actor, entity_type="handover_entry", entity_id=entry.id, team_id=handover.team_id,
                 summary={"patient_ids": [patient.id], "handover_id": handover.id, "version": entry.version})
    return entry


def set_action_done(entry: HandoverEntry, index: int, actor, done: bool) -> HandoverEntry:
    require_view(entry.handover.team, actor)
    lock_open(entry.handover, "tick")  # ticked off in a closed handover, it would stay outstanding in the new one
    if not entry.current:
        raise Conflict("That is an old version of this entry; tick actions off on the current one.")
    if index < 0 or index >= len(entry.actions or []):
        raise NotFound("No such action on this entry.")
    status = dict(entry.action_status or {})
    if done:
        status[str(index)] = {"done_at": now_utc().isoformat(), "done_by_id": actor.id, "done_by": actor.display_name}
    else:
        status.pop(str(index), None)
    entry.action_status = status
    db.session.flush()
    audit.record("handover.action_done" if done else "handover.action_undone", actor=actor,
                 entity_type="handover_entry", entity_id=entry.id, team_id=entry.handover.team_id,
                 summary={"patient_ids": [entry.patient_id], "handover_id": entry.handover_id, "action": index})
    return entry


def memberships_of(team: Team) -> list[User]:
    return list(db.session.scalars(select(User).join(Membership, Membership.user_id == User.id)
                                   .where(Membership.team_id == team.id).order_by(User.display_name)))


def default_label(starts_at: datetime, team: Team) -> str:
    hour = starts_at.astimezone(team_zone(team)).time()
    if time(5) <= hour < time(11):
        return "Night → Early"
    if time(11) <= hour < time(17):
        return "Early → Late"
    return "Day → Night"
