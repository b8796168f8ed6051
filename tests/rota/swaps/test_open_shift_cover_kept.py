"""The open-shifts list keeps each slot's cover (who holds the night, what the night needs) between requests, under
the team's change stamps (issue #19: the list cost 10x a trivial request, 40 % of it re-reading the same slots). Every
write that changes a slot's cover must show in the next list: a new requirement, a holder's staff group or grade, a
new holder, a holder leaving, a coordinator's gap opening. Each test lists twice first, so that the second answer
came from what was kept."""

from __future__ import annotations

from core import timeutil
from core.db import db
from rota import services
from rota.models import Shift, ShiftState
from tests.conftest import count_queries
from tests.rota.swaps import factories as data
from tests.rota.swaps.test_swaps_cover import NightWard


def _cover(client, bearer, make, w: NightWard, shift_id: int) -> list[dict]:
    for _ in range(2):
        r = client.get(f"/api/v1/open-shifts?team_id={w.team.id}", headers=bearer(make.token(w.rns[3])))
        assert r.status_code == 200, r.json
    item = next(i for i in r.json["items"] if i["shift"]["id"] == shift_id)
    return [(c["requirement"], c["before"], c["after"], c["minimum"]) for c in item["cover"]]


def _open_night(w: NightWard) -> Shift:
    return data.shift(w.team, starts_at=w.night.starts_at, hours=12.5, stype=w.night_type)


def _add_band6_clause(w: NightWard) -> None:
    """Nights also need one registered nurse at Band 6 or above."""
    services.create_requirement(w.team, shift_type=w.night_type, min_count=1, staff_group="nursing",
                                min_grade="Band 6", actor=w.coordinator)
    db.session.commit()


def test_a_new_requirement_shows_in_the_next_list(client, make, bearer):
    w = NightWard(make, nurses_on=2)
    gap = _open_night(w)
    assert _cover(client, bearer, make, w, gap.id) == [("registered nurses", 2, 3, 3)]
    _add_band6_clause(w)
    assert _cover(client, bearer, make, w, gap.id) == [("registered nurses", 2, 3, 3),
                                                       ("registered nurses at Band 6 or above", 0, 0, 1)]


def test_a_holders_new_staff_group_or_grade_shows_in_the_next_list(client, make, bearer):
    w = NightWard(make, nurses_on=2)
    gap = _open_night(w)
    _add_band6_clause(w)
    assert _cover(client, bearer, make, w, gap.id)[1] == ("registered nurses at Band 6 or above", 0, 0, 1)
    w.rns[0].grade = "Band 6"  # promoted (the people page writes it so)
    db.session.commit()
    assert _cover(client, bearer, make, w, gap.id) == [("registered nurses", 2, 3, 3),
                                                       ("registered nurses at Band 6 or above", 1, 1, 1)]
    w.rns[1].staff_group = "support"  # recorded in the wrong group, corrected
    db.session.commit()
    assert _cover(client, bearer, make, w, gap.id) == [("registered nurses", 1, 2, 3),
                                                       ("registered nurses at Band 6 or above", 1, 1, 1)]


def test_a_new_holder_or_one_leaving_shows_in_the_next_list(client, make, bearer):
    w = NightWard(make, nurses_on=2)
    gap = _open_night(w)
    assert _cover(client, bearer, make, w, gap.id) == [("registered nurses", 2, 3, 3)]
    data.shift(w.team, starts_at=w.night.starts_at, hours=12.5, stype=w.night_type, assignee=w.rns[4])
    assert _cover(client, bearer, make, w, gap.id) == [("registered nurses", 3, 4, 3)]
    w.nights[1].state = ShiftState.cancelled
    db.session.commit()
    assert _cover(client, bearer, make, w, gap.id) == [("registered nurses", 2, 3, 3)]


def test_a_gap_the_coordinator_opens_shows_in_the_next_list(client, make, bearer):
    w = NightWard(make, nurses_on=1)
    gap = _open_night(w)
    assert _cover(client, bearer, make, w, gap.id) == [("registered nurses", 1, 2, 3)]
    req = services.requirements(w.team)[0]
    day = timeutil.local_date(gap.starts_at, w.team.timezone)
    opened = services.open_gap(w.team, requirement=req, day=day, actor=w.coordinator)
    db.session.commit()
    # The opened place is for a registered nurse: the clause counts it as a place, so the list shows it too.
    r = client.get(f"/api/v1/open-shifts?team_id={w.team.id}", headers=bearer(make.token(w.rns[3])))
    assert opened.id in {i["shift"]["id"] for i in r.json["items"]}
    assert _cover(client, bearer, make, w, opened.id) == [("registered nurses", 1, 2, 3)]


def test_a_list_asked_for_again_reads_no_slot_again(client, make, bearer, app):
    w = NightWard(make, nurses_on=2)
    _open_night(w)
    headers = bearer(make.token(w.rns[3]))
    url = f"/api/v1/open-shifts?team_id={w.team.id}"
    client.get(url, headers=headers)
    app.extensions.pop("cover_slots", None)
    with count_queries() as cold:
        client.get(url, headers=headers)
    with count_queries() as warm:
        assert client.get(url, headers=headers).status_code == 200
    slot_reads = [q for q in cold if "staffing_requirements" in q or "shift_releases" in q]
    assert slot_reads, "the first list reads the slots"
    assert not [q for q in warm if "staffing_requirements" in q or "shift_releases" in q]
    assert len(warm) < len(cold)


def test_the_team_filter_shows_a_team_only_to_whom_it_concerns(client, make, bearer):
    """A member lists their team; an outsider and anyone asking for a team that does not exist get 404, an
    administrator too for a missing team (the filter reads no team row for a member)."""
    w = NightWard(make, nurses_on=2)
    gap = _open_night(w)
    outsider = make.user(display_name="Other Ward Nurse", grade="Band 5")
    make.team("Ward 9", staff=[outsider])
    admin = make.user(display_name="Trust Admin", is_admin=True)
    db.session.commit()

    def ask(user, team_id):
        return client.get(f"/api/v1/open-shifts?team_id={team_id}", headers=bearer(make.token(user)))

    assert gap.id in {i["shift"]["id"] for i in ask(w.rns[3], w.team.id).json["items"]}
    assert ask(outsider, w.team.id).status_code == 404
    assert ask(w.rns[3], 987654).status_code == 404
    assert ask(admin, w.team.id).status_code == 200
    assert ask(admin, 987654).status_code == 404


def test_a_list_reads_its_teams_stamps_with_its_gaps(client, make, bearer, app):
    """The stamps the slots are kept under come with the gaps, in the same statement: no statement of their own,
    and a write to the slot after one list still shows in the next (``test_a_new_holder...`` above too)."""
    w = NightWard(make, nurses_on=2)
    gap = _open_night(w)
    headers = bearer(make.token(w.rns[3]))
    url = f"/api/v1/open-shifts?team_id={w.team.id}"
    assert _cover(client, bearer, make, w, gap.id) == [("registered nurses", 2, 3, 3)]
    with count_queries() as warm:
        assert client.get(url, headers=headers).status_code == 200
    stamp_reads = [q for q in warm if "calendar_feed_stamps" in q]
    assert len(stamp_reads) == 1 and "open_shift_volunteers" in stamp_reads[0], stamp_reads
    data.shift(w.team, starts_at=w.night.starts_at, hours=12.5, stype=w.night_type, assignee=w.rns[4])
    assert _cover(client, bearer, make, w, gap.id) == [("registered nurses", 3, 4, 3)]
