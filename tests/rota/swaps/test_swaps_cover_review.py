"""Safe staffing, review of issue #12 item 2: the gaps a review found after the first fix.

* a pool nurse the bank has recorded as sick is not cover for the ward's night (leave counts where the person would
  work; only its details stay with the recording team);
* moving a rostered shift to another day or type checks the slot it leaves;
* one like-for-like rule and one skill comparison for candidate lists, automatic approval and the grid's cover line.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.audit import AuditEntry
from core.db import db
from core.errors import Conflict, DomainError
from rota import services
from rota.assignment import check_can_hold
from rota.models import Shift, ShiftState
from rota.swaps import decisions, eligibility, open_shifts
from rota.swaps import requests as swap_requests
from rota.swaps.eligibility import to_local
from rota.swaps.models import ApprovalPolicy, SwapState
from tests.rota.swaps import factories as data
from tests.rota.swaps.test_swaps_cover import NightWard, _open_the_night


def _actions(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# ------------------------------------------------------------------------------ 1. leave where the person works


class BankedWard(NightWard):
    """Ward 7B (nights need 3 RNs) lists the Staff Bank as a pool; Bank RN Bella is a Band 5 RN of the bank only."""

    def __init__(self, make):
        super().__init__(make)
        self.bank_coordinator = make.user(display_name="Bank Office", grade="Band 7")
        self.bella = make.user(display_name="Bank RN Bella", grade="Band 5")
        self.bank_team = make.team("Staff Bank", coordinators=[self.bank_coordinator], staff=[self.bella])
        data.settings(self.team, pool_team_ids=[self.bank_team.id])
        self.day = to_local(self.night.starts_at, self.team.timezone).date()

    def bank_records_sickness(self):
        services.record_leave(self.bella, kind="sickness", first_day=self.day, last_day=self.day,
                              actor=self.bank_coordinator, team=self.bank_team, note="Flu")
        db.session.commit()


def test_a_pool_nurse_the_bank_has_recorded_sick_is_not_cover_for_the_wards_night(client, make, bearer):
    w = BankedWard(make)
    gap = _open_the_night(w)
    assert w.bella.id in eligibility.eligible_user_ids(gap)  # well, she is a candidate
    w.bank_records_sickness()
    assert w.bella.id not in eligibility.eligible_user_ids(gap)
    [mine] = eligibility.assess(gap, [w.bella])
    assert mine.reasons == [f"Bank RN Bella is unavailable {w.day:%d %b}–{w.day:%d %b} (leave recorded by another "
                            "team)"]
    board = client.get("/api/v1/open-shifts", headers=bearer(make.token(w.bella))).json["items"]
    [item] = [i for i in board if i["shift"]["id"] == gap.id]
    assert item["eligible"] is False and item["reasons"] == ["You are on sickness leave then"]  # her own record
    r = client.post(f"/api/v1/shifts/{gap.id}/claim", json={}, headers=bearer(make.token(w.bella)))
    assert r.status_code == 422, r.json
    assert r.json["detail"] == (f"You cannot take this shift: Bank RN Bella is unavailable {w.day:%d %b}–"
                                f"{w.day:%d %b} (leave recorded by another team).")
    assert "sick" not in r.json["detail"].lower() and "flu" not in r.json["detail"].lower()
    db.session.expire_all()
    assert db.session.get(Shift, gap.id).state == ShiftState.open


def test_the_ward_coordinator_cannot_give_the_night_to_a_pool_nurse_the_bank_has_recorded_sick(make):
    w = BankedWard(make)
    gap = _open_the_night(w)
    w.bank_records_sickness()
    with pytest.raises(DomainError) as err:
        open_shifts.assign(gap, w.bella, actor=w.coordinator, override_reason="Short tonight")
    assert err.value.detail == (f"They cannot take this shift: Bank RN Bella is unavailable {w.day:%d %b}–"
                                f"{w.day:%d %b} (leave recorded by another team).")
    db.session.rollback()
    with pytest.raises(Conflict) as err:  # the one check every change of holder passes through
        check_can_hold(gap, w.bella)
    assert err.value.detail == (f"Bank RN Bella is unavailable {w.day:%d %b}–{w.day:%d %b} "
                                "(leave recorded by another team).")


def test_the_wards_own_record_still_shows_its_kind(make):
    w = BankedWard(make)
    gap = _open_the_night(w)
    d = w.rns[3]
    services.record_leave(d, kind="study", first_day=w.day, last_day=w.day, actor=w.coordinator, team=w.team)
    [mine] = eligibility.assess(gap, [d])
    assert mine.reasons == [f"RN D is on study leave {w.day:%d %b}–{w.day:%d %b}"]


# ---------------------------------------------------------------------------- 3. moving a shift out of its slot


def test_moving_an_rns_night_off_a_full_night_needs_a_coordinators_reason(client, make, bearer):
    w = NightWard(make)
    night = w.night
    moved = (night.starts_at + timedelta(days=1)).isoformat()
    headers = bearer(make.token(w.coordinator))
    r = client.patch(f"/api/v1/shifts/{night.id}", json={"version": night.version, "starts_at": moved},
                     headers=headers)
    assert r.status_code == 422, r.json
    assert r.json["detail"] == (f"Moving RN A's shift: {w.slot} would have 2 of 3 registered nurses. "
                                "A coordinator may go ahead anyway by giving a reason (it is recorded).")
    assert r.json["verdicts"][0]["rule_id"] == "COVER-min"
    db.session.expire_all()
    assert db.session.get(Shift, night.id).starts_at == night.starts_at and w.coverage() == "ok"
    r = client.patch(f"/api/v1/shifts/{night.id}", json={"version": night.version, "starts_at": moved,
                                                         "override_reason": "Swapped nights with agency cover"},
                     headers=headers)
    assert r.status_code == 200, r.json
    [entry] = _actions("cover.overridden")
    assert entry.summary["reason"] == "Swapped nights with agency cover"
    assert entry.summary["cover"] == f"{w.slot} would have 2 of 3 registered nurses"


def test_moving_a_night_within_its_slot_or_off_a_night_with_room_needs_no_reason(make):
    w = NightWard(make, nurses_on=4)
    services.edit_shift(w.night, actor=w.coordinator, starts_at=w.night.starts_at + timedelta(minutes=30))
    services.edit_shift(w.night, actor=w.coordinator, starts_at=w.night.starts_at + timedelta(days=1))  # 4 -> 3
    db.session.commit()
    with pytest.raises(Exception, match="would have 2 of 3 registered nurses"):
        services.edit_shift(w.nights[1], actor=w.coordinator, shift_type=data.shift_type(w.team))


# --------------------------------------------------------------------------------- 4. one like-for-like rule


def test_a_band_6_taking_a_band_5_nurses_night_is_like_for_like_and_approved_automatically(make):
    """The candidate list offers the night to a Band 6 RN (grade at or above); approval agreed only for equal
    grades, so the same like-for-like offer waited for a coordinator."""
    w = NightWard(make, nurses_on=4, policy=ApprovalPolicy.auto_when_clean)
    senior = make.user(display_name="RN Senior", grade="Band 6")
    from core.accounts import TeamRole, add_member

    add_member(w.team, senior, TeamRole.staff)
    db.session.commit()
    assert senior.id in eligibility.eligible_user_ids(w.night)
    req = swap_requests.propose(actor=w.rns[0], shift=w.night, kind="offer", to_users=[senior])
    decisions.accept(req, actor=senior)
    db.session.commit()
    assert req.state == SwapState.approved and req.auto_approved
    assert data.holder(w.night.id) == senior.id


def test_a_skill_recorded_in_other_letters_counts_on_the_grid_and_in_cover_checks(make):
    """Night needs one IV-trained nurse; RN A is recorded "iv-trained". The candidate list counted her (case-blind),
    the cover line and the cover check did not: giving her night to an RN without the skill went through silently
    and the grid was red although she was there."""
    w = NightWard(make)
    w.rns[0].skills = ["iv-trained"]
    services.create_requirement(w.team, shift_type=w.night_type, min_count=1, staff_group="nursing",
                                skill="IV-trained", actor=w.coordinator)
    db.session.commit()
    assert w.coverage() == "ok"
    with pytest.raises(Exception, match="would have 0 of 1 registered nurses who are IV-trained"):
        services.assign(w.night, w.rns[3], actor=w.coordinator)
