"""Calendar feeds over HTTP: what a subscribed calendar sees, checked by icalendar, vobject and ical.js.

Every 200 feed fetched here goes through ``check_feed`` (three parsers, instants compared with the database).
"""

import re
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from core import accounts
from core.accounts import TeamRole
from core.db import db, now_utc
from rota.assignment import set_assignee
from rota.feeds import fetch as feed_fetch
from rota.feeds import service as feeds
from rota.feeds.models import CalendarFeed, FeedKind, FeedStamp
from rota.models import ReleaseKind, Shift, ShiftRelease, ShiftState
from tests.conftest import TEST_PASSWORD, count_queries, login
from tests.rota.feeds.helpers import check_feed, local, shift

FROZEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def issue(user, kind=FeedKind.mine) -> str:
    _, token = feeds.rotate(user, kind, actor=user)
    db.session.commit()
    return token


def path(token: str) -> str:
    return f"/calendar/{token}.ics"


def fetch(client, token, **headers):
    resp = client.get(path(token), headers=headers)
    assert resp.status_code == 200, resp.status_code
    assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return resp, check_feed(resp.data)


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(feeds, "_now", lambda: FROZEN)
    return FROZEN


def test_nights_across_both_clock_changes_read_right_in_every_parser(client, ward, frozen):
    team, sam, night = ward["team"], ward["sam"], ward["night"]
    spring = shift(team, night, local(team, 2027, 3, 27, 21), local(team, 2027, 3, 28, 9), assignee=sam)
    autumn = shift(team, night, local(team, 2027, 10, 30, 21), local(team, 2027, 10, 31, 9), assignee=sam)
    winter = shift(team, night, local(team, 2027, 1, 9, 21), local(team, 2027, 1, 10, 9), assignee=sam)
    resp, js = fetch(client, issue(sam))
    assert spring.ends_at - spring.starts_at == timedelta(hours=11)
    assert autumn.ends_at - autumn.starts_at == timedelta(hours=13)
    domain = "localhost"
    for s, hours in ((spring, 11), (autumn, 13), (winter, 12)):
        ev = js[f"shift-{s.id}@{domain}"]
        assert ev["end"] - ev["start"] == timedelta(hours=hours)
        assert ev["status"] == "CONFIRMED" and ev["summary"] == "Night · Ward 7B"
        assert f"{hours} h" in ev["description"] and f"/shifts/{s.id}" in ev["description"]
    assert b"LOCATION:Ward 7B\\, St Elsewhere" in resp.data
    assert b"X-PUBLISHED-TTL:PT1H\r\n" in resp.data and b"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in resp.data


def test_window_is_60_days_back_to_18_months_ahead(client, ward, frozen):
    team, sam, night = ward["team"], ward["sam"], ward["night"]
    inside = [shift(team, night, frozen - timedelta(days=59), assignee=sam),
              shift(team, night, frozen + timedelta(days=540), assignee=sam)]
    outside = [shift(team, night, frozen - timedelta(days=62), assignee=sam),
               shift(team, night, frozen + timedelta(days=560), assignee=sam)]
    _, js = fetch(client, issue(sam))
    ids = {int(uid.split("@")[0].removeprefix("shift-")) for uid in js}
    assert ids == {s.id for s in inside} and not ids & {s.id for s in outside}


def test_a_swap_keeps_the_uid_bumps_sequence_and_cancels_only_in_the_old_holders_feed(client, ward):
    team, sam, alex, night = ward["team"], ward["sam"], ward["alex"], ward["night"]
    soon = now_utc().replace(microsecond=0) + timedelta(days=5)
    mine = shift(team, night, soon, assignee=sam)
    theirs = shift(team, night, soon + timedelta(days=2), assignee=alex)
    sam_token, alex_token = issue(sam), issue(alex)
    _, before = fetch(client, sam_token)
    uid = f"shift-{mine.id}@localhost"
    seq_before = before[uid]["sequence"]
    # A swap, as the swap service does it: both shifts change hands through the one chokepoint.
    set_assignee(mine, alex, actor=ward["manager"], kind=ReleaseKind.swapped, reason="Swapped to Alex Okafor",
                 exclude_ids=[theirs.id])
    set_assignee(theirs, sam, actor=ward["manager"], kind=ReleaseKind.swapped, reason="Swapped to Sam Patel")
    db.session.commit()

    _, sam_view = fetch(client, sam_token)
    _, alex_view = fetch(client, alex_token)
    assert sam_view[uid]["status"] == "CANCELLED" and alex_view[uid]["status"] == "CONFIRMED"
    assert sam_view[uid]["sequence"] == alex_view[uid]["sequence"] > seq_before
    assert sam_view[uid]["summary"] == "Cancelled: Night · Ward 7B"
    assert re.search(r"Swapped to Alex Okafor on \d+ \w{3}\n", sam_view[uid]["description"])
    other = f"shift-{theirs.id}@localhost"
    assert sam_view[other]["status"] == "CONFIRMED" and alex_view[other]["status"] == "CANCELLED"

    # 14 days later the cancelled entry has dropped out of Sam's feed; Alex's copy is untouched.
    release = db.session.scalar(select(ShiftRelease).where(ShiftRelease.shift_id == mine.id))
    later = release.released_at + timedelta(days=15)
    feeds_now = feeds._now
    try:
        feeds._now = lambda: later
        _, sam_later = fetch(client, sam_token)
        _, alex_later = fetch(client, alex_token)
    finally:
        feeds._now = feeds_now
    assert uid not in sam_later and alex_later[uid]["status"] == "CONFIRMED"


