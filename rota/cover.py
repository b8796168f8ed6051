"""Safe staffing through every change of holder: what a change does to a shift's cover, as compliance verdicts.

A rostered shift counts towards its team's staffing requirements for its *slot* — its shift type on the local day
it starts — exactly as the grid's cover line counts it (``rota.services.meets`` and the same slot key). Before a
shift changes hands (swap, offer, claim, coordinator assignment, approval, SMS "YES") the change is checked here:

* a requirement clause that would lose a holder who counts towards it and so fall (further) below its minimum
  ("Night Sat 12 Dec would have 2 of 3 registered nurses"), or
* an open place that a clause needs to reach its minimum being taken by someone who does not count towards it

is a *blocking* verdict ``COVER-min`` (rule set ``COVER``). It travels with the working-time verdicts
(``Eligibility.verdicts``), so candidate lists leave such people out, the approval card and the API show it, and it
is refused like a blocking working-time verdict unless a coordinator overrides it with a reason, which is audited
(``cover.overridden``). An open shift is a place for the requirement it was opened for (``GapOpening``), or else for
the clauses its last holder counted towards (an RN's night opened by sickness is still an RN place); an open shift
that was never held is a place for nobody in particular (its ``required_grade/skills`` still apply).

Like-for-like — same staff group as the cover needs, a grade at or above it, its skills — is the default candidate
list (:func:`need_for`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import Integer, bindparam, cast, func, inspect, or_, select, union_all
from sqlalchemy.orm.util import identity_key

from core import audit, timeutil
from core.accounts import StaffGroup, Team, User, grade_rank
from core.db import db
from core.errors import Forbidden, RuleViolation
from rota import assignment
from rota.assignment import clean_reason
from rota.models import GapOpening, Shift, ShiftRelease, ShiftState, ShiftType, StaffingRequirement
from rota.skillmix import GROUP_FLOOR, grade_meets, group_words, meets, missing_skills
from rota.verdicts import BLOCK, Verdict

RULE_ID = "COVER-min"
RULE_SET = "COVER"
# ``fn(team_ids) -> {team_id: stamp} | None`` (at most one: ``rota.feeds.stamps.team_stamps``, registered by its
# wiring): a value per team that moves with every committed write to what a slot's cover is read from — the team's
# shifts, their releases and gap openings, its shift types, zone and staffing requirements, and the staff group,
# grade and skills of its members and holders; None while the session holds writes not yet committed. Slots read for
# lists (``load_slots(..., kept=True)``) are kept per process under it; with no hook registered nothing is kept.
TEAM_STAMPS: list[Callable] = []
# ``fn(stmt, team_id_column) -> stmt`` (``rota.feeds.stamps.with_team_stamps``): the statement with the stamp of each
# row's team as two more columns, so that a list reads its rows and their teams' stamps in one statement
# (``with_team_stamps``, ``load_slots(..., stamps=...)``).
TEAM_STAMP_JOIN: list[Callable] = []
KEPT_SLOTS = 4096  # slots each process keeps (a dozen rows each)
_kept_lock = threading.Lock()


def staff_label(user: User) -> str:
    """"Band 3 healthcare assistant", "no clinical grade, administrative staff" (who someone is, on every list)."""
    group = group_words(user.staff_group.value, plural=False)
    return f"{user.grade} {group}" if user.grade else f"no clinical grade, {group}"


def clause_words(req: StaffingRequirement) -> str:
    """"registered nurses", "registered nurses at Band 6 or above", "staff who are IV-trained" …"""
    words = group_words(req.staff_group)
    if req.min_grade:
        words += f" at {req.min_grade} or above"
    if req.skill:
        words += f" who are {req.skill}"
    return words


@dataclass
class ClauseEffect:
    """One requirement clause of a slot, before and after a change."""

    requirement: StaffingRequirement
    slot: str  # "Night Sat 12 Dec"
    before: int  # holders who count towards it
    after: int
    places_before: int  # holders plus open places that may still be filled for it
    places_after: int

    @property
    def minimum(self) -> int:
        return self.requirement.min_count

    @property
    def breaks(self) -> bool:
        lost_holder = self.after < self.before and self.after < self.minimum
        used_place = self.places_before >= self.minimum > self.places_after  # the place it needed went elsewhere
        return lost_holder or used_place

    @property
    def text(self) -> str:
        """"Night Sat 12 Dec: registered nurses 3 → 2 of 3" (what the candidate lists and approval card show)."""
        change = f"{self.before}" if self.before == self.after else f"{self.before} → {self.after}"
        return f"{self.slot}: {clause_words(self.requirement)} {change} of {self.minimum}"

    def verdict(self, shift_ids: tuple) -> Verdict:
        message = f"{self.slot} would have {self.after} of {self.minimum} {clause_words(self.requirement)}"
        return Verdict(rule_id=RULE_ID, severity=BLOCK, observed=str(self.after), limit=str(self.minimum),
                       message=message,
                       shift_ids=shift_ids, rule_set=RULE_SET, source="Team staffing requirements", kind="minimum",
                       observed_value=float(self.after), limit_value=float(self.minimum), unit="count")


@dataclass
class Slot:
    """A team's shift type on one local day: its requirement clauses and the shifts that count towards them."""

    name: str
    requirements: list
    shifts: list  # non-cancelled shifts of the slot
    purposes: dict  # open shift id -> ids of the clauses it is a place for
    people: dict = field(default_factory=dict)  # user id -> User
    _now: dict = field(default_factory=dict, repr=False)  # clause id -> (holders, places) as the slot stands
    _before: dict | None = field(default=None, repr=False)  # shift id -> its holder as the slot stands

    def _counts(self, req, s, user: User | None) -> tuple[int, int]:
        """What shift ``s`` held by ``user`` (None: nobody) adds to clause ``req``: (holders, places)."""
        if user is not None:
            return (1, 1) if meets(user, req) else (0, 0)
        if s.state == ShiftState.open and req.id in self.purposes.get(s.id, ()):
            return 0, 1
        return 0, 0

    def _holders(self) -> dict:
        """Read once per slot, as ``_now`` is: a slot is built whole and never changed (a list asks it once per gap)."""
        if self._before is None:
            self._before = {s.id: (self.people.get(s.assignee_id) if s.assignee_id else None) for s in self.shifts}
        return self._before

    def effects(self, changes: Mapping[int, User | None]) -> list[ClauseEffect]:
        """Each clause before and after ``changes`` ({shift id: new holder}) on this slot's shifts."""
        before = self._holders()
        moved = [(s, before[s.id], changes[s.id]) for s in self.shifts if s.id in changes]
        out = []
        for req in self.requirements:
            now = self._now.get(req.id)
            if now is None:  # the same for every change asked about (a list asks once per person and gap)
                counted = [self._counts(req, s, before[s.id]) for s in self.shifts]
                now = self._now[req.id] = (sum(h for h, _ in counted), sum(p for _, p in counted))
            have_b, places_b = now
            have_a, places_a = now
            for s, was, becomes in moved:  # only the changed shifts' part differs
                (h0, p0), (h1, p1) = self._counts(req, s, was), self._counts(req, s, becomes)
                have_a, places_a = have_a - h0 + h1, places_a - p0 + p1
            out.append(ClauseEffect(req, self.name, have_b, have_a, places_b, places_a))
        return out


