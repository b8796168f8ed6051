"""The coordinator's home: what needs them now, each with the action one tap away.

For the teams a person coordinates: today's and tomorrow's gaps (unmet staffing requirements and open shifts) with
"Ask for cover" (one tap: the gap becomes an open shift if it is not one yet, and a broadcast goes to everyone
eligible through ``notifications.broadcasts``), short-notice absences, approvals waiting, and the broadcasts in
flight with their counts. Services here; ``rota.swaps.wiring`` registers the panel (``core.registry``) and the two
POST actions live in ``rota.swaps.absence_views``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from core import audit, timeutil
from core.accounts import Team, User
from core.db import db, now_utc
from core.errors import Conflict, Forbidden, RuleViolation, ValidationFailed
from core.pages import CsrfForm
from notifications import broadcasts
from notifications.models import Broadcast
from rota import services
from rota.models import Shift, ShiftState, StaffingRequirement
from rota.swaps import absence, audiences, eligibility, open_shifts
from rota.swaps import requests as swap_requests
from rota.swaps.models import OpenShiftVolunteer, VolunteerState

IN_FLIGHT_HOURS = 24


def managed_teams(user: User) -> list[Team]:
    if not getattr(user, "is_authenticated", False):
        return []
    if user.is_admin:
        return list(db.session.scalars(select(Team).order_by(Team.name)))
    return sorted((m.team for m in user.memberships if m.team.can_manage(user)), key=lambda t: t.name)


# ------------------------------------------------------------------------------------------- ask for cover


def open_cover_broadcast(shift: Shift):
    """The open broadcast already asking for cover for ``shift``, if any."""

    return db.session.scalar(select(Broadcast).where(Broadcast.reference == eligibility.shift_reference(shift.id),
                                                     Broadcast.state == "open")
                             .order_by(Broadcast.id.desc()).limit(1))


def ask_cover(shift: Shift, *, actor: User, now: datetime | None = None):
    """One tap: broadcast "Cover needed" for an open shift to everyone eligible (the escalation ladder, SMS "YES"
    and "don't ask me again" all work, as for a broadcast written by hand). A shift left with the coordinator is
    released for cover. Refused when a request for this shift is already in flight (a double tap sends once)."""

    now = now or now_utc()
    team = shift.team
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can ask for cover.")
    db.session.refresh(shift, with_for_update=True)  # two coordinators tapping at once send one request
    if shift.state != ShiftState.open:
        raise Conflict("This shift is not open any more: someone is working it.", extra={"code": "not_open"})
    if shift.starts_at <= now:
        raise RuleViolation("This shift has already started: nobody can take it through the app. Phone round.",
                            extra={"code": "started"})
    if open_cover_broadcast(shift) is not None:
        raise Conflict("Cover has already been asked for this shift.", extra={"code": "already_asked"})
    absence.release(shift, now=now)
    return broadcasts.create(team, actor, audience=audiences.ELIGIBLE_FOR_SHIFT, params={"shift_id": shift.id},
                             text=open_shifts.cover_text(shift), link=open_shifts.board_link(shift.id),
                             kind="open_shift",
                             reference=eligibility.shift_reference(shift.id),
                             urgent=shift.starts_at - now < timedelta(hours=24))


def ask_cover_for_gap(team: Team, *, requirement: StaffingRequirement, day, actor: User):
    """A gap that is not an open shift yet: open one place (``services.open_gap``) and ask for cover for it."""
    shift = services.open_gap(team, requirement=requirement, day=day, actor=actor)
    return ask_cover(shift, actor=actor)


# ------------------------------------------------------------------------------------------- open all gaps


@dataclass
class GapsOpened:
    shifts: list  # the open shifts added
    broadcast: object = None  # the one message asking for cover (None when nobody could take any of them)


def gaps_to_open(team: Team, first, last, *, now: datetime | None = None) -> list:
    """The gaps from local day ``first`` to ``last`` with places neither filled nor advertised, whose shifts have not
    started (``services.Gap``; each of its ``missing`` places becomes one open shift)."""
    now = now or now_utc()
    return [g for g in services.gaps_for(team, first, last)
            if g.missing > 0 and services.gap_start(team, g.shift_type, g.day) > now]


def open_all_gaps(team: Team, first, last, *, actor: User, now: datetime | None = None) -> GapsOpened:
    """A day's or a week's gaps in one go: every missing place still to come becomes an open shift
    (``services.open_gap``, each audited) and one broadcast asks everyone eligible for any of them. A second tap
    finds nothing left to open and is refused (nothing sent twice); two coordinators at once are serialised on the
    team's row."""
    now = now or now_utc()
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can open gaps.")
    if (last - first).days > 6 or last < first:
        raise ValidationFailed("Open the gaps of one day or one week at a time.",
                               errors={"last": ["At most 7 days from the first."]})
    db.session.execute(select(Team.id).where(Team.id == team.id).with_for_update())
    gaps = gaps_to_open(team, first, last, now=now)
    if not gaps:
        raise Conflict("Nothing to open: every gap of those days still to come is already filled or open.",
                       extra={"code": "nothing_to_open"})
    shifts = [services.open_gap(team, requirement=g.requirement, day=g.day, actor=actor, now=now)
              for g in gaps for _ in range(g.missing)]
    b = None
    if broadcasts.preview(team, actor, audience=audiences.ELIGIBLE_FOR_ANY_SHIFT,
                          params={"shift_ids": [s.id for s in shifts]})["recipient_count"]:
        b = broadcasts.create(team, actor, audience=audiences.ELIGIBLE_FOR_ANY_SHIFT,
                              params={"shift_ids": [s.id for s in shifts]}, text=_gaps_text(team, shifts),
                              link="/open-shifts", kind="message",
                              urgent=min(s.starts_at for s in shifts) - now < timedelta(hours=24))
    audit.record("gaps.opened_all", actor=actor, entity=team, team_id=team.id,
                 summary={"first": first.isoformat(), "last": last.isoformat(), "shifts": len(shifts),
                          "broadcast_id": b.id if b is not None else None})
    return GapsOpened(shifts, b)


