"""The open-shifts page and ``GET /api/v1/open-shifts`` (issue #22: made cheaper) tell a nurse exactly what the one
eligibility service (``eligibility.assess``, used when they press "I'll take it") would tell them for each gap —
including gaps on the nights the clocks change, gaps on leave, overlapping their own shift, too soon after a night,
needing a higher grade or a skill, and gaps of a second team in another zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.db import db
from rota.models import Leave, LeaveKind
from rota.swaps import eligibility
from tests.conftest import login
from tests.factories import ward as shared_ward
from tests.rota.swaps import factories as data

LONDON = ZoneInfo("Europe/London")


def _last_sunday(year: int, month: int) -> date:
    d = date(year, month, 31)
    return d - timedelta(days=(d.weekday() + 1) % 7)


def _next_clock_changes() -> list[date]:
    today = datetime.now(UTC).date() + timedelta(days=2)
    days = sorted(_last_sunday(y, m) for y in (today.year, today.year + 1) for m in (3, 10))
    return [d for d in days if d > today][:2]


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


def _seeded(make):
    home = shared_ward(make, 3, tz="Europe/London")
    other = shared_ward(make, 1, tz="America/New_York", name="Ward NY")
    nurse = home.staff[0]
    data.settings(other.team, pool_team_ids=[home.team.id])  # home's staff may take the other ward's gaps
    night, early = home.types["N"], home.types["E"]
    gaps = []
    for change in _next_clock_changes():  # the Saturday night across the clock change, and the Sunday early after
        eve = change - timedelta(days=1)
        data.shift(home.team, starts_at=_local(eve - timedelta(days=1), 19, 30), hours=12.5, stype=night,
                   assignee=nurse, commit=False)  # the nurse works the Friday night
        gaps.append(data.shift(home.team, starts_at=_local(eve, 19, 30), hours=12.5, stype=night, commit=False))
        gaps.append(data.shift(home.team, starts_at=_local(change, 7), stype=early, commit=False))
    mine = data.shift(home.team, starts_at=data.soon(4, hour=7), stype=early, assignee=nurse, commit=False)
    gaps.append(data.shift(home.team, starts_at=mine.starts_at + timedelta(hours=2), stype=early, commit=False))
    gaps.append(data.shift(home.team, starts_at=mine.ends_at + timedelta(hours=3), stype=early, commit=False))
    gaps.append(data.shift(home.team, starts_at=data.soon(6), stype=early, required_grade="Band 7", commit=False))
    gaps.append(data.shift(home.team, starts_at=data.soon(7), stype=early, skills=["Chemo"], commit=False))
    gaps.append(data.shift(home.team, starts_at=data.soon(9), stype=early, commit=False))  # on leave
    gaps.append(data.shift(home.team, starts_at=data.soon(12), stype=early, commit=False))  # nothing against it
    gaps.append(data.shift(other.team, starts_at=data.soon(13, hour=12), stype=other.types["E"], commit=False))
    leave_day = (data.soon(9).astimezone(LONDON)).date()
    db.session.add(Leave(user_id=nurse.id, team_id=home.team.id, kind=LeaveKind.annual, first_day=leave_day,
                         last_day=leave_day))
    db.session.commit()
    return nurse, gaps


def _reference(nurse, gaps):
    """What ``assess`` (the claim's own check) says for each gap: eligible or not, and every verdict."""
    out = {}
    for gap in gaps:
        db.session.expire_all()
        res = eligibility.check(db.session.get(type(gap), gap.id), db.session.get(type(nurse), nurse.id))
        verdicts = sorted((v.rule_id, v.severity, v.message, v.observed) for v in res.verdicts)
        out[gap.id] = (res.ok, verdicts, sorted(res.codes - {"membership"}))
    return out


def test_each_gap_on_the_page_and_in_the_api_gets_the_claims_own_verdict(app, make):
    nurse, gaps = _seeded(make)
    gap_ids = [g.id for g in gaps]
    expected = _reference(nurse, gaps)
    assert {ok for ok, _, _ in expected.values()} == {True, False}  # the ward exercises both answers
    assert any(v for _, v, _ in expected.values())  # and working-time verdicts

    db.session.expire_all()
    listed = {r.shift.id: r for r in eligibility.eligible_open_shifts(db.session.get(type(nurse), nurse.id),
                                                                     include_ineligible=True)}
    assert sorted(listed) == sorted(gap_ids)
    for gid in gap_ids:
        r = listed[gid]
        ok, verdicts, codes = expected[gid]
        got = sorted((v.rule_id, v.severity, v.message, v.observed) for v in r.verdicts)
        assert (r.ok, got) == (ok, verdicts), gid
        assert set(codes) <= r.codes | {"grade", "skills"}, gid  # leave and overlap are named the same way

    client = app.test_client()
    login(client, nurse)
    items = {i["shift"]["id"]: i for i in client.get("/api/v1/open-shifts?per_page=100").json["items"]}
    assert sorted(items) == sorted(gap_ids)
    html = client.get("/open-shifts").get_data(as_text=True)
    for gid in gap_ids:
        ok, verdicts, _ = expected[gid]
        assert items[gid]["eligible"] is ok
        assert sorted(v["message"] for v in items[gid]["verdicts"]) == sorted(m for _, _, m, _ in verdicts)
        card = html[html.index(f'id="open-shift-{gid}"'):]
        card = card[:card.index("</li>")]
        assert (f'data-testid="claim-{gid}"' in card) is ok
        assert ("You cannot take this:" in card) is (not ok)
        for _, severity, message, _ in verdicts:
            if ok or severity == "block":
                assert message.replace("'", "&#39;").replace('"', "&#34;") in card or message in card, (gid, message)
        assert eligibility.describe_shift(db.session.get(type(gaps[0]), gid)) in card
