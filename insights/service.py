"""Insights: per-team measures for a period, computed by SQL aggregates (docs/insights.md defines each one).

``measures(team_ids, period)`` answers for one team or a whole site with the same fixed number of queries: every
query groups by team. Percentiles use the nearest-rank method in SQL (``ROW_NUMBER()`` over the sorted values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import (
    JSON,
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    values,
)
from sqlalchemy import column as sql_column
from sqlalchemy.orm import aliased

from core import timeutil
from core.accounts import Membership, Team, User
from core.audit import AuditEntry
from core.db import db, epoch_seconds, now_utc
from core.errors import Forbidden, ValidationFailed
from handover.models import Handover, HandoverEntry, HandoverSettings
from notifications.models import Broadcast, BroadcastRecipient, Notification, OutboxMessage
from rota.assignment import REFUSED as REFUSED_ACTION  # a change refused by a blocking verdict
from rota.models import PeriodState, RotaPeriod, Shift, ShiftKind, ShiftState, ShiftType
from rota.requests.models import StaffLeaveProfile, TrustLeaveSettings
from rota.swaps.models import SwapRequest, SwapState, TeamSwapSettings

DEFAULT_DAYS = 28
HISTORY_DAYS = 120  # how far before the period an episode's opening is looked for
FILL_DAYS = 35  # how far after the period a fill of an episode opened in it is looked for
CREATED_ASSIGNED_SECONDS = 1.0  # a shift.created filled this soon is a shift created with someone on it
DEFAULT_SMS_PRICE_PENCE = 4.0
DEFAULT_ACK_MINUTES = 60
_NUMBER_LIKE = re.compile(r"\d+")  # as the audit trail: no number that could identify a patient is shown
OPEN_ACTIONS = ("shift.created", "shift.opened", "gap.opened")
FILL_ACTION = "shift.assigned"
OVERRIDE_ACTIONS = ("compliance.overridden", "cover.overridden")
HOW_ROUTES = ("app", "card", "sms", "coordinator")
# audit actions recorded in the request of a claim that tell its route (channels.cards.CARD_CLAIM, notifications'
# inbound SMS webhook); insights reads them by name and imports neither
ROUTE_ACTIONS = {"channel.card_claimed": "card", "broadcast.sms_reply": "sms"}
WHERE_ROUTES = ("own", "bank", "neighbour")
PROVIDER_ACCEPTED = ("sent", "delivered")
FULL_TIME_DAYS = 5  # a full-time week is five of the trust's full-time days (TrustLeaveSettings.day_minutes)
DEFAULT_DAY_MINUTES = 450  # Agenda for Change: 7 h 30 min, 37.5 h a week


@dataclass(frozen=True)
class Period:
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    first_day: date | None = None  # the local dates it was asked as (for display)
    last_day: date | None = None

    @property
    def days(self) -> int:
        return round((self.end - self.start).total_seconds() / 86400)


def period_for(first: date, last: date, tz) -> Period:
    lo, hi = timeutil.day_bounds(first, last, tz)
    return Period(lo, hi, first, last)


def default_dates(tz, now: datetime | None = None) -> tuple[date, date]:
    today = timeutil.local_date(now or now_utc(), tz or timeutil.DEFAULT_ZONE)
    return today - timedelta(days=DEFAULT_DAYS), today - timedelta(days=1)


def previous_dates(first: date, last: date) -> tuple[date, date]:
    span = (last - first).days + 1
    return first - timedelta(days=span), first - timedelta(days=1)


MAX_DAYS = 366


def parse_dates(raw_from: str | None, raw_to: str | None, tz, now: datetime | None = None) -> tuple[date, date]:
    """The local dates a page or API call asks for (ISO ``YYYY-MM-DD``), the default period when neither is given.
    Refuses a date that is not one, ``to`` before ``from`` or more than a year."""
    default_first, default_last = default_dates(tz, now)
    errors: dict[str, list[str]] = {}
    parsed = {}
    for name, raw, default in (("from", raw_from, default_first), ("to", raw_to, default_last)):
        if raw in (None, ""):
            parsed[name] = default
            continue
        try:
            parsed[name] = date.fromisoformat(str(raw).strip())
        except ValueError:
            errors[name] = ["Enter a date as YYYY-MM-DD, for example 2026-03-01."]
            continue
        if not date(2000, 1, 1) <= parsed[name] <= date(2100, 1, 1):
            errors[name] = ["Choose a date between the years 2000 and 2100."]
    if not errors and (raw_from in (None, "")) != (raw_to in (None, "")):
        # one end given: the other keeps the default span from it
        span = timedelta(days=DEFAULT_DAYS - 1)
        if raw_from in (None, ""):
            parsed["from"] = parsed["to"] - span
        else:
            parsed["to"] = parsed["from"] + span
    if not errors and parsed["to"] < parsed["from"]:
        errors["to"] = ["Choose a 'to' date on or after the 'from' date."]
    if not errors and (parsed["to"] - parsed["from"]).days + 1 > MAX_DAYS:
        errors["to"] = [f"Choose a period of at most {MAX_DAYS} days."]
    if errors:
        raise ValidationFailed("The period is not valid.", errors=errors)
    return parsed["from"], parsed["to"]


def compare(team_ids, first: date, last: date, zones: dict[int, str], *, people_for=frozenset(),
            sms_price_pence: float = DEFAULT_SMS_PRICE_PENCE, now: datetime | None = None, with_previous=True):
    """(this period, previous period) measures for teams sharing one zone's dates. Teams in other zones are asked
    with their own zone's midnights (grouped by zone, so the number of queries depends only on the zones)."""
    current: dict[int, TeamMeasures] = {}
    previous: dict[int, TeamMeasures] = {}
    by_zone: dict[str, list[int]] = {}
    for t in team_ids:
        by_zone.setdefault(zones.get(t) or timeutil.DEFAULT_ZONE, []).append(t)
    pf, pl = previous_dates(first, last)
    for tz, ids in sorted(by_zone.items()):
        current.update(measures(ids, period_for(first, last, tz), people_for=people_for,
                                sms_price_pence=sms_price_pence, now=now))
        if with_previous:
            previous.update(measures(ids, period_for(pf, pl, tz), people_for=people_for,
                                     sms_price_pence=sms_price_pence, now=now))
    return current, previous


