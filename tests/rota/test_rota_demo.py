"""Demo data: published rota for both teams, with open shifts, leave and gaps; seeding twice is safe.

(`flask demo seed` builds six weeks; the test builds two, the same code, to keep the suite fast.)"""

from datetime import timedelta

from sqlalchemy import func, select

from core.db import db
from rota import demo, services
from rota.models import Leave, PeriodState, RotaPeriod, Shift, ShiftState


def test_demo_rota_is_published_realistic_and_idempotent(app):
    demo.seed_people_and_teams()
    demo.seed_rota(weeks=2)
    db.session.commit()
    periods = db.session.scalars(select(RotaPeriod)).all()
    assert len(periods) == 2 and all(p.state == PeriodState.published for p in periods)
    assert all((p.last_day - p.first_day).days == 13 for p in periods)
    states = dict(db.session.execute(select(Shift.state, func.count()).group_by(Shift.state)).all())
    assert states[ShiftState.scheduled] > 250 and states[ShiftState.open] >= 3
    assert db.session.scalar(select(func.count()).select_from(Leave)) >= 4  # annual leave and one sickness
    ward = db.session.scalar(select(services.Team).where(services.Team.name == demo.WARD))
    first = periods[0].first_day
    assert services.gaps_for(ward, first, first + timedelta(days=13))  # some coverage gaps remain
    coord = db.session.scalar(select(services.User).where(services.User.email == "ward.manager@shiftbridge.test"))
    assert not db.session.scalar(select(Shift.id).where(Shift.assignee_id == coord.id).limit(1))
    count = db.session.scalar(select(func.count()).select_from(Shift))
    assert demo.seed_rota() == []
    assert db.session.scalar(select(func.count()).select_from(Shift)) == count
