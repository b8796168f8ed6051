"""Broadcasts: tell exactly the right people, see who received, read, acknowledged and claimed, widen the net.

Audiences: ``team`` (everyone on the team), ``group`` (team members filtered by staff group, minimum grade and
skills), ``coordinators``, and any audience another package registered (``registry.register_audience``), e.g.
"everyone eligible for this shift". Each recipient gets a per-person reply code ("YES 4821").
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from core import audit, events, limits, timeutil
from core.accounts import GRADES, Membership, StaffGroup, Team, TeamRole, User, grade_meets, missing_skills
from core.db import db, get_by_id, now_utc
from core.errors import Conflict, DomainError, Forbidden, NotFound, RuleViolation, ValidationFailed
from core.links import LINK_HELP, is_local_path
from notifications import push, registry, service, sms
from notifications.models import (
    Broadcast,
    BroadcastMute,
    BroadcastRecipient,
    EscalationPolicy,
    EscalationStep,
    Notification,
    OutboxMessage,
    OutboxState,
)

TEAM, GROUP, COORDINATORS = "team", "group", "coordinators"  # the built-in audiences (others: registry.audiences)
BUILTIN_AUDIENCES = {TEAM: "Everyone on the team", GROUP: "A grade / skill group on the team",
                     COORDINATORS: "The team's coordinators"}
KINDS = ("message", "open_shift")


STATE_WORDS = {"open": "Still asking", "claimed": "Taken", "closed": "Closed"}


def audience_choices() -> list[tuple[str, str]]:
    return list(BUILTIN_AUDIENCES.items()) + [(a.name, a.label) for a in registry.audiences().values()]


def _members(team_id: int, role: TeamRole | None = None, *, columns=()):
    """Active members of a team (only the columns asked for: no ORM objects for a thousand people)."""
    stmt = (select(*(columns or (User.id,))).join(Membership, Membership.user_id == User.id)
            .where(Membership.team_id == team_id, User.active.is_(True)))
    if role is not None:
        stmt = stmt.where(Membership.role == role)
    return db.session.execute(stmt.order_by(User.id)).all()


def _group(team_id: int, params: dict) -> list[int]:
    staff_group, min_grade, skills = params.get("staff_group"), params.get("min_grade"), params.get("skills") or []
    if staff_group is not None and staff_group not in {g.value for g in StaffGroup}:
        raise ValidationFailed("Unknown staff group.", errors={"params": ["Unknown staff group."]})
    if min_grade is not None and min_grade not in GRADES:
        raise ValidationFailed("Unknown grade.", errors={"params": ["Unknown grade."]})
    if not isinstance(skills, list) or not all(isinstance(s, str) for s in skills):
        raise ValidationFailed("Skills must be a list of names.", errors={"params": ["Skills must be a list."]})
    ids = []
    for u in _members(team_id, columns=(User.id, User.staff_group, User.grade, User.skills)):
        if staff_group and u.staff_group.value != staff_group:
            continue
        if not grade_meets(u.grade, min_grade) or missing_skills(u.skills, skills):
            continue
        ids.append(u.id)
    return ids


def resolve(team_id: int, audience: str, params: dict | None) -> list[int]:
    params = params if isinstance(params, dict) else {}
    if audience == TEAM:
        return [u.id for u in _members(team_id)]
    if audience == COORDINATORS:
        return [u.id for u in _members(team_id, TeamRole.coordinator)]
    if audience == GROUP:
        return _group(team_id, params)
    registered = registry.audiences().get(audience)
    if registered is None:
        names = ", ".join(n for n, _ in audience_choices())
        raise ValidationFailed("Unknown audience.", errors={"audience": [f"Choose one of: {names}."]})
    try:
        ids = registered.resolver(team_id, params)
    except DomainError:
        raise
    except (ValueError, KeyError, TypeError, LookupError) as exc:
        raise ValidationFailed("Those audience settings are not valid.",
                               errors={"params": [str(exc)[:200] or "Not valid."]})
    except SQLAlchemyError:  # e.g. a text where the resolver expected an id (the handler rolls back)
        raise ValidationFailed("Those audience settings are not valid.", errors={"params": ["Not valid."]})
    return list(dict.fromkeys(int(i) for i in ids))


def _muted(user_ids: list[int], reference: str | None) -> set[int]:
    if not reference or not user_ids:
        return set()
    return set(db.session.scalars(select(BroadcastMute.user_id).where(
        BroadcastMute.reference == reference, service.in_list(BroadcastMute.user_id, user_ids))))


def _audience(team: Team, sender, audience: str, params: dict | None) -> list[int]:
    """The people a broadcast goes to: never its sender (a coordinator is not one of the people they ask)."""
    sender_id = getattr(sender, "id", None)
    return [i for i in resolve(team.id, audience, params) if i != sender_id]


def preview(team: Team, actor, *, audience: str, params: dict | None = None, reference: str | None = None) -> dict:
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can broadcast to it.")
    ids = _audience(team, actor, audience, params)
    muted = _muted(ids, reference)
    return {"recipient_count": len(ids) - len(muted), "muted_count": len(muted), "sms_enabled": sms.sms_enabled()}


def create(team: Team, actor, *, audience: str, text: str, params: dict | None = None, link: str | None = None,
           kind: str = "message", reference: str | None = None, requires_ack: bool = False, urgent: bool = False,
           channels=(service.IN_APP, service.SMS)) -> Broadcast:
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can broadcast to it.")
    if kind not in KINDS:
        raise ValidationFailed("Unknown kind.", errors={"kind": [f"Choose one of: {', '.join(KINDS)}."]})
    if link and not is_local_path(link):
        raise ValidationFailed("The link must be a path inside Shiftbridge.", errors={"link": [LINK_HELP]})
    if not text.strip():
        raise ValidationFailed("Write a message.", errors={"text": ["Write a message."]})
    ids = _audience(team, actor, audience, params)
    muted = _muted(ids, reference)
    ids = [i for i in ids if i not in muted]
    if not ids:
        raise RuleViolation("Nobody is in that audience.", errors={"audience": ["Nobody is in that audience."]})
    now = now_utc()
    b = Broadcast(team_id=team.id, created_by_id=getattr(actor, "id", None), kind=kind, audience=audience,
                  audience_params=params if isinstance(params, dict) else {}, text=text.strip(), link=link,
                  reference=reference, channels=[c for c in service.CHANNELS if c in set(channels)],
                  requires_ack=requires_ack, urgent=urgent, state="open", escalation_step=0, created_at=now)
    policy = db.session.get(EscalationPolicy, team.id)
    if _escalates(kind, requires_ack) and policy and policy.steps:
        b.next_escalation_at = now + timedelta(minutes=int(policy.steps[0].get("after_minutes", 30)))
    db.session.add(b)
    db.session.flush()
    added = _add_recipients(b, ids, step=0)
    audit.record("broadcast.sent", actor=actor, entity=b, summary={"audience": audience, "recipients": added,
                                                                     "kind": kind, "urgent": urgent})
    events.emit("broadcast.sent", broadcast=b)
    return b


def _escalates(kind: str, requires_ack: bool) -> bool:
    """The ladder climbs for a gap (until someone takes it) and for a broadcast that needs acknowledging (until
    everyone has), such as an urgent channel post."""
    return kind == "open_shift" or requires_ack


def _awaits_ack(b: Broadcast) -> bool:
    return bool(b.requires_ack) and b.kind != "open_shift"


def _unacknowledged(b: Broadcast) -> list[int]:
    return list(db.session.scalars(select(BroadcastRecipient.user_id).where(
        BroadcastRecipient.broadcast_id == b.id, BroadcastRecipient.acknowledged_at.is_(None))
        .order_by(BroadcastRecipient.user_id)))


def _remind(b: Broadcast, step_no: int) -> list[int]:
    """An acknowledgement-required broadcast's ladder step asks again those who have not acknowledged (urgent, so
    quiet hours do not hold the text). Returns who has not acknowledged."""
    waiting = _unacknowledged(b)
    if _awaits_ack(b) and waiting:
        codes = dict(db.session.execute(select(BroadcastRecipient.user_id, BroadcastRecipient.code).where(
            BroadcastRecipient.broadcast_id == b.id, service.in_list(BroadcastRecipient.user_id, waiting))).all())
        service.queue(waiting, kind="broadcast.reminder", text=f"Reminder, not yet acknowledged: {b.text}",
                      link=f"/broadcasts/{b.id}/r", team_id=b.team_id, channels=b.channels, urgent=True,
                      broadcast_id=b.id, suffixes={uid: f"Reply OK {code} if seen." for uid, code in codes.items()},
                      idempotency_key=f"broadcast:{b.id}:reminder:{step_no + 1}")
    return waiting


def _codes_for(user_ids: list[int]) -> dict[int, str]:
    in_use: dict[int, set[str]] = {}
    for uid, code in db.session.execute(
            select(BroadcastRecipient.user_id, BroadcastRecipient.code).join(Broadcast)
            .where(Broadcast.state == "open", service.in_list(BroadcastRecipient.user_id, user_ids))):
        in_use.setdefault(uid, set()).add(code)
    codes = {}
    for uid in user_ids:
        taken = in_use.get(uid, set())
        code = f"{random.randint(1000, 9999)}"
        while code in taken:
            code = f"{random.randint(1000, 9999)}"
        codes[uid] = code
    return codes


def _add_recipients(b: Broadcast, ids: list[int], *, step: int, urgent: bool | None = None) -> int:
    already = set(db.session.scalars(select(BroadcastRecipient.user_id).where(BroadcastRecipient.broadcast_id == b.id)))
    ids = [i for i in ids if i not in already]
    if not ids:
        return 0
    codes = _codes_for(ids)
    hints = {}
    for uid, code in codes.items():
        if b.kind == "open_shift" and registry.reply_handler(registry.CLAIM_KEYWORD):
            hints[uid] = f"Reply {registry.CLAIM_KEYWORD} {code} to take it."
        elif b.requires_ack:
            hints[uid] = f"Reply OK {code} if seen."
    queued = service.queue(ids, kind=f"broadcast.{b.kind}", text=b.text, link=f"/broadcasts/{b.id}/r",
                           team_id=b.team_id, channels=b.channels, urgent=b.urgent if urgent is None else urgent,
                           broadcast_id=b.id, suffixes=hints, daily_cap=True, idempotency_key=f"broadcast:{b.id}")
    now = now_utc()
    nids = {**{uid: n.id for uid, n in queued.notifications.items()}, **queued.notification_ids}
    rows = [{"broadcast_id": b.id, "user_id": uid, "code": codes[uid], "step": step,
             "notification_id": nids.get(uid), "outbox_id": None,
             "sms_skipped": queued.sms_skipped.get(uid) if service.SMS in b.channels else None,
             "created_at": now} for uid in ids]
    db.session.execute(BroadcastRecipient.__table__.insert(), rows)
    db.session.expire(b, ["recipients"])
    return len(rows)


def get(broadcast_id: int) -> Broadcast:
    b = get_by_id(Broadcast, broadcast_id)
    if b is None:
        raise NotFound("No such broadcast.")
    return b


def report(b: Broadcast, viewer) -> dict:
    team = db.session.get(Team, b.team_id)
    if not team.can_manage(viewer):
        raise Forbidden("Only the team's coordinators can see this report.")
    recips = list(db.session.scalars(select(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == b.id)
                                     .order_by(BroadcastRecipient.id)))
    names = dict(db.session.execute(select(User.id, User.display_name).where(
        service.in_list(User.id, [r.user_id for r in recips]))).all()) if recips else {}
    reads = dict(db.session.execute(select(Notification.id, Notification.read_at).where(
        service.in_list(Notification.id, [r.notification_id for r in recips if r.notification_id]))).all()) \
        if recips else {}
    # A person's text for this broadcast (the latest, should a ladder step ever queue a second one).
    outbox = {o.user_id: o for o in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.broadcast_id == b.id, OutboxMessage.channel == service.SMS).order_by(OutboxMessage.id))}
    pushes = push.channel_report(b.id)
    people, counts = [], {k: 0 for k in ("sent", "delivered", "failed", "read", "acknowledged", "claimed",
                                         "pending", "no_sms")}
    for r in recips:
        o = outbox.get(r.user_id)
        sms_state = o.state.value if o else None
        read_at = reads.get(r.notification_id)
        if r.claimed_at:
            status = "claimed"
        elif r.acknowledged_at:
            status = "acknowledged"
        elif read_at:
            status = "read"
        elif o and o.state in (OutboxState.delivered, OutboxState.superseded):
            status = "delivered"  # superseded: the push reached them in time, so no text was needed
        elif o and o.state in (OutboxState.failed, OutboxState.undeliverable):
            status = "failed"
        elif o and o.state == OutboxState.sent:
            status = "sent"
        elif o:
            status = "pending"
        else:
            status = "sent"  # in-app only: it is in their notification centre
        counts[status] = counts.get(status, 0) + 1
        if service.SMS in b.channels and not o:
            counts["no_sms"] += 1
        people.append({"user_id": r.user_id, "name": names.get(r.user_id, "?"), "step": r.step, "status": status,
                       "sms_state": sms_state, "sms_error": (o.error_code if o else None),
                       "sms_error_message": (o.error_message if o else None), "sms_skipped": r.sms_skipped,
                       "read_at": read_at, "acknowledged_at": r.acknowledged_at, "claimed_at": r.claimed_at,
                       "muted": r.muted_at is not None,
                       **push.reached(pushes.get(r.user_id), o, read_at)})
    steps = list(db.session.scalars(select(EscalationStep).where(EscalationStep.broadcast_id == b.id)
                                    .order_by(EscalationStep.step)))
    labels = dict(audience_choices())
    return {"broadcast": b, "team_name": team.name, "recipient_count": len(recips), "counts": counts,
            "recipients": people, "escalations": steps, "zone": team.timezone,
            "local": lambda instant: timeutil.to_local(instant, team.timezone),
            "audience_label": lambda name: labels.get(name, name.replace("_", " ")),
            "state_words": STATE_WORDS.get(b.state, b.state), "all_state_words": STATE_WORDS}


def _recipient(b: Broadcast, user) -> BroadcastRecipient:
    r = db.session.scalar(select(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == b.id,
                                                           BroadcastRecipient.user_id == user.id))
    if r is None:
        raise NotFound("This broadcast was not sent to you.")
    return r


def recipient_view(b: Broadcast, user) -> BroadcastRecipient:
    """The recipient opening their message: marks their notification read."""
    r = _recipient(b, user)
    if r.notification_id:
        n = db.session.get(Notification, r.notification_id)
        if n is not None and n.read_at is None:
            service.mark_read(user, n.id)
    return r


def acknowledge(b: Broadcast, user) -> BroadcastRecipient:
    r = _recipient(b, user)
    if r.acknowledged_at is None:
        r.acknowledged_at = now_utc()
        audit.record("broadcast.acknowledged", actor=user, entity=b, summary={"user_id": user.id})
    return r


def mute(b: Broadcast, user) -> BroadcastRecipient:
    """ "Don't ask me again for this shift"."""
    r = _recipient(b, user)
    if r.muted_at is None:
        r.muted_at = now_utc()
        if b.reference and not db.session.scalar(select(BroadcastMute.id).where(
                BroadcastMute.user_id == user.id, BroadcastMute.reference == b.reference)):
            db.session.add(BroadcastMute(user_id=user.id, reference=b.reference, created_at=r.muted_at))
        audit.record("broadcast.muted", actor=user, entity=b, summary={"user_id": user.id})
    return r


def record_claim(user_id: int, *, reference: str | None, actor=None) -> int:
    """Mark the open broadcasts about ``reference`` as claimed by this person; stops their escalation.

    Rota calls this whenever an open shift is filled (a claim in the app or by SMS, a chosen volunteer, a
    coordinator's assignment).
    """
    if not reference:
        return 0
    stmt = select(Broadcast).where(Broadcast.state == "open", Broadcast.reference == reference)
    count = 0
    now = now_utc()
    for b in db.session.scalars(stmt):
        b.state, b.closed_at, b.next_escalation_at = "claimed", now, None
        r = db.session.scalar(select(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == b.id,
                                                               BroadcastRecipient.user_id == user_id))
        if r is not None and r.claimed_at is None:
            r.claimed_at = now
        audit.record("broadcast.claimed", actor=actor, entity=b, summary={"user_id": user_id})
        count += 1
    return count


def close(b: Broadcast, actor) -> Broadcast:
    team = db.session.get(Team, b.team_id)
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can close a broadcast.")
    if b.state != "open":
        raise Conflict("This broadcast is already closed.")
    b.state, b.closed_at, b.next_escalation_at = "closed", now_utc(), None
    audit.record("broadcast.closed", actor=actor, entity=b)
    return b


# ------------------------------------------------------------------------------------------------ escalation


MAX_STEPS = limits.LADDER_MAX_STEPS
MINUTES = limits.LADDER_STEP_MINUTES  # each step waits between a minute and a day after the one before


def _manage_ladder(team: Team, actor) -> None:
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can see or change its escalation ladder.")


def get_team(team_id: int) -> Team:
    team = get_by_id(Team, team_id)
    if team is None:
        raise NotFound("No such team.")
    return team


def get_policy(team: Team, actor) -> list[dict]:
    """The team's ladder: ``[{"after_minutes": 30, "audience": "staff_bank", "params": {}}, ...]`` (maybe empty)."""
    _manage_ladder(team, actor)
    policy = db.session.get(EscalationPolicy, team.id)
    return [dict(s) for s in policy.steps] if policy else []


def validate_steps(steps) -> list[dict]:
    """Normalised steps, or :class:`ValidationFailed` with errors keyed ``steps`` / ``steps.<i>.<field>``."""
    if not isinstance(steps, list):
        raise ValidationFailed("The ladder must be a list of steps.", errors={"steps": ["Send a list of steps."]})
    if len(steps) > MAX_STEPS:
        raise ValidationFailed(f"A ladder has at most {MAX_STEPS} steps.",
                               errors={"steps": [f"At most {MAX_STEPS} steps."]})
    labels = dict(audience_choices())
    errors, clean = {}, []
    for i, step in enumerate(steps):
        step = step if isinstance(step, dict) else {}
        minutes, audience, params = step.get("after_minutes"), step.get("audience"), step.get("params") or {}
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not MINUTES[0] <= minutes <= MINUTES[1]:
            errors[f"steps.{i}.after_minutes"] = [f"Step {i + 1}: enter minutes from {MINUTES[0]} to {MINUTES[1]}."]
        if audience not in labels:
            errors[f"steps.{i}.audience"] = [f"Step {i + 1}: choose who to widen to."]
        if not isinstance(params, dict):
            errors[f"steps.{i}.params"] = [f"Step {i + 1}: settings must be an object."]
        clean.append({"after_minutes": minutes, "audience": audience, "params": params})
    if errors:
        raise ValidationFailed("Check the steps of the ladder.", errors=errors)
    return clean


def set_policy(team: Team, actor, steps: list[dict]) -> EscalationPolicy:
    """Store a team's ladder. A step given without ``params`` keeps the settings of the step now at its position
    if that step has the same audience (the screen edits minutes and audiences only)."""
    _manage_ladder(team, actor)
    policy = db.session.get(EscalationPolicy, team.id) or EscalationPolicy(team_id=team.id)
    current = policy.steps or []
    steps = validate_steps([step if "params" in step or not isinstance(step, dict) else {
        **step, "params": (current[i].get("params") or {})
        if i < len(current) and current[i].get("audience") == step.get("audience") else {}}
        for i, step in enumerate(steps)])
    policy.steps, policy.updated_at = steps, now_utc()
    db.session.add(policy)
    db.session.flush()
    audit.record("broadcast.escalation_policy", actor=actor, entity_type="team", entity_id=team.id, team_id=team.id,
                 summary={"steps": len(steps), "ladder": " > ".join(f"{s['after_minutes']}m {s['audience']}"
                                                                     for s in steps)[:200]})
    return policy


def _step_params(b: Broadcast, step: dict) -> dict:
    """A ladder step's audience settings, plus which shift the broadcast is about (its ``reference`` such as
    "shift:12", and a ``shift_id`` it was sent with) so shift audiences ("eligible on this ward", "staff bank",
    ...) know which shift to widen for. The step's own settings win."""
    base = {"reference": b.reference} if b.reference else {}
    if isinstance(b.audience_params, dict) and "shift_id" in b.audience_params:
        base["shift_id"] = b.audience_params["shift_id"]
    own = step.get("params")
    return {**base, **(own if isinstance(own, dict) else {})}


def escalate_due(now=None) -> int:
    """Take the next ladder step of every open broadcast whose time has come. Returns steps taken."""
    now = now or now_utc()
    taken = 0
    due = list(db.session.scalars(select(Broadcast).where(Broadcast.state == "open",
                                                          Broadcast.next_escalation_at <= now)))
    for b in due:
        step_no = b.escalation_step
        policy = db.session.get(EscalationPolicy, b.team_id)
        steps = policy.steps if policy else []
        if step_no >= len(steps):
            b.next_escalation_at = None
            continue
        if _awaits_ack(b) and not _unacknowledged(b):
            b.next_escalation_at = None  # everyone has acknowledged: nothing left to escalate
            continue
        step = steps[step_no]
        nxt = steps[step_no + 1] if step_no + 1 < len(steps) else None
        # Conditional update: with several workers only one takes this step.
        won = db.session.execute(update(Broadcast).where(Broadcast.id == b.id, Broadcast.escalation_step == step_no,
                                                         Broadcast.state == "open")
                                 .values(escalation_step=step_no + 1,
                                         next_escalation_at=(now + timedelta(minutes=int(nxt.get("after_minutes", 30))))
                                         if nxt else None)
                                 .execution_options(synchronize_session=False)).rowcount
        if not won:
            continue
        audience = step.get("audience")
        try:
            ids = resolve(b.team_id, audience, _step_params(b, step))
        except DomainError:
            ids = []
        waiting = _remind(b, step_no)
        added = 0
        if audience == COORDINATORS:
            unanswered = f"{len(waiting)} people have not acknowledged your broadcast yet" \
                if _awaits_ack(b) else "Nobody has answered your broadcast yet"
            service.queue(ids, kind="broadcast.unanswered", text=f"{unanswered} (step {step_no + 1}).",
                          link=f"/broadcasts/{b.id}", team_id=b.team_id,
                          channels=b.channels, urgent=True, idempotency_key=f"broadcast:{b.id}:unanswered")
            added = len(ids)
        else:
            muted = _muted(ids, b.reference)
            ids = [i for i in ids if i not in muted and i != b.created_by_id]  # never the sender
            added = _add_recipients(b, ids, step=step_no + 1)
        db.session.add(EscalationStep(broadcast_id=b.id, step=step_no + 1, audience=audience, added=added, at=now))
        audit.record("broadcast.escalated", entity=b, summary={"step": step_no + 1, "audience": audience,
                                                               "added": added})
        taken += 1
    db.session.flush()
    return taken

