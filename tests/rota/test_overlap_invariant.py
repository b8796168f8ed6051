"""The database itself refuses a person on two overlapping shifts (exclusion constraint / SQLite triggers)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from core.db import db
from rota.models import Shift, ShiftState


def _shift(team, user, start, hours=8, state=ShiftState.scheduled):
    s = Shift(team_id=team.id, assignee_id=user.id if user else None, state=state, starts_at=start,
              ends_at=start + timedelta(hours=hours))
    db.session.add(s)
    return s


def test_overlap_refused_back_to_back_allowed(make):
    nurse = make.user()
    team = make.team(staff=[nurse])
    t0 = datetime(2026, 3, 2, 7, tzinfo=UTC)
    _shift(team, nurse, t0)
    _shift(team, nurse, t0 + timedelta(hours=8))  # touches, does not overlap
    db.session.commit()
    _shift(team, nurse, t0 + timedelta(hours=4))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_cancelled_and_open_shifts_do_not_count(make):
    nurse = make.user()
    team = make.team(staff=[nurse])
    t0 = datetime(2026, 3, 2, 7, tzinfo=UTC)
    _shift(team, nurse, t0, state=ShiftState.cancelled)
    _shift(team, None, t0, state=ShiftState.open)
    _shift(team, nurse, t0)
    db.session.commit()


def test_update_into_overlap_refused(make):
    nurse = make.user()
    team = make.team(staff=[nurse])
    t0 = datetime(2026, 3, 2, 7, tzinfo=UTC)
    _shift(team, nurse, t0)
    other = _shift(team, nurse, t0 + timedelta(days=1))
    db.session.commit()
    other.starts_at = t0 + timedelta(hours=2)
    other.ends_at = t0 + timedelta(hours=10)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_end_after_start_and_state_checks(make):
    nurse = make.user()
    team = make.team()
    t0 = datetime(2026, 3, 2, 7, tzinfo=UTC)
    db.session.add(Shift(team_id=team.id, state=ShiftState.open, starts_at=t0, ends_at=t0))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(Shift(team_id=team.id, assignee_id=nurse.id, state=ShiftState.open, starts_at=t0,
                         ends_at=t0 + timedelta(hours=1)))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
