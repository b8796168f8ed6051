"""Browser journeys (phone-sized Chromium): a nurse offers a shift, a colleague accepts, the coordinator approves;
a nurse claims an open shift."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.db import db
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import PHONE, sign_in
from tests.rota.swaps import factories as data

pytestmark = pytest.mark.e2e


def _page(browser, live_server, viewport=PHONE):
    context = browser.new_context(viewport=viewport, base_url=live_server.url, is_mobile=viewport == PHONE,
                                  has_touch=viewport == PHONE)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def test_nurse_offers_a_shift_colleague_accepts_coordinator_approves(browser, live_server, make):
    w = data.ward(make, 3)
    priya, sam, _ = w.staff
    x = data.shift(w.team, starts_at=data.soon(3), assignee=priya)
    # Read everything now: on SQLite a read in the test thread would hold the write lock while the browser works.
    x_id, sam_id, priya_email, sam_email, coord_email = x.id, sam.id, priya.email, sam.email, w.coordinator.email
    db.session.commit()
    contexts = []
    try:
        ctx, page = _page(browser, live_server)
        contexts.append(ctx)
        sign_in(page, priya_email, TEST_PASSWORD)
        page.goto("/my/shifts")
        page.click(f"[data-testid=offer-{x_id}]")
        expect(page.locator("h1")).to_contain_text("Offer Early")
        page.check("[data-testid=to-chosen]")
        page.check(f"[data-testid=colleague-{sam_id}]")
        page.click("[data-testid=send-offer]")
        expect(page.locator("[data-testid=request-state]")).to_have_text("proposed")
        request_url = page.url

        ctx2, sam_page = _page(browser, live_server)
        contexts.append(ctx2)
        sign_in(sam_page, sam_email, TEST_PASSWORD)
        sam_page.goto("/swaps")
        sam_page.locator("[data-testid=incoming] a").first.click()
        expect(sam_page).to_have_url(request_url)
        sam_page.click("[data-testid=accept]")
        expect(sam_page.locator("[data-testid=request-state]")).to_have_text("awaiting approval")

        ctx3, coord = _page(browser, live_server, viewport={"width": 1280, "height": 900})
        contexts.append(ctx3)
        sign_in(coord, coord_email, TEST_PASSWORD)
        coord.goto("/approvals")
        card = coord.locator("[data-testid^=approval-]").first
        expect(card).to_contain_text("Allowed, no warnings")
        card.locator("[data-testid^=approve-]").click()
        expect(coord.locator("body")).to_contain_text("Approved: the rota is updated.")

        sam_page.goto("/my/shifts")
        expect(sam_page.locator(f"[data-shift-id='{x_id}']")).to_be_visible()
        sam_page.goto(request_url)
        expect(sam_page.locator("[data-testid=request-state]")).to_have_text("approved")
        expect(sam_page.locator("[data-testid=approved-by]")).to_contain_text("Wendy Coordinator")
    finally:
        for c in contexts:
            c.close()
    assert data.holder(x_id) == sam_id


def test_nurse_claims_an_open_shift(phone, make):
    w = data.ward(make, 2)
    nurse = w.staff[0]
    gap = data.shift(w.team, starts_at=data.soon(2))
    gap_id, nurse_id, email = gap.id, nurse.id, nurse.email
    db.session.commit()
    sign_in(phone, email, TEST_PASSWORD)
    phone.goto("/open-shifts")
    phone.click(f"[data-testid=claim-{gap_id}]")
    expect(phone.locator("body")).to_contain_text(re.compile(r"It's yours: you now work Early"))
    expect(phone.locator("[data-testid=no-open-shifts]")).to_be_visible()
    assert data.holder(gap_id) == nurse_id


def test_coordinator_asks_for_cover_and_a_nurse_takes_it_from_the_message(desktop, phone, make):
    """The gap → "Ask for cover" → count → send; the nurse's phone shows the message live, she takes the shift with
    the button on the message, and the coordinator's report says claimed."""
    w = data.ward(make, 2)
    nurse = w.staff[0]
    gap = data.shift(w.team, starts_at=data.soon(2))
    gap_id, nurse_id, nurse_email, coord_email = gap.id, nurse.id, nurse.email, w.coordinator.email
    db.session.commit()
    sign_in(phone, nurse_email, TEST_PASSWORD)
    phone.click("[data-testid=notifications-link]")
    phone.wait_for_selector("#sb-live-status[data-live='1']")

    sign_in(desktop, coord_email, TEST_PASSWORD)
    desktop.goto("/open-shifts")
    desktop.click(f"[data-testid=ask-cover-{gap_id}]")
    expect(desktop.locator("#reference")).to_have_value(f"shift:{gap_id}")
    desktop.click("[data-testid=preview-broadcast]")
    expect(desktop.locator("[data-testid=recipient-count]")).to_have_text("2")  # both nurses, never the sender
    desktop.click("[data-testid=send-broadcast]")
    desktop.wait_for_selector("[data-testid=report-table]")

    item = phone.locator("[data-testid=notification]", has_text="Cover needed")
    item.wait_for(timeout=5000)
    item.locator("a").click()
    phone.click("[data-testid=received-action]")  # "I'll take it", on the message itself
    expect(phone.locator("body")).to_contain_text(re.compile(r"It's yours: you now work Early"))
    assert data.holder(gap_id) == nurse_id
    db.session.commit()
    desktop.reload()
    expect(desktop.locator("[data-testid=count-claimed]")).to_have_text("1")


