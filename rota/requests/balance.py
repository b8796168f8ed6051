"""Leave balances: a person's leave year, hours carried over into it and their balance (entitlement, carried,
taken, waiting), and "today" in their team's zone."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from core import timeutil
from core.accounts import User
from core.db import db, now_utc
from rota.requests import entitlement as ent
from rota.requests.models import LeaveAdjustment, LeaveRequest, RequestState
from rota.requests.settings import CARRY_OVER, person_of, rules


@dataclass
class Balance:
    year: int
    first_day: date
    last_day: date
    entitlement: int  # minutes
    carried: int  # carry-over into the year plus any corrections
    taken: int  # approved annual leave requests in the year
    pending: int  # waiting for a decision
    carry: ent.CarryOver | None = None

    @property
    def remaining(self) -> int:
        return self.entitlement + self.carried - self.taken

    @property
    def available(self) -> int:
        """What may still be asked for: remaining less what is waiting."""
        return self.remaining - self.pending

    @property
    def carry_words(self) -> str:
        return ent.carry_words(self.carry) if self.carry is not None else ""


def leave_year_of(day: date) -> int:
    return ent.leave_year_of(day, rules())


def _annual(user: User, first: date, last: date):
    return db.session.execute(select(LeaveRequest.first_day, LeaveRequest.state, LeaveRequest.minutes).where(
        LeaveRequest.user_id == user.id, LeaveRequest.kind == "annual", LeaveRequest.first_day >= first,
        LeaveRequest.first_day <= last, LeaveRequest.state.in_([RequestState.pending, RequestState.approved])))


def first_recorded_year(user: User, r: ent.Rules) -> int:
    """The first leave year whose leave is recorded here for this person: the one their account was created in.
    Nothing is worked out into it (leave before the account existed is unknown): a coordinator records that."""
    return ent.leave_year_of(timeutil.local_date(user.created_at, _zone(user)), r)


def carry_over(user: User, year: int, r: ent.Rules | None = None) -> ent.CarryOver:
    """Hours carried into leave ``year``: the year before's unused balance up to the cap, or a coordinator's figure."""
    r = r or rules()
    start = min(year, first_recorded_year(user, r))
    taken: dict[int, int] = defaultdict(int)
    for first_day, state, minutes in _annual(user, ent.year_bounds(start, r)[0], ent.year_bounds(year, r)[0]):
        if state == RequestState.approved:
            taken[ent.leave_year_of(first_day, r)] += minutes
    recorded = dict(db.session.execute(select(LeaveAdjustment.leave_year, LeaveAdjustment.minutes).where(
        LeaveAdjustment.user_id == user.id, LeaveAdjustment.kind == CARRY_OVER, LeaveAdjustment.leave_year >= start,
        LeaveAdjustment.leave_year <= year)).all())
    return ent.carry_over(year, person_of(user), r, first_year=start, taken=taken, recorded=recorded)


def balance(user: User, year: int) -> Balance:
    r = rules()
    first, last = ent.year_bounds(year, r)
    carry = carry_over(user, year, r)
    corrections = sum(db.session.scalars(select(LeaveAdjustment.minutes).where(
        LeaveAdjustment.user_id == user.id, LeaveAdjustment.leave_year == year, LeaveAdjustment.kind != CARRY_OVER)))
    taken = pending = 0
    for _, state, minutes in _annual(user, first, last):
        if state == RequestState.approved:
            taken += minutes
        else:
            pending += minutes
    return Balance(year, first, last, ent.entitlement_minutes(person_of(user), year, r), carry.minutes + corrections,
                   taken, pending, carry)


def _zone(user: User) -> str:
    zones = [m.team.timezone for m in user.memberships] or ["Europe/London"]
    return zones[0]


def today_for(user: User) -> date:
    return timeutil.local_date(now_utc(), _zone(user))