def mask_digits(text: str | None) -> str:
    text = " ".join(str(text or "").split())
    return _NUMBER_LIKE.sub("[number removed]", text)[:200] or "(no reason given)"


# ----------------------------------------------------------------------------------------------------- access


def visible_team_ids(user) -> set[int]:
    if user.is_admin:
        return set(db.session.scalars(select(Team.id)))
    return set(user.managed_team_ids)


def check_team_access(user, team: Team) -> None:
    if not (user.is_admin or team.id in user.managed_team_ids):
        raise Forbidden("Insights are for the team's coordinators and administrators.")


def may_see_people(user, team_id: int) -> bool:
    """Per-person rows (hours, nights, weekends) only for a coordinator of the team itself."""
    return team_id in user.managed_team_ids


# ---------------------------------------------------------------------------------------------------- helpers


def _minutes(later, earlier):
    return (epoch_seconds(later) - epoch_seconds(earlier)) / 60.0


def _json_int(col, key: str):
    """An integer field of a JSON text column, on both engines."""
    return cast(func.json_extract(col, f"$.{key}"), Integer) if _dialect() == "sqlite" else \
        cast(cast(col, JSON)[key].as_string(), Integer)


def _json_str(col, key: str):
    return cast(func.json_extract(col, f"$.{key}"), String) if _dialect() == "sqlite" else \
        cast(col, JSON)[key].as_string()


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _rank(n, p: int):
    """Nearest rank ``ceil(p × n / 100)`` in integer arithmetic (both engines divide integers exactly)."""
    return (n * p + 99) // 100


