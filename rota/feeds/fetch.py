"""The fetch path of a calendar feed: the one-statement lookup that finds a feed and its validator (``find_feed``),
the fetch record, and the builders that turn rows into ``ical`` events and bytes (cached per change stamp).
The links, preferences and settings behind a feed are in ``rota.feeds.service``; why the fetch path looks the way it
does is in that module's docstring."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from operator import itemgetter
from urllib.parse import urlsplit

from flask import current_app, url_for
from sqlalchemy import String, and_, bindparam, func, or_, select, type_coerce, update

from core.accounts import Membership, Team, TeamRole, User
from core.db import db, now_utc
from core.links import FALLBACK_BASE_URL, public_base_url
from rota.feeds import ical
from rota.feeds.models import (
    CalendarFeed,
    CalendarPreference,
    FeedKind,
    FeedStamp,
    TeamFeedSetting,
)
from rota.feeds.service import (
    EXPLAIN,
    FORMAT_VERSION,
    LETTER_KIND,
    RELEASE_WORDING,
    TOKEN_RE,
    Window,
    as_of_day,
    feed_setting,
    team_feed_team_ids,
    token_digest,
)
from rota.models import Leave, PeriodState, RotaPeriod, Shift, ShiftRelease, ShiftState, ShiftType
from rota.swaps import eligibility


@dataclass(frozen=True)
class FoundFeed:
    feed_id: int
    user_id: int
    kind: FeedKind
    reminder_minutes: int | None
    last_fetched_at: datetime | None
    last_client: str | None
    etag: str
    last_modified: datetime
    day: datetime
    team_ids: tuple[int, ...] | None = None  # a team feed's teams, as its validator saw them


def _window_overlap(window: Window):
    return and_(Shift.starts_at < window.end, Shift.ends_at > window.start)


def _published():
    """Shifts staff may see: outside any rota period, or in a published one. A draft is not a commitment and a
    feed link is a bearer secret synced to phones, so no feed (not even a coordinator's) carries draft shifts."""
    return or_(Shift.rota_period_id.is_(None),
               Shift.rota_period_id.in_(select(RotaPeriod.id).where(RotaPeriod.state == PeriodState.published)))


def _aggregates(kind: FeedKind, window: Window, day: datetime) -> list:
    """Correlated scalar subqueries (on ``CalendarFeed.user_id``) that change whenever the feed's bytes would (my
    shifts and open shifts; a team feed reads its teams' change stamps instead, ``_find_team_feed``)."""
    uid = CalendarFeed.user_id

    def agg(where, *, over=Shift, changed=Shift.updated_at, join=None):
        cols = (func.count(over.id), func.max(changed), func.sum(over.id))
        out = []
        for col in cols:
            stmt = select(col).select_from(over)
            if join is not None:
                stmt = stmt.join(*join)
            out.append(stmt.where(*where).scalar_subquery())
        return out

    # Publishing a period changes what a feed holds without touching its shifts: its time is part of the validator.
    published = [select(func.max(RotaPeriod.published_at)).where(
        RotaPeriod.team_id.in_(select(Membership.team_id).where(Membership.user_id == uid))).scalar_subquery()]
    mine = agg([Shift.assignee_id == uid, _window_overlap(window), _published()]) + published
    if kind == FeedKind.mine:
        released = agg([ShiftRelease.user_id == uid, ShiftRelease.released_at >= window.cancelled_since,
                        _window_overlap(window), _published()], over=ShiftRelease, changed=Shift.updated_at,
                       join=(Shift, Shift.id == ShiftRelease.shift_id))
        return mine + released
    member_teams = select(Membership.team_id).where(Membership.user_id == uid)
    open_now = agg([Shift.team_id.in_(member_teams), Shift.state == ShiftState.open, Shift.starts_at > day,
                    Shift.starts_at < window.end])
    leave = [select(func.count(Leave.id)).where(Leave.user_id == uid).scalar_subquery(),
             select(func.max(Leave.created_at)).where(Leave.user_id == uid).scalar_subquery()]
    return mine + open_now + leave + [User.grade, User.skills]


def _covered_teams(window: Window):
    """Join condition (correlated on ``CalendarFeed.user_id``): the change stamps of the teams whose names, shift
    types, periods and shifts a personal or open-shift feed shows — the person's teams, and those of the shifts they
    hold or released in the window (a former team's). Every stamp moves with a rename of the team, of one of its
    shift types or of a member, a member's leave, and any change to its shifts (``rota.feeds.stamps``)."""
    uid = CalendarFeed.user_id
    return or_(FeedStamp.team_id.in_(select(Membership.team_id).where(Membership.user_id == uid)),
               FeedStamp.team_id.in_(select(Shift.team_id).where(Shift.assignee_id == uid, _window_overlap(window))),
               FeedStamp.team_id.in_(select(Shift.team_id).join(ShiftRelease, ShiftRelease.shift_id == Shift.id)
                                     .where(ShiftRelease.user_id == uid,
                                            ShiftRelease.released_at >= window.cancelled_since,
                                            _window_overlap(window))))


@cache
def _personal_feed_statement(kind: FeedKind):
    """The one statement of a personal (or open-shift) feed's fetch, built once per kind and run with the token's
    digest, the day and its window (building it cost more than running it)."""
    window = Window(start=bindparam("window_start"), end=bindparam("window_end"),
                    cancelled_since=bindparam("cancelled_since"))
    return (select(CalendarFeed.id, CalendarFeed.user_id, CalendarFeed.last_fetched_at, CalendarFeed.last_client,
                   CalendarPreference.reminder_minutes, CalendarPreference.updated_at, FeedStamp.team_id,
                   FeedStamp.version, FeedStamp.changed_at, *_aggregates(kind, window, bindparam("day")))
            .join(User, User.id == CalendarFeed.user_id)
            .outerjoin(CalendarPreference, CalendarPreference.user_id == CalendarFeed.user_id)
            .outerjoin(FeedStamp, _covered_teams(window))
            .where(CalendarFeed.token_hash == bindparam("token_hash"), CalendarFeed.kind == kind,
                   User.active.is_(True))
            .order_by(FeedStamp.team_id))


def find_feed(token: str) -> FoundFeed | None:
    """The feed behind ``token`` and its validator, in one SQL statement. None for unknown or revoked tokens."""
    match = TOKEN_RE.match(token)
    if match is None:
        return None
    kind = LETTER_KIND[match.group(1)]
    day = as_of_day()
    if kind == FeedKind.team:
        return _find_team_feed(token, day)
    window = Window.for_day(day, kind)
    rows = db.session.execute(_personal_feed_statement(kind), {
        "token_hash": token_digest(token), "day": day, "window_start": window.start, "window_end": window.end,
        "cancelled_since": window.cancelled_since}).all()
    if not rows:
        return None
    feed_id, user_id, fetched, client, reminder, pref_changed, _, _, _, *values = rows[0]
    stamps = [(team_id, version) for _, _, _, _, _, _, team_id, version, _, *_ in rows if team_id is not None]
    fingerprint = repr((FORMAT_VERSION, feed_id, kind.value, day.date().isoformat(), reminder, stamps,
                        [v.isoformat() if isinstance(v, datetime) else v for v in values]))
    changes = ([v for v in values if isinstance(v, datetime)] + ([pref_changed] if pref_changed else [])
               + [row[8] for row in rows if row[8] is not None])
    return FoundFeed(feed_id=feed_id, user_id=user_id, kind=kind, reminder_minutes=reminder,
                     last_fetched_at=fetched, last_client=client,
                     etag=hashlib.sha256(fingerprint.encode()).hexdigest()[:32],
                     last_modified=max([day, *changes]).replace(microsecond=0), day=day)


def _find_team_feed(token: str, day: datetime) -> FoundFeed | None:
    """A team feed's validator is the change stamps of the teams it shows (``rota.feeds.stamps``: every write that
    changes what the feed shows moves its team's stamp), read with the feed in one statement: one row per team the
    person belongs to, with its role, the team's feed setting and its stamp. No shift is read."""
    stmt = (select(CalendarFeed.id, CalendarFeed.user_id, CalendarFeed.last_fetched_at, CalendarFeed.last_client,
                   Membership.team_id, Membership.role, TeamFeedSetting.staff_may_subscribe, FeedStamp.version,
                   FeedStamp.changed_at)
            .join(User, User.id == CalendarFeed.user_id)
            .outerjoin(Membership, Membership.user_id == CalendarFeed.user_id)
            .outerjoin(TeamFeedSetting, TeamFeedSetting.team_id == Membership.team_id)
            .outerjoin(FeedStamp, FeedStamp.team_id == Membership.team_id)
            .where(CalendarFeed.token_hash == token_digest(token), CalendarFeed.kind == FeedKind.team,
                   User.active.is_(True))
            .order_by(Membership.team_id))
    rows = db.session.execute(stmt).all()
    if not rows:
        return None
    feed_id, user_id, fetched, client = rows[0][:4]
    shown = [(team_id, version or 0, changed) for _, _, _, _, team_id, role, staff_may, version, changed in rows
             if team_id is not None and (role == TeamRole.coordinator or staff_may)]
    fingerprint = repr((FORMAT_VERSION, feed_id, FeedKind.team.value, day.date().isoformat(),
                        [(team_id, version) for team_id, version, _ in shown]))
    changes = [changed for _, _, changed in shown if changed is not None]
    return FoundFeed(feed_id=feed_id, user_id=user_id, kind=FeedKind.team, reminder_minutes=None,
                     last_fetched_at=fetched, last_client=client,
                     etag=hashlib.sha256(fingerprint.encode()).hexdigest()[:32],
                     last_modified=max([day, *changes]).replace(microsecond=0), day=day,
                     team_ids=tuple(team_id for team_id, _, _ in shown))


def advertised_last_modified(found: FoundFeed) -> datetime:
    """The Last-Modified date to send. HTTP dates have whole seconds, so while the second of the last change is still
    running a further change could land in it unseen by a calendar comparing If-Modified-Since: then the date sent
    is one second earlier, and the calendar's next poll gets the feed again instead of a wrong 304."""
    if found.last_modified >= now_utc().replace(microsecond=0):
        return found.last_modified - timedelta(seconds=1)
    return found.last_modified


def record_fetch(found: FoundFeed, client: str | None) -> None:
    """Remember when and by what the feed was fetched; at most one write per FEED_FETCH_RECORD_SECONDS."""
    client = (client or "unknown client")[:200]
    now = now_utc()
    fresh = found.last_fetched_at and now - found.last_fetched_at < timedelta(
        seconds=int(feed_setting("FEED_FETCH_RECORD_SECONDS")))
    if fresh and found.last_client == client:
        return
    db.session.execute(update(CalendarFeed).where(CalendarFeed.id == found.feed_id)
                       .values(last_fetched_at=now, last_client=client))


# ------------------------------------------------------------------------------------------ feed builders


def _uid_domain() -> str:
    configured = feed_setting("FEED_UID_DOMAIN")
    if configured:
        return configured
    # Not the request's host: UIDs must not change with the address a calendar happens to use. Unset, it stays
    # what it has always been (the host of the old default PUBLIC_BASE_URL).
    return urlsplit(current_app.config.get("PUBLIC_BASE_URL") or FALLBACK_BASE_URL).hostname or "shiftbridge.local"


def shift_link_format() -> str:
    """The shift page's URL with ``{}`` for the id (worked out once per feed, not once per event)."""
    base = public_base_url()
    try:
        return base + url_for("rota.shift_detail", shift_id=987654321).replace("987654321", "{}")
    except Exception:  # the rota pages may not define a shift page yet
        return base + "/rota/shifts/{}"


@dataclass(frozen=True)
class _Ctx:
    domain: str
    link: str

    @classmethod
    def current(cls) -> _Ctx:
        return cls(domain=_uid_domain(), link=shift_link_format())


_SHIFT_COLS = (Shift.id, Shift.starts_at, Shift.ends_at, Shift.state, Shift.cancel_reason, Shift.version,
               Shift.updated_at, ShiftType.name, ShiftType.code, Team.name, Team.site, Team.timezone)


def _shift_stmt(*extra_cols):
    return (select(*_SHIFT_COLS, *extra_cols).join(Team, Team.id == Shift.team_id)
            .outerjoin(ShiftType, ShiftType.id == Shift.shift_type_id))


def _location(team_name: str, site: str | None) -> str:
    return f"{team_name}, {site}" if site else team_name


def _event(ctx: _Ctx, row, *, uid_suffix: str, summary: str, cancelled=False, busy=True, extra=(), reminder=None,
           changed=None) -> ical.FeedEvent:
    sid, starts, ends, _state, _reason, version, updated, type_name, code, team, site, tz = row[:12]
    link = ctx.link.format(sid)
    return ical.FeedEvent(
        uid=f"shift-{sid}{uid_suffix}@{ctx.domain}", starts_at=starts, ends_at=ends, summary=summary,
        description=ical.shift_description(type_name=type_name, type_code=code, team_name=team, timezone=tz,
                                           starts_at=starts, ends_at=ends, link=link, extra=extra),
        sequence=version, last_modified=max(updated, changed) if changed else updated,
        location=_location(team, site), url=link, cancelled=cancelled, busy=busy, reminder_minutes=reminder)


def mine_events(ctx: _Ctx, user_id: int, window: Window, reminder: int | None) -> list[ical.FeedEvent]:
    """Shifts I hold (CONFIRMED); ones I stopped holding, or that were cancelled, for 14 days (CANCELLED)."""
    events: dict[int, ical.FeedEvent] = {}
    rows = db.session.execute(_shift_stmt().where(Shift.assignee_id == user_id, _window_overlap(window),
                                                  _published())).all()
    for row in rows:
        state, reason, updated, type_name, team = row[3], row[4], row[6], row[7], row[9]
        if state == ShiftState.cancelled:
            if updated < window.cancelled_since:
                continue
            why = ical.released_on("Shift cancelled", updated, row[11]) + (f": {reason}" if reason else "")
            events[row[0]] = _event(ctx, row, uid_suffix="", summary=ical.shift_summary(type_name, team,
                                                                                   prefix="Cancelled: "),
                                    cancelled=True, extra=[why])
        else:
            events[row[0]] = _event(ctx, row, uid_suffix="", summary=ical.shift_summary(type_name, team),
                                    reminder=reminder)
    released = db.session.execute(
        _shift_stmt(ShiftRelease.kind, ShiftRelease.reason, ShiftRelease.released_at)
        .join(ShiftRelease, ShiftRelease.shift_id == Shift.id)
        .where(ShiftRelease.user_id == user_id, ShiftRelease.released_at >= window.cancelled_since,
               _window_overlap(window), _published(), or_(Shift.assignee_id.is_(None), Shift.assignee_id != user_id))
        .order_by(ShiftRelease.released_at, ShiftRelease.id)).all()
    for row in released:  # the latest release of each shift wins
        kind, reason, released_at = row[12], row[13], row[14]
        state, cancel_reason, type_name, team, tz = row[3], row[4], row[7], row[9], row[11]
        why = ical.released_on(reason or RELEASE_WORDING.get(kind, "No longer yours"), released_at, tz)
        if state == ShiftState.cancelled and cancel_reason:
            why = f"{why}: {cancel_reason}"
        events[row[0]] = _event(ctx, row, uid_suffix="", cancelled=True, extra=[why], changed=released_at,
                                summary=ical.shift_summary(type_name, team, prefix="Cancelled: "))
    return list(events.values())


def _team_rows(team_ids: list[int], window: Window) -> list:
    if not team_ids:
        return []
    return db.session.execute(_shift_stmt(User.display_name).outerjoin(User, User.id == Shift.assignee_id)
                              .where(Shift.team_id.in_(team_ids), _window_overlap(window), _published())).all()


_UNPROCESSED = (1, 2, 3, 6)  # starts_at, ends_at, state, updated_at in a team row (``_SHIFT_COLS``)


def _team_rows_raw(team_ids: list[int], window: Window):
    """``_team_rows`` with the instants and the state as the driver gives them (SQLite: text), and the function that
    makes one such row what ``_team_rows`` gives. A rebuild compares the raw rows with the last build's and converts
    only the rows that changed: converting 60,000 rows' instants costs more than the rest of a rebuild. Plain
    tuples, which the garbage collector stops tracking, are what the cache keeps."""
    if not team_ids:
        return [], None
    cols = [type_coerce(col, String) if i in _UNPROCESSED else col
            for i, col in enumerate((*_SHIFT_COLS, User.display_name))]
    stmt = (select(*cols).select_from(Shift).join(Team, Team.id == Shift.team_id)
            .outerjoin(ShiftType, ShiftType.id == Shift.shift_type_id)
            .outerjoin(User, User.id == Shift.assignee_id)
            .where(Shift.team_id.in_(team_ids), _window_overlap(window), _published()))
    dialect = db.session.get_bind().dialect
    procs = {i: _SHIFT_COLS[i].type.dialect_impl(dialect).result_processor(dialect, None) for i in _UNPROCESSED}
    procs = {i: proc for i, proc in procs.items() if proc is not None}

    def convert(row: tuple) -> tuple:
        return tuple(procs[i](value) if i in procs else value for i, value in enumerate(row))

    return [tuple(row) for row in db.session.execute(stmt)], convert


def team_events(ctx: _Ctx, team_ids: list[int], window: Window) -> list[ical.FeedEvent]:
    return [e for e in _team_events(ctx, _team_rows(team_ids, window), window) if e is not None]


def _team_events(ctx: _Ctx, rows, window: Window, *, keep_none: bool = False) -> list:
    """One event per row (None for a cancelled shift past its 14 days, when ``keep_none``)."""
    events: list = []
    for row in rows:
        state, reason, updated, type_name, team, who = row[3], row[4], row[6], row[7], row[9], row[12]
        if state == ShiftState.cancelled:
            if updated < window.cancelled_since:
                if keep_none:
                    events.append(None)
                continue
            extra = [f"Cancelled{': ' + reason if reason else ''}"]
            events.append(_event(ctx, row, uid_suffix=".team", summary=ical.shift_summary(type_name, team, who=who,
                                                                                    prefix="Cancelled: "),
                                 cancelled=True, busy=False, extra=extra))
        elif state == ShiftState.open:
            events.append(_event(ctx, row, uid_suffix=".team", summary=ical.shift_summary(type_name, team,
                                                                                    prefix="Open: "),
                                 busy=False, extra=["Not yet filled"]))
        else:
            events.append(_event(ctx, row, uid_suffix=".team", summary=ical.shift_summary(type_name, team, who=who),
                                 busy=False, extra=[f"Worked by {who}"]))
    return events


def eligible_open_shift_ids(user: User, window: Window, day: datetime) -> list[int]:
    """Open shifts ``user`` could claim (``rota.eligibility``: grade, skills, leave, overlap, cover, working-time
    rules) that start within the feed's window."""

    return [r.shift.id for r in eligibility.eligible_open_shifts(user) if r.ok and r.shift.starts_at < window.end]


def open_events(ctx: _Ctx, user_id: int, window: Window, day: datetime) -> list[ical.FeedEvent]:
    user = db.session.get(User, user_id)
    ids = eligible_open_shift_ids(user, window, day)
    if not ids:
        return []
    rows = db.session.execute(_shift_stmt().where(Shift.id.in_(ids), Shift.state == ShiftState.open,
                                                  _published())).all()
    return [_event(ctx, row, uid_suffix=".open", summary=ical.shift_summary(row[7], row[9], prefix="Open: "),
                   busy=False, extra=["Open shift you are eligible for: claim it in Shiftbridge"]) for row in rows]


def _feed_name(found: FoundFeed, team_ids: list[int] | None = None) -> str:
    if found.kind == FeedKind.mine:
        return "Shiftbridge: my shifts"
    if found.kind == FeedKind.open:
        return "Shiftbridge: open shifts I can take"
    names = db.session.scalars(select(Team.name).where(Team.id.in_(team_ids)).order_by(Team.name)).all()
    return f"Shiftbridge: {names[0]} rota" if len(names) == 1 else "Shiftbridge: team rotas"


def _team_ids(found: FoundFeed) -> list[int]:
    if found.team_ids is not None:
        return list(found.team_ids)
    return team_feed_team_ids(db.session.get(User, found.user_id))


def build_calendar(found: FoundFeed) -> ical.FeedCalendar:
    window = Window.for_day(found.day, found.kind)
    ctx = _Ctx.current()
    team_ids = None
    if found.kind == FeedKind.mine:
        events = mine_events(ctx, found.user_id, window, found.reminder_minutes)
    elif found.kind == FeedKind.team:
        team_ids = _team_ids(found)
        events = team_events(ctx, team_ids, window)
    else:
        events = open_events(ctx, found.user_id, window, found.day)
    return ical.FeedCalendar(name=_feed_name(found, team_ids), description=EXPLAIN[found.kind], events=tuple(events))


def render_feed(found: FoundFeed, pieces: dict | None = None) -> bytes:
    return ical.render(build_calendar(found), pieces)


def _team_body(found: FoundFeed, before: dict | None) -> tuple[bytes, dict, int]:
    """A team feed's bytes, reusing what ``before`` (the last build's ``written``) holds: per shift id, the row read
    (every column the event shows), where its event goes and its VEVENT bytes. A row read again unchanged, under
    the same link context and day, is not worded or written again; keyed by shift id, so a rebuild after one change
    hashes no events. Returns (bytes, written, size of the VEVENT bytes kept)."""
    window = Window.for_day(found.day, FeedKind.team)
    ctx = _Ctx.current()
    team_ids = _team_ids(found)
    raw, convert = _team_rows_raw(team_ids, window)
    known = before["shifts"] if before is not None and before["ctx"] == ctx and before["day"] == found.day else {}
    shifts, fresh = {}, []
    for row in raw:
        hit = known.get(row[0])
        if hit is not None and hit[0] == row:
            shifts[row[0]] = hit
        else:
            fresh.append(row)
    rows = [convert(row) for row in fresh]
    for key, row, event in zip(fresh, rows, _team_events(ctx, rows, window, keep_none=True), strict=True):
        shifts[row[0]] = (key, None, None) if event is None else (key, ical.sort_key(event), ical.vevent_bytes(event))
    kept = sorted((entry for entry in shifts.values() if entry[2] is not None), key=itemgetter(1))
    calendar = ical.FeedCalendar(name=_feed_name(found, team_ids), description=EXPLAIN[FeedKind.team], events=())
    body = ical.render_written(calendar, [entry[2] for entry in kept])
    return body, {"ctx": ctx, "day": found.day, "shifts": shifts}, sum(len(entry[2]) for entry in kept)


FEED_CACHE_BYTES = 96 * 1024 * 1024  # per process; a 1,000-person team's 3 months is about 35 MB (x2 with its events)
_feed_cache_lock = threading.Lock()
_building: dict[tuple[int, int], threading.Lock] = {}  # (cache, feed id) -> held while that feed is being built


def feed_body(found: FoundFeed) -> bytes:
    """The feed's bytes, built once per change stamp. The ETag is the stamp: anything that changes the feed changes
    it (that is what makes the 304 answer right), so bytes stored under it stay right until it moves on. One entry
    per feed, in this app; the least recently served feeds are dropped beyond ``FEED_CACHE_BYTES``.

    Each entry also keeps what a rebuild after a change reuses, so that only the events that changed are written
    again: for a personal feed every event's VEVENT bytes, keyed by the event itself (every value written, so a
    changed shift, name, link or reminder is a different key; ``ical.render``'s ``pieces``); for a team feed, which
    can hold 60,000 events, the row, place and bytes of each shift, keyed by shift id (``_team_body``)."""
    cache = current_app.extensions.setdefault("calendar_feed_bytes", OrderedDict())
    hit = _cached(cache, found)
    if hit is not None and hit[0] == found.etag:
        return hit[1]
    # One build per feed at a time: calendars that ask at the same moment (a team feed's subscribers after a change)
    # wait for the first one's bytes instead of each building the whole feed.
    with _feed_cache_lock:
        building = _building.setdefault((id(cache), found.feed_id), threading.Lock())
    with building:
        hit = _cached(cache, found)
        if hit is not None and hit[0] == found.etag:
            return hit[1]
        return _build(cache, found, hit)


def _cached(cache: OrderedDict, found: FoundFeed):
    with _feed_cache_lock:
        hit = cache.get(found.feed_id)
        if hit is not None and hit[0] == found.etag:
            cache.move_to_end(found.feed_id)
        return hit


def _build(cache: OrderedDict, found: FoundFeed, hit) -> bytes:
    """Build the feed (reusing ``hit``, the entry of an older ETag, if any) and keep its bytes in ``cache``."""
    if found.kind == FeedKind.team:
        body, kept, size = _team_body(found, hit[2] if hit is not None else None)  # a feed keeps its kind
    else:
        calendar = build_calendar(found)
        known = dict(hit[2]) if hit is not None else {}
        body = ical.render(calendar, known)
        kept = {event: known[event] for event in calendar.events}  # this build's events only
        size = sum(map(len, kept.values()))
    size += len(body)
    with _feed_cache_lock:
        cache[found.feed_id] = (found.etag, body, kept, size)
        cache.move_to_end(found.feed_id)
        total = sum(entry[3] for entry in cache.values())
        while total > FEED_CACHE_BYTES and len(cache) > 1:
            total -= cache.popitem(last=False)[1][3]
    return body