def _slot_key(shift: Shift, zones: Mapping[int, str] | None = None) -> tuple[int, int, date] | None:
    if shift.shift_type_id is None:
        return None
    tz = zones[shift.team_id] if zones is not None else shift.team.timezone
    return shift.team_id, shift.shift_type_id, timeutil.local_date(shift.starts_at, tz)


@cache
def _requirements():
    """The staffing requirements of some teams' shift types: built once (most pages find none, so this statement is
    often all that ``load_slots`` runs)."""
    return (select(StaffingRequirement).where(StaffingRequirement.team_id.in_(bindparam("team_ids", expanding=True)),
                                              StaffingRequirement.shift_type_id.in_(bindparam("type_ids",
                                                                                              expanding=True)))
            .order_by(StaffingRequirement.id))


_FEW_SLOTS = 24  # up to this many slots, their shifts are read slot by slot; beyond, the whole span of days
# What a slot needs of each of its shifts (plain rows, not ORM objects: a dozen slots hold a couple of hundred).
_SLOT_COLUMNS = (Shift.id, Shift.team_id, Shift.shift_type_id, Shift.starts_at, Shift.state, Shift.assignee_id)
_PERSON_COLUMNS = (User.id, User.staff_group, User.grade, User.skills)  # what ``meets`` reads