def _percentiles(sub, value_col: str = "value") -> dict[int, tuple[float | None, float | None, int]]:
    """{team_id: (median, p90, n)} of ``sub``'s (team_id, value) rows — one query."""
    v = sub.c[value_col]
    ranked = select(sub.c.team_id, v.label("v"),
                    func.row_number().over(partition_by=sub.c.team_id, order_by=v).label("rn"),
                    func.count().over(partition_by=sub.c.team_id).label("n")).subquery()
    q = select(ranked.c.team_id,
               func.max(case((ranked.c.rn == _rank(ranked.c.n, 50), ranked.c.v))),
               func.max(case((ranked.c.rn == _rank(ranked.c.n, 90), ranked.c.v))),
               func.max(ranked.c.n)).group_by(ranked.c.team_id)
    return {t: (_round(m), _round(p), n) for t, m, p, n in db.session.execute(q)}


def _round(x):
    return None if x is None else round(float(x), 1)


def _rate(num, den):
    return None if not den else round(100.0 * num / den, 1)


def _pairs(rows: list[tuple], names: tuple[str, ...]):
    """A VALUES table of constant rows (or one impossible row when there are none, so the SQL stays valid)."""
    types = [Integer() if n.endswith("id") else None for n in names]
    cols = [sql_column(n, t) for n, t in zip(names, types, strict=True)]
    name = "v_" + "_".join(names)
    return values(*cols, name=name).data(rows).cte(name)  # a CTE: SQLite has no column list on a VALUES alias


# ----------------------------------------------------------------------------------------------------- result


@dataclass
class TeamMeasures:
    team_id: int
    cover: dict = field(default_factory=dict)
    open_shifts: dict = field(default_factory=dict)
    swaps: dict = field(default_factory=dict)
    broadcasts: dict = field(default_factory=dict)
    working_time: dict = field(default_factory=dict)
    handover: dict = field(default_factory=dict)
    people: list[dict] | None = None


def measures(team_ids: list[int], period: Period, *, now: datetime | None = None, people_for: set[int] = frozenset(),
             sms_price_pence: float = DEFAULT_SMS_PRICE_PENCE) -> dict[int, TeamMeasures]:
    """Every measure of docs/insights.md for each team, in a fixed number of queries."""
    now = now or now_utc()
    team_ids = sorted(set(team_ids))
    out = {t: TeamMeasures(t) for t in team_ids}
    if not team_ids:
        return out
    _cover_and_open_shifts(out, team_ids, period, now)
    _swaps(out, team_ids, period)
    _broadcasts(out, team_ids, period, sms_price_pence)
    _working_time(out, team_ids, period)
    _handover(out, team_ids, period, now)
    wanted = [t for t in team_ids if t in people_for]
    if wanted:
        _people(out, wanted, period)
    return out


# -------------------------------------------------------------------------------------- cover and open shifts


def _episodes(team_ids: list[int], period: Period):
    """(team_id, shift_id, opened_at, fill_id) per open-shift episode, as a subquery (docs/insights.md)."""
    a = AuditEntry
    events = (
        select(a.id, a.at, a.action, a.entity_id,
               func.min(case((a.action == FILL_ACTION, a.id))).over(
                   partition_by=a.entity_id, order_by=a.id, rows=(1, None)).label("fill_id"))
        .where(a.entity_type == "shift", a.team_id.in_(team_ids),
               a.action.in_((*OPEN_ACTIONS, FILL_ACTION)),
               a.at >= period.start - timedelta(days=HISTORY_DAYS), a.at < period.end + timedelta(days=FILL_DAYS))
    ).subquery("events")
    fill = aliased(AuditEntry, name="fill0")
    quick = and_(events.c.action == "shift.created", fill.id.isnot(None),
                 (epoch_seconds(fill.at) - epoch_seconds(events.c.at)) < CREATED_ASSIGNED_SECONDS)
    opens = (
        select(Shift.team_id, Shift.id.label("shift_id"), events.c.fill_id,
               func.min(events.c.at).label("opened_at"))
        .select_from(events)
        .join(Shift, Shift.id == cast(events.c.entity_id, Integer))
        .outerjoin(fill, fill.id == events.c.fill_id)
        .where(events.c.action.in_(OPEN_ACTIONS), Shift.state != ShiftState.cancelled, not_(quick))
        .group_by(Shift.team_id, Shift.id, events.c.fill_id)
    ).subquery("opens")
    return opens