def _gaps_text(team: Team, shifts: list) -> str:
    """"3 open shifts on Ward 7B: Early Mon 07 Dec 07:00–15:30 (Band 5+); …. Take one on Open shifts." (no
    patient data; at most five listed)."""
    lines = [eligibility.describe_shift(s) + (f" ({s.required_grade}+)" if s.required_grade else "")
             for s in shifts[:5]]
    more = f"; and {len(shifts) - 5} more" if len(shifts) > 5 else ""
    plural = "s" if len(shifts) != 1 else ""
    return f"{len(shifts)} open shift{plural} on {team.name}: {'; '.join(lines)}{more}. Take one on Open shifts."


# ------------------------------------------------------------------------------------------------- the panel


@dataclass
class GapLine:
    label: str  # "Today · Night 19:30–08:00 · 1 Band 5 nurse needed"
    shift: Shift | None = None  # an open shift (ask for cover on it)
    requirement: StaffingRequirement | None = None  # or an unmet requirement not opened yet
    day: object = None
    broadcast: object = None  # cover already asked: its broadcast
    held: bool = False


@dataclass
class InFlight:
    broadcast: object
    recipients: int
    counts: dict

    @property
    def words(self) -> str:
        """"asked 4 · read 2 · taken" (the same words on the page and in its live updates)."""
        read = self.counts.get("read", 0) + self.counts.get("acknowledged", 0) + self.counts.get("claimed", 0)
        taken = "taken" if self.counts.get("claimed") or self.broadcast.state == "claimed" else "not taken yet"
        return f"asked {self.recipients} · read {read} · {taken}"


