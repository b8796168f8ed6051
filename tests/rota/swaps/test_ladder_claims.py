"""Neighbouring-ward staff invited to an open shift by a broadcast can claim it — in the app, through the API and by
texting "YES <code>" — while they still pass every other check; anyone not invited gets the refusal."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.db import db
from notifications import broadcasts, worker
from notifications.models import Broadcast, BroadcastRecipient
from rota.compliance.models import PersonComplianceSettings, TeamComplianceSettings
from rota.models import Leave, LeaveKind, Shift
from rota.swaps import eligibility, open_shifts
from rota.swaps.models import OpenShiftPolicy
from tests.conftest import count_queries, login
from tests.notifications.conftest import _twilio_server, app_config, fake_twilio  # noqa: F401  (fixtures)
from tests.notifications.test_webhooks import signed_post
from tests.rota.swaps import factories as data
from tests.rota.swaps import ladder_site


def _ask_neighbours(site, *, channels=("in_app",)) -> Broadcast:
    b = broadcasts.create(site.ward, site.coordinator, audience="neighbouring_wards",
                          params={"shift_id": site.gap.id}, reference=f"shift:{site.gap.id}", kind="open_shift",
                          text="Early Thu on Ward 7B needs an IV-trained nurse", link="/open-shifts",
                          channels=channels, urgent=True)
    db.session.commit()
    return b


def _holder(site):
    db.session.expire_all()
    return db.session.get(Shift, site.gap.id).assignee_id


def test_an_invited_neighbour_claims_through_the_api_and_the_broadcast_shows_it(client, make, bearer):
    site = ladder_site.build(make)
    headers = bearer(make.token(site.next_door))
    before = client.post(f"/api/v1/shifts/{site.gap.id}/claim", headers=headers)
    assert before.status_code == 404 and _holder(site) is None  # not asked yet: an outsider
    ward_gaps = f"/api/v1/open-shifts?team_id={site.ward.id}"
    assert client.get(ward_gaps, headers=headers).status_code == 404
    b = _ask_neighbours(site)
    listed = client.get(ward_gaps, headers=headers)  # the invitation lets them look at that ward's gaps
    assert listed.status_code == 200 and [i["shift"]["id"] for i in listed.json["items"]] == [site.gap.id]
    resp = client.post(f"/api/v1/shifts/{site.gap.id}/claim", headers=headers)
    assert resp.status_code == 200, resp.json
    assert resp.json["outcome"] == "claimed" and _holder(site) == site.next_door.id
    assert db.session.get(Broadcast, b.id).state == "claimed"
    assert db.session.scalar(select(BroadcastRecipient.claimed_at).where(
        BroadcastRecipient.broadcast_id == b.id, BroadcastRecipient.user_id == site.next_door.id)) is not None


def test_an_invited_neighbour_sees_and_takes_it_on_the_open_shifts_board(client, make):
    site = ladder_site.build(make)
    _ask_neighbours(site)
    # A coordinator's free-text reference that names no shift invites nobody to anything (and breaks nothing).
    broadcasts.create(site.ward, site.coordinator, audience="neighbouring_wards", params={"shift_id": site.gap.id},
                      reference="shift:³", kind="open_shift", text="Typo in the reference", channels=("in_app",))
    db.session.commit()
    assert eligibility.invited_shift_ids(site.next_door) == [site.gap.id]
    login(client, site.next_door)
    board = client.get("/open-shifts").get_data(as_text=True)
    assert f'data-testid="claim-{site.gap.id}"' in board and "Ward 7B" in board
    assert client.post(f"/shifts/{site.gap.id}/claim").status_code == 302
    assert "you now work" in client.get("/open-shifts").get_data(as_text=True)
    assert _holder(site) == site.next_door.id


def test_people_not_invited_are_refused_and_nothing_changes(client, make, bearer):
    site = ladder_site.build(make)
    b = _ask_neighbours(site)
    # Another site's nurse was never asked: the shift does not exist for them.
    far = client.post(f"/api/v1/shifts/{site.gap.id}/claim", headers=bearer(make.token(site.far_away)))
    assert far.status_code == 404
    login(client, site.far_away)
    assert f"claim-{site.gap.id}" not in client.get("/open-shifts").get_data(as_text=True)
    assert client.post(f"/shifts/{site.gap.id}/claim").status_code == 404
    # The service's own answer for anyone it is asked about: not a member, not invited.
    refusal = eligibility.check(db.session.get(Shift, site.gap.id), site.far_away)
    assert "membership" in refusal.codes and "not in this team or an allowed pool" in refusal.explain()
    # Once the broadcast is closed, the invitation ends with it.
    broadcasts.close(db.session.get(Broadcast, b.id), site.coordinator)
    db.session.commit()
    late = client.post(f"/api/v1/shifts/{site.gap.id}/claim", headers=bearer(make.token(site.next_door)))
    assert late.status_code == 404 and _holder(site) is None


def test_an_invitation_does_not_excuse_the_other_checks(client, make, bearer):
    site = ladder_site.build(make)
    b = _ask_neighbours(site)
    # Leave is checked when claiming too: someone invited and then booked on leave is refused, with the reason.
    from rota.models import Leave, LeaveKind

    day = site.gap.starts_at.date()
    db.session.add(Leave(user_id=site.next_door.id, kind=LeaveKind.study, first_day=day, last_day=day))
    db.session.commit()
    assert db.session.scalar(select(BroadcastRecipient.id).where(BroadcastRecipient.broadcast_id == b.id,
                                                                 BroadcastRecipient.user_id == site.next_door.id))
    resp = client.post(f"/api/v1/shifts/{site.gap.id}/claim", headers=bearer(make.token(site.next_door)))
    assert resp.status_code == 422 and "study leave" in resp.json["detail"]
    assert _holder(site) is None


def test_an_invited_neighbour_claims_by_texting_yes_and_an_outsider_cannot(client, make, fake_twilio):  # noqa: F811
    site = ladder_site.build(make, mobiles=True)
    b = _ask_neighbours(site, channels=("in_app", "sms"))
    worker.run(once=True)
    code = db.session.scalar(select(BroadcastRecipient.code).where(BroadcastRecipient.broadcast_id == b.id,
                                                                   BroadcastRecipient.user_id == site.next_door.id))
    [text] = fake_twilio.bodies_to(site.next_door.mobile)
    assert f"Reply YES {code} to take it." in text
    assert fake_twilio.bodies_to(site.far_away.mobile) == []
    # The far-away nurse guesses the code: it is not a message to them.
    guess = signed_post(client, "/webhooks/twilio/inbound", {"From": site.far_away.mobile, "To": "+44",
                                                             "Body": f"YES {code}"})
    assert "does not match" in guess.get_data(as_text=True) and _holder(site) is None
    resp = signed_post(client, "/webhooks/twilio/inbound", {"From": site.next_door.mobile, "To": "+44",
                                                            "Body": f"YES {code}"})
    assert "Thanks: you now work" in resp.get_data(as_text=True)
    assert _holder(site) == site.next_door.id
    assert db.session.get(Broadcast, b.id).state == "claimed"


def test_a_neighbour_who_volunteers_by_text_can_still_be_chosen(client, make, fake_twilio):  # noqa: F811
    site = ladder_site.build(make, mobiles=True)
    data.settings(site.ward, open_shift_policy=OpenShiftPolicy.coordinator_chooses)
    b = _ask_neighbours(site, channels=("in_app", "sms"))
    code = db.session.scalar(select(BroadcastRecipient.code).where(BroadcastRecipient.broadcast_id == b.id,
                                                                   BroadcastRecipient.user_id == site.next_door.id))
    resp = signed_post(client, "/webhooks/twilio/inbound", {"From": site.next_door.mobile, "To": "+44",
                                                            "Body": f"YES {code}"})
    assert "you have volunteered" in resp.get_data(as_text=True) and _holder(site) is None
    db.session.expire_all()
    # An answer, not a filled shift: the report shows it, and the ladder keeps going until the gap is filled.
    assert db.session.get(Broadcast, b.id).state == "open"
    mine = db.session.scalar(select(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == b.id,
                                                              BroadcastRecipient.user_id == site.next_door.id))
    assert mine.acknowledged_at is not None and mine.claimed_at is None
    gap = db.session.get(Shift, site.gap.id)
    ranked = open_shifts.ranked_volunteers(gap)
    assert [r.volunteer.user_id for r in ranked] == [site.next_door.id] and ranked[0].eligibility.ok
    open_shifts.assign(gap, site.next_door, actor=site.coordinator)
    db.session.commit()
    assert _holder(site) == site.next_door.id
    db.session.expire_all()
    b = db.session.get(Broadcast, b.id)  # the coordinator's choice fills it: claimed, no more escalation
    assert b.state == "claimed" and b.next_escalation_at is None


def test_a_list_of_wards_whose_gaps_one_may_all_see_reads_no_invitations(client, make, bearer):
    """Invitations only add other teams' gaps, so a list filtered to a person's own ward (or a pool's) does not read
    them; a list filtered to the inviting ward still does, and the neighbour's own ward's list still leaves the gap
    out."""
    site = ladder_site.build(make)
    _ask_neighbours(site)
    neighbour, ward = bearer(make.token(site.next_door)), bearer(make.token(site.on_ward))
    for headers, team, shown in ((ward, site.ward, [site.gap.id]), (neighbour, site.neighbour, [])):
        with count_queries() as seen:
            listed = client.get(f"/api/v1/open-shifts?team_id={team.id}", headers=headers)
        assert listed.status_code == 200 and [i["shift"]["id"] for i in listed.json["items"]] == shown
        assert not [s for s in seen if "broadcast" in s.lower()], "invitations read for a list that needs none"
    with count_queries() as seen:
        listed = client.get(f"/api/v1/open-shifts?team_id={site.ward.id}", headers=neighbour)
    assert [i["shift"]["id"] for i in listed.json["items"]] == [site.gap.id]
    assert [s for s in seen if "broadcast" in s.lower()]


def test_a_list_of_ones_own_ward_reads_no_pools_unless_leave_filed_elsewhere_needs_them(client, make, bearer):
    """Which pools a team takes staff from matters to a list of one's own ward only for leave filed under another
    team: leave filed under the ward's bank still keeps a ward nurse off the gap, and only then are they read."""
    site = ladder_site.build(make)
    url, headers = f"/api/v1/open-shifts?team_id={site.ward.id}", bearer(make.token(site.on_ward))
    with count_queries() as seen:
        listed = client.get(url, headers=headers)
    assert [i["eligible"] for i in listed.json["items"]] == [True]
    assert not [s for s in seen if "team_swap_settings" in s], "pools read for a list of one's own ward"
    day = site.gap.starts_at.date()
    db.session.add(Leave(user_id=site.on_ward.id, team_id=site.bank.id, kind=LeaveKind.annual, first_day=day,
                         last_day=day))
    db.session.commit()
    with count_queries() as seen:
        listed = client.get(url, headers=headers)
    assert [(i["eligible"], i["reasons"]) for i in listed.json["items"]] == [(False, ["You are on annual leave then"])]
    assert [s for s in seen if "team_swap_settings" in s]


def test_a_gaps_working_time_verdicts_follow_the_teams_and_the_persons_settings(client, make, bearer):
    """The settings a gap's verdicts are judged under come with the gaps (no statement of their own): the team's
    (a rule switched off) and the person's (a local rule of their own) each change what the list says."""
    site = ladder_site.build(make)
    late = site.gap.starts_at - timedelta(hours=16)  # a late shift ending 8 hours before the gap starts
    data.shift(site.ward, starts_at=late, hours=8, assignee=site.on_ward)
    db.session.commit()
    url, headers = f"/api/v1/open-shifts?team_id={site.ward.id}", bearer(make.token(site.on_ward))

    def rules_said():
        with count_queries() as seen:
            item = next(i for i in client.get(url, headers=headers).json["items"]
                        if i["shift"]["id"] == site.gap.id)
        assert not [s for s in seen if "compliance_settings" in s and "open_shift_volunteers" not in s]
        return {v["rule_id"] for v in item["verdicts"]}

    assert "WTR-rest11" in rules_said()
    db.session.add(TeamComplianceSettings(team_id=site.ward.id, disabled_rules=["WTR-rest11"]))
    db.session.commit()
    assert "WTR-rest11" not in rules_said()
    assert "LOCAL-long3" not in rules_said()
    db.session.add(PersonComplianceSettings(user_id=site.on_ward.id, extra_rules=[{"id": "LOCAL-long3", "max_run": 1,
                                                                                 "long_over_hours": 4}]))
    db.session.commit()
    assert "LOCAL-long3" in rules_said()
