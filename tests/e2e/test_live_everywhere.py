"""#16 "In-app live everywhere": on every page of the nurse's menu (not only Notifications) the header badge and a
toast follow a notification as soon as it is committed. The measured commit -> toast times are printed; the test
fails only at 5 s, well above the 2 s target, but far below the 30 s of the polling fallback it must not be using
(a loaded machine must not make it flaky)."""

from __future__ import annotations

import statistics
import time

import pytest

from core.db import db
from notifications.service import notify
from tests.e2e.conftest import open_menu, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo_nurse(app):
    from core.accounts import User
    from rota.demo import DEMO_PASSWORD, demo_nurse_email, seed_people_and_teams

    seed_people_and_teams()
    db.session.commit()
    email = demo_nurse_email()
    uid = db.session.scalar(db.select(User.id).where(User.email == email))
    db.session.commit()
    return uid, email, DEMO_PASSWORD


def test_the_badge_and_a_toast_follow_a_notification_on_every_page_of_the_menu(demo_nurse, phone, live_server):
    uid, email, password = demo_nurse
    sign_in(phone, email, password)
    phone.wait_for_url("**/")
    open_menu(phone)
    links = phone.eval_on_selector_all("a.sb-menu__link", "els => els.map(e => e.getAttribute('href'))")
    pages = ["/"] + [h for h in links if h.startswith("/") and h != "/" and not h.startswith("/notifications")]
    pages = list(dict.fromkeys(pages + ["/profile"]))
    assert len(pages) >= 5, pages
    taken = {}
    for n, path in enumerate(pages, start=1):
        phone.goto(path)
        badge = phone.locator("[data-testid=unread-count]")
        phone.locator("[data-testid=unread-count][data-live='1']").wait_for(state="attached")  # its stream is open
        before = int(badge.inner_text() or 0) if badge.is_visible() else 0
        text = f"Live test {n}: the rota for January is published"
        notify([uid], kind="rota.published", text=text, link="/my/shifts")
        db.session.commit()
        committed = time.monotonic()
        phone.locator("[data-testid=toast]", has_text=text).wait_for(timeout=15_000)
        taken[path] = time.monotonic() - committed
        assert badge.inner_text() == str(before + 1), path
    print("commit -> toast (s):", {p: round(t, 2) for p, t in taken.items()},
          "median", round(statistics.median(taken.values()), 2))
    slow = {p: t for p, t in taken.items() if t > 5}
    assert not slow, f"toast later than 5 s (the stream, not polling, should bring it): {slow}"
