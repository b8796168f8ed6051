"""Calendar feeds: secret subscription links for "my shifts", "team rota" and "open shifts I can take".

This module: settings, the links (tokens) and the services behind them (preferences, team settings, the profile
overview). The cheap validator lookup and the feed builders (rows -> ``ical`` events) are in ``rota.feeds.fetch``;
the HTTP views (``/calendar/<token>.ics``, profile actions) in ``rota.feeds.views``, the JSON API in
``rota.feeds.api``.

Why the fetch path looks the way it does:

* A feed link is a credential. Unknown and malformed tokens answer a plain 404; links this server issued and then
  retired (rotated, turned off, password change, deactivation) answer 410 Gone and never count as guesses. Tokens
  never reach the application log (a logging filter redacts them from the request lines of the development server
  and gunicorn's access log) and the rate limiter keys on a hash of the token, not the token. A client that asks
  for ``FEED_MISS_LIMIT`` never-issued links is refused (429) *before* the look-up, for every link, so guessing
  gains nothing; a password change or deactivation revokes every link (``revoke_every_feed``).
* Calendar clients poll. One SQL statement finds the feed *and* computes its validator (the change stamps of the
  teams it covers, ``rota.feeds.stamps``; for personal feeds also counts and latest change times), so a conditional
  request answers 304 from that one query without building the feed; a renamed shift type or team reaches every
  kind of feed at the next poll. The validator is also scoped to the UTC day because the window (60 days back ..
  18 months ahead) and the 14-day life of cancelled entries move with the date.
* Each fetch is recorded (time and client) so people can see on their profile that their calendar really
  subscribed; to keep polling cheap the record is written at most once per ``FEED_FETCH_RECORD_SECONDS``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from flask import current_app
from sqlalchemy import func, or_, select

from core import audit, limits
from core.accounts import Membership, Team, TeamRole, User
from core.db import db, now_utc
from core.errors import Forbidden, NotFound
from core.links import public_base_url
from rota.feeds.models import (
    CalendarFeed,
    CalendarPreference,
    FeedKind,
    RetiredFeedToken,
    TeamFeedSetting,
)
from rota.models import ReleaseKind

log = logging.getLogger(__name__)

DEFAULTS = {
    "FEED_PAST_DAYS": limits.FEED_PAST_DAYS,
    "FEED_FUTURE_DAYS": limits.FEED_FUTURE_DAYS,  # 18 months
    # A team feed for a 60-person ward over 18 months would hold ~17,000 events (~10 MB): too big for Google's
    # subscription fetcher and slow to render. Team rotas therefore default to 14 days back, 3 months ahead.
    "FEED_TEAM_PAST_DAYS": limits.FEED_TEAM_PAST_DAYS,
    "FEED_TEAM_FUTURE_DAYS": limits.FEED_TEAM_FUTURE_DAYS,
    # a shift someone stopped holding stays in their feed as CANCELLED this long
    "FEED_CANCELLED_DAYS": limits.FEED_CANCELLED_DAYS,
    "FEED_RATE_LIMIT": "60 per hour;10 per minute",
    # Never-issued links asked for by one client (address): then all its feed requests get 429 for the window.
    # Retired links answer 410 and do not count (calendar services poll from shared addresses).
    "FEED_MISS_LIMIT": "30 per hour",
    "FEED_FETCH_RECORD_SECONDS": 300,
    "FEED_TOKEN_KEY": None,  # defaults to SECRET_KEY
    "FEED_UID_DOMAIN": None,  # defaults to PUBLIC_BASE_URL's host; keep it stable or every event's UID changes
}

TOKEN_PREFIX = "sbcal_"
_KIND_LETTER = {FeedKind.mine: "m", FeedKind.team: "t", FeedKind.open: "o"}
LETTER_KIND = {v: k for k, v in _KIND_LETTER.items()}
TOKEN_RE = re.compile(r"^sbcal_([mto])([A-Za-z0-9_-]{43})$")
_TOKEN_ANYWHERE = re.compile(r"sbcal_[A-Za-z0-9_-]+")
FORMAT_VERSION = "1"  # bump when the rendering changes, so every ETag changes with it

TITLES = {
    FeedKind.mine: "My shifts",
    FeedKind.team: "Team rota",
    FeedKind.open: "Open shifts I can take",
}
EXPLAIN = {
    FeedKind.mine: "Every shift you work. A shift you swap or give away stays for 14 days, marked cancelled.",
    FeedKind.team: "Everyone's shifts in the teams whose rota you may see.",
    FeedKind.open: "Unfilled shifts you are eligible for. Only if you ask for it.",
}
RELEASE_WORDING = {
    ReleaseKind.swapped: "Swapped away",
    ReleaseKind.given_away: "Given away",
    ReleaseKind.unassigned: "Taken off this shift",
    ReleaseKind.cancelled: "Shift cancelled",
    ReleaseKind.leave: "Released for leave",
}


def feed_setting(name: str):
    return current_app.config.get(name, DEFAULTS[name])


def _now() -> datetime:
    return now_utc()


def as_of_day(now: datetime | None = None) -> datetime:
    """Midnight UTC of the current day: the feed's content is a function of the data and this instant."""
    now = (now or _now()).astimezone(UTC)
    return datetime.combine(now.date(), time.min, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    cancelled_since: datetime

    @classmethod
    def for_day(cls, day: datetime, kind: FeedKind = FeedKind.mine) -> Window:
        past, future = ("FEED_TEAM_PAST_DAYS", "FEED_TEAM_FUTURE_DAYS") if kind == FeedKind.team else (
            "FEED_PAST_DAYS", "FEED_FUTURE_DAYS")
        return cls(start=day - timedelta(days=int(feed_setting(past))),
                   end=day + timedelta(days=int(feed_setting(future)) + 1),
                   cancelled_since=day - timedelta(days=int(feed_setting("FEED_CANCELLED_DAYS"))))


# ------------------------------------------------------------------------------------------------- tokens


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token(kind: FeedKind, nonce: str) -> str:
    key = (feed_setting("FEED_TOKEN_KEY") or current_app.config["SECRET_KEY"]).encode()
    mac = hmac.new(key, f"calendar-feed:{nonce}".encode(), hashlib.sha256).digest()
    return TOKEN_PREFIX + _KIND_LETTER[kind] + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_for(feed: CalendarFeed) -> str | None:
    """The live token, recomputed from the stored nonce; None when revoked or when the server key changed."""
    if not feed.active or not feed.nonce:
        return None
    token = _token(feed.kind, feed.nonce)
    return token if hmac.compare_digest(token_digest(token), feed.token_hash) else None


def feed_url(token: str) -> str:
    return f"{public_base_url()}/calendar/{token}.ics"


def webcal_url(url: str) -> str:
    return "webcal://" + url.split("://", 1)[1]


def redact(text: str) -> str:
    return _TOKEN_ANYWHERE.sub("sbcal_[redacted]", text)


class RedactFeedTokens(logging.Filter):
    """Keeps feed tokens out of request logs (werkzeug's development server, gunicorn's access log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # leave malformed records to the logging machinery
            return True
        if "sbcal_" in message:
            record.msg, record.args = redact(message), None
        return True


# ----------------------------------------------------------------------------------------------- services


def team_feed_team_ids(user: User) -> list[int]:
    """Teams whose whole rota ``user`` may subscribe to: coordinators always, staff when the team allows it."""
    stmt = (select(Membership.team_id)
            .outerjoin(TeamFeedSetting, TeamFeedSetting.team_id == Membership.team_id)
            .where(Membership.user_id == user.id,
                   or_(Membership.role == TeamRole.coordinator, TeamFeedSetting.staff_may_subscribe.is_(True)))
            .order_by(Membership.team_id))
    return list(db.session.scalars(stmt))


def may_subscribe(user: User, kind: FeedKind) -> bool:
    return kind != FeedKind.team or bool(team_feed_team_ids(user))


def parse_kind(value: str) -> FeedKind:
    try:
        return FeedKind(value)
    except ValueError:
        raise NotFound(f"There is no calendar feed called {value[:40]!r}; use mine, team or open.")


def _feed_row(user: User, kind: FeedKind) -> CalendarFeed | None:
    return db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id, CalendarFeed.kind == kind))


def _retire(feed: CalendarFeed) -> None:
    """Remember the hash of the link being turned off or replaced: a calendar still polling it hears 410 Gone."""
    if feed.token_hash is not None and db.session.get(RetiredFeedToken, feed.token_hash) is None:
        db.session.add(RetiredFeedToken(token_hash=feed.token_hash, feed_id=feed.id, retired_at=now_utc()))


def was_issued(token: str) -> bool:
    """Whether ``token`` is a link this server issued that is no longer live (turned off, replaced, or its owner
    deactivated), as opposed to a guess."""
    if TOKEN_RE.match(token) is None:
        return False
    digest = token_digest(token)
    return db.session.scalar(select(func.count()).select_from(RetiredFeedToken)
                             .where(RetiredFeedToken.token_hash == digest)) > 0 or \
        db.session.scalar(select(func.count()).select_from(CalendarFeed)
                          .where(CalendarFeed.token_hash == digest)) > 0


def rotate(user: User, kind: FeedKind, *, actor) -> tuple[CalendarFeed, str]:
    """Issue a new secret link for ``kind`` (the first one, or a replacement: the old link dies at once)."""
    if not may_subscribe(user, kind):
        raise Forbidden("You can subscribe to a team rota only as a coordinator, or when your team allows staff to.")
    feed = _feed_row(user, kind)
    first = feed is None
    if first:
        feed = CalendarFeed(user_id=user.id, kind=kind)
        db.session.add(feed)
    _retire(feed)
    nonce = secrets.token_hex(32)
    token = _token(kind, nonce)
    feed.nonce, feed.token_hash = nonce, token_digest(token)
    feed.revoked_at = None
    feed.rotated_at = None if first else now_utc()
    feed.last_fetched_at = feed.last_client = None
    db.session.flush()
    audit.record("calendar_feed.created" if first else "calendar_feed.rotated", actor=actor, entity=feed,
                 summary={"user_id": user.id, "kind": kind.value})
    return feed, token


def revoke(user: User, kind: FeedKind, *, actor) -> CalendarFeed | None:
    feed = _feed_row(user, kind)
    if feed is None or not feed.active:
        return feed
    _retire(feed)
    feed.token_hash = feed.nonce = None
    feed.revoked_at = now_utc()
    audit.record("calendar_feed.revoked", actor=actor, entity=feed, summary={"user_id": user.id, "kind": kind.value})
    return feed


def revoke_every_feed(user: User, *, actor) -> None:
    """Every calendar link of ``user`` dies: called by ``core.accounts`` on a password change or deactivation."""
    for kind in FeedKind:
        revoke(user, kind, actor=actor)


def set_reminder(user: User, minutes: int | None, *, actor) -> CalendarPreference:
    pref = db.session.get(CalendarPreference, user.id)
    if pref is None:
        pref = CalendarPreference(user_id=user.id)
        db.session.add(pref)
    pref.reminder_minutes = minutes or None
    pref.updated_at = now_utc()
    db.session.flush()
    audit.record("calendar_feed.reminder_set", actor=actor, entity_type="user", entity_id=user.id,
                 summary={"minutes": minutes or None})
    return pref


def set_staff_may_subscribe(team: Team, allowed: bool, *, actor) -> TeamFeedSetting:
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can change who may subscribe to its rota.")
    row = db.session.get(TeamFeedSetting, team.id)
    if row is None:
        row = TeamFeedSetting(team_id=team.id)
        db.session.add(row)
    row.staff_may_subscribe = allowed
    row.updated_at = now_utc()
    db.session.flush()
    audit.record("calendar_feed.team_setting", actor=actor, entity_type="team", entity_id=team.id, team_id=team.id,
                 summary={"staff_may_subscribe": allowed})
    return row


def feeds_overview(user: User) -> list[dict]:
    """What the profile page and the API show: each kind, whether it is available and its links."""
    rows = {f.kind: f for f in db.session.scalars(select(CalendarFeed).where(CalendarFeed.user_id == user.id))}
    team_ok = bool(team_feed_team_ids(user))
    out = []
    for kind in FeedKind:
        feed = rows.get(kind)
        token = token_for(feed) if feed is not None else None
        url = feed_url(token) if token else None
        out.append({
            "kind": kind.value, "title": TITLES[kind], "explain": EXPLAIN[kind],
            "available": kind != FeedKind.team or team_ok,
            "active": token is not None,
            "url": url, "webcal_url": webcal_url(url) if url else None,
            "created_at": feed.created_at if feed is not None else None,
            "rotated_at": feed.rotated_at if feed is not None else None,
            "last_fetched_at": feed.last_fetched_at if token else None,
            "last_client": feed.last_client if token else None,
        })
    return out


# --------------------------------------------------------------------------------- the one-query validator
