"""Calendar-feed data: secret feed links, fetch records, personal feed preferences and per-team feed settings.

A feed link carries a credential (``/calendar/<token>.ics``). The database keeps only a SHA-256 of the token and a
random nonce; the token itself is ``HMAC(key, nonce)`` so the profile page can show the link again without the
database ever holding it. A copy of the database alone opens no feed; rotating replaces the nonce (and the hash), so
the old link is dead at once.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, db, now_utc


class FeedKind(enum.Enum):
    mine = "mine"  # the shifts I work
    team = "team"  # my teams' whole rota (coordinators; staff when the team allows it)
    open = "open"  # open shifts I am eligible for (opt-in)


class CalendarFeed(db.Model):
    """One secret link per person and feed kind. ``token_hash`` None means the link was revoked."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[FeedKind] = mapped_column(Enum(FeedKind, name="feed_kind", native_enum=False, length=16),
                                           nullable=False)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    nonce: Mapped[str | None] = mapped_column(String(64), nullable=True)  # hex; the link is HMAC(key, nonce)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Fetch record: when a calendar last fetched the feed and which client it was (its User-Agent, truncated).
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_client: Mapped[str | None] = mapped_column(String(200), nullable=True)

    @property
    def active(self) -> bool:
        return self.token_hash is not None

    def __repr__(self) -> str:
        return f"<CalendarFeed {self.id} user={self.user_id} {self.kind.value} active={self.active}>"


class RetiredFeedToken(db.Model):
    """The hash of a feed link that was turned off or replaced, so that a calendar still polling it hears 410 Gone
    (the subscription is over) instead of counting as a guess at feed links (``FEED_MISS_LIMIT``)."""

    __tablename__ = "calendar_feed_retired_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("calendar_feeds.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    retired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)


class CalendarPreference(db.Model):
    """A person's feed preferences: an optional reminder before each of their shifts (a VALARM)."""

    __tablename__ = "calendar_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    reminder_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc, onupdate=now_utc)

    def __repr__(self) -> str:
        return f"<CalendarPreference user={self.user_id} reminder={self.reminder_minutes}>"


class TeamFeedSetting(db.Model):
    """Per-team switch: may staff (not only coordinators) subscribe to the team's whole rota?"""

    __tablename__ = "team_feed_settings"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    staff_may_subscribe: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc, onupdate=now_utc)

    def __repr__(self) -> str:
        return f"<TeamFeedSetting team={self.team_id} staff={self.staff_may_subscribe}>"


class FeedStamp(db.Model):
    """Per-team change stamp of what calendar feeds show (``rota.feeds.stamps``): ``version`` moves on, in the same
    transaction, with every write that changes a team's shifts, assignments, publication, shift types, membership,
    leave, name or feed setting, so a feed's validator is read from these rows alone. No foreign key: a stamp left
    behind by a deleted team is harmless, and a stamp may be written in the flush that deletes its team."""

    __tablename__ = "calendar_feed_stamps"

    team_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    def __repr__(self) -> str:
        return f"<FeedStamp team={self.team_id} v{self.version}>"
