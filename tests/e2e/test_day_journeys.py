"""Issue #15, a ward's day on a phone (390×844), tap by tap: a nurse can't come in tonight, the coordinator asks for
cover from Home, a colleague takes the shift from the message. Every tap a person makes is counted (sign-in and
typing a URL are not: they start the journey) and the targets of the issue are asserted."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from core.db import db
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import PHONE, sign_in
from tests.rota.swaps import factories as data

pytestmark = pytest.mark.e2e


class Taps:
    """Clicks through the page, counting each one."""

    def __init__(self, page):
        self.page, self.count = page, 0

    def tap(self, selector: str) -> None:
        self.count += 1
        self.page.locator(selector).first.click()


def _phone(browser, live_server):
    context = browser.new_context(viewport=PHONE, base_url=live_server.url, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def in_view_without_scrolling(page, selector: str) -> bool:
    """The element is wholly inside the first screen, the page unscrolled."""
    box = page.evaluate("""s => { window.scrollTo(0, 0); const r = document.querySelector(s).getBoundingClientRect();
                                  return [r.top, r.bottom, r.left, r.right]; }""", selector)
    return box[0] >= 0 and box[1] <= PHONE["height"] and box[2] >= 0 and box[3] <= PHONE["width"]


def overflows(page, selector: str = "main h1, main form, main .nhsuk-card__content") -> bool:
    """Whether any of these elements of the page's own content reaches past the phone's width (the header and the
    home page's card grid are the page shell's, the other half of issue #15)."""
    return page.evaluate("""s => [...document.querySelectorAll(s)].some(
                              e => e.getBoundingClientRect().right > window.innerWidth + 0.5)""", selector)


def holder(shift_id: int) -> int | None:
    """Who holds the shift; the read is ended at once (on SQLite an open read would block the server's writes)."""
    who = data.holder(shift_id)
    db.session.commit()
    return who


def _tonight(make):
    """A ward with three nurses; Nurse A works tonight's night (starting in five hours)."""
    w = data.ward(make, 3)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    night = data.shift(w.team, starts_at=start, hours=12, assignee=w.staff[0], stype=data.night(w.team))
    return w, night


def test_a_day_on_the_ward_cant_come_in_cover_asked_cover_taken(browser, live_server, make):
    w, night = _tonight(make)
    night_id, a_email, b_email, b_id = night.id, w.staff[0].email, w.staff[1].email, w.staff[1].id
    coord_email = w.coordinator.email
    db.session.commit()
    contexts = []
    try:
        # 1. Nurse A, from Home: "I can't come in tonight" — sick.
        ctx, nurse = _phone(browser, live_server)
        contexts.append(ctx)
        sign_in(nurse, a_email, TEST_PASSWORD)
        nurse.wait_for_url("**/")
        a = Taps(nurse)
        a.tap("[data-testid=home-cant-make-it]")
        expect(nurse.locator("h1")).to_have_text("I can't make this shift")
        assert not overflows(nurse)
        a.tap("[data-testid=absence-sick]")
        expect(nurse.locator("body")).to_contain_text(re.compile(r"Done: you are off Night .* open shift"))
        assert a.count <= 3, f"'I can't come in tonight' took {a.count} taps"
        assert holder(night_id) is None

        # 2. The coordinator was told at once; from Home, cover for tonight's gap, the button on the first screen.
        ctx, coord = _phone(browser, live_server)
        contexts.append(ctx)
        sign_in(coord, coord_email, TEST_PASSWORD)
        coord.wait_for_url("**/")
        expect(coord.locator("[data-testid=home-absence]")).to_contain_text("Nurse A can't work Night")
        assert in_view_without_scrolling(coord, f"[data-testid=ask-cover-{night_id}]"), "send button below the fold"
        assert not overflows(coord)
        c = Taps(coord)
        c.tap(f"[data-testid=ask-cover-{night_id}]")
        expect(coord.locator("body")).to_contain_text("Asked 2 eligible colleague(s) for cover")  # B and C, not Wendy
        assert c.count <= 3, f"cover for tonight's gap took {c.count} taps"

        # 3. Nurse B, from the notification: "I'll take it".
        ctx, other = _phone(browser, live_server)
        contexts.append(ctx)
        sign_in(other, b_email, TEST_PASSWORD)
        other.goto("/notifications")
        b = Taps(other)
        item = other.locator("[data-testid=notification]", has_text="Cover needed")
        b.count += 1
        item.locator("a").first.click()
        b.tap("[data-testid=received-action]")
        expect(other.locator("body")).to_contain_text(re.compile(r"It's yours: you now work Night"))
        assert b.count <= 2, f"'I'll take it' took {b.count} taps"
        assert holder(night_id) == b_id

        # The coordinator's Home shows the cover arrived.
        coord.goto("/")
        expect(coord.locator("[data-testid=home-absence]")).to_contain_text("now covered by Nurse B")
        print(f"taps: can't make it {a.count}, ask for cover {c.count}, take it {b.count}")
    finally:
        for ctx in contexts:
            ctx.close()


def test_my_shifts_inside_the_cut_off_offers_only_cant_make_it_and_says_why(phone, make):
    w, night = _tonight(make)
    night_id, email = night.id, w.staff[0].email
    db.session.commit()
    sign_in(phone, email, TEST_PASSWORD)
    phone.goto("/my/shifts")
    card = phone.locator(f"[data-shift-id='{night_id}']")
    expect(card.locator(f"[data-testid=swaps-closed-{night_id}]")).to_contain_text("Swaps and offers close 12 hours")
    expect(card.locator(f"[data-testid=swap-{night_id}]")).to_have_count(0)
    expect(card.locator(f"[data-testid=offer-{night_id}]")).to_have_count(0)
    t = Taps(phone)
    t.tap(f"[data-testid=cant-make-it-{night_id}]")
    t.tap("[data-testid=absence-family]")
    expect(phone.locator("body")).to_contain_text("Done: you are off Night")
    assert t.count <= 3 and holder(night_id) is None


def test_coordinator_opens_and_asks_cover_for_tomorrows_unfilled_requirement_in_one_tap(phone, make):
    from rota import services

    w = data.ward(make, 3)
    st = data.night(w.team)
    services.create_requirement(w.team, shift_type=st, min_count=1, actor=w.coordinator)
    email = w.coordinator.email
    db.session.commit()
    sign_in(phone, email, TEST_PASSWORD)
    phone.wait_for_url("**/")
    button = phone.locator("[data-testid^=ask-cover-gap-]").first
    expect(button).to_be_visible()
    t = Taps(phone)
    t.tap("[data-testid^=ask-cover-gap-]")
    expect(phone.locator("body")).to_contain_text("eligible colleague(s) for cover")
    assert t.count <= 3


def test_home_counts_of_a_cover_request_are_live(phone, make):
    """The coordinator watches Home: when a nurse takes the shift, "taken" appears without a reload."""
    from rota.swaps import home, open_shifts

    w = data.ward(make, 2)
    gap = data.shift(w.team, starts_at=datetime.now(UTC) + timedelta(hours=5), hours=12, stype=data.night(w.team))
    b = home.ask_cover(gap, actor=w.coordinator)
    db.session.commit()
    b_id, email = b.id, w.coordinator.email
    db.session.commit()
    sign_in(phone, email, TEST_PASSWORD)
    phone.wait_for_url("**/")
    counts = phone.locator(f"[data-broadcast-id='{b_id}'] [data-testid=home-broadcast-counts]")
    expect(counts).to_have_text("asked 2 · read 0 · not taken yet")
    phone.evaluate("() => { window.sbSamePage = true; }")
    open_shifts.claim(db.session.get(type(gap), gap.id), actor=w.staff[1])
    db.session.commit()
    expect(counts).to_have_text(re.compile(r"asked 2 · read \d · taken"), timeout=12_000)
    assert phone.evaluate("() => window.sbSamePage === true")  # the same page: no reload
