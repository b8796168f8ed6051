"""Browser journey (issue #18), on a 390 px phone: a nurse asks for leave, seeing her balance before and after, and
asks for a day off in the rota's request window; her coordinator sees the effect on cover and approves the leave,
which then shows on the team's leave calendar; the coordinator builds the period's draft with the auto-roster button,
watches its progress, reads the explanations and publishes; the nurse's My shifts shows her new shifts."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from core.db import db
from rota.autoroster import jobs
from rota.models import PeriodState, RotaPeriod, StaffingRequirement
from rota.requests.models import RequestWindow
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import PHONE, open_menu, sign_in
from tests.rota.swaps import factories as data

pytestmark = pytest.mark.e2e


def _phone(browser, live_server):
    context = browser.new_context(viewport=PHONE, base_url=live_server.url, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def _no_sideways_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def _autoroster_worker(app, stop):
    """The auto-roster worker (`flask autoroster worker`) beside the live server."""
    def work():
        with app.app_context():
            jobs.work(poll_seconds=0.2, stop=stop)
            db.session.remove()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_nurse_asks_for_leave_and_a_day_off_the_coordinator_approves_auto_rosters_and_publishes(
        app, browser, live_server, make):
    w = data.ward(make, 3)
    nora = w.staff[0]
    first = date.today() + timedelta(days=14)
    if (first.month, first.day) == (3, 31):  # keep both days in one leave year (they start 1 April)
        first += timedelta(days=1)
    # a week to roster: two on every Early; a Night needing a skill nobody has, so there is a gap to explain
    period = RotaPeriod(team_id=w.team.id, first_day=date.today() + timedelta(days=30),
                        last_day=date.today() + timedelta(days=36), state=PeriodState.draft)
    db.session.add_all([StaffingRequirement(team_id=w.team.id, shift_type_id=w.types["E"].id, staff_group="nursing",
                                            min_count=2),
                        StaffingRequirement(team_id=w.team.id, shift_type_id=w.types["N"].id, staff_group="nursing",
                                            min_count=1, skill="Chemotherapy")])
    db.session.add(period)
    db.session.flush()
    db.session.add(RequestWindow(team_id=w.team.id, period_id=period.id, opens_on=date.today() - timedelta(days=1),
                                 closes_on=date.today() + timedelta(days=10), max_per_person=3))
    # Read everything now: on SQLite a read in the test thread would hold the write lock while the browser works.
    nora_email, nora_name, coord_email = nora.email, nora.display_name, w.coordinator.email
    day_off, team_id, period_id = period.first_day + timedelta(3), w.team.id, period.id
    db.session.commit()
    contexts = []
    stop = threading.Event()
    worker = None
    try:
        ctx, page = _phone(browser, live_server)
        contexts.append(ctx)
        sign_in(page, nora_email, TEST_PASSWORD)
        page.wait_for_url("**/")
        open_menu(page)
        page.get_by_role("link", name="My leave", exact=True).click()
        expect(page.locator("h1")).to_have_text("My leave")
        _no_sideways_scroll(page)
        page.fill("#first_day", first.isoformat())
        page.fill("#last_day", (first + timedelta(days=1)).isoformat())
        page.fill("#note", "Sister's wedding")
        page.click("[data-testid=leave-check]")
        expect(page.locator("[data-testid=quote]")).to_contain_text("Balance before: 262 h 30 min")
        expect(page.locator("[data-testid=quote-after]")).to_be_visible()
        page.click("[data-testid=leave-send]")
        expect(page.locator("[data-testid=flash]")).to_contain_text("Request sent")
        expect(page.locator(".sb-request").first).to_contain_text("Pending")

        open_menu(page)
        page.get_by_role("link", name="Rota requests", exact=True).click()
        page.locator("[data-testid^=window-] a").first.click()
        page.fill("#day", day_off.isoformat())
        page.select_option("#what", "avoid:0")
        page.check("#priority-0")
        page.click("[data-testid=rota-request-add]")
        expect(page.locator("[data-testid=flash]")).to_contain_text("Request added")
        expect(page.locator(".sb-request").first).to_contain_text(f"Not the whole day · {day_off:%a %d %b}")
        _no_sideways_scroll(page)

        ctx2, coord = _phone(browser, live_server)
        contexts.append(ctx2)
        sign_in(coord, coord_email, TEST_PASSWORD)
        coord.wait_for_url("**/")
        open_menu(coord)
        coord.get_by_role("link", name="Leave approvals", exact=True).click()
        coord.locator("[data-testid^=leave-approval-] a").first.click()
        expect(coord.locator("[data-testid=cover-effect]")).to_contain_text("0 already off")
        _no_sideways_scroll(coord)
        coord.fill("#reason", "Have a lovely day")
        coord.click("[data-testid=leave-approve]")
        expect(coord.locator("[data-testid=flash]")).to_contain_text("Approved")

        coord.goto(f"/leave/calendar?team={team_id}&month={first:%Y-%m}")
        expect(coord.locator(f"[data-testid=off-{first.isoformat()}]")).to_contain_text(nora_name)
        _no_sideways_scroll(coord)

        page.goto("/leave")
        expect(page.locator(".sb-request").first).to_contain_text("Approved")

        # the auto-roster, from the button on the rota periods list: queued (progress shown), then built, explained
        coord.goto(f"/teams/{team_id}/rota/build")
        coord.click(f"[data-testid=autoroster-{period_id}]")
        expect(coord.locator("[data-testid=job-state]")).to_have_text("Waiting to start")
        expect(coord.locator("[data-testid=job-progress]")).to_be_visible()
        _no_sideways_scroll(coord)
        worker = _autoroster_worker(app, stop)
        expect(coord.locator("[data-testid=job-state]")).to_have_text("Draft built", timeout=60_000)
        expect(coord.locator("[data-testid=job-honoured]")).to_have_text("1")  # Nora's day off
        expect(coord.locator("[data-testid=job-gaps]")).to_contain_text(
            "nobody in the team counts as registered nurses who are Chemotherapy")
        expect(coord.locator("[data-testid=job-people]")).to_contain_text(nora_name)
        _no_sideways_scroll(coord)
        coord.click("[data-testid=job-publish]")
        coord.click("[data-testid=confirm-publish]")
        expect(coord.locator("[data-testid=flash]")).to_contain_text("published")

        page.goto("/my/shifts")
        expect(page.locator("[data-testid=my-shift]").first).to_contain_text("Early")
        shifts = page.locator("[data-testid=my-shift]").all_inner_texts()
        assert shifts and not any(f"{day_off:%a %d %b}" in s for s in shifts)  # her day off kept
    finally:
        stop.set()
        if worker is not None:
            worker.join(30)
        for c in contexts:
            c.close()
