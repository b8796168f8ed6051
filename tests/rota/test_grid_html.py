"""The grid's cells are written by ``rota.grid_cells`` (issue #22: one Python pass per row instead of a dozen template
calls per cell). What a person sees must not change: over a seeded ward (leave, open shifts with a grade, a shift of
no type, working-time markers, weekends, the March clock change) the page's rows equal those written by the template
the grid used before (``tests/rota/fixtures/grid_rows_before_22.html``), for a coordinator and for a nurse."""

import random
import re
from datetime import date, time, timedelta
from pathlib import Path

import pytest
from flask import render_template_string, url_for

from core import timeutil
from core.db import db
from rota import services
from rota.models import Leave, LeaveKind, Shift, ShiftState
from tests.conftest import login
from tests.factories import ward

BEFORE = (Path(__file__).parent / "fixtures" / "grid_rows_before_22.html").read_text()
MONDAY = date(2026, 3, 16)  # four weeks across the clock change of 29 March


def _tbody(html: str) -> str:
    """The rows, with whitespace as a browser shows it (runs collapsed, none at a cell's edges)."""
    body = html[html.index("<tbody>"):html.index("</tbody>") + len("</tbody>")]
    body = re.sub(r"\s+", " ", body)
    return re.sub(r" </td>", "</td>", re.sub(r"(<td[^>]*>) ", r"\1", body))


def _seed(make, seed: int):
    rng = random.Random(seed)
    team, coord, staff, types = ward(make, nurses=6)
    for person in staff:
        busy_until = None
        for d in range(28):
            if rng.random() < 0.35:
                continue
            st = rng.choice(list(types.values()))
            start = timeutil.shift_instants(MONDAY + timedelta(days=d), st.start_local, st.duration_minutes,
                                            team.timezone)[0]
            if busy_until is not None and start < busy_until:
                continue
            busy_until = start + timedelta(minutes=st.duration_minutes)
            typed = rng.random() > 0.05
            db.session.add(Shift(team_id=team.id, shift_type_id=st.id if typed else None, starts_at=start,
                                 ends_at=start + timedelta(minutes=st.duration_minutes), assignee_id=person.id,
                                 state=ShiftState.scheduled))
    for d in (2, 9, 20, 27):
        start = timeutil.shift_instants(MONDAY + timedelta(days=d), time(7), 510, team.timezone)[0]
        db.session.add(Shift(team_id=team.id, shift_type_id=types["E"].id, starts_at=start,
                             ends_at=start + timedelta(minutes=510), state=ShiftState.open,
                             required_grade="Band 5" if d % 2 else None))
    db.session.add(Leave(user_id=staff[0].id, kind=LeaveKind.annual, first_day=MONDAY + timedelta(days=3),
                         last_day=MONDAY + timedelta(days=8)))
    db.session.add(Leave(user_id=staff[1].id, kind=LeaveKind.sickness, first_day=MONDAY - timedelta(days=2),
                         last_day=MONDAY + timedelta(days=1)))
    db.session.commit()
    return team, coord, staff


@pytest.mark.parametrize("who", ["coordinator", "nurse"])
def test_grid_rows_are_what_the_template_wrote_before(app, make, who):
    seed = random.randrange(1 << 30)
    team, coord, staff = _seed(make, seed)
    viewer = coord if who == "coordinator" else staff[2]
    marker = lambda t, cells: [c.markers.extend(["⚠ <odd> & rule", "⛔ X"]) for c in cells[::5] if c.shifts]  # noqa: E731
    services.GRID_CELL_HOOKS.append(marker)
    try:
        client = app.test_client()
        login(client, viewer)
        page = client.get(f"/teams/{team.id}/rota?days=28&start={MONDAY.isoformat()}")
        assert page.status_code == 200
        with app.test_request_context():
            grid = services.team_grid(team, MONDAY, 28, viewer=viewer)
            times = {s.id: f"{timeutil.to_local(s.starts_at, team.timezone):%H:%M}–"
                           f"{timeutil.to_local(s.ends_at, team.timezone):%H:%M}"
                     for cell in grid.cells for s in cell.shifts}
            before = render_template_string(BEFORE, grid=grid, manage=team.can_manage(viewer), times=times,
                                            current_user=viewer,
                                            leave_codes=services.LEAVE_CODES,
                                            shift_href=url_for("rota.shift_detail", shift_id=0)[:-1])
    finally:
        services.GRID_CELL_HOOKS.remove(marker)
    now = _tbody(page.get_data(as_text=True))
    assert now == _tbody(before), f"seed {seed}"
    assert "&lt;odd&gt; &amp; rule" in now and 'data-testid="leave"' in now and "Band 5+" in now