@cache
def _slot_shifts(n: int):
    """The shifts of ``n`` slots, each slot's own local day (bound as ``t<i>``, ``y<i>``, ``lo<i>``, ``hi<i>``), plus
    the ``given`` shifts; ``n`` 0: the span ``lo``..``hi`` of some teams' shift types. Built once per ``n``."""
    if n:
        where = or_(*[(Shift.team_id == bindparam(f"t{i}")) & (Shift.shift_type_id == bindparam(f"y{i}"))
                      & (Shift.starts_at >= bindparam(f"lo{i}")) & (Shift.starts_at < bindparam(f"hi{i}"))
                      for i in range(n)], Shift.id.in_(bindparam("given", expanding=True)))
    else:
        where = or_(Shift.team_id.in_(bindparam("team_ids", expanding=True))
                    & Shift.shift_type_id.in_(bindparam("type_ids", expanding=True))
                    & (Shift.starts_at >= bindparam("lo")) & (Shift.starts_at < bindparam("hi")),
                    Shift.id.in_(bindparam("given", expanding=True)))
    return select(*_SLOT_COLUMNS).where(Shift.state != ShiftState.cancelled, where)


def _slot_rows(keys: set[tuple], zones: Mapping[int, str], given: list[int]) -> list:
    """The shifts of ``keys`` (team, shift type, local day): each slot's own day in its team's zone when there are
    few (an open-shifts list reads its dozen slots, not the weeks between them), else the span of days with a day
    either side (any zone), filtered by the caller. The ``given`` shifts are always read, and any shift this session
    holds with changes not yet written is taken as it stands here (a shift moved to another slot counts there)."""
    if len(keys) <= _FEW_SLOTS:
        values = {"given": given}
        for i, (team_id, type_id, day) in enumerate(sorted(keys)):
            values[f"t{i}"], values[f"y{i}"] = team_id, type_id
            values[f"lo{i}"], values[f"hi{i}"] = timeutil.day_bounds(day, day, zones[team_id])
        stmt = _slot_shifts(len(keys))
    else:
        days = sorted(k[2] for k in keys)
        lo, hi = days[0] - timedelta(days=1), days[-1] + timedelta(days=2)
        values = {"given": given, "team_ids": sorted({k[0] for k in keys}), "type_ids": sorted({k[1] for k in keys}),
                  "lo": timeutil.day_bounds(lo, lo, "UTC")[0], "hi": timeutil.day_bounds(hi, hi, "UTC")[1]}
        stmt = _slot_shifts(0)
    held = db.session.identity_map
    out = []
    for row in db.session.execute(stmt, values):
        obj = held.get(identity_key(Shift, row.id))
        out.append(obj if obj is not None and (obj.id in given or inspect(obj).modified) else row)
    return out


def _people(ids: set[int]) -> dict:
    """Holders by id, as ``meets`` reads them (staff group, grade, skills): plain rows unless this session holds
    the person with changes not yet written."""
    if not ids:
        return {}
    held = db.session.identity_map
    out = {}
    for row in db.session.execute(select(*_PERSON_COLUMNS).where(User.id.in_(ids))):
        obj = held.get(identity_key(User, row.id))
        out[row.id] = obj if obj is not None and inspect(obj).modified else row
    return out


