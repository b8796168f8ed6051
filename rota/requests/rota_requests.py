"""Rota requests for a period before it is built: the coordinator opens a request window for a rota period (from /
to which day staff may ask, and how many requests each); staff ask for shifts they want and shifts or whole days
they don't, each with a priority; coordinators record standing preferences and flexible-working agreements.

What a rota builder reads (``requests_for_period``): every request of the window and every preference of the team's
members, in plain rows: (user, day, shift type or None for the whole day, want / avoid, priority 1–3) and (user,
kind, shift type, weekday, agreement: hard when True)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from core import audit
from core.accounts import Team, User
from core.db import db
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from notifications.service import notify
from rota import services
from rota.models import PeriodState, RotaPeriod, ShiftType
from rota.requests.balance import today_for
from rota.requests.models import (
    PreferenceKind,
    RequestWindow,
    RotaRequest,
    RotaRequestKind,
    StaffPreference,
)

PRIORITIES = {1: "Important", 2: "Would like", 3: "If possible"}
PREFERENCE_WORDS = {PreferenceKind.prefers_shift: "Prefers", PreferenceKind.avoids_shift: "Rather not",
                    PreferenceKind.fixed_day_off: "Day off every", PreferenceKind.no_nights: "No nights"}
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# ---------------------------------------------------------------------------------------------------- windows


def open_window(period: RotaPeriod, *, actor, opens_on: date, closes_on: date, max_per_person: int) -> RequestWindow:
    team = period.team
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can open a request window.")
    errors = {}
    if closes_on < opens_on:
        errors["closes_on"] = ["On or after the opening day."]
    if closes_on >= period.first_day:
        errors["closes_on"] = ["Before the period starts (the rota is built after requests close)."]
    if not 1 <= max_per_person <= 50:
        errors["max_per_person"] = ["From 1 to 50."]
    if period.state != PeriodState.draft:
        errors["period_id"] = ["The period is already published."]
    if errors:
        raise ValidationFailed("Check the request window.", errors=errors)
    if db.session.scalar(select(RequestWindow.id).where(RequestWindow.period_id == period.id)) is not None:
        raise Conflict("This period already has a request window.", extra={"code": "window_exists"})
    window = RequestWindow(team_id=team.id, period_id=period.id, opens_on=opens_on, closes_on=closes_on,
                           max_per_person=max_per_person, created_by_id=actor.id)
    db.session.add(window)
    db.session.flush()
    audit.record("rota_requests.window_opened", actor=actor, entity=window,
                 summary={"period_id": period.id, "max_per_person": max_per_person})
    staff = [m.user_id for m in team.memberships]
    notify(staff, kind="rota_requests.window", team_id=team.id, link=f"/rota-requests/windows/{window.id}",
           text=f"{team.name}: ask for shifts and days off for {period.first_day:%d %b}–{period.last_day:%d %b} "
                f"until {closes_on:%d %b}.", idempotency_key=f"rota_requests.window:{window.id}")
    return window


def get_window(window_id: int, viewer) -> RequestWindow:
    services.check_id(window_id, "request window")
    window = db.session.get(RequestWindow, window_id)
    if window is None or not window.team.can_view(viewer):
        raise NotFound(f"No request window with id {window_id}.")
    return window


def windows_for(viewer) -> list[RequestWindow]:
    teams = [t.id for t in services.visible_teams(viewer)] or [0]
    return list(db.session.scalars(select(RequestWindow).where(RequestWindow.team_id.in_(teams))
                                   .order_by(RequestWindow.closes_on.desc()).limit(50)))


def is_open(window: RequestWindow, user: User) -> bool:
    return window.opens_on <= today_for(user) <= window.closes_on


# --------------------------------------------------------------------------------------------------- requests


def add_request(window: RequestWindow, *, actor, day: date, kind: str, shift_type_id: int | None = None,
                priority: int = 2, note: str | None = None) -> RotaRequest:
    """A member asks, in an open window: a shift wanted, or a shift / the whole day not wanted."""
    team = window.team
    if actor.role_in(team) is None:
        raise Forbidden("Only members of the team can make rota requests.")
    if not is_open(window, actor):
        raise Conflict(f"Requests for this period are open {window.opens_on:%d %b}–{window.closes_on:%d %b}.",
                       extra={"code": "window_closed"})
    errors = {}
    try:
        kind = RotaRequestKind(kind)
    except ValueError:
        errors["kind"] = ["Choose 'want' or 'avoid'."]
    period = window.period
    if day is None or not period.first_day <= day <= period.last_day:
        errors["day"] = [f"A day from {period.first_day:%d %b} to {period.last_day:%d %b %Y}."]
    if priority not in PRIORITIES:
        errors["priority"] = ["1 (important), 2 or 3."]
    stype = None
    if shift_type_id is not None:
        stype = db.session.get(ShiftType, shift_type_id) if 1 <= shift_type_id <= 2**31 - 1 else None
        if stype is None or stype.team_id != team.id:
            errors["shift_type_id"] = ["Not one of this team's shift types."]
    elif kind == RotaRequestKind.want:
        errors["shift_type_id"] = ["Say which shift you want."]
    if note is not None and len(note) > 200:
        errors["note"] = ["At most 200 characters."]
    if errors:
        raise ValidationFailed("Check your request.", errors=errors)
    count = db.session.scalar(select(func.count()).select_from(RotaRequest).where(
        RotaRequest.window_id == window.id, RotaRequest.user_id == actor.id))
    if count >= window.max_per_person:
        raise Conflict(f"You have made {count} requests, the most for this period. Remove one to add another.",
                       extra={"code": "request_limit", "limit": window.max_per_person})
    same = db.session.scalar(select(RotaRequest).where(RotaRequest.window_id == window.id,
                                                       RotaRequest.user_id == actor.id, RotaRequest.day == day))
    if same is not None:
        raise Conflict(f"You already have a request for {day:%a %d %b}: remove it first.",
                       extra={"code": "request_exists", "request_id": same.id})
    req = RotaRequest(window_id=window.id, user_id=actor.id, day=day, kind=kind,
                      shift_type_id=stype.id if stype else None, priority=priority, note=note or None)
    db.session.add(req)
    db.session.flush()
    audit.record("rota_request.made", actor=actor, entity_type="rota_request", entity_id=req.id, team_id=team.id,
                 summary={"kind": kind.value, "priority": priority, "whole_day": stype is None})
    return req


def remove_request(req: RotaRequest, *, actor) -> None:
    if req.user_id != actor.id:
        raise Forbidden("Only the person who asked can remove a request.")
    if not is_open(req.window, actor):
        raise Conflict("Requests for this period have closed.", extra={"code": "window_closed"})
    audit.record("rota_request.removed", actor=actor, entity_type="rota_request", entity_id=req.id,
                 team_id=req.window.team_id)
    db.session.delete(req)
    db.session.flush()


def get_request(request_id: int, viewer) -> RotaRequest:
    services.check_id(request_id, "rota request")
    req = db.session.get(RotaRequest, request_id)
    if req is None or not (req.user_id == viewer.id or req.window.team.can_manage(viewer)):
        raise NotFound(f"No rota request with id {request_id}.")
    return req


def request_query(viewer, *, window_id=None, user_id=None):
    stmt = select(RotaRequest).join(RequestWindow).order_by(RotaRequest.day, RotaRequest.id)
    if not viewer.is_admin:
        managed = viewer.managed_team_ids or {0}
        stmt = stmt.where((RotaRequest.user_id == viewer.id) | RequestWindow.team_id.in_(managed))
    if window_id is not None:
        stmt = stmt.where(RotaRequest.window_id == window_id)
    if user_id is not None:
        stmt = stmt.where(RotaRequest.user_id == user_id)
    return stmt


def describe(req: RotaRequest) -> str:
    what = req.shift_type.name if req.shift_type else "the whole day"
    verb = "Work" if req.kind == RotaRequestKind.want else "Not"
    return f"{verb} {what} · {req.day:%a %d %b}"


# ------------------------------------------------------------------------------------------------ preferences


def add_preference(team: Team, user: User, *, actor, kind: str, shift_type_id: int | None = None,
                   weekday: int | None = None, agreement: bool = False, note: str | None = None) -> StaffPreference:
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators record preferences and flexible-working agreements.")
    errors = {}
    if user.role_in(team) is None:
        errors["user_id"] = ["Not a member of this team."]
    try:
        kind = PreferenceKind(kind)
    except ValueError:
        kind = None
        errors["kind"] = ["Choose a kind of preference."]
    stype = None
    if kind in (PreferenceKind.prefers_shift, PreferenceKind.avoids_shift):
        stype = db.session.get(ShiftType, shift_type_id) if shift_type_id and 1 <= shift_type_id <= 2**31 - 1 \
            else None
        if stype is None or stype.team_id != team.id:
            errors["shift_type_id"] = ["Choose one of this team's shift types."]
    if kind == PreferenceKind.fixed_day_off and (weekday is None or not 0 <= weekday <= 6):
        errors["weekday"] = ["Choose a day of the week."]
    if note is not None and len(note) > 200:
        errors["note"] = ["At most 200 characters."]
    if errors:
        raise ValidationFailed("Check the preference.", errors=errors)
    pref = StaffPreference(team_id=team.id, user_id=user.id, kind=kind, shift_type_id=stype.id if stype else None,
                           weekday=weekday if kind == PreferenceKind.fixed_day_off else None,
                           agreement=bool(agreement), note=note or None, recorded_by_id=actor.id)
    db.session.add(pref)
    db.session.flush()
    audit.record("rota_preference.recorded", actor=actor, entity_type="staff_preference", entity_id=pref.id,
                 team_id=team.id, summary={"user_id": user.id, "kind": kind.value, "agreement": pref.agreement})
    return pref


def remove_preference(pref: StaffPreference, *, actor) -> None:
    team = db.session.get(Team, pref.team_id)
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can remove a preference.")
    audit.record("rota_preference.removed", actor=actor, entity_type="staff_preference", entity_id=pref.id,
                 team_id=team.id)
    db.session.delete(pref)
    db.session.flush()


def preferences_of(team: Team) -> list[StaffPreference]:
    return list(db.session.scalars(select(StaffPreference).where(StaffPreference.team_id == team.id)
                                   .order_by(StaffPreference.user_id, StaffPreference.id)))


def describe_preference(p: StaffPreference) -> str:
    if p.kind == PreferenceKind.fixed_day_off:
        what = f"Day off every {WEEKDAYS[p.weekday]}"
    elif p.kind == PreferenceKind.no_nights:
        what = "No nights"
    else:
        what = f"{PREFERENCE_WORDS[p.kind]} {p.shift_type.name if p.shift_type else ''}".strip()
    return f"{what} ({'flexible-working agreement' if p.agreement else 'preference'})"


def requests_for_period(period: RotaPeriod) -> dict:
    """The builder's input: rows only, no ORM objects."""
    window = db.session.scalar(select(RequestWindow).where(RequestWindow.period_id == period.id))
    reqs = [] if window is None else [
        {"user_id": r.user_id, "day": r.day, "shift_type_id": r.shift_type_id, "kind": r.kind.value,
         "priority": r.priority} for r in db.session.scalars(select(RotaRequest).where(
             RotaRequest.window_id == window.id).order_by(RotaRequest.id))]
    prefs = [{"user_id": p.user_id, "kind": p.kind.value, "shift_type_id": p.shift_type_id, "weekday": p.weekday,
              "hard": p.agreement} for p in preferences_of(period.team)]
    return {"requests": reqs, "preferences": prefs}