def test_a_cancelled_shift_shows_as_cancelled_with_the_reason(client, ward):
    team, sam, night = ward["team"], ward["sam"], ward["night"]
    s = shift(team, night, now_utc().replace(microsecond=0) + timedelta(days=3), assignee=sam)
    token = issue(sam)
    team_token = issue(ward["manager"], FeedKind.team)
    _, first = fetch(client, token)
    s.state, s.cancel_reason = ShiftState.cancelled, "Ward closed for deep clean"
    db.session.commit()
    # The way the rota service cancels: release through the chokepoint, then mark the shift cancelled.
    other = shift(team, night, now_utc().replace(microsecond=0) + timedelta(days=6), assignee=sam)
    _, second = fetch(client, token)
    set_assignee(other, None, actor=ward["manager"], kind=ReleaseKind.cancelled, reason="Shift cancelled")
    other.state, other.cancel_reason = ShiftState.cancelled, "Agency cover found"
    db.session.commit()
    _, after = fetch(client, token)
    _, team_view = fetch(client, team_token)
    uid, uid2 = f"shift-{s.id}@localhost", f"shift-{other.id}@localhost"
    assert after[uid]["status"] == "CANCELLED" and after[uid]["sequence"] > first[uid]["sequence"]
    assert "Ward closed for deep clean" in after[uid]["description"]
    assert after[uid2]["status"] == "CANCELLED" and after[uid2]["sequence"] > second[uid2]["sequence"]
    assert re.search(r"Shift cancelled on \d+ \w{3}: Agency cover found", after[uid2]["description"])
    assert after[uid]["summary"] == after[uid2]["summary"] == "Cancelled: Night · Ward 7B"
    assert team_view[f"shift-{s.id}.team@localhost"]["status"] == "CANCELLED"
    assert team_view[f"shift-{other.id}.team@localhost"]["status"] == "CANCELLED"


def test_revoked_and_rotated_links_answer_410_gone_and_unknown_ones_404(client, ward):
    sam = ward["sam"]
    old = issue(sam)
    fetch(client, old)
    new = issue(sam)  # rotate
    unknown = client.get(path("sbcal_m" + "A" * 43))
    gone = client.get(path(old))
    assert unknown.status_code == 404 and gone.status_code == 410
    assert client.get(path("not-a-token")).status_code == 404
    fetch(client, new)
    feeds.revoke(sam, FeedKind.mine, actor=sam)
    db.session.commit()
    assert client.get(path(new)).status_code == 410
    assert client.head(path(new)).status_code == 410


