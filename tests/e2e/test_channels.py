"""Two phones in the team channel: A posts, B sees it live and replies in the thread, A sees "seen by 1"; an
@on-shift mention reaches exactly who is rostered now; a rota card claimed on one phone updates on the other; an NHS
number is refused with the pointer to the handover; an outsider gets 403; a photo posted on one phone shows on the
other, and a 40 MP PNG is refused; an urgent post escalates until it is acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from bench.bench_images import png
from channels import attachments, services
from channels.models import Post
from core.db import db
from notifications import broadcasts
from notifications.models import Notification
from rota import services as rota
from tests.channels.routes import FORM, MULTIPART, api_body, urls
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import PHONE, sign_in, wait_for_js
from tests.factories import ward
from tests.handover.conftest import jpeg_with_gps
from tests.rota.swaps.factories import settings, shift, soon


@pytest.fixture
def app_config(tmp_path):
    return {"WTF_CSRF_ENABLED": True, "CHANNELS_UPLOAD_DIR": str(tmp_path / "channel-files")}


@pytest.fixture
def second_phone(browser, live_server):
    context = browser.new_context(viewport=PHONE, base_url=live_server.url, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def test_two_phones_in_the_team_channel(app, make, phone, second_phone, live_server):
    team, coord, (a, b, c), _ = ward(make)
    settings(team)
    now = datetime.now(UTC)
    shift(team, starts_at=now - timedelta(hours=2), assignee=a)
    shift(team, starts_at=now - timedelta(hours=1), assignee=b)
    shift(team, starts_at=now + timedelta(days=1), assignee=c)  # rostered, but not on shift now
    gap = shift(team, starts_at=soon(4), assignee=c)
    rota.assign(gap, None, actor=coord)  # c's shift becomes open: a card in the team channel
    channel = services.team_channel(team)
    db.session.commit()
    url = f"/channels/{channel.id}"
    (a_email, a_name), (b_email, b_name) = [(u.email, u.display_name) for u in (a, b)]
    db.session.commit()  # reading them began a transaction: on SQLite that is the write lock the server needs

    sign_in(phone, a_email, TEST_PASSWORD)
    phone.goto(url)
    sign_in(second_phone, b_email, TEST_PASSWORD)
    second_phone.goto(url)
    expect(second_phone.locator("[data-testid=channel-live]")).to_have_text("Live")
    expect(phone.locator("[data-testid=channel-live]")).to_have_text("Live")

    # A posts; B sees it without reloading; the mention reached exactly the two people on shift now.
    phone.fill("[data-testid=compose]", "@on-shift anyone seen the bladder scanner?")
    phone.click("[data-testid=send]")
    mine = phone.locator("[data-testid=post]", has_text="bladder scanner").first
    expect(mine.locator("[data-testid=reached]")).to_have_text(f"@on-shift reached {a_name}, "
                                                              f"{b_name}")
    live = second_phone.locator("[data-testid=post]", has_text="bladder scanner")
    expect(live).to_have_count(1)
    # B's open page read it: A's phone shows "seen by 1" by itself.
    expect(phone.locator("[data-testid=post]", has_text="bladder scanner").locator("[data-testid=seen-by]")) \
        .to_contain_text("Seen by 1 of")

    # B replies in the thread; A's reply count follows live.
    live.locator("[data-testid=replies]").click()
    second_phone.fill("[data-testid=compose]", "It's in the sluice")
    second_phone.click("[data-testid=send]")
    expect(second_phone.locator("[data-testid=replies-list] [data-testid=post-text]")).to_have_text(
        "It's in the sluice")
    expect(phone.locator("[data-testid=post]", has_text="bladder scanner").locator("[data-testid=replies]")) \
        .to_have_text("1 reply")

    # The rota card: B goes back to the channel; A takes the shift; B's card says so without a reload.
    second_phone.goto(url)
    expect(second_phone.locator("[data-testid=channel-live]")).to_have_text("Live")
    expect(second_phone.locator("[data-testid=rota-card]")).to_have_attribute("data-card-state", "open")
    phone.locator("[data-testid=claim]").click()
    expect(phone.locator("[data-testid=card-taken]")).to_have_text(f"Taken by {a_name}")
    expect(second_phone.locator("[data-testid=card-taken]")).to_have_text(f"Taken by {a_name}")

    # An NHS number is refused, with the way to the handover; the typed text is still there.
    phone.fill("[data-testid=compose]", "Bed 4 is 943 476 5919, can someone do obs")
    phone.click("[data-testid=send]")
    expect(phone.locator("[data-testid=patient-data-refusal]")).to_contain_text("move this to the handover")
    expect(phone.locator("[data-testid=to-handover]")).to_be_visible()
    expect(phone.locator("[data-testid=compose]")).to_have_value("Bed 4 is 943 476 5919, can someone do obs")
    expect(second_phone.locator("[data-testid=post]", has_text="943")).to_have_count(0)


def test_outsider_gets_403_in_the_browser(app, make, phone, live_server):
    """Every channel page and API route (read from the URL map, every method, every ``any(...)`` choice), opened in
    the outsider's signed-in browser: 403, and nothing of the channel shown. Writes carry a valid CSRF token, so the
    refusal is the access check's."""
    team, coord, (a, *_), _ = ward(make)
    channel = services.team_channel(team)
    p = services.post(channel, a, "Handover at 19:45 in the day room",
                      upload=services.Upload(jpeg_with_gps(), "fridge.jpg", no_patient_information=True))
    db.session.commit()
    outsider = make.user()
    make.team("Ward 9", staff=[outsider])
    ids = {"channel_id": channel.id, "post_id": p.id, "team_id": team.id,
           "attachment_id": attachments.for_posts([p.id])[p.id][0].id}
    email = outsider.email
    db.session.commit()
    every = urls(app, ids)
    assert len(every) >= 45
    sign_in(phone, email, TEST_PASSWORD)
    for method, url in every:
        if method == "GET":
            assert phone.goto(url).status == 403, url
            assert "Handover at 19:45" not in phone.content()
    phone.goto("/channels")
    token = phone.locator("[data-csrf]").first.get_attribute("data-csrf")
    photo = {"file": {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_gps()}, "text": "x",
             "no_patient_information": "true"}
    wrong = []
    for method, url in every:
        if method == "GET":
            continue
        body = api_body(method, url) if url.startswith("/api/") else FORM
        kw = {"multipart": photo} if body is MULTIPART else {} if body is None else \
            {"data": body} if url.startswith("/api/") else {"form": body}
        resp = phone.request.fetch(url, method=method, headers={"X-CSRFToken": token}, **kw)
        if resp.status != 403:
            wrong.append((method, url, resp.status))
    assert not wrong