def _cover_and_open_shifts(out, team_ids, period, now) -> None:
    ep = _episodes(team_ids, period)
    fill = aliased(AuditEntry, name="fill")
    s = Shift
    episodes = (
        select(ep.c.team_id, ep.c.shift_id, ep.c.opened_at, fill.at.label("filled_at"), fill.actor_id,
               fill.request_id, _json_int(fill.summary_json, "to_user_id").label("taker_id"),
               s.starts_at)
        .select_from(ep).join(s, s.id == ep.c.shift_id).outerjoin(fill, fill.id == ep.c.fill_id)
    ).cte("episodes")

    # --- cover: one query, three checkpoints. Each slot joins its own episodes (an equi-join on the shift, not a
    # correlated search per slot), and is open at an instant when one of them was.
    def open_at(instant):  # instant: seconds since 1970 (compared as numbers on both engines)
        return func.max(case((and_(epoch_seconds(episodes.c.opened_at) <= instant,
                                   or_(episodes.c.filled_at.is_(None),
                                       epoch_seconds(episodes.c.filled_at) > instant)), 1), else_=0))

    published = and_(RotaPeriod.state == PeriodState.published, RotaPeriod.published_at.isnot(None))
    day = timedelta(hours=24).total_seconds()
    slot_end = min(period.end, now)
    pub, start, created = (epoch_seconds(RotaPeriod.published_at), epoch_seconds(s.starts_at),
                           epoch_seconds(s.created_at))
    slots = (select(s.team_id, case((published, 1), else_=0).label("published"),
                    case((and_(published, created <= pub), 1), else_=0).label("existed_pub"),
                    case((created <= start - day, 1), else_=0).label("existed_24h"),
                    case((created <= start, 1), else_=0).label("existed_start"),
                    open_at(pub).label("open_pub"), open_at(start - day).label("open_24h"),
                    open_at(start).label("open_start"))
             .select_from(s).outerjoin(RotaPeriod, RotaPeriod.id == s.rota_period_id)
             .outerjoin(episodes, episodes.c.shift_id == s.id)
             .where(s.team_id.in_(team_ids), s.state != ShiftState.cancelled, s.starts_at >= period.start,
                    s.starts_at < slot_end)
             .group_by(s.id, s.team_id, s.starts_at, s.created_at, RotaPeriod.state, RotaPeriod.published_at)
             ).subquery("slots")
    c = slots.c

    def filled(existed, was_open):
        return func.sum(case((and_(existed == 1, func.coalesce(was_open, 0) == 0), 1), else_=0))

    q = (select(c.team_id, func.count(), func.sum(c.published), filled(c.existed_pub, c.open_pub),
                filled(c.existed_24h, c.open_24h), filled(c.existed_start, c.open_start))
         .group_by(c.team_id))
    for team_id in team_ids:
        out[team_id].cover = {"slots": 0, "published_slots": 0, "filled_at_publication": 0, "filled_24h_before": 0,
                              "filled_at_start": 0, "unfilled_at_start": 0}
    for team_id, slots, pub_slots, at_pub, at_24h, at_start in db.session.execute(q):
        at_pub, at_24h, at_start, pub_slots = (int(x or 0) for x in (at_pub, at_24h, at_start, pub_slots))
        out[team_id].cover = {
            "slots": slots, "published_slots": pub_slots,
            "filled_at_publication": at_pub, "filled_at_publication_rate": _rate(at_pub, pub_slots),
            "filled_24h_before": at_24h, "filled_24h_before_rate": _rate(at_24h, slots),
            "filled_at_start": at_start, "filled_at_start_rate": _rate(at_start, slots),
            "unfilled_at_start": slots - at_start,
        }

    # --- open shifts: counts and routes in one query
    e = episodes.c
    in_period = and_(e.opened_at >= period.start, e.opened_at < period.end)
    filled = and_(e.filled_at.isnot(None), e.filled_at <= e.starts_at)
    a = AuditEntry  # what said where a claim came from, recorded in the claim's own request: a successful SMS reply
    # to the team's broadcast or a claim from a shift card in its channel (the (team, action, at) index)
    routes = (select(a.request_id, a.actor_id, a.action)
              .where(a.team_id.in_(team_ids), a.action.in_(tuple(ROUTE_ACTIONS)), a.outcome == "success",
                     a.request_id.isnot(None),
                     a.at >= period.start - timedelta(days=HISTORY_DAYS), a.at < period.end + timedelta(days=FILL_DAYS))
              .distinct().subquery("routes"))
    how = case((e.actor_id.is_(None), "coordinator"), (e.actor_id != e.taker_id, "coordinator"),
               *[(routes.c.action == action, route) for action, route in ROUTE_ACTIONS.items()], else_="app")
    banks = _bank_pairs(team_ids)
    own = exists().where(Membership.team_id == e.team_id, Membership.user_id == e.taker_id)
    bank = exists().where(Membership.user_id == e.taker_id, Membership.team_id == banks.c.bank_id,
                          banks.c.team_id == e.team_id)
    where = case((own, "own"), (bank, "bank"), else_="neighbour")
    short = (epoch_seconds(e.starts_at) - epoch_seconds(e.opened_at)) < 86400
    q = (select(e.team_id, func.count(), func.sum(case((filled, 1), else_=0)), func.sum(case((short, 1), else_=0)),
                *[func.sum(case((and_(filled, how == r), 1), else_=0)) for r in HOW_ROUTES],
                *[func.sum(case((and_(filled, where == r), 1), else_=0)) for r in WHERE_ROUTES])
         .select_from(episodes)
         .outerjoin(routes, and_(routes.c.request_id == e.request_id, routes.c.actor_id == e.actor_id))
         .where(in_period).group_by(e.team_id))
    for team_id in team_ids:
        out[team_id].open_shifts = {"created": 0, "filled": 0, "short_notice": 0,
                                    "by_how": dict.fromkeys(HOW_ROUTES, 0), "by_where": dict.fromkeys(WHERE_ROUTES, 0)}
    for row in db.session.execute(q):
        team_id, created, n_filled, n_short = row[:4]
        rest = [int(x or 0) for x in row[4:]]
        out[team_id].open_shifts = {
            "created": created, "filled": int(n_filled or 0), "fill_rate": _rate(int(n_filled or 0), created),
            "short_notice": int(n_short or 0),
            "by_how": dict(zip(HOW_ROUTES, rest[:len(HOW_ROUTES)], strict=True)),
            "by_where": dict(zip(WHERE_ROUTES, rest[len(HOW_ROUTES):], strict=True)),
        }
    times = select(e.team_id, _minutes(e.filled_at, e.opened_at).label("value")).where(in_period, filled).subquery()
    pct = _percentiles(times)
    for team_id in team_ids:
        median, p90, _ = pct.get(team_id, (None, None, 0))
        out[team_id].open_shifts["time_to_fill_median_min"] = median
        out[team_id].open_shifts["time_to_fill_p90_min"] = p90