def test_conditional_get_answers_304_from_one_query_and_changes_when_a_shift_does(client, ward, frozen):
    team, sam, night = ward["team"], ward["sam"], ward["night"]
    settled = now_utc() - timedelta(minutes=5)  # nothing changes in the second the feed is fetched
    s = shift(team, night, frozen + timedelta(days=3), assignee=sam, created_at=settled, updated_at=settled)
    db.session.execute(update(FeedStamp).values(changed_at=settled))  # the team's change stamp too
    db.session.commit()
    token = issue(sam)
    first, _ = fetch(client, token)
    again, _ = fetch(client, token)
    assert first.data == again.data and first.headers["ETag"] == again.headers["ETag"]
    assert first.headers["Last-Modified"]
    with count_queries() as seen:
        not_modified = client.get(path(token), headers={"If-None-Match": first.headers["ETag"]})
    assert not_modified.status_code == 304 and not_modified.data == b""
    assert len(seen) == 1, seen
    by_date = client.get(path(token), headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert by_date.status_code == 304

    s.ends_at = s.ends_at + timedelta(hours=1)
    db.session.commit()
    changed = client.get(path(token), headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != first.headers["ETag"]
    check_feed(changed.data)


def test_a_change_in_the_same_second_as_the_last_fetch_still_reaches_a_calendar_that_asks_if_modified_since(
        client, ward):
    """Calendars that send only If-Modified-Since compare whole seconds. A shift changed in the same second as the
    calendar's last fetch must not be answered "304 Not Modified" (the calendar would keep the old times until some
    later change). The exchange starts just after a second boundary so that it fits in one second."""
    team, sam, night = ward["team"], ward["sam"], ward["night"]
    token = issue(sam)
    time.sleep(1.01 - now_utc().microsecond / 1_000_000)
    s = shift(team, night, now_utc() + timedelta(days=3), assignee=sam)
    first, _ = fetch(client, token)
    s.ends_at = s.ends_at + timedelta(hours=1)
    db.session.commit()
    later = client.get(path(token), headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert later.status_code == 200, "the calendar was told its copy from before the change is still current"
    assert check_feed(later.data)[f"shift-{s.id}@localhost"]["end"] == s.ends_at


def test_head_gives_the_headers_without_a_body(client, ward):
    shift(ward["team"], ward["night"], now_utc() + timedelta(days=2), assignee=ward["sam"])
    token = issue(ward["sam"])
    resp = client.head(path(token))
    assert resp.status_code == 200 and resp.data == b""
    assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert resp.headers["ETag"] and resp.headers["Last-Modified"]


@pytest.mark.parametrize("app_config", [{"FEED_RATE_LIMIT": "3 per minute"}])
def test_each_link_is_rate_limited_on_its_own(client, ward):
    sam_token, alex_token = issue(ward["sam"]), issue(ward["alex"])
    assert [client.get(path(sam_token)).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert client.get(path(alex_token)).status_code == 200


def test_fetches_are_recorded_and_shown_on_the_profile_page(client, ward, no_secrets_in_logs):
    sam = ward["sam"]
    token = issue(sam)
    fetch(client, token, **{"User-Agent": "Google-Calendar-Importer"})
    row = db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == sam.id))
    db.session.refresh(row)
    assert row.last_client == "Google-Calendar-Importer" and row.last_fetched_at is not None
    login(client, sam)
    page = client.get("/profile").get_data(as_text=True)
    assert "Google-Calendar-Importer" in page and "Last fetched" in page
    assert not any(token in m for m in no_secrets_in_logs.records)


def test_a_new_user_copies_the_link_from_the_profile_page_and_it_works(client, ward):
    sam = ward["sam"]
    shift(ward["team"], ward["night"], now_utc() + timedelta(days=4), assignee=sam)
    login(client, sam)
    page = client.get("/profile").get_data(as_text=True)
    assert 'data-testid="create-mine"' in page and "sbcal_" not in page
    assert client.post("/profile/calendar-feeds/mine/rotate").status_code == 302
    page = client.get("/profile").get_data(as_text=True)
    https = re.search(r'value="(http://localhost/calendar/(sbcal_[^"]+)\.ics)"', page)
    assert https, "the profile page shows the https link"
    assert f'href="webcal://localhost/calendar/{https.group(2)}.ics"' in page
    assert 'src="data:image/svg+xml;base64,' in page  # QR code, no external request
    assert "Google Calendar" in page and "Outlook" in page and "Apple Calendar" in page
    assert "<script>" not in page and "onclick" not in page and "style=" not in page
    _, js = fetch(client, https.group(2))
    assert len(js) == 1
    # Rotating from the page kills the copied link at once.
    assert client.post("/profile/calendar-feeds/mine/rotate").status_code == 302
    assert client.get(path(https.group(2))).status_code == 410
    assert client.post("/profile/calendar-feeds/mine/revoke").status_code == 302
    assert "sbcal_" not in client.get("/profile").get_data(as_text=True)


def test_team_feed_for_coordinators_and_staff_only_when_the_team_allows(client, ward):
    team, sam, alex, manager, night = ward["team"], ward["sam"], ward["alex"], ward["manager"], ward["night"]
    base = now_utc().replace(microsecond=0) + timedelta(days=1)
    shift(team, night, base, assignee=sam)
    shift(team, night, base + timedelta(days=1), assignee=alex)
    gap = shift(team, night, base + timedelta(days=2))
    shift(team, night, base + timedelta(days=120), assignee=sam)  # beyond the team feed's 3 months
    resp, js = fetch(client, issue(manager, FeedKind.team))
    summaries = sorted(e["summary"] for e in js.values())
    assert summaries == ["Alex Okafor: Night · Ward 7B", "Open: Night · Ward 7B", "Sam Patel: Night · Ward 7B"]
    assert js[f"shift-{gap.id}.team@localhost"]["status"] == "CONFIRMED"
    text = resp.data.decode()
    for person in (sam, alex, manager):  # no colleague contact details
        assert person.email not in text and person.mobile not in text and person.mobile[-6:] not in text
    assert b"TRANSP:OPAQUE" not in resp.data  # someone else's shift never makes me look busy

    login(client, sam)
    refused = client.post("/api/v1/me/calendar-feeds/team/rotate")
    assert refused.status_code == 403
    client.post("/auth/logout")
    login(client, manager)
    assert client.post(f"/profile/calendar-feeds/teams/{team.id}/staff-access", data={"allow": "1"}).status_code == 302
    client.post("/auth/logout")
    login(client, sam)
    ok = client.post("/api/v1/me/calendar-feeds/team/rotate")
    assert ok.status_code == 200
    token = ok.get_json()["url"].rsplit("/", 1)[1].removesuffix(".ics")
    _, staff_view = fetch(client, token)
    assert len(staff_view) == 3


def test_staff_cannot_change_the_team_setting(client, ward):
    login(client, ward["sam"])
    resp = client.post(f"/profile/calendar-feeds/teams/{ward['team'].id}/staff-access", data={"allow": "1"})
    assert resp.status_code == 403


def test_open_shift_feed_is_opt_in_and_lists_only_what_i_may_take(client, ward):
    team, sam, night = ward["team"], ward["sam"], ward["night"]
    base = now_utc().replace(microsecond=0) + timedelta(days=2)
    fits = shift(team, night, base)
    needs_band7 = shift(team, night, base + timedelta(days=1), required_grade="Band 7")
    needs_skill = shift(team, night, base + timedelta(days=2), required_skills=["Chemo-trained"])
    shift(team, night, base + timedelta(days=3), assignee=sam)
    clash = shift(team, night, base + timedelta(days=3, hours=2))
    overview = {f["kind"]: f for f in feeds.feeds_overview(sam)}
    assert overview["open"]["active"] is False  # nothing until asked for
    _, js = fetch(client, issue(sam, FeedKind.open))
    ids = {int(uid.split("@")[0].split(".")[0].removeprefix("shift-")) for uid in js}
    assert fits.id in ids
    assert not ids & {needs_band7.id, needs_skill.id, clash.id}
    assert all(e["summary"].startswith("Open: ") for e in js.values())


def test_reminder_setting_adds_an_alarm_to_my_shifts(client, ward):
    sam = ward["sam"]
    shift(ward["team"], ward["night"], now_utc() + timedelta(days=2), assignee=sam)
    token = issue(sam)
    _, before = fetch(client, token)
    assert all(e["alarms"] == [] for e in before.values())
    login(client, sam)
    assert client.post("/profile/calendar-feeds/reminder", data={"cal-minutes": "60"}).status_code == 302
    _, after = fetch(client, token)
    assert all(e["alarms"] == ["-PT1H"] for e in after.values())
    assert client.post("/profile/calendar-feeds/reminder", data={"cal-minutes": "7"}).status_code == 422


def test_api_lists_rotates_and_revokes(client, ward, make, bearer):
    sam = ward["sam"]
    headers = bearer(make.token(sam))
    listed = client.get("/api/v1/me/calendar-feeds", headers=headers).get_json()["items"]
    assert [f["kind"] for f in listed] == ["mine", "team", "open"]
    assert all(f["url"] is None for f in listed)
    first = client.post("/api/v1/me/calendar-feeds/mine/rotate", headers=headers).get_json()
    assert first["active"] and first["url"].startswith("http://localhost/calendar/sbcal_m")
    assert first["webcal_url"].startswith("webcal://localhost/calendar/")
    token = first["url"].rsplit("/", 1)[1].removesuffix(".ics")
    assert len(token) >= 6 + 1 + 22  # at least 128 bits of base64url after the prefix
    second = client.post("/api/v1/me/calendar-feeds/mine/rotate", headers=headers).get_json()
    assert second["url"] != first["url"]
    assert client.get(path(token)).status_code == 410
    bad = client.post("/api/v1/me/calendar-feeds/nope/rotate", headers=headers)
    assert bad.status_code == 404 and bad.mimetype == "application/problem+json"
    assert client.delete("/api/v1/me/calendar-feeds/mine", headers=headers).status_code == 204
    assert client.get(second["url"].replace("http://localhost", "")).status_code == 410
    stored = db.session.scalars(select(CalendarFeed.token_hash)).all()
    assert all(h is None or token not in h for h in stored)


def test_tokens_are_stored_hashed_never_in_clear(ward):
    token = issue(ward["sam"])
    row = db.session.scalar(select(CalendarFeed))
    assert token not in (row.token_hash or "") and token not in (row.nonce or "")
    assert row.token_hash == feeds.token_digest(token)


def test_query_count_does_not_grow_with_the_number_of_shifts(client, ward, frozen):
    team, sam, night = ward["team"], ward["sam"], ward["night"]
    token = issue(sam)
    client.get(path(token))  # the first fetch also writes the fetch record
    counts = []
    for n in (3, 30):
        start = frozen + timedelta(days=len(counts) * 100)
        for i in range(n):
            shift(team, night, start + timedelta(days=i), assignee=sam)
        with count_queries() as seen:
            resp = client.get(path(token))
        counts.append(len(seen))
        assert check_feed(resp.data) and len(resp.data.split(b"BEGIN:VEVENT")) - 1 == (3 if n == 3 else 33)
    assert counts[0] == counts[1] == 3  # find + validate, my shifts, my releases


def test_tokens_never_reach_the_request_log(live_server, ward, no_secrets_in_logs, monkeypatch):
    import logging
    import urllib.request

    # Alembic's logging set-up (run when the suite migrates) disables the werkzeug logger; `flask run` has it on.
    monkeypatch.setattr(logging.getLogger("werkzeug"), "disabled", False)
    token = issue(ward["sam"])
    with urllib.request.urlopen(f"{live_server.url}/calendar/{token}.ics") as resp:
        assert resp.status == 200
    lines = [m for m in no_secrets_in_logs.records if "/calendar/" in m]
    assert lines, "the development server logged the request line"
    assert all(token not in m and "sbcal_[redacted]" in m for m in lines)


def test_deactivated_people_lose_their_feeds(client, ward, make):
    admin = make.admin()
    token = issue(ward["sam"])
    accounts.set_active(ward["sam"], False, actor=admin)
    db.session.commit()
    assert client.get(path(token)).status_code == 410
    assert TeamRole.staff  # membership is untouched; only the link stops working


def test_without_public_base_url_links_use_the_address_the_person_reached_the_app_on(app, client, ward):
    """`make run PORT=5300` with no PUBLIC_BASE_URL handed out dead :5000 links; now the link is the page's own
    address. Event UIDs do not follow the address (they must never change), so they keep the old default host."""
    app.config["PUBLIC_BASE_URL"] = ""
    sam = ward["sam"]
    issue(sam)
    here = "http://10.20.30.40:5300"
    client.post("/auth/login", data={"email": sam.email, "password": TEST_PASSWORD}, base_url=here)
    page = client.get("/profile", base_url=here).get_data(as_text=True)
    assert re.search(r'value="http://10\.20\.30\.40:5300/calendar/[^"]+\.ics"', page)
    assert 'href="webcal://10.20.30.40:5300/calendar/' in page
    assert "127.0.0.1:5000" not in page
    assert feed_fetch._uid_domain() == "127.0.0.1"
    app.config["PUBLIC_BASE_URL"] = "https://rota.example.nhs.uk"
    page = client.get("/profile", base_url=here).get_data(as_text=True)
    assert 'value="https://rota.example.nhs.uk/calendar/' in page


def test_profile_explains_subscribing_on_an_android_phone_alone(client, ward):
    """Android's Google Calendar app cannot add a URL: the page gives two ways that need no computer."""
    issue(ward["sam"])
    login(client, ward["sam"])
    page = client.get("/profile").get_data(as_text=True)
    android = page[page.index('data-testid="android-mine"'):]
    android = android[:android.index("</details>")]
    assert "ICSx⁵" in android and "Subscribe on this device" in android and "Desktop site" in android
    assert "on a computer" not in page.split('data-testid="qr-mine"')[1].split("</details>")[0]


def test_team_feed_rebuilt_after_changes_equals_a_fresh_build(client, ward, app):
    """A team feed rebuilt after edits reuses the unchanged events (their rows and bytes, kept with the cached feed)
    and must equal the feed built from nothing: an edited shift, a renamed person, a cancellation all show."""
    team, sam, alex, manager, night = ward["team"], ward["sam"], ward["alex"], ward["manager"], ward["night"]
    base = now_utc().replace(microsecond=0) + timedelta(days=1)
    shifts = [shift(team, night, base + timedelta(days=d), assignee=(sam, alex)[d % 2]) for d in range(6)]
    token = issue(manager, FeedKind.team)
    fetch(client, token)
    shifts[1].note = "bring the keys"
    shifts[2].starts_at += timedelta(hours=1)
    shifts[2].ends_at += timedelta(hours=1)
    shifts[2].version += 1
    alex.display_name = "Alex Okafor-Smith"
    shifts[3].state, shifts[3].assignee_id, shifts[3].cancel_reason = ShiftState.cancelled, None, "ward closed"
    db.session.commit()
    time.sleep(1.1)  # the validator moves on with the second of the last change
    rebuilt, js = fetch(client, token)
    app.extensions.pop("calendar_feed_bytes")
    fresh = client.get(path(token))
    assert rebuilt.data == fresh.data
    assert "Alex Okafor-Smith: Night · Ward 7B" in {e["summary"] for e in js.values()}
    assert js[f"shift-{shifts[3].id}.team@localhost"]["status"] == "CANCELLED"


def test_a_team_feed_that_many_calendars_ask_for_at_once_is_built_once(app, ward, live_server):
    """A cold team feed (after a restart, or its first change of the morning) asked for by several calendar servers
    at the same moment: one request builds it and the others wait for its bytes. Before, every thread built the
    whole feed at once (the server bench saw 824 ms of CPU a request in one round for a 1,000-person team)."""
    team, manager, sam, night = ward["team"], ward["manager"], ward["sam"], ward["night"]
    base = now_utc().replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=1)
    db.session.add_all(Shift(team_id=team.id, shift_type_id=night.id, starts_at=base + timedelta(hours=3 * i),
                             ends_at=base + timedelta(hours=3 * i + 2), assignee_id=sam.id,
                             state=ShiftState.scheduled) for i in range(700))  # a team feed shows 3 months
    token = issue(manager, FeedKind.team)
    db.session.commit()
    app.extensions.pop("calendar_feed_bytes", None)
    start = threading.Barrier(6)

    def get(_):
        start.wait()
        with urllib.request.urlopen(live_server.url + path(token), timeout=60) as answer:
            return answer.status, answer.read()

    with count_queries() as seen, ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(get, range(6)))
    assert {status for status, _ in answers} == {200}
    assert len({body for _, body in answers}) == 1 and answers[0][1].count(b"BEGIN:VEVENT") == 700
    builds = [q for q in seen if "users.display_name" in q and "JOIN teams" in q]
    assert len(builds) == 1, f"the feed was built {len(builds)} times"


