"""Who may hold a shift: the one eligibility service (swaps, offers, open shifts, coordinator assignment, broadcasts).

A person is eligible for a shift when they are a member of its team or of a pool the team allows (or were asked
about this open shift by an open broadcast of its team, e.g. neighbouring-ward staff reached by an escalation
ladder), their grade and skills meet the shift's requirements, they are not on leave on any local day the shift
touches, they hold no overlapping shift (other than the ones they would give up in the same change), and the
compliance engine finds no *blocking* verdict for their rota after the change. Warnings are carried along so people
see them before they confirm.

Everything is batched so that checking a whole team (or a 1,000-person pool) costs a handful of queries: one for
the candidates, one for leave, one for overlapping shifts, then the compliance engine only for the people who
passed those cheap checks.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Integer, and_, bindparam, exists, literal, or_, select, union
from sqlalchemy.orm import joinedload, load_only

from core import timeutil
from core.accounts import Membership, Team, User, grade_rank  # noqa: F401  (grade_rank: used by rota.swaps)
from core.api import MAX_ID
from core.db import db, now_utc
from core.limits import MAX_SHIFT
from core.timeutil import to_local
from notifications import registry
from notifications.models import Broadcast, BroadcastRecipient
from rota import cover
from rota.assignment import leave_blocks, leave_words
from rota.compliance import verdicts as what_if
from rota.compliance.models import PersonComplianceSettings, TeamComplianceSettings
from rota.compliance.rotas import person_rows
from rota.compliance.rules import LeaveSpan
from rota.models import Leave, PeriodState, RotaPeriod, Shift, ShiftState, ShiftType
from rota.skillmix import grade_meets, missing_skills  # noqa: F401  (the one rule; re-exported)
from rota.swaps.absence_models import held_shift_ids
from rota.swaps.models import OpenShiftVolunteer, TeamSwapSettings, VolunteerState

# No shift lasts longer (the rota refuses longer ones and the database holds it), so it bounds the overlap lookback.
MAX_SHIFT_LENGTH = MAX_SHIFT
SHIFT_REFERENCE = "shift"  # a broadcast about an open shift: reference "shift:<id>" (register_reference_action)


@dataclass
class Eligibility:
    """The answer for one person and one shift: ``ok`` plus every reason (plain English) and every verdict."""

    user: User
    shift: Shift
    reasons: list[str] = field(default_factory=list)  # hard reasons: grade, skills, leave, overlap, membership
    verdicts: list = field(default_factory=list)  # compliance verdicts (block and warn) after the change
    codes: set = field(default_factory=set)  # machine-readable reasons: grade, skills, leave, overlap, membership
    cover: list = field(default_factory=list)  # cover.ClauseEffect: what the change does to the slot's requirements
    volunteered: bool = False  # an open shift they already volunteered for, waiting for the coordinator's choice

    @property
    def blocking(self) -> list:
        return [v for v in self.verdicts if v.blocking]

    @property
    def warnings(self) -> list:
        return [v for v in self.verdicts if not v.blocking]

    @property
    def cover_text(self) -> str:
        """"Night Sat 12 Dec: registered nurses 3 → 2 of 3" (every clause the change touches), or ""."""
        return "; ".join(e.text for e in self.cover)

    @property
    def short_of_cover(self) -> bool:
        """Refused only because it breaks staffing cover (what a coordinator may override with a reason)."""
        return not self.reasons and bool(self.blocking) and all(cover.is_cover(v) for v in self.blocking)

    @property
    def ok(self) -> bool:
        return not self.reasons and not self.blocking

    @property
    def clean(self) -> bool:
        """Eligible with no verdict at all (what automatic approval needs)."""
        return self.ok and not self.verdicts

    def explain(self) -> str:
        parts = self.reasons + [v.message for v in self.blocking]
        return " ".join(p if p.endswith(".") else p + "." for p in parts)


# ------------------------------------------------------------------------------------------------- settings


def settings_for(team_id: int) -> TeamSwapSettings:
    """The team's swap settings (defaults when the team never saved any; the default object is not added)."""
    row = db.session.get(TeamSwapSettings, team_id)
    return row if row is not None else _default_settings(team_id)


