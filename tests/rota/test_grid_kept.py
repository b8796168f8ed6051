"""The team grid is kept per process under the team's change stamp (``rota.services.grid.team_grid``, issue #19: the
page cost ten times a trivial request, most of it reading the same rows again). Every write that changes what the
grid shows must show in the next load: a shift given to someone, a person renamed, leave booked, a shift type
recoded, a period published (what staff may see), a new requirement (the cover line), a new member, and the "In
charge" marker, which is worked out for every load. Each test loads the grid twice first, so that the last load
before the change came from what was kept."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from core.db import db
from rota import services
from rota.compliance.rules import local_datetime
from rota.models import Shift, ShiftState
from tests.conftest import count_queries, login
from tests.rota.compliance.test_grid_marker_cache import _ward

TZ = "Europe/London"


def _monday() -> date:
    today = datetime.now(UTC).date() + timedelta(days=14)
    return today - timedelta(days=today.weekday())


def _shift(w, code: str, day: date, who=None) -> Shift:
    st = w.types[code]
    start = local_datetime(day, st.start_local, TZ)
    s = Shift(team_id=w.team.id, shift_type_id=st.id, starts_at=start,
              ends_at=start + timedelta(minutes=st.duration_minutes), assignee_id=who.id if who else None,
              state=ShiftState.scheduled if who else ShiftState.open)
    db.session.add(s)
    db.session.commit()
    return s


def _page(client, w, *, twice: bool = True) -> str:
    for _ in range(2 if twice else 1):
        resp = client.get(f"/teams/{w.team.id}/rota?days=7&start={_monday().isoformat()}")
        assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _row(page: str, name: str) -> str:
    """The HTML of one person's row."""
    match = re.search(rf"{re.escape(name)}.*?</tr>", page, re.S)
    assert match, f"{name} has a row"
    return match.group(0)


def _ward_with(make, client, code: str, day_offset: int = 0):
    """The marker tests' ward (Nia Nurse, Olu Other), its coordinator signed in, and Nia on a shift of ``code``."""
    w = _ward(make, client)
    return w, _shift(w, code, _monday() + timedelta(days=day_offset), w.staff[0])


def test_a_grid_asked_for_again_reads_no_rows_again(app, make, client):
    w, _ = _ward_with(make, client, "E")
    with count_queries() as cold:
        _page(client, w, twice=False)
    with count_queries() as warm:
        _page(client, w, twice=False)
    assert app.extensions["kept_grids"], "the grid was kept"
    assert len(warm) <= len(cold) - 8, (len(cold), len(warm))
    assert not any("FROM shifts" in q and "GROUP BY" in q for q in warm), "the cover count is not read again"


def test_a_shift_given_to_someone_and_a_renamed_person_show_in_the_next_load(make, client):
    w = _ward(make, client)
    assert "sb-code" not in _row(_page(client, w), "Nia Nurse")
    _shift(w, "E", _monday(), w.staff[0])
    assert "E</a>" in _row(_page(client, w), "Nia Nurse")
    w.staff[1].display_name = "Olu Okafor"  # corrected on the people page
    db.session.commit()
    page = _page(client, w)
    assert "Olu Okafor" in page and "Olu Other" not in page


def test_leave_and_a_recoded_shift_type_show_in_the_next_load(make, client):
    w, _ = _ward_with(make, client, "L", 1)
    assert ">AL<" not in _row(_page(client, w), "Olu Other")
    services.add_leave_record(w.staff[1], kind="annual", first_day=_monday(), last_day=_monday(), actor=w.coordinator,
                              team=w.team)
    db.session.commit()
    assert ">AL<" in _row(_page(client, w), "Olu Other")
    w.types["L"].code = "LD"  # the late becomes a long day
    db.session.commit()
    assert "LD</a>" in _row(_page(client, w), "Nia Nurse")


def test_a_new_requirement_and_a_new_member_show_in_the_next_load(make, client):
    w, _ = _ward_with(make, client, "N")
    before = _page(client, w)
    services.create_requirement(w.team, shift_type=w.types["N"], min_count=2, staff_group="nursing",
                                actor=w.coordinator)
    db.session.commit()
    after = _page(client, w)
    assert after != before and "2 RN" in after, "the night now needs two nurses: the cover line says so"
    newcomer = make.user(display_name="Pat Newcomer")
    _join(w, newcomer)
    assert "Pat Newcomer" in _page(client, w)


def _join(w, user) -> None:
    from core.accounts import Membership, TeamRole

    db.session.add(Membership(team_id=w.team.id, user_id=user.id, role=TeamRole.staff))
    db.session.commit()


def test_staff_see_a_period_once_it_is_published(app, make, client):
    w = _ward(make, client)
    period = services.create_period(w.team, first_day=_monday(), last_day=_monday() + timedelta(days=6),
                                    actor=w.coordinator)
    db.session.commit()
    s = _shift(w, "E", _monday(), w.staff[0])
    s.rota_period_id = period.id
    db.session.commit()
    assert ">E</" in _row(_page(client, w), "Nia Nurse"), "the coordinator sees the draft"
    staff = app.test_client()
    login(staff, w.staff[1])
    assert ">E</" not in _row(_page(staff, w), "Nia Nurse"), "a draft is the coordinators' until published"
    services.publish_period(period, actor=w.coordinator, confirm_empty=True)
    db.session.commit()
    assert ">E</" in _row(_page(staff, w), "Nia Nurse")


def test_the_in_charge_marker_is_worked_out_for_every_load(make, client):
    w, s = _ward_with(make, client, "E")
    assert "In charge" not in _page(client, w)
    services.in_charge.set_in_charge(w.team, s.starts_at, w.staff[0].id, actor=w.coordinator)
    db.session.commit()
    assert "In charge" in _row(_page(client, w), "Nia Nurse")


def test_each_week_is_kept_apart(make, client):
    """Two weeks, two entries: the second is not the first one's rows."""
    w, _ = _ward_with(make, client, "E")
    first = _page(client, w)
    resp = client.get(f"/teams/{w.team.id}/rota?days=7&start={(_monday() + timedelta(days=7)).isoformat()}")
    assert resp.status_code == 200 and "E</a>" not in _row(resp.get_data(as_text=True), "Nia Nurse")
    assert "E</a>" in _row(first, "Nia Nurse")

