"""Team channels: channels and their membership rules, posts (threads, cards, urgent), versions, reactions, read
positions, reports and per-team settings. Message text lives only here: never in the audit trail or notifications
beyond the first words of a mention."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, db, now_utc

POST_MAX = 4000


class Channel(db.Model):
    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="team")  # team | rule | list
    # kind "rule": {"staff_group": "nursing", "min_grade": "Band 6", "skill": "IV", "nights_this_week": true}
    rule: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    legal_hold: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    def __repr__(self) -> str:
        return f"<Channel {self.id} team={self.team_id} {self.name!r}>"


class ChannelMember(db.Model):
    """The people of a "list" channel (still only while they are on the team)."""

    __tablename__ = "channel_members"

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)


class ChannelSettings(db.Model):
    __tablename__ = "channel_settings"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    retention_days: Mapped[int] = mapped_column(Integer, nullable=False, default=90)


class Post(db.Model):
    __tablename__ = "channel_posts"
    __table_args__ = (
        Index("ix_channel_posts_channel_parent_id", "channel_id", "parent_id", "id"),
        Index("ix_channel_posts_author", "author_id", "id"),
        Index("ix_channel_posts_card", "card_type", "card_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("channel_posts.id", ondelete="CASCADE"), nullable=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="text")  # text | urgent | card
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    card_type: Mapped[str | None] = mapped_column(String(16), nullable=True)  # shift | swap | period
    card_ref: Mapped[int | None] = mapped_column(Integer, nullable=True)
    card_text: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the card's own words (no PII)
    # who each mention reached, fixed at send time: [{"mention": "@on-shift", "user_ids": [4, 9]}]
    reached: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="SET NULL"), nullable=True)
    reply_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc, index=True)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # tombstone: text blanked
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    hidden_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    pinned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pinned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


class PostVersion(db.Model):
    """The text a post had before each edit (kept for governance; purged with the post)."""

    __tablename__ = "channel_post_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("channel_posts.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)


class Reaction(db.Model):
    __tablename__ = "channel_reactions"
    __table_args__ = (UniqueConstraint("post_id", "user_id", "emoji"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("channel_posts.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    emoji: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)


class ReadPosition(db.Model):
    """The newest post a person has seen in a channel (drives "seen by" and unread counts)."""

    __tablename__ = "channel_read_positions"
    __table_args__ = (Index("ix_channel_read_positions_channel_last", "channel_id", "last_read_post_id"),)

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    last_read_post_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    muted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # what reaches the person's devices from this channel: "all" | "mentions" | "none" (None: the default, mentions)
    notify_level: Mapped[str | None] = mapped_column(String(8), nullable=True)
    sms_mentions: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # mentions also by SMS
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)


class PostReport(db.Model):
    __tablename__ = "channel_post_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("channel_posts.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Attachment(db.Model):
    """A photo (re-encoded JPEG, no metadata) or a file (PDF) on a post, stored off the web root under a random key.
    Deleted with its post (tombstone or retention); kept, unserved, while the channel is on legal hold."""

    __tablename__ = "channel_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("channel_posts.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), nullable=False,
                                            index=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)  # photo | file
    storage_key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    filename: Mapped[str] = mapped_column(String(120), nullable=False)
    content_type: Mapped[str] = mapped_column(String(40), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # post deleted under legal hold