@cache
def _slot_types():
    return (select(ShiftType.id, ShiftType.name, ShiftType.team_id, Team.timezone)
            .join(Team, Team.id == ShiftType.team_id)
            .where(ShiftType.id.in_(bindparam("type_ids", expanding=True))))


def with_team_stamps(stmt, team_id) -> tuple:
    """``(stmt with its rows' team stamps as its last two columns, True)``, or ``(stmt, False)`` with no
    ``TEAM_STAMP_JOIN`` hook registered: what ``load_slots(..., stamps=...)`` takes, read with the rows."""
    if not TEAM_STAMP_JOIN:
        return stmt, False
    return TEAM_STAMP_JOIN[-1](stmt, team_id), True


def load_slots(shifts: Iterable[Shift], *, kept: bool = False, stamps: dict | None = None) -> dict[tuple, Slot]:
    """The slots of ``shifts`` (those with requirements), loaded in a fixed handful of queries. ``kept``: for a list
    that only shows them (open shifts), slots read before under the same team stamps (``TEAM_STAMPS``) are used as
    they were, and those read now are kept; never while the session holds writes of its own, and never for a change
    being decided (claims, assignments and approvals lock and read their slots afresh). ``stamps``: {team id:
    stamp} of the shifts' teams when the caller read them with the shifts (``with_team_stamps``), which is before
    the slots are read; otherwise they are read here."""
    shifts = list(shifts)
    keys = {k for k in (_slot_key(s) for s in shifts) if k is not None}
    if not keys:
        return {}
    if kept and TEAM_STAMPS:
        stamps = TEAM_STAMPS[-1]({k[0] for k in keys}, known=stamps)
        if stamps is not None:
            return _kept_slots(keys, stamps)
    return _read_slots(keys, [s.id for s in shifts if s.id is not None])


def _kept_slots(keys: set[tuple], stamps: dict) -> dict[tuple, Slot]:
    """``keys``' slots: those kept under their team's stamp as it is now, the others read now and kept. The stamps
    were read first: a write committed since then is read under the older stamp, which no later list reads again."""
    store = current_app.extensions.setdefault("cover_slots", OrderedDict())
    out, missing = {}, set()
    with _kept_lock:
        for key in keys:
            hit = store.get(key)
            if hit is not None and hit[0] == stamps.get(key[0]):
                store.move_to_end(key)
                if hit[1] is not None:
                    out[key] = hit[1]
            else:
                missing.add(key)
    if missing:
        read = _read_slots(missing, [])
        with _kept_lock:
            for key in missing:
                if stamps.get(key[0]) is not None:  # a team never stamped: nothing to tell a change by
                    store[key] = (stamps[key[0]], _shareable(read.get(key)))
                    store.move_to_end(key)
            while len(store) > KEPT_SLOTS:
                store.popitem(last=False)
        out.update((key, read[key]) for key in missing if key in read)  # as read (this request's clauses)
    return out


@dataclass(frozen=True)
class Clause:
    """A staffing requirement clause as a slot reads it, outside any session (kept slots are shared by requests)."""

    id: int
    team_id: int
    shift_type_id: int
    weekday: int | None
    staff_group: str | None
    min_grade: str | None
    skill: str | None
    min_count: int
    description: str | None

    @classmethod
    def of(cls, req) -> Clause:
        return cls(req.id, req.team_id, req.shift_type_id, req.weekday, req.staff_group, req.min_grade, req.skill,
                   req.min_count, req.description)


def _shareable(slot: Slot | None) -> Slot | None:
    """The slot with nothing bound to this request's session: its clauses as :class:`Clause`; its shifts and people
    are plain rows already (``_read_slots`` with nothing given, in a session with no changes of its own)."""
    if slot is None:
        return None
    return Slot(slot.name, [Clause.of(r) for r in slot.requirements], slot.shifts, slot.purposes, slot.people)


