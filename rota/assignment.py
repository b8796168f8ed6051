"""The one place a shift changes hands.

Every flow — a coordinator assigning, a swap, a give-away, a claim, leave opening shifts, a cancellation — goes
through :func:`set_assignee`, so overlap and leave checks, working-time checks, release records (for calendar
feeds), audit entries and notifications can never be skipped. Other modules extend it through two hook lists
instead of editing it:

* ``CHANGE_CHECKS``: ``fn(shift, user, *, actor, override_reason, exclude_ids) -> None`` called before a person is
  given a shift (``exclude_ids``: shifts they give up in the same change, e.g. a swap);
  raise a ``core.errors`` domain error to refuse (the compliance engine registers here).
* ``AFTER_CHANGE``: ``fn(shift, previous_user, new_user, *, actor, kind, reason) -> None`` called after the change
  is flushed (notifications register here).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select

from core import audit, events
from core.accounts import Membership, User
from core.db import db
from core.errors import Conflict
from rota.models import Leave, ReleaseKind, Shift, ShiftRelease, ShiftState

CHANGE_CHECKS: list[Callable] = []
AFTER_CHANGE: list[Callable] = []
# ``fn(shift, *, was: str, actor) -> None`` after a coordinator moved a shift or changed its type (its holder stays):
# ``was`` is how the shift read before ("Early Tue 03 Mar 07:00–15:30"). Swaps end the requests it overtook.
AFTER_EDIT: list[Callable] = []
# ``fn(leave) -> None`` after a leave or sickness record is added (before any shifts it takes the person off are
# opened): swaps end the pending requests that would have given the person a shift on those days.
AFTER_LEAVE: list[Callable] = []


def local_day(shift: Shift, instant: datetime):
    return instant.astimezone(ZoneInfo(shift.team.timezone)).date()


def overlapping_shift(user: User, starts_at: datetime, ends_at: datetime, *, exclude_ids=()) -> Shift | None:
    stmt = select(Shift).where(
        Shift.assignee_id == user.id,
        Shift.state != ShiftState.cancelled,
        Shift.starts_at < ends_at,
        Shift.ends_at > starts_at,
    )
    if exclude_ids:
        stmt = stmt.where(Shift.id.not_in(list(exclude_ids)))
    return db.session.scalars(stmt.limit(1)).first()


def leave_in_team(team_id):
    """Leave *shown* in ``team_id``: the team's own records and trust-wide ones (recorded by an administrator, no
    team). Another team's record stays that team's business: its kind and note are never shown here (sickness is
    health data; a coordinator's power over a person ends at their own team's rota)."""
    return or_(Leave.team_id.is_(None), Leave.team_id == team_id)


# Which teams a shift of a team may be filled from: the team itself first, then its pools. The pools are a swaps
# setting, so swaps registers the answer here (``rota.swaps.wiring``); without it a team draws on its own members.
SHIFT_TEAMS: list[Callable[[int], list[int]]] = []


def shift_team_ids(team_id: int) -> list[int]:
    return SHIFT_TEAMS[-1](team_id) if SHIFT_TEAMS else [team_id]


OVERRIDE_REASON_MAX = 200
_NUMBER_LIKE = re.compile(r"\d[\d \-]{5,}\d")


def clean_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    reason = " ".join(str(reason).split())
    # The audit trail holds ids and codes, never patient identifiers: numbers that could be one are masked.
    reason = _NUMBER_LIKE.sub("[number removed]", reason)
    return reason[:OVERRIDE_REASON_MAX] or None


def leave_blocks(team_id):
    """Leave that makes a person *unavailable* for a shift of ``team_id``: recorded by that team, by a pool team it
    takes staff from, by any team the person belongs to (their own team's record of their sickness makes them
    unavailable wherever they would work), or trust-wide. Which of these may be *shown* is :func:`leave_in_team`."""
    own_teams = select(Membership.team_id).where(Membership.user_id == Leave.user_id)
    return or_(Leave.team_id.is_(None), Leave.team_id.in_(shift_team_ids(team_id)), Leave.team_id.in_(own_teams))


def leave_words(name: str, leave: Leave, team_id) -> str:
    """"Dee is on sickness leave 10 Feb–11 Feb" for the shift team's own and trust-wide records; another team's
    record says only when: "Dee is unavailable 10 Feb–11 Feb (leave recorded by another team)"."""
    days = f"{leave.first_day:%d %b}–{leave.last_day:%d %b}"
    if leave.team_id is None or leave.team_id == team_id:
        return f"{name} is on {leave.kind.value} leave {days}"
    return f"{name} is unavailable {days} (leave recorded by another team)"


def leave_clash(user: User, shift: Shift) -> Leave | None:
    """Leave covering any local day the shift touches (its start day, and its end day if it ends after 00:00)."""
    first = local_day(shift, shift.starts_at)
    last = local_day(shift, shift.ends_at)
    stmt = select(Leave).where(Leave.user_id == user.id, and_(Leave.first_day <= last, Leave.last_day >= first),
                               leave_blocks(shift.team_id))
    return db.session.scalars(stmt.limit(1)).first()


def check_can_hold(shift: Shift, user: User, *, exclude_ids=()) -> None:
    """Refuse, with a message a person understands, if ``user`` cannot hold ``shift``."""
    clash = overlapping_shift(user, shift.starts_at, shift.ends_at, exclude_ids=(shift.id, *exclude_ids))
    if clash is not None:
        tz = ZoneInfo(shift.team.timezone)
        raise Conflict(
            f"{user.display_name} already works {clash.starts_at.astimezone(tz):%a %d %b %H:%M}–"
            f"{clash.ends_at.astimezone(tz):%H:%M}, which overlaps this shift.",
            extra={"code": "overlap", "conflicting_shift_id": clash.id},
        )
    leave = leave_clash(user, shift)
    if leave is not None:
        shown = leave.team_id is None or leave.team_id == shift.team_id
        raise Conflict(leave_words(user.display_name, leave, shift.team_id) + ".",
                       extra={"code": "leave", **({"leave_id": leave.id} if shown else {})})


REFUSED = "compliance.refused"


def hold_refusal(shift: Shift, user: User | None, verdicts, *, actor) -> None:
    """A change refused by blocking verdicts leaves an audit entry (``compliance.refused``: the rule codes, ids only)
    although the change itself is rolled back, so the refusals can be counted (insights: blocking verdicts avoided).
    Called only where a real change is refused, never by a what-if."""
    codes = sorted({v.rule_id for v in verdicts if v.blocking})
    if codes:
        audit.hold_refusal(REFUSED, actor=actor, entity=shift, outcome="refused",
                           summary={"user_id": getattr(user, "id", None), "shift_id": shift.id,
                                    "rule_ids": ",".join(codes)})


def check_holder(shift: Shift, user: User, *, actor, override_reason: str | None = None, exclude_ids=()) -> None:
    """Everything that must hold for ``user`` to work ``shift``: no overlap, no leave, and every registered check
    (working-time rules). Used when a shift changes hands and when an assigned shift's times change."""
    check_can_hold(shift, user, exclude_ids=exclude_ids)
    for check in CHANGE_CHECKS:
        check(shift, user, actor=actor, override_reason=override_reason, exclude_ids=exclude_ids)