def _bank_pairs(team_ids):
    rows = db.session.execute(select(TeamSwapSettings.team_id, TeamSwapSettings.pool_team_ids)
                              .where(TeamSwapSettings.team_id.in_(team_ids))).all()
    pairs = [(t, int(b)) for t, pool in rows for b in (pool or []) if str(b).isdigit() and int(b) != t]
    return _pairs(pairs or [(0, 0)], ("team_id", "bank_id"))


# ------------------------------------------------------------------------------------------------------ swaps


def _swaps(out, team_ids, period) -> None:
    r = SwapRequest
    in_period = and_(r.team_id.in_(team_ids), r.created_at >= period.start, r.created_at < period.end)
    approved = r.state == SwapState.approved
    q = (select(r.team_id, func.count(), func.sum(case((r.kind == "swap", 1), else_=0)),
                func.sum(case((approved, 1), else_=0)), func.sum(case((and_(approved, r.auto_approved), 1), else_=0)),
                func.sum(case((r.state == SwapState.refused, 1), else_=0)))
         .where(in_period).group_by(r.team_id))
    for team_id in team_ids:
        out[team_id].swaps = {"requests": 0, "swaps": 0, "offers": 0, "approved": 0, "auto_approved": 0,
                              "refused": 0, "auto_approved_share": None, "refusal_reasons": []}
    for team_id, n, swaps, n_approved, auto, refused in db.session.execute(q):
        swaps, n_approved, auto, refused = (int(x or 0) for x in (swaps, n_approved, auto, refused))
        out[team_id].swaps.update(requests=n, swaps=swaps, offers=n - swaps, approved=n_approved, auto_approved=auto,
                                  refused=refused, auto_approved_share=_rate(auto, n_approved))
    decided = r.state.in_((SwapState.approved, SwapState.refused))
    times = select(r.team_id, _minutes(r.decided_at, r.created_at).label("value")) \
        .where(in_period, decided, r.decided_at.isnot(None)).subquery()
    for team_id, (median, p90, _) in _percentiles(times).items():
        out[team_id].swaps["decision_median_min"], out[team_id].swaps["decision_p90_min"] = median, p90
    for team_id in team_ids:
        out[team_id].swaps.setdefault("decision_median_min", None)
        out[team_id].swaps.setdefault("decision_p90_min", None)
    q = (select(r.team_id, r.reason, func.count()).where(in_period, r.state == SwapState.refused)
         .group_by(r.team_id, r.reason))
    reasons: dict[int, dict[str, int]] = {}
    for team_id, reason, n in db.session.execute(q):
        bucket = reasons.setdefault(team_id, {})
        masked = mask_digits(reason)
        bucket[masked] = bucket.get(masked, 0) + n
    for team_id, bucket in reasons.items():
        out[team_id].swaps["refusal_reasons"] = _most_first(bucket)