def _read_slots(keys: set[tuple], given: list[int]) -> dict[tuple, Slot]:
    team_ids = {k[0] for k in keys}
    type_ids = {k[1] for k in keys}
    reqs = defaultdict(list)
    for req in db.session.scalars(_requirements(), {"team_ids": sorted(team_ids), "type_ids": sorted(type_ids)}):
        reqs[(req.team_id, req.shift_type_id)].append(req)
    keys = {k for k in keys if any(r.weekday is None or r.weekday == k[2].weekday() for r in reqs[k[:2]])}
    if not keys:
        return {}
    types = db.session.execute(_slot_types(), {"type_ids": sorted(type_ids)}).all()
    names = {type_id: name for type_id, name, _, _ in types}
    zones = {team_id: tz for _, _, team_id, tz in types}  # a shift's types are its team's
    rows = _slot_rows(keys, zones, given)
    by_key = defaultdict(list)
    for s in rows:
        key = _slot_key(s, zones)
        if key in keys:
            by_key[key].append(s)
    open_ids = [s.id for s in rows if s.state == ShiftState.open]
    openings, released = openings_and_holders(open_ids)
    people = _people({s.assignee_id for s in rows if s.assignee_id} | set(released.values()))
    out = {}
    for key in keys:
        team_id, type_id, day = key
        applicable = [r for r in reqs[(team_id, type_id)] if r.weekday is None or r.weekday == day.weekday()]
        slot_shifts = by_key.get(key, [])
        purposes = {}
        for s in slot_shifts:
            place = place_for(s.id, applicable, openings, released, people)
            if place is not None:
                purposes[s.id] = place
        out[key] = Slot(f"{names.get(type_id, 'Shift')} {day:%a %d %b}", applicable, slot_shifts, purposes, people)
    return out


def openings_and_holders(open_ids: Iterable[int]) -> tuple[dict[int, int], dict[int, int]]:
    """For the open shifts among ``open_ids``: shift id -> the requirement it was opened for (``GapOpening``), and
    shift id -> the last person who held it (given up through sickness, leave, a coordinator's change), in one
    statement."""
    ids = list(open_ids)
    if not ids:
        return {}, {}
    openings, released = {}, {}
    for sid, requirement_id, user_id in db.session.execute(_openings_and_releases(), {"ids": ids}):
        if requirement_id is not None:
            openings[sid] = requirement_id
        else:
            released[sid] = user_id  # in the order they were given up: the last one wins
    return openings, released


@cache
def _openings_and_releases():
    ids = bindparam("ids", expanding=True)
    rows = union_all(
        select(GapOpening.shift_id, GapOpening.requirement_id, cast(None, Integer).label("user_id"),
               cast(None, Integer).label("seq"), cast(None, Integer).label("rid"))
        .where(GapOpening.shift_id.in_(ids)),
        select(ShiftRelease.shift_id, cast(None, Integer), ShiftRelease.user_id,
               func.row_number().over(order_by=(ShiftRelease.released_at, ShiftRelease.id)), ShiftRelease.id)
        .where(ShiftRelease.shift_id.in_(ids))).subquery()
    return select(rows.c.shift_id, rows.c.requirement_id, rows.c.user_id).order_by(rows.c.seq, rows.c.rid)


def place_for(shift_id: int, applicable: Iterable[StaffingRequirement], openings: Mapping[int, int],
              released: Mapping[int, int], people: Mapping[int, User]) -> set[int] | None:
    """The requirements an open shift is a place for: the one it was opened for (``openings``), else every clause
    its last holder (``released``) counted towards; None for an open shift nobody held (a place for nobody in
    particular). The cover checks here and the gap count (``rota.services.compute_gaps``) agree through this."""
    if shift_id in openings:
        return {openings[shift_id]}
    holder = people.get(released.get(shift_id))
    if holder is None:
        return None
    return {r.id for r in applicable if meets(holder, r)}