def settings_for_teams(team_ids: Iterable[int]) -> dict[int, TeamSwapSettings]:
    """:func:`settings_for` of several teams in one query (the open-shifts page shows each gap's team policy)."""
    ids = sorted(set(team_ids))
    rows = {r.team_id: r for r in db.session.scalars(select(TeamSwapSettings).where(
        TeamSwapSettings.team_id.in_(ids)))} if ids else {}
    return {tid: settings_from(rows, tid) for tid in ids}


def settings_from(rows: dict[int, TeamSwapSettings], team_id: int) -> TeamSwapSettings:
    """A team's settings among rows already read (``all_settings()``): the defaults when it saved none."""
    return rows.get(team_id) or _default_settings(team_id)


def _default_settings(team_id: int) -> TeamSwapSettings:
    row = TeamSwapSettings(team_id=team_id)
    for col in TeamSwapSettings.__table__.columns:
        if getattr(row, col.key) is None and col.default is not None and not callable(col.default.arg):
            setattr(row, col.key, col.default.arg)
    row.pool_team_ids = []
    return row


def allowed_team_ids(team_id: int) -> list[int]:
    """The shift's own team first, then any pools whose members may also take its shifts."""
    pools = [int(t) for t in (settings_for(team_id).pool_team_ids or []) if int(t) != team_id]
    return [team_id, *pools]


def shift_reference(shift_id: int) -> str:
    """How broadcasts about an open shift are labelled (``Broadcast.reference``)."""
    return f"{SHIFT_REFERENCE}:{shift_id}"


def shift_id_from_reference(reference) -> int | None:
    """``"shift:12"`` -> 12; anything else (another kind, not a plain id, out of range) -> None."""
    parsed = registry.parse_reference(reference)
    return parsed[1] if parsed and parsed[0] == SHIFT_REFERENCE else None


