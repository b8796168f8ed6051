"""A hospital site for the escalation-ladder tests: a ward with a gap, its staff bank, a neighbouring ward on the
same site, and a ward on another site. In each team one person is eligible for the gap and one is not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.accounts import User
from core.db import db
from rota.models import Leave, LeaveKind, Shift
from tests.rota.swaps import factories as data

SITE = "St Elsewhere General Hospital"


@dataclass
class Site:
    ward: object
    bank: object
    neighbour: object
    far: object
    coordinator: User
    on_ward: User  # eligible, on the ward
    ward_junior: User  # on the ward, Band 4: below the gap's grade
    on_both: User  # on the ward and in the bank: reached as ward staff, never twice
    in_bank: User  # eligible, in the bank only
    bank_unskilled: User  # in the bank, not IV-trained
    next_door: User  # eligible, on the neighbouring ward
    next_door_on_leave: User  # on the neighbouring ward, on leave that day
    far_away: User  # eligible on paper, but on another site
    gap: Shift

    def ids(self, *names: str) -> set[int]:
        return {getattr(self, n).id for n in names}


def build(make, *, mobiles: bool = False) -> Site:
    n = iter(range(10, 99))

    def person(name, grade="Band 5", skills=("IV-trained",)):
        extra = {"mobile": f"+4477009004{next(n):02d}"} if mobiles else {}
        return make.user(display_name=name, grade=grade, skills=list(skills), **extra)

    coordinator = person("Wendy Ward-Manager", grade="Band 7", skills=())  # not IV-trained: told, never asked
    on_ward, ward_junior, on_both = person("Priya Ward"), person("Sam Junior", grade="Band 4"), person("Ola Both")
    in_bank, bank_unskilled = person("Bea Bank", grade="Band 6"), person("Una Unskilled", skills=())
    next_door, next_door_on_leave = person("Ned Nextdoor"), person("Lee Leave")
    far_away = person("Fay Faraway")
    ward = make.team("Ward 7B", site=SITE, coordinators=[coordinator], staff=[on_ward, ward_junior, on_both])
    bank = make.team("Staff bank", site="Trust-wide", staff=[in_bank, bank_unskilled, on_both])
    # Same site, spelt differently: sites are compared ignoring case and surrounding spaces.
    neighbour = make.team("Ward 8", site="  st elsewhere general hospital ", staff=[next_door, next_door_on_leave])
    far = make.team("Ward 1 (other site)", site="Far Away General", staff=[far_away])
    data.settings(ward, pool_team_ids=[bank.id])
    gap = data.shift(ward, starts_at=data.soon(3), required_grade="Band 5", skills=["IV-trained"])
    day = gap.starts_at.date()
    db.session.add(Leave(user_id=next_door_on_leave.id, kind=LeaveKind.annual, first_day=day - timedelta(days=1),
                         last_day=day + timedelta(days=1)))
    db.session.commit()
    return Site(ward, bank, neighbour, far, coordinator, on_ward, ward_junior, on_both, in_bank, bank_unskilled,
                next_door, next_door_on_leave, far_away, gap)
