"""Issue #19, the production shape (``make run``): the channel page's live updates come from the stream service
(gevent, its own port), not from a web-tier thread. Two phones in the team channel on gunicorn: A posts, B sees it
without reloading; the web tier holds no stream while both pages are open."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from channels import services
from core.db import db
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import PHONE, sign_in
from tests.factories import ward
from tests.servers import Gunicorn, free_port


@pytest.fixture
def production_shape(database_url):
    """The web tier (gthread) and the stream service (gevent), as ``make run`` starts them."""
    web_port, stream_port = free_port(), free_port()
    env = {"NOTIFICATIONS_STREAM_URL": f"http://127.0.0.1:{stream_port}/api/v1/notifications/stream",
           "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}"}
    with Gunicorn(database_url, "stream", port=stream_port, **env) as stream, \
            Gunicorn(database_url, "web", port=web_port, GUNICORN_WORKERS="1", GUNICORN_THREADS="2", **env) as web:
        yield web, stream


def test_two_phones_see_each_others_posts_live_through_the_stream_service(app, make, browser, production_shape):
    web, stream = production_shape
    team, _, (a, b, _), _ = ward(make)
    channel = services.team_channel(team)
    db.session.commit()
    url = f"/channels/{channel.id}"
    a_email, b_email = a.email, b.email
    db.session.commit()  # reading them began a transaction: on SQLite that is the write lock the servers need
    phones = [browser.new_context(viewport=PHONE, base_url=web.url, is_mobile=True, has_touch=True).new_page()
              for _ in range(2)]
    try:
        for page, email in zip(phones, (a_email, b_email), strict=True):
            page.set_default_timeout(15_000)
            sign_in(page, email, TEST_PASSWORD)
            page.goto(url)
            expect(page.locator("[data-testid=channel-live]")).to_have_text("Live")
            assert page.locator("#sb-posts").get_attribute("data-stream-url").startswith(stream.url)
        phone, second_phone = phones
        phone.fill("[data-testid=compose]", "Kettle is fixed")
        phone.click("[data-testid=send]")
        expect(second_phone.locator("[data-testid=post]", has_text="Kettle is fixed")).to_have_count(1)
        # The pages stay live (held by the stream service); the web tier's two threads are free for everyone else.
        expect(second_phone.locator("[data-testid=channel-live]")).to_have_text("Live")
    finally:
        for page in phones:
            page.context.close()
