"""Demo history for the insights pages: eight weeks before today of gaps filled (at different speeds, by each
route), swaps and offers decided, broadcasts read and acknowledged, working-time warnings, overrides and refusals,
and handovers accepted (some late), on rotas published before them, for the demo ward and its neighbour, so the
charts have something to show. Imported only by ``insights.__init__`` (the wiring); idempotent.

The audit trail is append-only with a hash chain, so past events are appended now with the instant they stand for:
the demo records them through ``core.audit.record`` with ``at`` set to that instant.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from core import audit, timeutil
from core.accounts import Team, TeamRole
from core.db import db, now_utc
from handover.models import Handover, HandoverState, HandoverStyle
from notifications import broadcasts
from notifications.models import Broadcast, BroadcastRecipient, Notification, OutboxMessage, OutboxState
from rota.models import PeriodState, RotaPeriod, Shift, ShiftState
from rota.swaps.models import SwapKind, SwapRequest, SwapState

MARK = "Past gap (demo history)"
DAYS = 56
TEAMS = (("Ward 7B Acute Medicine", time(7, 0)), ("Ward 8 Respiratory", time(19, 30)))
BANK = "Staff bank — St Elsewhere"
REFUSALS = ("Skill mix on nights would drop below the minimum", "Already at the weekly hours limit",
            "Too close to the start of the shift")


def _log(action, instant, request_id=None, **kw):
    # an SMS reply (or a card claim) and the claim it made share the request's id
    return audit.record(action, at=instant, request_id=request_id, **kw)


def seed_insights() -> list[str]:
    if db.session.scalar(select(Shift.id).where(Shift.note == MARK).limit(1)):
        return []
    teams = {t.name: t for t in db.session.scalars(select(Team).where(Team.name.in_([n for n, _ in TEAMS] + [BANK])))}
    if any(n not in teams for n, _ in TEAMS):
        return []
    rng = random.Random(20)
    bank = [m.user for m in teams[BANK].memberships] if BANK in teams else []
    lines = ["Insights history (8 weeks):"]
    for index, (name, start) in enumerate(TEAMS):
        team = teams[name]
        neighbour = teams[TEAMS[1 - index][0]]
        staff = sorted((m.user for m in team.memberships if m.role == TeamRole.staff), key=lambda u: u.id)
        coords = [m.user for m in team.memberships if m.role == TeamRole.coordinator]
        others = [m.user for m in neighbour.memberships if m.role == TeamRole.staff]
        if not staff or not coords:
            continue
        n = _gaps(team, start, staff, coords[0], bank, others, rng, slow=index == 1)
        s = _swaps(team, staff, coords[0], rng)
        b = _broadcasts(team, staff, coords[0], rng)
        w = _working_time(team, coords[0], rng)
        lines.append(f"  {name}: {n} past gaps, {s} swap requests, {b} broadcasts, {w} working-time verdicts")
    db.session.flush()
    return lines


def _published_periods(team, coord, monday, z) -> list[RotaPeriod]:
    """The history's rotas: four weeks each, published three days before they start (so the gaps added in their
    last weeks were not on the rota when it was published)."""
    periods = []
    for weeks in (8, 4):
        first = monday - timedelta(weeks=weeks)
        published = datetime.combine(first - timedelta(days=3), time(12)).replace(tzinfo=z).astimezone(UTC)
        periods.append(RotaPeriod(team_id=team.id, first_day=first, last_day=first + timedelta(days=27),
                                  state=PeriodState.published, published_at=published, published_by_id=coord.id))
    db.session.add_all(periods)
    db.session.flush()
    return periods


def _gaps(team, start, staff, coord, bank, others, rng, *, slow: bool) -> int:
    today = timeutil.local_date(now_utc(), team.timezone)
    monday = today - timedelta(days=today.weekday())  # the demo rota starts there: history stays before it
    z = timeutil.zone(team.timezone)
    periods = _published_periods(team, coord, monday, z)
    n = 0
    for d in range(DAYS, 0, -1):
        day = monday - timedelta(days=d)
        period = next(p for p in periods if p.first_day <= day <= p.last_day)
        if day.weekday() == 2 and not slow:
            continue
        starts = datetime.combine(day, start).replace(tzinfo=z).astimezone(UTC)
        notice = timedelta(hours=rng.choice((6, 12, 30, 48, 72, 120)))
        opened = starts - notice
        roll = rng.random()
        unfilled = roll < (0.25 if slow else 0.1)
        minutes = rng.lognormvariate(4.2 if slow else 3.2, 0.9)
        filled = None if unfilled else opened + timedelta(minutes=minutes)
        if filled is not None and filled >= starts:
            filled, unfilled = None, True
        route = rng.choices(("app", "card", "coordinator", "sms", "bank", "neighbour"), (4, 2, 2, 2, 2, 1))[0]
        pool = {"bank": bank, "neighbour": others}.get(route) or staff
        taker = pool[(d * 7) % len(pool)]
        shift = Shift(team_id=team.id, starts_at=starts, ends_at=starts + timedelta(hours=8, minutes=30),
                      state=ShiftState.open, note=MARK, created_at=opened - timedelta(days=20),
                      rota_period_id=period.id)
        db.session.add(shift)
        db.session.flush()
        _log("shift.created", opened - timedelta(days=20), actor=coord, entity=shift, summary={"shift_type_id": None})
        _log("shift.assigned", opened - timedelta(days=20, seconds=-0.2), actor=coord, entity=shift,
             summary={"from_user_id": None, "to_user_id": taker.id, "kind": None, "override": False})
        _log("shift.opened", opened, actor=coord, entity=shift,
             summary={"from_user_id": taker.id, "to_user_id": None, "kind": "unassigned", "override": False})
        n += 1
        if unfilled:
            continue
        actor = coord if route == "coordinator" else taker
        request_id = f"demo-{route}-{shift.id}" if route in ("sms", "card") else None
        _log("shift.assigned", filled, request_id, actor=actor, entity=shift,
             summary={"from_user_id": None, "to_user_id": taker.id, "kind": None, "override": False})
        if route == "card":  # as channels.cards.claim records it
            _log("channel.card_claimed", filled, request_id, actor=taker, entity_type="post", entity_id=0,
                 team_id=team.id, summary={"shift_id": shift.id, "outcome": "claimed"})
        if route == "sms":
            _log("broadcast.sms_reply", filled, request_id, actor=taker, entity_type="broadcast", entity_id=0,
                 team_id=team.id, summary={"keyword": "YES"})
        shift.assignee_id, shift.state = taker.id, ShiftState.scheduled
        db.session.flush()
    return n


OVERRIDES = ("Only IV-trained nurse free for bay 4", "Agreed with the matron on call", "Patient 1:1 needed overnight")
RULES = ("TCS-rest11", "TCS-avg48", "TCS-nights4", "WTR-rest11", "TCS-max13")


def _working_time(team, coord, rng) -> int:
    """Warnings accepted, overrides with reasons and changes refused by a blocking rule, on the past gaps' shifts
    (as rota's assignment records them: compliance.warned, compliance.overridden / cover.overridden with the reason,
    compliance.refused with the rule codes)."""
    shifts = list(db.session.scalars(select(Shift).where(Shift.team_id == team.id, Shift.note == MARK)))
    n = 0
    for i, shift in enumerate(shifts):
        when = shift.starts_at - timedelta(days=2, minutes=rng.randint(0, 600))
        if i % 3 == 0:
            _log("compliance.warned", when, actor=coord, entity=shift, summary={"rule_ids": rng.choice(RULES)})
        elif i % 7 == 1:
            _log("compliance.overridden", when, actor=coord, entity=shift,
                 summary={"rule_ids": rng.choice(RULES), "reason": rng.choice(OVERRIDES)})
        elif i % 11 == 2:
            _log("cover.overridden", when, actor=coord, entity=shift, summary={"reason": rng.choice(OVERRIDES)})
        elif i % 4 == 2:
            codes = ",".join(sorted(rng.sample(RULES, rng.choice((1, 1, 2)))))
            _log("compliance.refused", when, actor=coord, entity=shift, outcome="refused",
                 summary={"rule_ids": codes, "user_id": shift.assignee_id})
        else:
            continue
        n += 1
    return n


HANDOVER_LABEL = {7: "Night → Day", 19: "Day → Night"}


def seed_handover_history() -> list[str]:
    """Eight weeks of past handovers of the demo wards (two a day, accepted after a few minutes, a few late and
    flagged), seeded before the handover demo's own so that its handover stays the ward's latest. Times only: no
    entry, no patient."""
    teams = list(db.session.scalars(select(Team).where(Team.name.in_([n for n, _ in TEAMS]))))
    if not teams or db.session.scalar(select(Handover.id).where(Handover.team_id.in_([t.id for t in teams]))
                                      .limit(1)):
        return []
    rng = random.Random(21)
    today = timeutil.local_date(now_utc(), teams[0].timezone)
    lines = []
    for team in sorted(teams, key=lambda t: t.name):
        people = sorted((m.user for m in team.memberships if m.role == TeamRole.staff), key=lambda u: u.id)
        if len(people) < 2:
            continue
        z = timeutil.zone(team.timezone)
        n = 0
        for d in range(DAYS, 0, -1):
            for hour in (7, 19):
                starts = datetime.combine(today - timedelta(days=d), time(hour, 30)).replace(tzinfo=z).astimezone(UTC)
                ready = starts - timedelta(minutes=rng.randint(5, 25))
                waited = rng.lognormvariate(3.0 if team.name == TEAMS[0][0] else 3.5, 0.8)
                outgoing, incoming = people[(d + hour) % len(people)], people[(d + hour + 1) % len(people)]
                db.session.add(Handover(
                    team_id=team.id, label=HANDOVER_LABEL[hour], style=HandoverStyle.sbar, starts_at=starts,
                    state=HandoverState.accepted, outgoing_id=outgoing.id, incoming_id=incoming.id,
                    created_at=ready - timedelta(minutes=40), ready_at=ready,
                    accepted_at=ready + timedelta(minutes=waited), accepted_by_id=incoming.id,
                    flagged_at=starts + timedelta(minutes=60) if waited > 60 + (starts - ready).seconds / 60 else None))
                n += 1
        lines.append(f"  {team.name}: {n} past handovers")
    db.session.flush()
    return ["Handover history for insights (8 weeks):", *lines] if lines else []


def _swaps(team, staff, coord, rng) -> int:
    now = now_utc()
    past = list(db.session.scalars(select(Shift).where(Shift.team_id == team.id, Shift.note == MARK,
                                                       Shift.state == ShiftState.scheduled).limit(2)))
    if not past:
        return 0
    n = 0
    for d in range(DAYS, 0, -2):
        created = now - timedelta(days=d, hours=rng.randint(0, 10))
        kind = rng.choice((SwapKind.offer, SwapKind.offer, SwapKind.swap))
        state = rng.choices((SwapState.approved, SwapState.refused, SwapState.declined), (7, 2, 1))[0]
        auto = state == SwapState.approved and rng.random() < 0.55
        decided = created + timedelta(minutes=rng.lognormvariate(5.0, 1.0) if not auto else 1)
        db.session.add(SwapRequest(
            team_id=team.id, kind=kind, state=state, requester_id=staff[d % len(staff)].id, shift_id=past[0].id,
            shift_version=1, counterpart_shift_id=past[-1].id if kind == SwapKind.swap else None,
            counterpart_shift_version=1 if kind == SwapKind.swap else None, auto_approved=auto,
            reason=rng.choice(REFUSALS) if state == SwapState.refused else None, created_at=created,
            decided_at=decided, decided_by_id=None if auto else coord.id, expires_at=created + timedelta(days=2)))
        n += 1
    return n


def _broadcasts(team, staff, coord, rng) -> int:
    now = now_utc()
    n = 0
    for d in range(DAYS - 3, 0, -5):
        created = now - timedelta(days=d)
        b = Broadcast(team_id=team.id, created_by_id=coord.id, audience=broadcasts.TEAM,
                      text="Can anyone cover a shift?", channels=["in_app", "push", "sms"], requires_ack=d % 2 == 0,
                      state="closed", created_at=created, closed_at=created + timedelta(hours=2))
        db.session.add(b)
        db.session.flush()
        for i, person in enumerate(staff[:12]):
            note = Notification(user_id=person.id, team_id=team.id, kind="broadcast", text=b.text, created_at=created,
                                # the first people (the demo's nurse among them) have read theirs: no old unread badge
                                read_at=created + timedelta(minutes=5 + i) if i < 4 or rng.random() < 0.7 else None)
            db.session.add(note)
            db.session.flush()
            channel = "push" if i % 3 else "sms"
            msg = OutboxMessage(user_id=person.id, channel=channel, kind="broadcast", text=b.text,
                                suffix=f"Reply YES {1000 + i}" if channel == "sms" else None, team_id=team.id,
                                broadcast_id=b.id, created_at=created,
                                state=OutboxState.delivered if rng.random() < 0.9 else OutboxState.failed)
            db.session.add(msg)
            db.session.flush()
            db.session.add(BroadcastRecipient(
                broadcast_id=b.id, user_id=person.id, code=f"{1000 + i}", notification_id=note.id, outbox_id=msg.id,
                created_at=created,
                acknowledged_at=created + timedelta(minutes=9) if b.requires_ack and rng.random() < 0.6 else None))
        n += 1
    return n
