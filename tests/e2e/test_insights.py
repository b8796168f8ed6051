"""Insights in a real browser: the ward manager opens Insights on a phone and a desktop; the charts render, nothing
scrolls sideways, axe reports no violation and a table's CSV downloads; printed, it fits A4 with the numbers under
each chart. The administrator's site page too. Runs on both engines (#20 asks for the browser on both)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import db
from tests.e2e.conftest import open_menu, sign_in

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": [
    "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}}


@pytest.fixture
def seeded(app):
    from core.registry import demo_seeders_of
    from rota.demo import DEMO_PASSWORD

    for _, _, seed in demo_seeders_of(app):
        seed()
    db.session.commit()
    return DEMO_PASSWORD


def _axe(page) -> list[str]:
    return page.evaluate("""async ([src, options]) => {
        if (!window.axe) { (0, eval)(src); }
        const r = await window.axe.run(document, options);
        return r.violations.map(v => `${v.impact} ${v.id}: ${v.nodes.slice(0, 2)
            .map(n => n.target.join(' ')).join(' | ')}`);
    }""", [AXE.read_text(), AXE_OPTIONS])


def _fits(page):
    """True, or the widest elements that stick out (to name them in the failure)."""
    page.wait_for_load_state()  # after a click on a sort link the next page may still be loading
    if page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
        return True
    return page.evaluate("""() => Array.from(document.querySelectorAll('body *'))
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5 && e.offsetParent !== null)
        .slice(0, 4).map(e => e.tagName.toLowerCase() + '.' + e.className.baseVal + e.className)""")


def _main_sticks_out(page) -> list[str]:
    """Elements of the page's content (not the shared header) reaching past the window's right edge; a table in its
    own scrolling box may be wider than the window, the box may not."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('main *'))
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5 && e.offsetParent !== null
                     && !(e.parentElement && e.parentElement.closest('.sb-table-wrap')))
        .slice(0, 4).map(e => e.tagName.toLowerCase() + '.' + (e.className.baseVal ?? e.className))""")


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_ward_manager_reads_insights_and_downloads_a_table(seeded, device, request):
    page = request.getfixturevalue(device)
    sign_in(page, "ward.manager@shiftbridge.test", seeded)
    page.wait_for_url("**/")
    page.wait_for_load_state("load")
    home_fits = _fits(page)
    open_menu(page)  # phones: the menu folds behind "Menu"
    more = page.locator("[data-testid=menu-more-toggle]")
    if more.is_visible():  # wide screens: Insights is under "More"
        more.click()
    page.get_by_role("link", name="Insights", exact=True).first.click()
    page.get_by_role("link", name="Ward 7B Acute Medicine").click()
    page.wait_for_selector("[data-testid=insight-open-shifts]")
    charts = page.locator("svg.sb-chart")
    assert charts.count() >= 5
    assert charts.first.get_attribute("role") == "img"
    assert page.locator("svg.sb-chart rect").count() > 20  # bars drawn, not empty frames
    summary = page.locator("[data-testid=insight-open-shifts] .sb-insight__summary").inner_text()
    assert "open shifts were filled" in summary
    assert _fits(page) is True or _fits(page) == home_fits, "only the header (as on Home) may stick out"
    assert _main_sticks_out(page) == []
    page.locator("[data-testid=insight-open-shifts] details summary").click()
    assert page.locator("[data-testid=insight-open-shifts] table").is_visible()
    assert _fits(page) is True or _fits(page) == home_fits  # an open table scrolls inside its box
    assert _main_sticks_out(page) == []
    assert _axe(page) == []
    with page.expect_download() as info:
        page.click("[data-testid=csv-open-shifts]")
    text = Path(info.value.path()).read_text()
    assert text.splitlines()[0] == "Measure,This period,Previous period,Change"
    assert "Time to fill, median (min)" in text
    if device == "desktop":
        _prints_on_a4_portrait(page)


A4_PORTRAIT_PRINTABLE = {"width": 680, "height": 1000}  # 180 mm between 15 mm margins (insights.css @page) at 96 dpi


def _prints_on_a4_portrait(page):
    """On paper every section shows its chart and its numbers (even behind a closed <details>), nothing is wider than
    the sheet, and the period form and CSV links are left off."""
    page.set_viewport_size(A4_PORTRAIT_PRINTABLE)
    page.emulate_media(media="print")
    sections = page.locator("section.sb-insight")
    assert sections.count() >= 10
    assert page.evaluate("document.documentElement.scrollWidth") <= A4_PORTRAIT_PRINTABLE["width"]
    # checkVisibility: a closed <details> skips rendering its content (content-visibility), which a size check misses
    shown = page.evaluate("""Array.from(document.querySelectorAll('section.sb-insight')).map(s =>
        [s.querySelector('table').checkVisibility(), s.getBoundingClientRect().right])""")
    assert all(seen and right <= A4_PORTRAIT_PRINTABLE["width"] for seen, right in shown), shown
    assert not page.locator("[data-testid=csv-cover]").is_visible() and not page.locator("#period-from").is_visible()
    page.pdf(format="A4", prefer_css_page_size=True)  # chromium lays it out on A4 without an error


def test_administrator_compares_every_team_worst_first(app, seeded, request):
    from core.accounts import User

    email = db.session.scalar(select(User.email).where(User.is_admin.is_(True)).order_by(User.id))
    db.session.commit()  # the test's read ends before the browser signs in (SQLite's write lock)
    desktop = request.getfixturevalue("desktop")
    sign_in(desktop, email, seeded)
    desktop.wait_for_url("**/")
    desktop.goto("/insights/")
    desktop.click("[data-testid=site-insights]")
    rows = desktop.locator("[data-testid=site-row]")
    assert rows.count() >= 2
    desktop.click("[data-testid=sort-overrides]")
    assert "sort=overrides" in desktop.url
    assert _fits(desktop) is True
    assert _axe(desktop) == []
    desktop.set_viewport_size({"width": 390, "height": 844})
    assert _fits(desktop) is True  # the site table scrolls inside its box on a phone, not the page
