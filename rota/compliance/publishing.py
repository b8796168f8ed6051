"""What publishing a rota period will do, shown before it is done (issue #15): the shifts, the open shifts and the
unmet requirements, and each person's working time over the period with their working-time warnings (the README's
per-person report). Read-only; ``rota.services.publish_period`` publishes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select

from core import timeutil
from core.accounts import User
from core.db import db
from rota import services
from rota.compliance.team_report import verdicts_for_people
from rota.models import RotaPeriod, Shift, ShiftState


@dataclass
class PersonLine:
    user: User
    shifts: int
    hours: float
    blocking: int = 0
    warnings: int = 0


@dataclass
class PublishSummary:
    period: RotaPeriod
    shifts: int
    open: int
    missing: int  # places still needed by staffing requirements (not advertised as open shifts)
    people: list = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.shifts == 0


def summary(period: RotaPeriod, *, actor) -> PublishSummary:
    team = period.team
    services.require_manage(team, actor)
    lo, hi = timeutil.day_bounds(period.first_day, period.last_day, team.timezone)
    live = list(db.session.scalars(select(Shift).where(Shift.team_id == team.id, Shift.starts_at >= lo,
                                                       Shift.starts_at < hi, Shift.state != ShiftState.cancelled)))
    per = defaultdict(list)
    for s in live:
        if s.assignee_id:
            per[s.assignee_id].append(s)
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(list(per) or [0])))}
    verdicts = verdicts_for_people(list(per), lo, hi, team=team) if per else {}
    people = []
    for uid, shifts in per.items():
        vs = verdicts.get(uid, [])
        people.append(PersonLine(users[uid], len(shifts),
                                 round(sum((s.ends_at - s.starts_at).total_seconds() for s in shifts) / 3600, 1),
                                 sum(v.blocking for v in vs), sum(not v.blocking for v in vs)))
    people.sort(key=lambda p: p.user.display_name)
    missing = sum(g.missing for g in services.gaps_for(team, period.first_day, period.last_day))
    return PublishSummary(period, len(live), sum(1 for s in live if s.state == ShiftState.open), missing, people)
