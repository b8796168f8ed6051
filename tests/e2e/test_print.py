"""The team grid on paper: A4 landscape, printed by chromium itself (page.pdf) with scripts turned off, as a ward
prints it from the browser's own Print."""

import re

import pytest

from core.accounts import Team
from core.db import db
from rota.demo import DEMO_PASSWORD, WARD, seed_people_and_teams, seed_rota
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.usefixtures("browser_on_sqlite")

A4_LANDSCAPE_PRINTABLE = {"width": 1062, "height": 733}  # 281 × 194 mm (8 mm margins) at 96 px per inch


@pytest.fixture
def ward_page(app, browser, live_server):
    """The demo ward (about 30 people, six weeks of rota), its coordinator signed in, JavaScript off."""
    seed_people_and_teams()
    seed_rota()
    db.session.commit()
    ward_id = db.session.scalar(db.select(Team.id).where(Team.name == WARD))
    db.session.commit()
    context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=live_server.url,
                                  java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, "ward.manager@shiftbridge.test", DEMO_PASSWORD)
    page.wait_for_url("**/")
    yield page, ward_id
    context.close()


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def _printed_columns_fit(page) -> tuple[int, float, float]:
    """(day columns, right edge of the last one, printable width) when laid out as on the sheet."""
    page.set_viewport_size(A4_LANDSCAPE_PRINTABLE)
    page.emulate_media(media="print")
    days = page.locator("[data-testid=rota-grid] thead th").count() - 1
    right = page.evaluate("Math.max(...Array.from(document.querySelectorAll('[data-testid=rota-grid] th, "
                          "[data-testid=rota-grid] td')).map(c => c.getBoundingClientRect().right))")
    return days, right, A4_LANDSCAPE_PRINTABLE["width"]


def test_one_week_of_a_30_person_ward_prints_on_one_a4_landscape_page(ward_page):
    page, ward_id = ward_page
    page.goto(f"/teams/{ward_id}/rota")
    assert page.locator("[data-testid=grid-row]").count() >= 30
    assert not page.locator("[data-rota-print]").is_visible()  # no dead Print button without JavaScript
    assert _pages(page.pdf(prefer_css_page_size=True, print_background=True)) == 1
    days, right, width = _printed_columns_fit(page)
    assert days == 7 and right <= width
    # Shift badges are links on screen; on paper they print their code only, never "(Link: /shifts/89)".
    after = page.eval_on_selector_all("main a[href]", "els => els.map(a => getComputedStyle(a, '::after').content)")
    assert after and all(a in ("none", "normal") for a in after), set(after)


def test_four_weeks_print_shows_all_28_days(ward_page):
    page, ward_id = ward_page
    page.goto(f"/teams/{ward_id}/rota?days=28")
    pages = _pages(page.pdf(prefer_css_page_size=True, print_background=True))
    days, right, width = _printed_columns_fit(page)
    assert days == 28 and right <= width, f"the last day ends at {right:.0f} px of {width}"
    assert pages == 1
