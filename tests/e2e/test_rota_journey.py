"""The rota in a real browser: a coordinator builds a week from a pattern, sees a gap, opens it as an open shift and
publishes; a staff member then sees their shifts under My shifts on a phone."""

from datetime import date, timedelta

from core.db import db
from rota import services
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import sign_in
from tests.factories import ward


def test_coordinator_builds_publishes_and_nurse_sees_shift_on_phone(make, desktop, phone):
    team, coord, staff, types = ward(make)
    services.create_requirement(team, shift_type=types["E"], min_count=2, staff_group="nursing", actor=coord)
    nurse, colleague = staff[0], staff[1]
    team_id, coord_email, nurse_email, nurse_id = team.id, coord.email, nurse.email, nurse.id
    colleague_id, colleague_name = colleague.id, colleague.display_name
    today = date.today()
    monday = today + timedelta(days=7 - today.weekday())
    db.session.commit()  # and touch no ORM object after this: on SQLite a test transaction holds the write lock

    sign_in(desktop, coord_email, TEST_PASSWORD)
    desktop.wait_for_url("**/")
    desktop.goto(f"/teams/{team_id}/rota/build")
    desktop.fill("#p-first_day", monday.isoformat())
    desktop.fill("#p-weeks", "1")
    desktop.fill("#p-cycle", "E E E E E - -")
    desktop.check(f"input[name=p-people][value='{nurse_id}']")
    desktop.check(f"input[name=p-people][value='{colleague_id}']")
    desktop.click("[data-testid=run-pattern]")
    desktop.wait_for_url(f"**/teams/{team_id}/rota?*")
    assert "10 shifts created (0 open)" in desktop.content()
    # Both nurses are on the same line: weekdays are covered, the weekend is a gap (0 of 2 RNs).
    saturday = (monday + timedelta(days=5)).isoformat()
    cover = desktop.locator(f"[data-testid=coverage][data-day='{saturday}']")
    assert cover.get_attribute("data-status") == "short"
    assert "E: 0/2" in cover.inner_text()
    assert desktop.eval_on_selector(f"[data-testid=coverage][data-day='{saturday}']",
                                    "e => getComputedStyle(e).backgroundColor") == "rgb(213, 40, 27)"  # red
    cover.locator("[data-testid=open-gap]").click()
    desktop.wait_for_url(f"**/teams/{team_id}/rota?*")
    assert "1 open Early for " in desktop.content()
    assert desktop.locator(f"[data-testid=open-row] td[data-day='{saturday}'] [data-testid=open-shift]").count() == 1
    assert desktop.locator("[data-testid=period-state]").inner_text().count("draft") == 1
    desktop.click("[data-testid=publish]")
    desktop.click("[data-testid=confirm-publish]")  # after the summary (issue #15)
    desktop.wait_for_url(f"**/teams/{team_id}/rota?*")
    assert "published" in desktop.locator("[data-testid=period-state]").inner_text()
    # Printed for the ward wall: the grid only, no navigation, tools or buttons.
    desktop.emulate_media(media="print")
    assert desktop.locator("[data-testid=rota-grid]").is_visible()
    for chrome in (".nhsuk-header", ".sb-rota-nav", ".sb-grid-tools", "[data-testid=open-gap] >> nth=0"):
        assert not desktop.locator(chrome).is_visible(), chrome
    desktop.emulate_media(media="screen")

    sign_in(phone, nurse_email, TEST_PASSWORD)
    phone.wait_for_url("**/")
    phone.goto("/my/shifts")
    cards = phone.locator("[data-testid=my-shift]")
    assert cards.count() == 5
    first = cards.first.inner_text()
    assert monday.strftime("%a %d %b") in first and "07:00–15:30" in first
    assert f"With: {colleague_name}" in first
    # Phone-first: the card fits the viewport, nothing scrolls sideways.
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