# ------------------------------------------------------------------------------------------------- broadcasts


def _broadcasts(out, team_ids, period, price) -> None:
    b, rcp = Broadcast, BroadcastRecipient
    in_period = and_(b.team_id.in_(team_ids), b.created_at >= period.start, b.created_at < period.end)
    acked = or_(rcp.acknowledged_at.isnot(None), rcp.claimed_at.isnot(None))
    q = (select(b.team_id, func.count(rcp.id), func.count(Notification.id), func.count(Notification.read_at),
                func.sum(case((b.requires_ack, 1), else_=0)),
                func.sum(case((and_(b.requires_ack, acked), 1), else_=0)))
         .select_from(rcp).join(b, b.id == rcp.broadcast_id)
         .outerjoin(Notification, Notification.id == rcp.notification_id)
         .where(in_period).group_by(b.team_id))
    n_broadcasts = dict(db.session.execute(select(b.team_id, func.count()).where(in_period).group_by(b.team_id)).all())
    for team_id in team_ids:
        out[team_id].broadcasts = {"broadcasts": n_broadcasts.get(team_id, 0), "recipients": 0, "in_app": 0,
                                   "read": 0, "read_rate": None, "ack_asked": 0, "acknowledged": 0, "ack_rate": None,
                                   "push": 0, "sms": 0, "sms_segments": 0, "sms_cost_pence": 0.0}
    for team_id, n, in_app, read, ack_asked, ack in db.session.execute(q):
        ack_asked, ack = int(ack_asked or 0), int(ack or 0)
        out[team_id].broadcasts.update(recipients=n, in_app=in_app, read=read, read_rate=_rate(read, in_app),
                                       ack_asked=ack_asked, acknowledged=ack, ack_rate=_rate(ack, ack_asked))
    o = OutboxMessage
    length = func.length(o.text) + case((o.suffix.isnot(None), func.length(o.suffix) + 1), else_=0)
    segments = case((length <= 160, 1), else_=(length + 152) // 153)
    accepted = o.state.in_(PROVIDER_ACCEPTED)
    q = (select(b.team_id, func.sum(case((and_(accepted, o.channel == "push"), 1), else_=0)),
                func.sum(case((and_(accepted, o.channel == "sms"), 1), else_=0)),
                func.sum(case((and_(accepted, o.channel == "sms"), segments), else_=0)))
         .select_from(o).join(b, b.id == o.broadcast_id).where(in_period).group_by(b.team_id))
    for team_id, push, sms, segs in db.session.execute(q):
        segs = int(segs or 0)
        out[team_id].broadcasts.update(push=int(push or 0), sms=int(sms or 0), sms_segments=segs,
                                       sms_cost_pence=round(segs * price, 2))


# ----------------------------------------------------------------------------------------------- working time


def _working_time(out, team_ids, period) -> None:
    a = AuditEntry
    in_period = and_(a.team_id.in_(team_ids), a.at >= period.start, a.at < period.end)
    q = (select(a.team_id, func.sum(case((a.action == "compliance.warned", 1), else_=0)),
                func.sum(case((a.action.in_(OVERRIDE_ACTIONS), 1), else_=0)),
                func.sum(case((a.action == REFUSED_ACTION, 1), else_=0)))
         .where(in_period, a.action.in_(("compliance.warned", REFUSED_ACTION, *OVERRIDE_ACTIONS)))
         .group_by(a.team_id))
    for team_id in team_ids:
        out[team_id].working_time = {"warnings_accepted": 0, "overrides": 0, "override_reasons": [],
                                     "blocking_avoided": 0, "blocking_by_rule": []}
    for team_id, warned, overrides, refused in db.session.execute(q):
        out[team_id].working_time.update(warnings_accepted=int(warned or 0), overrides=int(overrides or 0),
                                         blocking_avoided=int(refused or 0))
    # override reasons and the rules of refusals: one query grouped by the text (few distinct values), split here
    is_refusal = a.action == REFUSED_ACTION
    text = case((is_refusal, _json_str(a.summary_json, "rule_ids")), else_=_json_str(a.summary_json, "reason"))
    q = (select(a.team_id, is_refusal, text, func.count())
         .where(in_period, a.action.in_((REFUSED_ACTION, *OVERRIDE_ACTIONS))).group_by(a.team_id, is_refusal, text))
    reasons: dict[int, dict[str, int]] = {}
    by_rule: dict[int, dict[str, int]] = {}
    for team_id, refusal, text, n in db.session.execute(q):
        if refusal:
            bucket = by_rule.setdefault(team_id, {})
            for code in {c.strip() for c in str(text or "").split(",") if c.strip()}:
                bucket[code] = bucket.get(code, 0) + n
        else:
            bucket = reasons.setdefault(team_id, {})
            masked = mask_digits(text)
            bucket[masked] = bucket.get(masked, 0) + n
    for team_id, bucket in reasons.items():
        out[team_id].working_time["override_reasons"] = _most_first(bucket)
    for team_id, bucket in by_rule.items():
        out[team_id].working_time["blocking_by_rule"] = _most_first(bucket, limit=None)


def _most_first(counts: dict[str, int], limit: int | None = 10) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def weekend_bounds(period: Period, tz) -> list[tuple[datetime, datetime]]:
    """UTC [start, end) of every local weekend (Saturday 00:00 to Monday 00:00 in ``tz``) touching the period."""
    z = timeutil.zone(tz)
    first = timeutil.local_date(period.start, tz) - timedelta(days=7)
    last = timeutil.local_date(period.end, tz) + timedelta(days=7)
    day = first + timedelta(days=(5 - first.weekday()) % 7)
    out = []
    while day <= last:
        lo = datetime.combine(day, time.min).replace(tzinfo=z).astimezone(UTC)
        hi = datetime.combine(day + timedelta(days=2), time.min).replace(tzinfo=z).astimezone(UTC)
        out.append((lo, hi))
        day += timedelta(days=7)
    return out


def _people(out, team_ids, period) -> None:
    zones = dict(db.session.execute(select(Team.id, Team.timezone).where(Team.id.in_(team_ids))).all())
    rows = [(t, lo, hi) for t in team_ids for lo, hi in weekend_bounds(period, zones.get(t))]
    weekends = values(sql_column("team_id", Integer()), sql_column("lo", Shift.starts_at.type),
                      sql_column("hi", Shift.starts_at.type), name="weekends").data(rows).cte("weekends")
    s = Shift
    on_weekend = exists().where(weekends.c.team_id == s.team_id, s.starts_at >= weekends.c.lo,
                                s.starts_at < weekends.c.hi)
    # contracted hours for the period: FTE x the trust's full-time week x local days / 7, for members of the team
    member = exists().where(Membership.team_id == s.team_id, Membership.user_id == s.assignee_id)
    day_minutes = func.coalesce(select(TrustLeaveSettings.day_minutes).where(TrustLeaveSettings.id == 1)
                                .scalar_subquery(), DEFAULT_DAY_MINUTES)
    days = (period.last_day - period.first_day).days + 1 if period.first_day and period.last_day else period.days
    contracted = case((member, func.coalesce(StaffLeaveProfile.fte_thousandths, 1000) * day_minutes
                       * (FULL_TIME_DAYS * days) / (7 * 1000 * 60.0)))
    q = (select(s.team_id, s.assignee_id, User.display_name, func.count(),
                func.sum(epoch_seconds(s.ends_at) - epoch_seconds(s.starts_at)) / 3600.0,
                func.sum(case((ShiftType.kind == ShiftKind.night, 1), else_=0)),
                func.sum(case((on_weekend, 1), else_=0)), func.max(contracted))
         .select_from(s).join(User, User.id == s.assignee_id).outerjoin(ShiftType, ShiftType.id == s.shift_type_id)
         .outerjoin(StaffLeaveProfile, StaffLeaveProfile.user_id == s.assignee_id)
         .where(s.team_id.in_(team_ids), s.state == ShiftState.scheduled, s.starts_at >= period.start,
                s.starts_at < period.end)
         .group_by(s.team_id, s.assignee_id, User.display_name)
         .order_by(s.team_id, User.display_name))
    for team_id in team_ids:
        out[team_id].people = []
    for team_id, _uid, name, shifts, hours, nights, weekend, owed in db.session.execute(q):
        hours, owed = round(float(hours or 0), 1), None if owed is None else round(float(owed), 1)
        out[team_id].people.append({"name": name, "shifts": shifts, "hours": hours, "contracted_hours": owed,
                                    "hours_vs_contracted": None if owed is None else round(hours - owed, 1),
                                    "nights": int(nights or 0), "weekends": int(weekend or 0)})
    for team_id in team_ids:
        people = out[team_id].people
        out[team_id].working_time["nights_spread"] = (max(p["nights"] for p in people) -
                                                      min(p["nights"] for p in people)) if people else None
        out[team_id].working_time["weekends_spread"] = (max(p["weekends"] for p in people) -
                                                        min(p["weekends"] for p in people)) if people else None


# --------------------------------------------------------------------------------------------------- handover


def _handover(out, team_ids, period, now) -> None:
    h = Handover
    in_period = and_(h.team_id.in_(team_ids), h.ready_at.isnot(None), h.ready_at >= period.start,
                     h.ready_at < period.end)
    window = func.coalesce(HandoverSettings.ack_minutes, DEFAULT_ACK_MINUTES)
    waited = _minutes(func.coalesce(h.accepted_at, literal(now, Shift.starts_at.type)), h.ready_at)
    overdue = or_(h.flagged_at.isnot(None), waited > window)
    q = (select(h.team_id, func.count(), func.count(h.accepted_at), func.sum(case((overdue, 1), else_=0)))
         .select_from(h).outerjoin(HandoverSettings, HandoverSettings.team_id == h.team_id)
         .where(in_period).group_by(h.team_id))
    for team_id in team_ids:
        out[team_id].handover = {"handed_over": 0, "accepted": 0, "overdue": 0, "carried_unreviewed": 0,
                                 "acceptance_median_min": None, "acceptance_p90_min": None}
    for team_id, n, accepted, n_overdue in db.session.execute(q):
        out[team_id].handover.update(handed_over=n, accepted=accepted, overdue=int(n_overdue or 0))
    times = select(h.team_id, _minutes(h.accepted_at, h.ready_at).label("value")) \
        .where(in_period, h.accepted_at.isnot(None)).subquery()
    for team_id, (median, p90, _) in _percentiles(times).items():
        out[team_id].handover.update(acceptance_median_min=median, acceptance_p90_min=p90)
    en = HandoverEntry
    q = (select(h.team_id, func.count(en.id)).select_from(en).join(h, h.id == en.handover_id)
         .where(in_period, en.carried_from_id.isnot(None), en.reviewed_at.is_(None), en.current == true())
         .group_by(h.team_id))
    for team_id, n in db.session.execute(q):
        out[team_id].handover["carried_unreviewed"] = n