def shift_id_from(raw) -> int | None:
    """A shift id given as an int or a string of ASCII digits, within the id range; otherwise None."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        return None
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 10) or not 0 < int(text) <= MAX_ID:
        return None
    return int(text)


def invited_user_ids(shift: Shift, user_ids: Iterable[int]) -> set[int]:
    """Of ``user_ids``, those asked about ``shift`` by an *open* broadcast of the shift's own team (reference
    ``"shift:<id>"``), e.g. neighbouring-ward staff reached by an escalation ladder. They may claim it as if they
    were members (every other check still applies); once the broadcast is claimed or closed, they no longer can —
    except those already waiting as volunteers for it (an SMS "YES" marks the broadcast answered), whom the
    coordinator may still choose."""
    ids = list(user_ids)
    if not ids:
        return set()
    asked = _invitations(BroadcastRecipient.user_id, where=(
        Broadcast.reference == shift_reference(shift.id), Broadcast.team_id == shift.team_id,
        BroadcastRecipient.user_id.in_(ids)))
    waiting = select(OpenShiftVolunteer.user_id).where(OpenShiftVolunteer.shift_id == shift.id,
                                                       OpenShiftVolunteer.state == VolunteerState.waiting,
                                                       OpenShiftVolunteer.user_id.in_(ids))
    return set(db.session.scalars(union(asked, waiting)))


def _invitations(*columns, where=()):
    """``columns`` of (open broadcast about a shift, its recipient) pairs: who has been asked about which gap."""
    return (select(*columns).select_from(BroadcastRecipient)
            .join(Broadcast, Broadcast.id == BroadcastRecipient.broadcast_id)
            .where(Broadcast.state == "open", Broadcast.reference.like("shift:%"), *where))


@cache
def _my_invitations():
    """(reference, team) of the open broadcasts about a shift that asked one person: built once."""
    return _invitations(Broadcast.reference, Broadcast.team_id,
                        where=(BroadcastRecipient.user_id == bindparam("user_id"),))


@cache
def _shift_teams():
    return select(Shift.id, Shift.team_id).where(Shift.id.in_(bindparam("ids", expanding=True)))


def _invited_shifts(user: User) -> dict[int, int]:
    """{shift id: team id} of the shifts ``user`` has been asked about by an open broadcast of the shift's own
    team (waiting volunteers are not counted here: this is what they are shown, not whom a coordinator may pick)."""
    wanted = {}
    for ref, team_id in db.session.execute(_my_invitations(), {"user_id": user.id}):
        shift_id = shift_id_from_reference(ref)
        if shift_id is not None:
            wanted[shift_id] = team_id
    if not wanted:
        return {}
    return {sid: tid for sid, tid in db.session.execute(_shift_teams(), {"ids": list(wanted)})
            if wanted.get(sid) == tid}


def invited_team_ids(user: User) -> set[int]:
    """Teams with an open shift ``user`` has been invited to by broadcast (so they may look at that team's gaps)."""
    return set(_invited_shifts(user).values())


def invited_shift_ids(user: User) -> list[int]:
    """Open shifts ``user`` has been asked about by an open broadcast of the shift's team."""
    return sorted(_invited_shifts(user))


def may_see_shift(user: User, shift: Shift) -> bool:
    """Whether ``user`` may see (and so try to claim) ``shift``: they can see its team, belong to a pool it allows,
    or were invited to this very shift by one of its team's open broadcasts."""
    return bool(shift.team.can_view(user) or shift.team_id in teams_whose_shifts_user_may_take(user)
                or invited_user_ids(shift, [user.id]))


@cache
def _every_settings_row():
    return select(TeamSwapSettings)


def all_settings() -> dict[int, TeamSwapSettings]:
    """Every team's saved swap settings row, by team id (a team with none uses the defaults)."""
    return {row.team_id: row for row in db.session.scalars(_every_settings_row())}


def teams_whose_shifts_user_may_take(user: User, *, settings: dict[int, TeamSwapSettings] | None = None) -> list[int]:
    """The person's teams and the teams whose pools include one of them (``settings``: ``all_settings()`` when the
    caller has it already)."""
    mine = set(user.team_ids)
    result = set(mine)
    for row in (all_settings() if settings is None else settings).values():
        if mine.intersection(int(t) for t in (row.pool_team_ids or [])):
            result.add(row.team_id)
    return sorted(result)


# ---------------------------------------------------------------------------------------- pure predicates


def _minus(instant: datetime, delta: timedelta) -> datetime:
    try:
        return instant - delta
    except OverflowError:
        return instant


def _local(shift: Shift, instant: datetime) -> datetime:
    return to_local(instant, shift.team.timezone)


def describe_shift(shift: Shift) -> str:
    """"Night Thu 27 Nov 19:30–08:00" in the team's zone (no patient data, safe for notifications)."""
    start, end = _local(shift, shift.starts_at), _local(shift, shift.ends_at)
    name = shift.shift_type.name if shift.shift_type is not None else "Shift"
    return f"{name} {start:%a %d %b %H:%M}–{end:%H:%M}"


# ------------------------------------------------------------------------------------------------ the service


def active_members(team_ids: Iterable[int], *, excluding_team_ids: Iterable[int] = ()) -> list[User]:
    """Active members of any of ``team_ids`` who belong to none of ``excluding_team_ids``, by name."""
    members = select(Membership.user_id).where(Membership.team_id.in_(list(team_ids)))
    # Only the columns eligibility reads: loading 1,000 whole accounts (password hashes …) is a third of the time.
    stmt = (select(User).options(load_only(User.display_name, User.grade, User.skills, User.active,
                                           User.staff_group))
            .where(User.id.in_(members), User.active.is_(True)).order_by(User.display_name, User.id))
    excluding = list(excluding_team_ids)
    if excluding:
        stmt = stmt.where(User.id.not_in(select(Membership.user_id).where(Membership.team_id.in_(excluding))))
    return list(db.session.scalars(stmt))


def candidates(shift: Shift, slots: dict | None = None) -> list[User]:
    """The default list: active members of the shift's team and its allowed pools who can take it like-for-like
    (same staff group as the cover needs, grade at or above it, its skills; never someone without a clinical grade
    for clinical cover), except the person who already holds it."""
    return like_for_like(shift, [u for u in active_members(allowed_team_ids(shift.team_id))
                                 if u.id != shift.assignee_id], slots)


def like_for_like(shift: Shift, users: Iterable[User], slots: dict | None = None) -> list[User]:
    need = cover.need_for(shift, slots)
    return [u for u in users if need.fits(u) and cover.clinically_graded(u, need)]


def assess(shift: Shift, users: Iterable[User] | None = None, *,
           giving_up: Mapping[int, Iterable[Shift]] | None = None, with_compliance: bool = True,
           check_membership: bool = True) -> list[Eligibility]:
    """Eligibility of each person for ``shift`` (everyone allowed when ``users`` is None).

    ``giving_up`` maps a user id to the shift(s) that person hands over in the same change (the other half of a
    swap): those do not count as overlaps and are removed from their rota for the compliance check.
    """
    giving_up = {uid: list(shifts) for uid, shifts in (giving_up or {}).items()}
    everyone = users is None
    slots = cover.load_slots([shift])
    need = cover.need_for(shift, slots)
    users = candidates(shift, slots) if everyone else list(users)
    if not users:
        return []
    results = {u.id: Eligibility(u, shift) for u in users}
    ids = list(results)
    team_ids = allowed_team_ids(shift.team_id)
    # Membership can be skipped when the list came from candidates(); otherwise one query (two when someone is
    # not a member: people invited to this open shift by its team's open broadcast count as members).
    if check_membership and not everyone:
        members = set(db.session.scalars(select(Membership.user_id).where(
            Membership.team_id.in_(team_ids), Membership.user_id.in_(ids))))
        members |= invited_user_ids(shift, [uid for uid in ids if uid not in members])
        for uid, res in results.items():
            if uid not in members:
                res.reasons.append(f"{res.user.display_name} is not in this team or an allowed pool")
                res.codes.add("membership")
    for res in results.values():
        if shift.assignee_id == res.user.id:
            res.reasons.append(f"{res.user.display_name} already works this shift")
        if not res.user.active:
            res.reasons.append(f"{res.user.display_name}'s account is not active")
        if not grade_meets(res.user.grade, shift.required_grade):
            res.reasons.append(f"{res.user.display_name} is {res.user.grade or 'ungraded'}; this shift needs "
                               f"{shift.required_grade} or above")
            res.codes.add("grade")
        missing = missing_skills(res.user.skills, shift.required_skills)
        if missing:
            res.reasons.append(f"{res.user.display_name} is not recorded as {', '.join(missing)}")
            res.codes.add("skills")
        if not cover.clinically_graded(res.user, need):
            res.reasons.append(f"{res.user.display_name} has no clinical grade; this shift needs {need.words}")
            res.codes.add("grade")
        # What the change does to the slot's staffing requirements; a clause taken below its minimum blocks.
        res.cover = cover.effects_of([(shift, res.user)], slots)
    # A subquery instead of a long IN list when checking a whole team.
    who = (select(Membership.user_id).where(Membership.team_id.in_(team_ids)) if everyone else ids)
    first_day, last_day = _local(shift, shift.starts_at).date(), _local(shift, shift.ends_at).date()
    leave_rows = db.session.execute(
        select(Leave).where(
            Leave.user_id.in_(who), and_(Leave.first_day <= last_day, Leave.last_day >= first_day),
            leave_blocks(shift.team_id)).order_by(Leave.first_day, Leave.id)
    ).scalars().all()
    for lv in leave_rows:
        res = results.get(lv.user_id)
        if res is not None and "leave" not in res.codes:
            res.reasons.append(leave_words(res.user.display_name, lv, shift.team_id))
            res.codes.add("leave")
    overlap_rows = db.session.execute(
        select(Shift.assignee_id, Shift.id, Shift.starts_at, Shift.ends_at).where(
            Shift.assignee_id.in_(who), Shift.state != ShiftState.cancelled, Shift.id != shift.id,
            # The lower bound lets the (assignee_id, starts_at) index do the work; no shift lasts longer.
            Shift.starts_at > _minus(shift.starts_at, MAX_SHIFT_LENGTH),
            Shift.starts_at < shift.ends_at, Shift.ends_at > shift.starts_at)
    ).all()
    tz = timeutil.zone(shift.team.timezone)
    for uid, sid, starts, ends in overlap_rows:
        res = results.get(uid)
        if res is None or sid in {s.id for s in giving_up.get(uid, [])}:
            continue
        if not any("already works" in r for r in res.reasons):
            res.reasons.append(f"{res.user.display_name} already works {to_local(starts, tz):%a %d %b %H:%M}–"
                               f"{to_local(ends, tz):%H:%M}, which overlaps")
            res.codes.add("overlap")
    if with_compliance:
        # One bulk what-if (two queries, same answers as verdicts_for_change) for everyone still in the running.
        still_in = [res.user for res in results.values() if not res.reasons]
        verdicts = what_if.verdicts_for_candidates(shift, still_in, giving_up=giving_up)
        for user in still_in:
            results[user.id].verdicts = list(verdicts.get(user.id, ()))
    for res in results.values():
        res.verdicts += [e.verdict((shift.id,)) for e in res.cover if e.breaks]
    return list(results.values())


def check(shift: Shift, user: User, *, giving_up: Iterable[Shift] = ()) -> Eligibility:
    return assess(shift, [user], giving_up={user.id: list(giving_up)})[0]


def eligible(shift: Shift) -> list[Eligibility]:
    """Everyone who could take ``shift`` now, with their warnings."""
    return [r for r in assess(shift) if r.ok]


def eligible_user_ids(shift: Shift) -> list[int]:
    """For broadcasts ("everyone eligible for this shift")."""
    return [r.user.id for r in eligible(shift)]


def open_shifts_query(team_ids: Iterable[int], *, now: datetime | None = None, also_ids: Iterable[int] = ()):
    """Open shifts of these teams (and the shifts ``also_ids``) that have not started (up to two years ahead), on
    published rotas (or on no rota period)."""
    now = now or now_utc()
    also_ids = list(also_ids)
    which = or_(Shift.team_id.in_(list(team_ids)), Shift.id.in_(also_ids)) if also_ids else \
        Shift.team_id.in_(list(team_ids))
    return _open_shifts(which, now, now + OPEN_SHIFTS_AHEAD)


OPEN_SHIFTS_AHEAD = timedelta(days=730)


def _open_shifts(which, after, before):
    published = select(RotaPeriod.id).where(RotaPeriod.state == PeriodState.published)
    return (select(Shift).where(which, Shift.state == literal(ShiftState.open.value, literal_execute=True),
                                Shift.starts_at > after, Shift.starts_at < before,
                                Shift.id.not_in(held_shift_ids()),
                                or_(Shift.rota_period_id.is_(None), Shift.rota_period_id.in_(published)))
            .order_by(Shift.starts_at, Shift.id))


@cache
def _open_shifts_page(invited: bool, only: bool):
    """``open_shifts_query`` with its teams, invited shifts, times, a team filter (``only``) and the limit as
    parameters, each gap's team and shift type read with it, whether the person is waiting for it as a volunteer,
    the working-time settings it is judged under and its team's change stamp: built once per shape. (statement,
    whether the stamps are its last two columns): rows of (shift, waiting, the person's compliance settings, the
    team's[, stamp version, stamp time])."""
    teams = Shift.team_id.in_(bindparam("teams", expanding=True))
    which = or_(teams, Shift.id.in_(bindparam("invited", expanding=True))) if invited else teams
    stmt = _open_shifts(which, bindparam("now"), bindparam("until"))
    if only:
        stmt = stmt.where(Shift.team_id.in_(bindparam("only", expanding=True)))
    waiting = exists().where(OpenShiftVolunteer.shift_id == Shift.id,
                             OpenShiftVolunteer.user_id == bindparam("user_id"),
                             OpenShiftVolunteer.state == VolunteerState.waiting)
    # What the lists show and judge of each gap's team and type (name, zone; name, code, kind): fewer columns to read.
    # With each gap, the working-time settings its verdicts are judged under (its team's and the person's, at most one
    # row each) and its team's change stamp (``cover.with_team_stamps``): neither needs a statement of its own.
    stmt = (stmt.add_columns(waiting, PersonComplianceSettings, TeamComplianceSettings)
            .outerjoin(TeamComplianceSettings, TeamComplianceSettings.team_id == Shift.team_id)
            .outerjoin(PersonComplianceSettings, PersonComplianceSettings.user_id == bindparam("user_id"))
            .options(joinedload(Shift.team).load_only(Team.name, Team.timezone),
                     joinedload(Shift.shift_type).load_only(ShiftType.name, ShiftType.code, ShiftType.kind,
                                                            ShiftType.team_id))
            .limit(bindparam("limit", type_=Integer)))
    return cover.with_team_stamps(stmt, Shift.team_id)


@cache
def _my_leave():
    return (select(Leave.id, Leave.team_id, Leave.kind, Leave.first_day, Leave.last_day)
            .where(Leave.user_id == bindparam("user_id")).order_by(Leave.first_day, Leave.id))


def eligible_open_shifts(user: User, *, team_ids: Iterable[int] | None = None, include_ineligible: bool = False,
                         limit: int = 200, settings: dict[int, TeamSwapSettings] | None = None) -> list[Eligibility]:
    """Open shifts ``user`` could claim (in their teams, the teams whose pools they belong to, and the shifts a
    team's open broadcast invited them to). ``settings``: ``all_settings()`` when the caller reads it anyway; else it
    is read only if needed (a list of the person's own teams needs it only for leave filed under another team)."""
    def read_settings() -> dict[int, TeamSwapSettings]:
        nonlocal settings
        if settings is None:
            settings = all_settings()
        return settings

    own = user.team_ids
    if team_ids is not None and set(team_ids) <= own:
        allowed = sorted(set(team_ids))  # their own teams: no pool needs reading to know they may see them
    else:
        allowed = teams_whose_shifts_user_may_take(user, settings=read_settings())
    # A list of teams whose every gap the person may see needs no invitations: they add only other teams' gaps.
    whole = team_ids is not None and set(team_ids) <= set(allowed)
    invited = [] if whole else invited_shift_ids(user)
    if not allowed and not invited:
        return []
    now = now_utc()
    values = {"teams": list(allowed), "invited": invited, "now": now, "until": now + OPEN_SHIFTS_AHEAD,
              "limit": limit, "user_id": user.id}
    if team_ids is not None:
        values["only"] = list(team_ids)
    # Each gap's team and shift type come with it (the page names both): no query per team or type.
    page, stamped = _open_shifts_page(bool(invited), team_ids is not None)
    rows = db.session.execute(page, values).all()
    if not rows:
        return []
    shifts = [row[0] for row in rows]
    # Each gap's team's stamp, read with the gaps (so before the slots): what the slots are kept under.
    stamps = {row[0].team_id: (row[4], row[5]) for row in rows if row[4] is not None} if stamped else None
    working_time = {row[0].team_id: (row[2], row[3]) for row in rows}  # the person's settings row, the team's
    leave = db.session.execute(_my_leave(), {"user_id": user.id}).all()
    teams = {s.team_id: s.team for s in shifts}
    # The leave that makes them unavailable for each team's shifts (``leave_blocks``: trust-wide records, the team's
    # or a pool's it takes staff from, and any of their own teams'), from the memberships in hand and, for leave
    # filed under another team, the settings (which name each team's pools).
    blocking = {tid: {lv.id for lv in leave if lv.team_id is None or lv.team_id in own or lv.team_id == tid
                      or lv.team_id in {int(t) for t in settings_from(read_settings(), tid).pool_team_ids or ()}}
                for tid in teams}
    slots = cover.load_slots(shifts, kept=True, stamps=stamps)  # slots unchanged since an earlier list: not read
    out = []
    for shift, waiting, *_ in rows:
        res = Eligibility(user, shift, volunteered=bool(waiting))
        res.cover = cover.effects_of([(shift, user)], slots)
        need = cover.need_for(shift, slots)
        if not cover.clinically_graded(user, need):
            res.reasons.append(f"You have no clinical grade; this shift needs {need.words}")
            res.codes.add("grade")
        if not grade_meets(user.grade, shift.required_grade):
            res.reasons.append(f"You are {user.grade or 'ungraded'}; this shift needs {shift.required_grade} or above")
        missing = missing_skills(user.skills, shift.required_skills)
        if missing:
            res.reasons.append(f"You are not recorded as {', '.join(missing)}")
        tz = timeutil.zone(teams[shift.team_id].timezone)
        first, last = to_local(shift.starts_at, tz).date(), to_local(shift.ends_at, tz).date()
        for lv in leave:
            if lv.first_day <= last and lv.last_day >= first and lv.id in blocking[shift.team_id]:
                res.reasons.append(f"You are on {lv.kind.value} leave then")
                res.codes.add("leave")
                break
        out.append(res)
    # One read of the person's own shifts for the overlaps and the working-time rules: the gaps' own times, and the
    # working-time margin around those that nothing has ruled out yet.
    lo, hi = min(s.starts_at for s in shifts), max(s.ends_at for s in shifts)
    open_to_them = [r.shift for r in out if not r.reasons]
    if open_to_them:
        margin_lo, margin_hi = what_if.rota_span(open_to_them)
        lo, hi = min(lo, margin_lo), max(hi, margin_hi)
    mine = person_rows(user.id, lo, hi)
    starts_of = [row[2] for row in mine]  # in start order: a gap can only overlap rows starting in its reach
    for res in out:
        shift = res.shift
        gap_starts, gap_ends = shift.starts_at, shift.ends_at
        near = mine[bisect_left(starts_of, gap_starts - MAX_SHIFT):bisect_left(starts_of, gap_ends)]
        for _uid, _sid, starts, ends, *_ in near:
            if ends > gap_starts:
                tz = timeutil.zone(teams[shift.team_id].timezone)
                res.reasons.append(f"You already work {to_local(starts, tz):%a %d %b %H:%M}–"
                                   f"{to_local(ends, tz):%H:%M}")
                res.codes.add("overlap")
                break
    # Working-time rules for the shifts nothing else rules out, on the rows and leave already read.
    judged = [r.shift for r in out if not r.reasons]
    if judged:
        lo, hi = what_if.rota_span(judged)
        verdicts = what_if.verdicts_for_shifts(
            user, judged, rows=[r for r in mine if r[2] < hi and r[3] > lo],
            leave=[LeaveSpan(lv.first_day, lv.last_day) for lv in leave], settings=working_time)
    else:
        verdicts = {}
    for res in out:
        res.verdicts = list(verdicts.get(res.shift.id, ())) + [e.verdict((res.shift.id,)) for e in res.cover
                                                              if e.breaks]
    return [r for r in out if r.ok or include_ineligible]


def by_user(results: Iterable[Eligibility]) -> dict[int, Eligibility]:
    return {r.user.id: r for r in results}