def set_assignee(shift: Shift, user: User | None, *, actor, kind: ReleaseKind | None = None,
                 reason: str | None = None, override_reason: str | None = None, exclude_ids=()) -> Shift:
    """Give ``shift`` to ``user`` (or open it when ``user`` is None). Never commits."""
    previous = shift.assignee
    if user is not None and previous is not None and previous.id == user.id:
        return shift
    if shift.state == ShiftState.cancelled:
        raise Conflict("This shift was cancelled.", extra={"code": "cancelled"})
    if user is not None:
        check_holder(shift, user, actor=actor, override_reason=override_reason, exclude_ids=exclude_ids)
    if previous is not None:
        db.session.add(ShiftRelease(shift_id=shift.id, user_id=previous.id, kind=kind or ReleaseKind.unassigned,
                                    reason=reason))
    shift.assignee = user
    shift.state = ShiftState.scheduled if user is not None else ShiftState.open
    db.session.flush()
    audit.record("shift.assigned" if user is not None else "shift.opened", actor=actor, entity=shift,
                 summary={"from_user_id": previous.id if previous else None, "to_user_id": user.id if user else None,
                          "kind": (kind.value if kind else None), "override": bool(override_reason)})
    for hook in AFTER_CHANGE:
        hook(shift, previous, user, actor=actor, kind=kind, reason=reason)
    events.emit("shift.changed_hands", shift=shift, previous=previous, user=user)
    return shift
