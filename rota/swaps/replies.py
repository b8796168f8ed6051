"""Answers to a broadcast about a gap: the "I'll take it" button on the message (a reference action) and the SMS reply
"YES 4821" (a reply handler), both claiming the shift for the person answering. Registered with notifications by
:mod:`rota.swaps.wiring`."""

from __future__ import annotations

from flask import url_for

from core.accounts import User
from core.db import db, get_by_id
from core.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationFailed
from rota.models import Shift, ShiftState
from rota.swaps import absence, eligibility
from rota.swaps.eligibility import describe_shift
from rota.swaps.models import OpenShiftPolicy
from rota.swaps.open_shifts import claim
from rota.swaps.shared import settings_for


def shift_action(shift_id: int) -> tuple[str, str, str] | None:
    """The button on a broadcast about a gap: "I'll take it" (or "Volunteer"), posting the claim straight from the
    message; the claim checks eligibility and, if refused, the open-shifts board it returns to says why."""

    shift = get_by_id(Shift, shift_id)
    if shift is None or shift.state != ShiftState.open or absence.is_held(shift):
        return None
    first = settings_for(shift.team_id).open_shift_policy == OpenShiftPolicy.first_claim_wins
    return ("I'll take it" if first else "Volunteer"), url_for("swaps.claim", shift_id=shift.id), "post"


def reply_claim(user_id: int, reference: str | None) -> tuple[bool, str]:
    """An SMS "YES 4821" answering a gap broadcast (reference ``"shift:12"``): claim the shift for the sender."""
    shift_id = eligibility.shift_id_from_reference(reference)
    shift = db.session.get(Shift, shift_id) if shift_id is not None else None
    user = db.session.get(User, user_id)
    if shift is None or user is None:
        return False, "Sorry, that shift is no longer available."
    try:
        with db.session.begin_nested():
            outcome = claim(shift, actor=user)
    except (Conflict, RuleViolation, Forbidden, NotFound, ValidationFailed) as exc:
        return False, f"Sorry: {exc.detail}"[:300]
    if outcome.outcome == "claimed":
        return True, f"Thanks: you now work {describe_shift(shift)}."
    return True, f"Thanks: you have volunteered for {describe_shift(shift)}. The coordinator will confirm."