@dataclass
class CoordinatorHome:
    teams: list
    gaps: list = field(default_factory=list)
    absences: list = field(default_factory=list)
    approvals: int = 0
    volunteers: int = 0
    in_flight: list = field(default_factory=list)


def _day_word(day, today) -> str:
    return "Today" if day == today else "Tomorrow"


def _gaps(team: Team, now: datetime) -> list[GapLine]:
    today = timeutil.local_date(now, team.timezone)
    tomorrow = today + timedelta(days=1)
    lines = []
    lo, hi = timeutil.day_bounds(today, tomorrow, team.timezone)
    held = set(db.session.scalars(absence.held_shift_ids()))
    for s in db.session.scalars(select(Shift).where(Shift.team_id == team.id, Shift.state == ShiftState.open,
                                                    Shift.starts_at >= max(lo, now), Shift.starts_at < hi)
                                .order_by(Shift.starts_at)):
        day = timeutil.local_date(s.starts_at, team.timezone)
        lines.append(GapLine(f"{_day_word(day, today)} · {eligibility.describe_shift(s)}", shift=s,
                             broadcast=open_cover_broadcast(s), held=s.id in held))
    for g in services.gaps_for(team, today, tomorrow):
        if g.missing <= 0:
            continue
        start = timeutil.shift_instants(g.day, g.shift_type.start_local, g.shift_type.duration_minutes,
                                        team.timezone)[0]
        if start <= now:
            continue  # a gap that has started: no use asking the app for cover
        at = timeutil.to_local(start, team.timezone)
        lines.append(GapLine(f"{_day_word(g.day, today)} · {g.shift_type.name} {at:%H:%M} · {g.missing} more "
                             f"needed ({services.requirement_label(g.requirement)})", requirement=g.requirement,
                             day=g.day))
    return lines


def coordinator_home(user: User, *, now: datetime | None = None) -> CoordinatorHome | None:
    teams = managed_teams(user)
    if not teams:
        return None
    now = now or now_utc()
    ids = [t.id for t in teams]
    home = CoordinatorHome(teams=teams)
    for t in teams:
        home.gaps.extend(_gaps(t, now))
    home.absences = absence.recent(ids, now=now)
    home.approvals = len(db.session.scalars(swap_requests.requests_for(user, mine="approvals")).all())
    home.volunteers = db.session.scalar(
        select(func.count(func.distinct(OpenShiftVolunteer.shift_id))).join(Shift)
        .where(Shift.team_id.in_(ids), Shift.starts_at > now, OpenShiftVolunteer.state == VolunteerState.waiting)) or 0
    home.in_flight = in_flight(user, ids, now=now)
    return home


def in_flight(user: User, team_ids: list[int], *, now: datetime | None = None) -> list[InFlight]:
    """The teams' broadcasts of the last day still open (or just taken), with their counts, newest first."""

    now = now or now_utc()
    out = []
    for b in db.session.scalars(select(Broadcast).where(Broadcast.team_id.in_(team_ids),
                                                        Broadcast.state.in_(("open", "claimed")),
                                                        Broadcast.created_at > now - timedelta(hours=IN_FLIGHT_HOURS))
                                .order_by(Broadcast.created_at.desc()).limit(10)):
        r = broadcasts.report(b, user)
        out.append(InFlight(b, r["recipient_count"], r["counts"]))
    return out


def in_flight_status(user: User) -> list[dict]:
    """For the Home page's live counts: ``[{"id", "words"}]`` of the broadcasts :func:`in_flight` shows."""
    return [{"id": f.broadcast.id, "words": f.words} for f in in_flight(user, [t.id for t in managed_teams(user)])]


def panel(user):
    home = coordinator_home(user)
    if home is None:
        return None

    return {"title": "Needs you now", "template": "rota/swaps/_coordinator_panel.html", "home": home,
            "form": CsrfForm(), "words": absence.REASON_WORDS}

