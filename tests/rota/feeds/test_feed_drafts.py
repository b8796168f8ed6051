"""Calendar feeds carry only what the pages show staff: shifts of a draft (unpublished) rota period stay out of
every feed — personal, team and open-shift — until the period is published (issue #13, item 4)."""

from __future__ import annotations

from datetime import timedelta

from core.db import db, now_utc
from rota.assignment import set_assignee
from rota.feeds import service as feeds
from rota.feeds.models import FeedKind
from rota.models import PeriodState, RotaPeriod
from tests.conftest import login
from tests.rota.feeds.helpers import check_feed, shift


def _token(user, kind) -> str:
    _, token = feeds.rotate(user, kind, actor=user)
    db.session.commit()
    return token


def _uids(client, token, **headers):
    resp = client.get(f"/calendar/{token}.ics", headers=headers)
    assert resp.status_code in (200, 304), resp.status_code
    return resp, (set(check_feed(resp.data)) if resp.status_code == 200 else None)


def _draft_period(team, first, last) -> RotaPeriod:
    period = RotaPeriod(team_id=team.id, first_day=first, last_day=last, state=PeriodState.draft)
    db.session.add(period)
    db.session.commit()
    return period


def test_draft_shifts_stay_out_of_personal_team_and_open_feeds_until_published(client, ward, bearer, make):
    team, sam, alex, manager, night = ward["team"], ward["sam"], ward["alex"], ward["manager"], ward["night"]
    start = now_utc().replace(microsecond=0) + timedelta(days=3)
    period = _draft_period(team, start.date() - timedelta(days=1), start.date() + timedelta(days=6))
    drafted = shift(team, night, start, assignee=sam, rota_period_id=period.id)
    draft_gap = shift(team, night, start + timedelta(days=1), rota_period_id=period.id)
    plain = shift(team, night, start + timedelta(days=10), assignee=sam)  # outside any period: visible at once
    domain = "localhost"
    mine, team_feed, staff_team, open_feed = (_token(sam, FeedKind.mine), _token(manager, FeedKind.team),
                                              None, _token(alex, FeedKind.open))
    login(client, manager)
    assert client.post(f"/profile/calendar-feeds/teams/{team.id}/staff-access", data={"allow": "1"}).status_code == 302
    client.post("/auth/logout")
    staff_team = _token(alex, FeedKind.team)

    # The pages and the API hide the draft from staff ...
    sam_token = make.token(sam)
    listed = client.get(f"/api/v1/shifts?team_id={team.id}", headers=bearer(sam_token)).get_json()["items"]
    assert [s["id"] for s in listed] == [plain.id]
    # ... and so does every feed.
    first_mine, uids = _uids(client, mine)
    assert uids == {f"shift-{plain.id}@{domain}"}
    _, uids = _uids(client, team_feed)
    assert uids == {f"shift-{plain.id}.team@{domain}"}, "a coordinator's team feed is a bearer link: no drafts either"
    first_staff_team, uids = _uids(client, staff_team)
    assert uids == {f"shift-{plain.id}.team@{domain}"}
    _, uids = _uids(client, open_feed)
    assert f"shift-{draft_gap.id}.open@{domain}" not in uids

    # A draft shift taken away from Sam again never shows up as a "Cancelled" entry in Sam's calendar.
    set_assignee(drafted, alex, actor=manager)
    db.session.commit()
    _, uids = _uids(client, mine)
    assert uids == {f"shift-{plain.id}@{domain}"}

    # Publishing makes them appear, and a calendar holding the old copy is not told "304 Not Modified".
    login(client, manager)
    assert client.post(f"/api/v1/rota-periods/{period.id}/publish").status_code == 200
    client.post("/auth/logout")
    resp, uids = _uids(client, staff_team, **{"If-None-Match": first_staff_team.headers["ETag"],
                                              "If-Modified-Since": first_staff_team.headers["Last-Modified"]})
    assert resp.status_code == 200
    assert uids == {f"shift-{plain.id}.team@{domain}", f"shift-{drafted.id}.team@{domain}",
                    f"shift-{draft_gap.id}.team@{domain}"}
    alex_mine = _token(alex, FeedKind.mine)
    _, uids = _uids(client, alex_mine)
    assert uids == {f"shift-{drafted.id}@{domain}"}
    resp, uids = _uids(client, mine, **{"If-Modified-Since": first_mine.headers["Last-Modified"]})
    assert resp.status_code == 200 and f"shift-{drafted.id}@{domain}" in uids  # released from Sam after publishing


def test_publishing_a_period_planned_long_ago_still_reaches_a_calendar_that_asks_if_modified_since(client, ward):
    """The shifts were drafted days before the calendar last polled, so nothing about them is newer than its copy:
    only the publication is. The feed's Last-Modified must move with it, or the calendar is told 304 for ever."""
    team, sam, manager, night = ward["team"], ward["sam"], ward["manager"], ward["night"]
    long_ago = now_utc() - timedelta(days=3)
    start = now_utc().replace(microsecond=0) + timedelta(days=3)
    period = _draft_period(team, start.date() - timedelta(days=1), start.date() + timedelta(days=6))
    drafted = shift(team, night, start, assignee=sam, rota_period_id=period.id, created_at=long_ago,
                    updated_at=long_ago)
    mine = _token(sam, FeedKind.mine)
    first, uids = _uids(client, mine)
    assert uids == set()
    login(client, manager)
    assert client.post(f"/api/v1/rota-periods/{period.id}/publish").status_code == 200
    client.post("/auth/logout")
    resp, uids = _uids(client, mine, **{"If-Modified-Since": first.headers["Last-Modified"]})
    assert resp.status_code == 200 and uids == {f"shift-{drafted.id}@localhost"}
