"""Issue #15: the 4-week team grid scrolls inside its own box, never the page, on a phone (390 px) and a desktop
(1366 px); scrolled to the last day and the last person, the names column and the cover row are still on screen and
nothing covers them."""

from datetime import date, timedelta

import pytest

from core import timeutil
from core.db import db
from rota import services
from rota.models import Shift, ShiftState
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import sign_in
from tests.factories import ward

pytestmark = pytest.mark.e2e

UNCOVERED = """([box, target]) => {
    const b = document.querySelector(box).getBoundingClientRect();
    const e = document.querySelector(target);
    const r = e.getBoundingClientRect();
    const x = (Math.max(r.left, b.left) + Math.min(r.right, b.right)) / 2, y = (r.top + r.bottom) / 2;
    const hit = document.elementFromPoint(x, y);
    return r.left >= b.left - 1 && r.right <= b.right + 1 && r.top >= b.top - 1 && r.bottom <= b.bottom + 1
        && y >= 0 && y <= window.innerHeight && (hit === e || e.contains(hit));
}"""

# What of the page's own content reaches past the screen's width (the header and menu are the page shell's, checked by
# tests/e2e/test_every_page.py): the grid must scroll inside its box instead.
MAIN_OVERFLOWS = """w => [...document.querySelectorAll('main *')].filter(e => e.offsetParent !== null
    && !e.closest('[data-testid=grid-box] table') && e.getBoundingClientRect().right > w + 0.5)
    .slice(0, 4).map(e => e.tagName + '.' + e.className)"""


def _ward(make):
    team, coord, staff, types = ward(make, nurses=29)
    services.create_requirement(team, shift_type=types["N"], min_count=2, actor=coord)
    today = date.today()
    monday = today + timedelta(days=7 - today.weekday())
    for k, person in enumerate(staff):
        for d in range(0, 28, 2):
            st = types["E"] if (d + k) % 3 else types["L"]
            start = timeutil.shift_instants(monday + timedelta(days=d + k % 2), st.start_local, st.duration_minutes,
                                            team.timezone)[0]
            db.session.add(Shift(team_id=team.id, shift_type_id=st.id, starts_at=start,
                                 ends_at=start + timedelta(minutes=st.duration_minutes), assignee_id=person.id,
                                 state=ShiftState.scheduled))
    ids = team.id, coord.email, monday
    db.session.commit()  # and no ORM object is touched after this (on SQLite a test transaction holds the write lock)
    return ids


@pytest.mark.parametrize("size", [{"width": 390, "height": 844}, {"width": 1366, "height": 768}])
def test_four_week_grid_scrolls_in_its_box_with_names_and_cover_in_view(make, browser, live_server, size):
    team_id, coord_email, monday = _ward(make)
    context = browser.new_context(viewport=size, base_url=live_server.url, is_mobile=size["width"] < 500,
                                  has_touch=size["width"] < 500)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, coord_email, TEST_PASSWORD)
        page.wait_for_url("**/")
        page.goto(f"/teams/{team_id}/rota?days=28&start={monday.isoformat()}")
        page.wait_for_load_state("load")
        box = "[data-testid=grid-box]"
        assert not page.evaluate(MAIN_OVERFLOWS, size["width"]), page.evaluate(MAIN_OVERFLOWS, size["width"])
        wide = page.evaluate(f"(b => b.scrollWidth > b.clientWidth)(document.querySelector('{box}'))")
        assert wide, "28 days fit without scrolling: nothing to check"
        page.evaluate(f"(b => {{ b.scrollIntoView({{block: 'start'}}); b.scrollLeft = b.scrollWidth; }})"
                      f"(document.querySelector('{box}'))")
        assert page.evaluate(f"document.querySelector('{box}').scrollLeft") > 0
        assert not page.evaluate(MAIN_OVERFLOWS, size["width"])
        last_day = (monday + timedelta(days=27)).isoformat()
        # at the top of the rota, scrolled to the last day: the cover row is on screen and nothing covers it
        assert page.evaluate(UNCOVERED, [box, f"[data-testid=coverage][data-day='{last_day}']"]), "cover row"
        assert page.evaluate(UNCOVERED, [box, "[data-testid=coverage-row] th"]), "the 'Cover' label"
        assert page.evaluate(UNCOVERED, [box, "[data-testid=grid-row] th"]), "the first name"
        # down to the last person: their name at the left edge, the cover row still under them
        page.evaluate(f"(b => {{ b.scrollTop = b.scrollHeight; }})(document.querySelector('{box}'))")
        assert page.evaluate(UNCOVERED, [box, "tr[data-testid=grid-row]:nth-last-child(2) th"]), "the last name"
        assert page.evaluate(UNCOVERED, [box, f"[data-testid=coverage][data-day='{last_day}']"])
        assert page.evaluate(UNCOVERED, [box, "thead th:last-child"]), "the day headings"
    finally:
        context.close()
