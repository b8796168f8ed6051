"""A team calendar feed answers an unchanged poll with 304 from its teams' change stamps alone (issue #22), so every
kind of write that changes what the feed shows must change its validator: a missed one leaves a stale calendar.
Each case below fetches the feed, makes one change the way the application makes it, and polls with the old ETag."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from core import accounts
from core.accounts import Membership, TeamRole
from core.db import db, now_utc
from rota.assignment import set_assignee
from rota.feeds import fetch, ical
from rota.feeds import service as feeds
from rota.feeds.models import FeedKind
from rota.models import PeriodState, RotaPeriod, Shift
from rota.services.leave import record_leave
from rota.services.periods import publish_period
from rota.services.shifts import cancel_shift
from tests.conftest import count_queries
from tests.rota.feeds.helpers import check_feed, shift


def _path(token: str) -> str:
    return f"/calendar/{token}.ics"


@pytest.fixture
def rota(ward, make):
    team, sam, alex, manager, night = ward["team"], ward["sam"], ward["alex"], ward["manager"], ward["night"]
    base = now_utc().replace(microsecond=0) + timedelta(days=2)
    first = base.date() + timedelta(days=20)
    period = RotaPeriod(team_id=team.id, first_day=first, last_day=first + timedelta(days=6),
                        state=PeriodState.draft)
    db.session.add(period)
    db.session.commit()
    drafted = shift(ward["team"], night, base + timedelta(days=21), assignee=alex, rota_period_id=period.id)
    held = [shift(team, night, base + timedelta(days=d), assignee=(sam, alex)[d % 2]) for d in range(4)]
    other_coord = make.user(display_name="Olu Other")
    other = make.team("Ward 9", coordinators=[other_coord], staff=[])
    _, token = feeds.rotate(manager, FeedKind.team, actor=manager)
    db.session.commit()
    return {**ward, "base": base, "period": period, "drafted": drafted, "held": held, "token": token,
            "other": other, "make": make}


def _add_shift(r):
    shift(r["team"], r["night"], r["base"] + timedelta(days=9), assignee=r["sam"])


def _move_shift(r):
    s = r["held"][0]
    s.starts_at, s.ends_at = s.starts_at + timedelta(hours=1), s.ends_at + timedelta(hours=1)
    db.session.commit()


def _reassign(r):
    set_assignee(r["held"][0], r["alex"], actor=r["manager"])
    db.session.commit()


def _cancel(r):
    cancel_shift(r["held"][1], reason="ward closed", actor=r["manager"])
    db.session.commit()


def _delete_shift(r):
    db.session.delete(r["held"][2])
    db.session.commit()


def _publish(r):
    publish_period(r["period"], actor=r["manager"])
    db.session.commit()


def _rename_shift_type(r):
    r["night"].name = "Long night"
    db.session.commit()


def _rename_team(r):
    r["team"].name = "Ward 7C"
    db.session.commit()


def _rename_person(r):
    r["alex"].display_name = "Alex Okafor-Smith"
    db.session.commit()


def _join(r):
    accounts.add_member(r["team"], r["make"].user(display_name="New Starter"), TeamRole.staff)
    db.session.commit()


def _leave_team(r):
    db.session.delete(db.session.scalar(select(Membership).where(Membership.user_id == r["alex"].id)))
    db.session.commit()


def _leave(r):
    day = r["held"][1].starts_at.date()
    record_leave(r["alex"], kind="annual", first_day=day, last_day=day, actor=r["manager"], team=r["team"])
    db.session.commit()


def _staff_may_subscribe(r):
    feeds.set_staff_may_subscribe(r["team"], True, actor=r["manager"])
    db.session.commit()


def _claimed_by_statement(r):
    """A swap or claim moves the shift on with one conditional UPDATE statement (``rota.swaps``), not the ORM."""
    db.session.execute(update(Shift).where(Shift.id == r["held"][3].id).values(version=Shift.version + 1)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def _deleted_by_statement(r):
    db.session.execute(delete(Shift).where(Shift.id == r["held"][3].id).execution_options(synchronize_session=False))
    db.session.commit()


CHANGES = {
    "a shift is added": _add_shift, "a shift's times change": _move_shift, "a shift is reassigned": _reassign,
    "a shift is cancelled": _cancel, "a shift is deleted": _delete_shift, "the rota period is published": _publish,
    "a shift type is renamed": _rename_shift_type, "the team is renamed": _rename_team,
    "a person is renamed": _rename_person, "someone joins the team": _join, "someone leaves the team": _leave_team,
    "leave is recorded": _leave, "staff may subscribe": _staff_may_subscribe,
    "a shift is claimed by an UPDATE statement": _claimed_by_statement,
    "a shift is deleted by a DELETE statement": _deleted_by_statement,
}


@pytest.mark.parametrize("change", CHANGES)
def test_every_kind_of_change_reaches_a_subscribed_team_calendar(client, rota, change):
    token = rota["token"]
    first = client.get(_path(token))
    assert first.status_code == 200
    unchanged = client.get(_path(token), headers={"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304
    CHANGES[change](rota)
    polled = client.get(_path(token), headers={"If-None-Match": first.headers["ETag"]})
    assert polled.status_code == 200, f"{change}: the calendar was told its old copy is current"
    assert polled.headers["ETag"] != first.headers["ETag"]
    check_feed(polled.data)
    # Rebuilt from the cached rows and bytes of the unchanged shifts, it is exactly the feed written from nothing.
    with client.application.test_request_context("/"):
        assert polled.data == ical.render(fetch.build_calendar(fetch.find_feed(token)))
    client.application.extensions.pop("calendar_feed_bytes", None)
    assert client.get(_path(token)).data == polled.data


def test_another_teams_changes_and_a_rolled_back_change_leave_the_feed_alone(client, rota):
    token = rota["token"]
    first = client.get(_path(token))
    other_type = rota["night"].__class__(team_id=rota["other"].id, code="E", name="Early", start_local=rota[
        "night"].start_local, duration_minutes=480, kind=rota["night"].kind)
    db.session.add(other_type)
    db.session.commit()
    shift(rota["other"], other_type, rota["base"] + timedelta(days=1))
    rota["held"][0].ends_at += timedelta(hours=1)
    db.session.flush()
    db.session.rollback()
    polled = client.get(_path(token), headers={"If-None-Match": first.headers["ETag"]})
    assert polled.status_code == 304


def test_an_unchanged_team_feed_answers_304_from_one_query_without_reading_shifts(client, rota):
    token = rota["token"]
    first = client.get(_path(token))
    client.get(_path(token))  # the fetch record is written at most once in a while; not in the counted request
    with count_queries() as seen:
        resp = client.get(_path(token), headers={"If-None-Match": first.headers["ETag"]})
    assert resp.status_code == 304
    assert len(seen) <= 2, seen
    assert not any("shifts" in statement for statement in seen), seen


PERSONAL_CHANGES = {"a shift type is renamed": (_rename_shift_type, "Long night"),
                    "the team is renamed": (_rename_team, "Ward 7C")}


@pytest.mark.parametrize("kind", [FeedKind.mine, FeedKind.open])
@pytest.mark.parametrize("change", PERSONAL_CHANGES)
def test_a_rename_reaches_personal_and_open_shift_calendars_at_the_next_poll(client, rota, kind, change):
    """My shifts and open shifts show the shift type's and the team's names: their validator follows the change
    stamps of the teams they cover, as the team feed's does, so a rename is not held back until the next day."""
    sam = rota["sam"]
    shift(rota["team"], rota["night"], rota["base"] + timedelta(days=10))  # an open shift Sam may take
    _, token = feeds.rotate(sam, kind, actor=sam)
    db.session.commit()
    first = client.get(_path(token))
    assert first.status_code == 200 and b"Night" in first.data
    assert client.get(_path(token), headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    make_change, shown = PERSONAL_CHANGES[change]
    make_change(rota)
    polled = client.get(_path(token), headers={"If-None-Match": first.headers["ETag"]})
    assert polled.status_code == 200, f"{change}: the calendar was told its old copy is current"
    assert shown.encode() in polled.data
    check_feed(polled.data)
    with client.application.test_request_context("/"):
        assert polled.data == ical.render(fetch.build_calendar(fetch.find_feed(token)))