def lock_slots(shifts: Iterable[Shift]) -> None:
    """Lock every shift of the slots ``shifts`` belong to (PostgreSQL: ``FOR UPDATE``, in id order, one statement)
    and reload them, so that two changes in one slot — approvals, claims, assignments, each fine alone, together
    below the minimum — are decided one after the other, the second seeing the first (no write skew). SQLite runs
    one writer at a time; the reload still replaces whatever an earlier read of this session left behind."""
    conds = []
    for shift in shifts:
        key = _slot_key(shift)
        if key is not None:
            lo, hi = timeutil.day_bounds(key[2], key[2], shift.team.timezone)
            conds.append((Shift.team_id == key[0]) & (Shift.shift_type_id == key[1]) & (Shift.starts_at >= lo)
                         & (Shift.starts_at < hi))
    if conds:
        db.session.scalars(select(Shift).where(or_(*conds)).order_by(Shift.id).with_for_update()
                           .execution_options(populate_existing=True)).all()


def effects_of(changes: Iterable[tuple[Shift, User | None]], slots: dict | None = None) -> list[ClauseEffect]:
    """What ``changes`` ([(shift, new holder)], e.g. both halves of a swap) do to every clause they touch."""
    changes = list(changes)
    slots = load_slots([s for s, _ in changes]) if slots is None else slots
    by_slot: dict = defaultdict(dict)
    for shift, user in changes:
        key = _slot_key(shift)
        if key in slots:
            by_slot[key][shift.id] = user
    return [e for key, moved in by_slot.items() for e in slots[key].effects(moved)]


def verdicts_of(changes: Iterable[tuple[Shift, User | None]], slots: dict | None = None) -> list[Verdict]:
    changes = list(changes)
    ids = tuple(s.id for s, _ in changes)
    return [e.verdict(ids) for e in effects_of(changes, slots) if e.breaks]


def is_cover(verdict) -> bool:
    return getattr(verdict, "rule_set", "") == RULE_SET or str(getattr(verdict, "rule_id", "")).startswith("COVER-")


# ------------------------------------------------------------------------------------------------ like-for-like


@dataclass
class Need:
    """What a person must be to take a shift like-for-like: staff group, minimum grade, skills."""

    staff_group: str | None = None
    grade: str | None = None
    skills: list = field(default_factory=list)
    any_of: list = field(default_factory=list)  # an open place: counts towards at least one of these clauses

    def fits(self, user: User) -> bool:
        if self.staff_group and user.staff_group.value != self.staff_group:
            return False
        if not grade_meets(user.grade, self.grade) or missing_skills(user.skills, self.skills):
            return False
        return not self.any_of or any(meets(user, r) for r in self.any_of)

    @property
    def words(self) -> str:
        if self.any_of and not self.staff_group:
            return " or ".join(clause_words(r) for r in self.any_of)
        who = group_words(self.staff_group)
        return who + (f" at {self.grade} or above" if self.grade else "") + \
            (f" who are {', '.join(self.skills)}" if self.skills else "")


def need_for(shift: Shift, slots: dict | None = None) -> Need:
    """The cover a shift provides. A rostered shift: its holder's staff group, and the highest minimum grade and the
    skills of the clauses that would fall short without them (else the group's floor). An open shift: counting
    towards the requirement it was opened for, else towards one of the clauses that need this place to reach their
    minimum. ``shift.required_grade/skills`` always apply too."""
    slots = load_slots([shift]) if slots is None else slots
    slot = slots.get(_slot_key(shift))
    need = Need(grade=shift.required_grade, skills=list(shift.required_skills or []))
    holder = shift.assignee
    if holder is not None:
        needed = [e.requirement for e in slot.effects({shift.id: None})
                  if e.breaks and meets(holder, e.requirement)] if slot is not None else []
        need.staff_group = holder.staff_group.value
        for r in needed:
            if r.min_grade and (need.grade is None or grade_rank(r.min_grade) > grade_rank(need.grade)):
                need.grade = r.min_grade
            if r.skill and r.skill not in need.skills:
                need.skills.append(r.skill)
        if need.grade is None:
            need.grade = GROUP_FLOOR.get(need.staff_group)
    elif slot is not None:
        need.any_of = [r for r in slot.requirements if r.id in slot.purposes.get(shift.id, ())]
        groups = {r.staff_group for r in need.any_of}
        if len(groups) == 1:
            need.staff_group = groups.pop()
    return need