def test_a_photo_from_one_phone_shows_on_the_other_and_a_huge_png_is_refused(app, make, phone, second_phone,
                                                                             live_server):
    team, coord, (a, b, c), _ = ward(make)
    channel = services.team_channel(team)
    db.session.commit()
    url = f"/channels/{channel.id}"
    a_email, b_email = a.email, b.email
    db.session.commit()
    sign_in(phone, a_email, TEST_PASSWORD)
    phone.goto(url)
    sign_in(second_phone, b_email, TEST_PASSWORD)
    second_phone.goto(url)
    expect(second_phone.locator("[data-testid=channel-live]")).to_have_text("Live")

    # A 40 MP PNG: the handover's refusal, on the phone, with the message still in the box.
    phone.fill("[data-testid=compose]", "Escalation flowchart for the staff room")
    phone.locator("summary", has_text="Add a photo or PDF").click()
    phone.set_input_files("[data-testid=file-input]", files=[{"name": "screen.png", "mimeType": "image/png",
                                                              "buffer": png(7744, 5164, "RGBA")}])
    phone.check("[data-testid=no-patient-info]")
    phone.click("[data-testid=send]")
    expect(phone.locator("[data-testid=file-error]")).to_contain_text("This photo is too big to process")
    assert phone.input_value("[data-testid=compose]") == "Escalation flowchart for the staff room"

    # A camera photo: posted, its thumbnail shows on the other phone without a reload, location stripped.
    phone.set_input_files("[data-testid=file-input]", files=[{"name": "IMG_2041.jpg", "mimeType": "image/jpeg",
                                                              "buffer": jpeg_with_gps()}])
    phone.check("[data-testid=no-patient-info]")
    phone.click("[data-testid=send]")
    live = second_phone.locator("[data-testid=post]", has_text="Escalation flowchart")
    expect(live.locator("[data-testid=attachment-photo]")).to_have_count(1)
    wait_for_js(second_phone, "() => { const i = document.querySelector('[data-testid=attachment-photo]');"
                                   " return i && i.complete && i.naturalWidth > 0; }")
    href = live.locator("[data-testid=attachments] a").first.get_attribute("href")
    resp = second_phone.request.get(href)
    assert resp.status == 200 and resp.headers["cache-control"] == "no-store"
    assert b"SecretCam" not in resp.body()


def test_an_urgent_post_escalates_until_it_is_acknowledged(app, make, phone, second_phone, live_server):
    team, coord, (a, b, c), _ = ward(make)
    broadcasts.set_policy(team, coord, [{"after_minutes": 30, "audience": "coordinators"}])
    channel = services.team_channel(team)
    db.session.commit()
    url = f"/channels/{channel.id}"
    coord_email, b_email, b_id = coord.email, b.email, b.id
    db.session.commit()  # reading them began a transaction: on SQLite that is the write lock the server needs

    # The coordinator (phone A) posts an urgent message; nurse B's open page shows it live, with its button.
    sign_in(phone, coord_email, TEST_PASSWORD)
    phone.goto(url)
    sign_in(second_phone, b_email, TEST_PASSWORD)
    second_phone.goto(url)
    expect(second_phone.locator("[data-testid=channel-live]")).to_have_text("Live")
    expect(phone.locator("[data-testid=channel-live]")).to_have_text("Live")
    phone.fill("[data-testid=compose]", "Resus trolley missing, check your bay")
    phone.check("#urgent")
    phone.click("[data-testid=send]")
    mine = phone.locator("[data-testid=post]", has_text="Resus trolley")
    expect(mine.locator("[data-testid=acks]")).to_have_text("Acknowledged by 0 of 3")
    live = second_phone.locator("[data-testid=post]", has_text="Resus trolley")
    expect(live.locator("[data-testid=acknowledge]")).to_be_visible()

    # Nobody answers for 31 minutes: the worker's escalation step runs (the same function its periodic task calls):
    # those who have not acknowledged are asked again, the coordinators are told.
    post = db.session.scalar(select(Post).where(Post.kind == "urgent"))
    assert broadcasts.escalate_due(post.created_at + timedelta(minutes=31)) == 1
    db.session.commit()
    assert db.session.scalar(select(Notification.id).where(Notification.user_id == b_id,
                                                           Notification.kind == "broadcast.reminder"))
    db.session.commit()

    # B acknowledges on their phone; A's page says so without a reload.
    live.locator("[data-testid=acknowledge]").click()
    expect(mine.locator("[data-testid=acks]")).to_have_text("Acknowledged by 1 of 3")