def test_approval_card_shows_grade_and_cover_effect_and_needs_a_reason(desktop, make):
    """Issue #12: the coordinator sees who the taker is (grade, staff group) and what the change does to the night's
    registered nurses before approving; approving a shortfall needs a reason."""
    from rota import services
    from rota.swaps import decisions
    from rota.swaps import requests as swap_requests
    from tests.rota.swaps.test_swaps_cover import NightWard

    w = NightWard(make, nurses_on=4)
    hca = w.hcas[0]
    req = swap_requests.propose(actor=w.rns[0], shift=w.night, kind="offer", to_users=[hca])
    decisions.accept(req, actor=hca)
    db.session.commit()
    services.assign(w.nights[3], None, actor=w.coordinator)  # an RN off sick after the HCA accepted
    db.session.commit()
    req_id, night_id, hca_id, slot, email = req.id, w.night.id, hca.id, w.slot, w.coordinator.email
    db.session.commit()
    sign_in(desktop, email, TEST_PASSWORD)
    desktop.goto("/approvals")
    card = desktop.locator(f"[data-testid=approval-{req_id}]")
    expect(card.locator(f"[data-testid=who-{hca_id}]")).to_have_text("(Band 3 healthcare assistant)")
    expect(card.locator(f"[data-testid=cover-{hca_id}]")).to_have_text(
        f"Cover: {slot}: registered nurses 3 → 2 of 3")
    expect(card).to_contain_text(f"Blocks: {slot} would have 2 of 3 registered nurses")
    expect(card.locator(f"[data-testid=short-{hca_id}]")).to_have_text(
        "Breaks safe staffing: only a coordinator, with a reason")
    expect(card).not_to_contain_text("Allowed")
    card.locator(f"[data-testid=approve-{req_id}]").click()
    expect(desktop.locator("body")).to_contain_text(
        f"It cannot be approved: {slot} would have 2 of 3 registered nurses. A coordinator may go ahead anyway by "
        "giving a reason (it is recorded).")
    desktop.goto("/approvals")
    card = desktop.locator(f"[data-testid=approval-{req_id}]")
    card.locator(f"#note-{req_id}").fill("Agency RN confirmed for the night")
    card.locator(f"[data-testid=approve-{req_id}]").click()
    expect(desktop.locator("body")).to_contain_text("Approved: the rota is updated.")
    assert data.holder(night_id) == hca_id
