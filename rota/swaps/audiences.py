"""Broadcast audiences for an open shift, from the narrowest to the widest, for a team's escalation ladder.

Each resolver is ``resolver(team_id, params) -> [user ids]`` (``core.registry.register_audience``) and
returns only people who can take the shift like-for-like (the staff group, grade and skills its cover needs:
``rota.cover.need_for``) and are *eligible* for it (grade, skills, leave, overlap, blocking compliance and cover
verdicts: ``rota.eligibility.assess``). The shift comes from ``params["shift_id"]`` or, failing that, from
``params["reference"] == "shift:<id>"`` (the broadcast's reference); only an open shift of ``team_id`` has an
audience — anything else resolves to nobody.

* ``eligible_for_shift`` — the ward and its pools together (the original audience, kept as it was);
* ``eligible_on_ward`` — members of the shift's own team;
* ``staff_bank`` — members of the team's pool teams (``TeamSwapSettings.pool_team_ids``: the teams whose members
  may also take this team's shifts, e.g. the trust's bank) who are not on the ward itself;
* ``neighbouring_wards`` — members of the *other* teams on the same site (``Team.site``, compared ignoring case and
  surrounding spaces), excluding the ward's pool teams and anyone on the ward or in its bank (those are the earlier
  steps). They are not members, so they may claim the shift only while they are recipients of an open broadcast
  about it (``eligibility.invited_user_ids``).
"""

from __future__ import annotations

from sqlalchemy import func, select

from core.accounts import Team, User
from core.db import db
from rota.models import Shift, ShiftState
from rota.swaps import eligibility

# The audiences' registered names (``core.registry.register_audience``): what a broadcast or a ladder step names.
ELIGIBLE_FOR_SHIFT = "eligible_for_shift"
ELIGIBLE_FOR_ANY_SHIFT = "eligible_for_any_shift"
ELIGIBLE_ON_WARD = "eligible_on_ward"
STAFF_BANK = "staff_bank"
NEIGHBOURING_WARDS = "neighbouring_wards"


def open_shift_from(team_id: int, params: dict | None) -> Shift | None:
    """The open shift of ``team_id`` named by ``params`` (``shift_id``, else ``reference`` "shift:<id>")."""
    params = params if isinstance(params, dict) else {}
    if params.get("shift_id") is not None:
        shift_id = eligibility.shift_id_from(params["shift_id"])
    else:
        shift_id = eligibility.shift_id_from_reference(params.get("reference"))
    shift = db.session.get(Shift, shift_id) if shift_id is not None else None
    if shift is None or shift.team_id != team_id or shift.state != ShiftState.open:
        return None
    return shift


def _eligible_ids(shift: Shift, users: list[User]) -> list[int]:
    """Like-for-like (the cover's staff group, grade and skills), then every eligibility check."""
    users = eligibility.like_for_like(shift, users)
    return [r.user.id for r in eligibility.assess(shift, users, check_membership=False) if r.ok] if users else []


def bank_team_ids(team_id: int) -> list[int]:
    """The team's staff bank: its pool teams (swap settings), never the team itself."""
    return eligibility.allowed_team_ids(team_id)[1:]


def neighbour_team_ids(team_id: int, banks: list[int] | None = None) -> list[int]:
    """Other teams on the same site (``Team.site``), not the team's own bank (``banks``, looked up when not given)."""
    team = db.session.get(Team, team_id)
    site = (team.site or "").strip().lower() if team is not None else ""
    if not site:
        return []
    excluded = {team_id, *(bank_team_ids(team_id) if banks is None else banks)}
    return [tid for tid in db.session.scalars(select(Team.id).where(func.lower(func.trim(Team.site)) == site)
                                              .order_by(Team.id)) if tid not in excluded]


def eligible_for_shift(team_id: int, params: dict) -> list[int]:
    """Everyone eligible: the ward and its pools."""
    shift = open_shift_from(team_id, params)
    return eligibility.eligible_user_ids(shift) if shift is not None else []


def eligible_on_ward(team_id: int, params: dict) -> list[int]:
    shift = open_shift_from(team_id, params)
    return _eligible_ids(shift, eligibility.active_members([team_id])) if shift is not None else []


def staff_bank(team_id: int, params: dict) -> list[int]:
    shift = open_shift_from(team_id, params)
    banks = bank_team_ids(team_id)
    if shift is None or not banks:
        return []
    return _eligible_ids(shift, eligibility.active_members(banks, excluding_team_ids=[team_id]))


def neighbouring_wards(team_id: int, params: dict) -> list[int]:
    shift = open_shift_from(team_id, params)
    banks = bank_team_ids(team_id)
    neighbours = neighbour_team_ids(team_id, banks)
    if shift is None or not neighbours:
        return []
    return _eligible_ids(shift, eligibility.active_members(neighbours, excluding_team_ids=[team_id, *banks]))


# (name, label, resolver), narrowest first: the order a ladder widens through.
def eligible_for_any_shift(team_id: int, params: dict) -> list[int]:
    """Everyone eligible (ward and pools) for at least one of the open shifts ``params["shift_ids"]`` ("Open all
    gaps": one message for several shifts)."""
    params = params if isinstance(params, dict) else {}
    raw = params.get("shift_ids")
    ids: set[int] = set()
    for shift_id in raw if isinstance(raw, list) else []:
        ids.update(eligible_for_shift(team_id, {"shift_id": shift_id}))
    return sorted(ids)


AUDIENCES = (
    (ELIGIBLE_FOR_SHIFT, "Everyone eligible for this shift", eligible_for_shift),
    (ELIGIBLE_FOR_ANY_SHIFT, "Everyone eligible for one of these shifts", eligible_for_any_shift),
    (ELIGIBLE_ON_WARD, "Eligible on this ward", eligible_on_ward),
    (STAFF_BANK, "Staff bank (eligible)", staff_bank),
    (NEIGHBOURING_WARDS, "Neighbouring wards on the same site (eligible)", neighbouring_wards),
)