def test_a_calendar_fetch_on_postgresql_is_never_jit_compiled(client, ward, engine_name):
    """PostgreSQL compiles a statement whose estimated cost passes ``jit_above_cost`` to machine code first. The
    personal feed's validator is one statement with a dozen subqueries, estimated far above it: LLVM spent 1.9 s on
    every fetch (EXPLAIN ANALYZE: 'JIT ... Total 1918 ms', execution 0.5 ms), so each calendar poll cost seconds of
    database CPU. The app's connections switch JIT off (core.db)."""
    if engine_name != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    shift(ward["team"], ward["night"], now_utc() + timedelta(days=2), assignee=ward["sam"])
    token = issue(ward["sam"])
    found = feed_fetch.find_feed(token)
    assert found is not None
    day = feed_fetch.as_of_day()
    window = feed_fetch.Window.for_day(day, FeedKind.mine)
    compiled = feed_fetch._personal_feed_statement(FeedKind.mine).compile(dialect=db.engine.dialect)
    params = dict(compiled.params) | {"token_hash": feeds.token_digest(token), "day": day,
                                      "window_start": window.start, "window_end": window.end,
                                      "cancelled_since": window.cancelled_since}
    cursor = db.session.connection().connection.driver_connection.cursor()
    cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled), params)
    plan = cursor.fetchone()[0][0]
    assert plan["Plan"]["Total Cost"] > 100_000  # what PostgreSQL's default jit_above_cost would compile
    assert "JIT" not in plan, plan.get("JIT")
