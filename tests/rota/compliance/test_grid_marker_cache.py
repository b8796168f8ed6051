"""The grid's working-time markers are kept per process (``team_report.grid_verdicts``) under the change stamps of
the shown people's teams and their rule profiles: the next load after any change that can move a verdict shows it —
a shown person's shift in another team, their leave, a shift type, the team's or the person's compliance settings —
and an unchanged grid is marked from what was kept."""

import re
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import delete

from core import accounts
from core.accounts import TeamRole
from core.db import db
from rota import services
from rota.compliance import settings as cs
from rota.compliance.rules import local_datetime
from rota.models import LeaveKind, Shift, ShiftState
from tests import factories
from tests.conftest import count_queries, login

MON = datetime(2026, 6, 1, tzinfo=UTC).date()  # a Monday, BST
TZ = "Europe/London"


def _shift(team, st, day, who, hh=None, hours=None):
    start = local_datetime(day, time(hh if hh is not None else st.start_local.hour,
                                     0 if hh is not None else st.start_local.minute), TZ)
    s = Shift(team_id=team.id, shift_type_id=st.id, starts_at=start,
              ends_at=start + timedelta(minutes=hours * 60 if hours else st.duration_minutes),
              assignee_id=who.id, state=ShiftState.scheduled)
    db.session.add(s)
    return s


def _marks(client, team, day=MON) -> list[str]:
    page = client.get(f"/teams/{team.id}/rota?days=7&start={day.isoformat()}")
    assert page.status_code == 200
    return re.findall(r'<span class="sb-marker">([^<]*)</span>', page.get_data(as_text=True))


def _ward(make, client):
    w = factories.ward(make, name="Ward 7B", coordinator="Cora Coordinator",
                       people=[dict(display_name="Nia Nurse"), dict(display_name="Olu Other")])
    login(client, w.coordinator)
    return w


def test_a_shift_in_another_team_moves_the_markers_of_the_next_load(app, make, client):
    w = _ward(make, client)
    nurse = w.staff[0]
    other = factories.ward(make, name="Ward 9C", nurses=1)  # the nurse is not a member: she only covers a shift
    _shift(w.team, w.types["L"], MON, nurse)
    db.session.commit()
    with count_queries() as cold:
        assert _marks(client, w.team) == []
    with count_queries() as warm:
        assert _marks(client, w.team) == []
    assert app.extensions["grid_marker_verdicts"] and len(warm) < len(cold), "kept, not read and judged again"
    cover = _shift(other.team, other.types["E"], MON + timedelta(days=1), nurse)  # 9 h 30 min after her Late
    db.session.commit()
    assert _marks(client, w.team) == ["⚠ WTR-rest11"]
    db.session.execute(delete(Shift).where(Shift.id == cover.id))  # removed in bulk, as a purge would
    db.session.commit()
    assert _marks(client, w.team) == []


def test_a_shift_in_a_team_the_person_belongs_to_and_a_change_of_grade_move_the_markers(make, client):
    w = _ward(make, client)
    nurse = w.staff[0]
    other = factories.ward(make, name="Ward 9C", nurses=1)
    accounts.add_member(other.team, nurse, TeamRole.staff)
    db.session.commit()
    _shift(w.team, w.types["L"], MON, nurse)
    db.session.commit()
    assert _marks(client, w.team) == []
    early = _shift(other.team, other.types["E"], MON + timedelta(days=1), nurse)
    db.session.commit()
    assert _marks(client, w.team) == ["⚠ WTR-rest11"]
    nurse.staff_group, nurse.grade = "medical", "ST3"  # now a doctor in training: the 2016 terms apply too
    db.session.commit()
    assert _marks(client, w.team) == ["⛔ TCS-rest11", "⚠ WTR-rest11"]
    early.starts_at, early.ends_at = early.starts_at + timedelta(hours=6), early.ends_at + timedelta(hours=6)
    db.session.commit()
    assert _marks(client, w.team) == []


def _heavy_weeks(w, nurse, weeks=26):
    """``weeks`` weeks (WTR's reference period) of four 12-hour long days, Monday to Thursday, up to the shown week:
    an average of exactly 48 hours, within the limit until leave takes days out of the reference period."""
    first = MON - timedelta(weeks=weeks - 1)
    for k in range(weeks):
        for d in range(4):
            _shift(w.team, w.types["E"], first + timedelta(weeks=k, days=d), nurse, hh=7, hours=12)
    db.session.commit()
    return first


def test_leave_and_the_opt_out_move_the_markers_of_the_next_load(make, client):
    w = _ward(make, client)
    nurse = w.staff[0]
    first = _heavy_weeks(w, nurse)
    assert _marks(client, w.team) == []
    assert _marks(client, w.team) == []
    services.record_leave(nurse, kind=LeaveKind.annual, first_day=first + timedelta(days=4),
                          last_day=first + timedelta(days=6), actor=w.coordinator, team=w.team)  # Fri to Sun
    db.session.commit()
    assert set(_marks(client, w.team)) == {"⛔ WTR-avg48"}
    cs.update_person_settings(nurse, actor=nurse, changes={"wtr_opt_out": True})
    db.session.commit()
    assert _marks(client, w.team) == []


def test_team_settings_and_trust_settings_move_the_markers_of_the_next_load(app, make, client):
    w = _ward(make, client)
    nurse = w.staff[0]
    _shift(w.team, w.types["L"], MON, nurse)
    _shift(w.team, w.types["E"], MON + timedelta(days=1), nurse)
    db.session.commit()
    assert _marks(client, w.team) == ["⚠ WTR-rest11", "⚠ WTR-rest11"]
    cs.update_team_settings(w.team, actor=w.coordinator, changes={"severities": {"WTR-rest11": "block"}})
    db.session.commit()
    assert _marks(client, w.team) == ["⛔ WTR-rest11", "⛔ WTR-rest11"]
    cs.update_team_settings(w.team, actor=w.coordinator, changes={"severities": {}})
    db.session.commit()
    assert _marks(client, w.team) == ["⚠ WTR-rest11", "⚠ WTR-rest11"]
    app.config["COMPLIANCE_DISABLED_RULES"] = ["WTR-rest11"]  # trust-wide, in the configuration
    assert _marks(client, w.team) == []