def clinically_graded(user: User, need: Need) -> bool:
    """Administrators and coordinators without a clinical grade are candidates only as rostered staff of the
    shift's own (non-clinical) group."""
    if need.staff_group == StaffGroup.admin.value:
        return True
    return user.grade is not None and user.staff_group != StaffGroup.admin


# -------------------------------------------------------------------------------------------------------- hook


def check_assignment(shift, user, *, actor, override_reason=None, **_ignored) -> list[Verdict]:
    """``rota.assignment.CHANGE_CHECKS`` hook: a rostered shift passing from one holder to another must not take a
    requirement below its minimum, unless a coordinator overrides with a reason (audited), as for working time.
    Open shifts being filled are checked by the services that fill them (claim, assign: through eligibility, after
    locking the slot), so building a rota — shifts created and then given to people — is not refused for being
    short while it is built."""
    if shift.assignee_id is None or user is None:
        return []
    verdicts = verdicts_of([(shift, user)])
    return _require_reason(shift, user, verdicts, actor=actor, override_reason=override_reason,
                           intro=f"{user.display_name} cannot take this shift")


def leaving(shift: Shift):
    """Before a rostered shift moves to another day or shift type: its slot now, and the verdicts of its holder
    leaving that slot (what :func:`check_move` needs once the shift has moved)."""
    if shift.assignee is None:
        return None, []
    lock_slots([shift])
    return _slot_key(shift), verdicts_of([(shift, None)])


def check_move(shift: Shift, before, verdicts, *, actor, override_reason=None) -> list[Verdict]:
    """A rostered shift moved out of slot ``before`` (``leaving``): the slot it left must not fall below a minimum
    (the holder is the same before and after, so no change of holder would notice), unless a coordinator gives a
    reason (audited)."""
    if not verdicts or before is None or _slot_key(shift) == before:
        return []
    user = shift.assignee
    return _require_reason(shift, user, verdicts, actor=actor, override_reason=override_reason,
                           intro=f"Moving {user.display_name}'s shift", hint=True)


def _require_reason(shift, user, verdicts, *, actor, override_reason, intro: str, hint=False) -> list[Verdict]:
    if not verdicts:
        return []
    reason = " ".join(str(override_reason or "").split())[:200] or None
    team = shift.team
    if not reason:
        assignment.hold_refusal(shift, user, verdicts, actor=actor)
        overridable = bool(team.can_manage(actor))
        more = " A coordinator may go ahead anyway by giving a reason (it is recorded)." if overridable and hint else ""
        raise RuleViolation(f"{intro}: {verdicts[0].message}.{more}",
                            errors={"cover": [v.message for v in verdicts]},
                            extra={"code": "cover", "verdicts": [_json(v) for v in verdicts],
                                   "overridable": overridable})
    if not team.can_manage(actor):
        raise Forbidden("Only a coordinator of this team can override a staffing requirement.",
                        extra={"code": "override_not_allowed", "verdicts": [_json(v) for v in verdicts]})
    record_override(shift, user, verdicts, actor=actor, reason=reason)
    return verdicts


def record_override(shift, user, verdicts, *, actor, reason: str) -> None:
    """The audit entry of a coordinator's override: who, which shift, the cover it breaks, and why."""

    audit.record("cover.overridden", actor=actor, entity=shift,
                 summary={"user_id": user.id, "shift_id": shift.id, "rule_ids": RULE_ID,
                          "cover": "; ".join(v.message for v in verdicts)[:200], "reason": clean_reason(reason)})


def _json(v: Verdict) -> dict:
    return {"rule_id": v.rule_id, "severity": v.severity, "observed": v.observed, "limit": v.limit,
            "message": v.message, "shift_ids": [i for i in v.shift_ids if i]}


def register() -> None:

    if check_assignment not in assignment.CHANGE_CHECKS:
        assignment.CHANGE_CHECKS.append(check_assignment)

