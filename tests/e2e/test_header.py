"""The header never pushes past the window on a laptop (1024-1440 px); on a 1366-px desktop it is one row (logo,
notifications, menu, "More", name, Sign out) for every demo role; "More" (a <details>, so no script needed) opens
by keyboard; a phone's header stays ≤ 120 px with every link in its menu; axe-core finds nothing at either size."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, sign_in
from tests.e2e.test_every_page import AXE, AXE_OPTIONS, ROLES, demo  # noqa: F401 (the demo trust fixture)

pytestmark = pytest.mark.usefixtures("browser_on_sqlite")

DESKTOP = {"width": 1366, "height": 768}
ROW = """() => {
  const h = document.querySelector('header.nhsuk-header');
  const items = Array.from(h.querySelectorAll('a, button, summary')).filter(
      e => e.checkVisibility({visibilityProperty: true}) && e.getBoundingClientRect().width > 0);
  const mids = items.map(e => { const r = e.getBoundingClientRect(); return (r.top + r.bottom) / 2; });
  return {height: h.getBoundingClientRect().height, spread: Math.max(...mids) - Math.min(...mids),
          texts: items.map(e => e.textContent.trim().replace(/\\s+/g, ' ')),
          right: Math.max(...items.map(e => e.getBoundingClientRect().right)),
          scroll: document.documentElement.scrollWidth};
}"""


def _axe(page, context: str | None = None) -> list[str]:
    """axe-core's violations on the page (or inside ``context``, a selector)."""
    return page.evaluate("""async ([src, options, context]) => {
        if (!window.axe) { (0, eval)(src); }
        const r = await window.axe.run(context ? document.querySelector(context) : document, options);
        return r.violations.map(v => `${v.impact} ${v.id}: ${v.nodes.slice(0, 2).map(n => n.target.join(' '))}`);
    }""", [AXE.read_text(), AXE_OPTIONS, context])


@pytest.mark.parametrize("role", ROLES)
def test_the_desktop_header_is_one_row_and_the_phone_header_is_short(demo, browser, live_server, role):  # noqa: F811
    password, people, _ = demo
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, people[role], password)
        page.wait_for_url("**/")
        # Laptops (1024-1440 px): at 1280 px the ward manager's "Sign out" stuck out 13-15 px on every page, and at
        # 1024 px every role's did. The header may take a second row where one does not fit, never the window.
        for width in (1024, 1152, 1280, 1440, DESKTOP["width"]):
            page.set_viewport_size({"width": width, "height": DESKTOP["height"]})
            wide = page.evaluate(ROW)
            assert wide["right"] <= width and wide["scroll"] <= width and wide["height"] <= 120, (width, wide)
        row = page.evaluate(ROW)
        assert row["spread"] <= 4 and row["height"] <= 64, row
        assert row["right"] <= DESKTOP["width"] and row["scroll"] <= DESKTOP["width"], row
        assert {"Home", "My shifts", "Open shifts", "More", "Sign out"} <= set(row["texts"]), row
        assert _axe(page) == []
        feeds = page.get_by_test_id("feeds-link")
        assert not feeds.is_visible()
        page.focus("[data-testid=menu-more-toggle]")
        page.keyboard.press("Enter")
        assert page.get_by_test_id("menu-more").evaluate("e => e.tagName") == "DETAILS"  # works without scripts
        assert feeds.is_visible() and page.get_by_role("link", name="Working time").is_visible()
        assert page.evaluate(ROW)["height"] == row["height"]  # the drop-down lies over the page
        # (over the page's own links while open, as any drop-down: so the open menu is checked on its own)
        assert _axe(page, "header") == []

        page.set_viewport_size(PHONE)
        page.goto("/")
        assert page.evaluate("document.querySelector('header.nhsuk-header').getBoundingClientRect().height") <= 120
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert _axe(page) == []
        page.get_by_test_id("menu-toggle").click()
        assert feeds.is_visible()  # on a phone the menu lists everything, no "More" to open
        assert not page.get_by_test_id("menu-more-toggle").is_visible()
        assert _axe(page, "header") == []  # the open menu lies over the page's links, so it is checked alone
    finally:
        context.close()

