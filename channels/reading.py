"""Channels: read positions (marking read, "seen by", unread counts) and each person's notification choices for a
channel (level, SMS for mentions, mute). Split out of ``channels.services`` to keep each module under ~500 lines (#14).
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import and_, bindparam, func, or_, select

from channels.models import Channel, Post, ReadPosition
from channels.services import TOPIC, channel_of, member_ids, record_read, require_see
from core import audit
from core.db import core_rows, db, now_utc
from core.errors import ValidationFailed
from notifications import realtime


def mark_read(channel: Channel, user, post_id: int | None = None) -> int:
    """Move the person's read position forward (never back) to ``post_id`` (default: the newest post)."""
    require_see(channel, user)
    newest = db.session.scalar(select(func.max(Post.id)).where(Post.channel_id == channel.id)) or 0
    target = min(post_id, newest) if post_id else newest
    before = db.session.get(ReadPosition, (channel.id, user.id))
    previous = before.last_read_post_id if before else 0
    last = record_read(channel, user, target)
    if last != previous:
        realtime.publish(db.session, [{"id": -last, "user_id": TOPIC.format(channel.id), "kind": "read",
                                       "post_id": last, "parent_id": None}])
    return last


LEVELS = ("all", "mentions", "none")
DEFAULT_LEVEL = "mentions"


def _position(channel: Channel, user) -> ReadPosition:
    row = db.session.get(ReadPosition, (channel.id, user.id))
    if row is None:
        row = ReadPosition(channel_id=channel.id, user_id=user.id, last_read_post_id=0, muted=False,
                           sms_mentions=False, updated_at=now_utc())
        db.session.add(row)
    return row


def notification_settings(channel: Channel, user) -> dict:
    """What reaches the person's devices from this channel (mentions and urgent posts always do)."""
    require_see(channel, user)
    row = db.session.get(ReadPosition, (channel.id, user.id))
    level = "none" if row is not None and row.muted else (row.notify_level if row and row.notify_level else None)
    return {"channel_id": channel.id, "level": level or DEFAULT_LEVEL, "default": level is None,
            "sms_mentions": bool(row and row.sms_mentions), "muted": bool(row and row.muted)}


def set_notifications(channel: Channel, user, *, level: str | None = None, sms_mentions: bool | None = None) -> dict:
    """Choose "all", "mentions" (the default) or "none" (muted) for one channel, and whether mentions also come by
    SMS. Audited (the choice only)."""
    require_see(channel, user)
    if level is not None and level not in LEVELS:
        raise ValidationFailed("Choose all, mentions or none.", errors={"level": ["Choose all, mentions or none."]})
    row = _position(channel, user)
    if level is not None:
        row.notify_level, row.muted = level, level == "none"
    if sms_mentions is not None:
        row.sms_mentions = sms_mentions
    db.session.flush()
    audit.record("channel.notifications_set", actor=user, entity=channel, team_id=channel.team_id,
                 summary={"level": level, "sms_mentions": sms_mentions})
    return notification_settings(channel, user)


def set_muted(channel: Channel, user, muted: bool) -> bool:
    """A muted channel (level "none") drops out of the person's unread counts and pushes nothing for ordinary posts
    (mentions and urgent posts still reach them). Unmuting returns to the default level."""
    require_see(channel, user)
    row = _position(channel, user)
    row.muted = muted
    row.notify_level = "none" if muted else (None if row.notify_level == "none" else row.notify_level)
    db.session.flush()
    return muted


def muted_ids(user) -> set[int]:
    return set(db.session.scalars(select(ReadPosition.channel_id).where(ReadPosition.user_id == user.id,
                                                                        ReadPosition.muted.is_(True))))


def seen_by(p: Post) -> list[int]:
    """Who has read up to this post (its author aside), among the channel's members now."""
    members = set(member_ids(channel_of(p)))
    ids = db.session.scalars(select(ReadPosition.user_id).where(ReadPosition.channel_id == p.channel_id,
                                                                ReadPosition.last_read_post_id >= p.id))
    return [i for i in ids if i in members and i != p.author_id]


def seen_denominator(p: Post, members) -> int:
    """The "m" of "seen by n of m": the channel's members now, less the post's author when the author is still a
    member (an author never counts as a reader of their own post; a system post has no author; an author who left
    the channel is not in ``members`` to subtract)."""
    members = set(members)
    return len(members) - (1 if p.author_id is not None and p.author_id in members else 0)


@cache
def _unread_by_channel():
    """Built once: every signed-in page runs it for the menu badge."""
    rp = ReadPosition
    user_id = bindparam("user_id")
    return (select(Post.channel_id, func.count(Post.id))
            .join(Channel, Channel.id == Post.channel_id)
            .outerjoin(rp, and_(rp.channel_id == Post.channel_id, rp.user_id == user_id))
            .where(Channel.team_id.in_(bindparam("team_ids", expanding=True)), Post.parent_id.is_(None),
                   Post.deleted_at.is_(None), or_(Post.author_id.is_(None), Post.author_id != user_id),
                   Post.id > func.coalesce(rp.last_read_post_id, 0), or_(rp.muted.is_(None), rp.muted.is_(False)))
            .group_by(Post.channel_id))


def unread_counts(user) -> dict[int, int]:
    """Unread top-level posts by others, per channel the person is in: one query for all their channels."""
    team_ids = list(user.team_ids)
    if not team_ids:
        return {}
    return dict(core_rows(_unread_by_channel(), {"user_id": user.id, "team_ids": team_ids}).all())
