"""Channel services: who may see a channel, posting (guard, mentions, urgent), threads, edits, tombstones, pins,
reactions, read positions and "seen by", moderation, unread counts and cursor pages. Views call these; every
change is audited by ids and codes, never the message text."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import and_, case, func, or_, select, update

from channels import attachments, guard, mentions
from channels.models import POST_MAX, Channel, ChannelMember, Post, Reaction, ReadPosition
from core import audit
from core.accounts import GRADES, Membership, StaffGroup, Team, TeamRole, User, grade_meets, missing_skills
from core.db import db, get_by_id, now_utc
from core.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationFailed
from notifications import broadcasts, realtime
from notifications.models import BroadcastRecipient
from notifications.service import IN_APP, SMS, notify

EMOJI = ("👍", "✅", "❤️", "😂", "🙏", "👀")
TOPIC = "channel:{}"  # the realtime hub's key for a channel's open pages
CHANNEL_AUDIENCE = "channel"  # the broadcast audience "everyone in a channel" (core.registry.register_audience)


# ------------------------------------------------------------------------------------------------ access


def _get(model, ident: int, what: str):
    row = get_by_id(model, ident)
    if row is None:
        raise NotFound(f"No {what} with id {ident}.")
    return row


def get_team(team_id: int) -> Team:
    return _get(Team, team_id, "team")


def team_channel(team: Team) -> Channel:
    """Every team has its team channel (made the first time anyone looks)."""
    channel = db.session.scalar(select(Channel).where(Channel.team_id == team.id, Channel.kind == "team"))
    if channel is None:
        channel = Channel(team_id=team.id, name="Team", kind="team", rule={})
        db.session.add(channel)
        db.session.flush()
    return channel


def _rule_matches(rule: dict, user: User) -> bool:
    if rule.get("staff_group") and (user.staff_group is None or user.staff_group.value != rule["staff_group"]):
        return False
    if rule.get("min_grade") and not grade_meets(user.grade, rule["min_grade"]):
        return False
    return not (rule.get("skill") and missing_skills(user.skills, [rule["skill"]]))


def member_ids(channel: Channel) -> list[int]:
    """Active team members who belong to the channel now (leavers drop out at once: membership is the team's)."""
    stmt = (select(User).join(Membership, Membership.user_id == User.id)
            .where(Membership.team_id == channel.team_id, User.active.is_(True)))
    if channel.kind == "list":
        stmt = stmt.where(User.id.in_(select(ChannelMember.user_id).where(ChannelMember.channel_id == channel.id)))
    users = db.session.scalars(stmt.order_by(User.id)).all()
    if channel.kind == "rule":
        coordinators = set(db.session.scalars(select(Membership.user_id).where(
            Membership.team_id == channel.team_id, Membership.role == TeamRole.coordinator)))
        nights = mentions.on_nights_this_week(channel.team_id, now_utc()) \
            if (channel.rule or {}).get("nights_this_week") else None
        users = [u for u in users if u.id in coordinators or (
            _rule_matches(channel.rule or {}, u) and (nights is None or u.id in nights))]
    return [u.id for u in users]


def can_see(channel: Channel, user) -> bool:
    if not (user and user.is_authenticated):
        return False
    team = db.session.get(Team, channel.team_id)
    if user.is_admin or team.can_manage(user):
        return True
    if user.role_in(team) is None:
        return False
    return channel.kind == "team" or user.id in member_ids(channel)


def require_see(channel: Channel, user) -> None:
    if not can_see(channel, user):
        raise Forbidden("You are not in this channel.")


def still_sees(channel_id: int, user_id: int) -> bool:
    """For an open stream: is this person (still active, still on the team) allowed in the channel now?"""
    user, channel = db.session.get(User, user_id), db.session.get(Channel, channel_id)
    return bool(user and channel and user.active and can_see(channel, user))


def teams_of(channels: list[Channel]) -> dict[int, Team]:
    ids = {c.team_id for c in channels}
    return {t.id: t for t in db.session.scalars(select(Team).where(Team.id.in_(ids)))} if ids else {}


def channels_by_id(ids: list[int]) -> list[Channel]:
    return list(db.session.scalars(select(Channel).where(Channel.id.in_(ids)).order_by(Channel.id))) if ids else []


def get_channel(channel_id: int, viewer) -> Channel:
    channel = _get(Channel, channel_id, "channel")
    require_see(channel, viewer)
    return channel


def get_post(post_id: int, viewer) -> Post:
    post = _get(Post, post_id, "post")
    require_see(channel_of(post), viewer)
    return post


def channel_of(post: Post) -> Channel:
    """The channel a post is in (from the session's identity map once the post has been checked)."""
    return db.session.get(Channel, post.channel_id)


def channels_for(team: Team, viewer) -> list[Channel]:
    if not team.can_view(viewer):
        raise Forbidden("You are not on this team.")
    team_channel(team)
    rows = db.session.scalars(select(Channel).where(Channel.team_id == team.id).order_by(Channel.id)).all()
    return [c for c in rows if c.kind == "team" or can_see(c, viewer)]


def my_channels(user) -> list[Channel]:
    """Every channel the person can open, across their teams (team channels first)."""
    out = []
    for team_id in sorted(user.team_ids):
        out.extend(channels_for(db.session.get(Team, team_id), user))
    return out


def create_channel(team: Team, actor, *, name: str, kind: str = "rule", rule: dict | None = None,
                   people: list[int] | None = None) -> Channel:
    if not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can add channels.")
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise ValidationFailed("Give the channel a name (up to 60 characters).", errors={"name": ["Give a name."]})
    if kind not in ("rule", "list"):
        raise ValidationFailed("A channel is a rule or a list.", errors={"kind": ["Choose rule or list."]})
    rule = {k: v for k, v in (rule or {}).items() if v}
    if set(rule) - {"staff_group", "min_grade", "skill", "nights_this_week"}:
        raise ValidationFailed("Unknown rule.", errors={"rule": ["Use staff_group, min_grade, skill or "
                                                                 "nights_this_week."]})
    if rule.get("staff_group") and rule["staff_group"] not in {g.value for g in StaffGroup}:
        raise ValidationFailed("Unknown staff group.", errors={"rule": ["Unknown staff group."]})
    if rule.get("min_grade") and rule["min_grade"] not in GRADES:
        raise ValidationFailed("Unknown grade.", errors={"rule": ["Unknown grade."]})
    if db.session.scalar(select(Channel.id).where(Channel.team_id == team.id, Channel.name == name)):
        raise Conflict("This team already has a channel with that name.", extra={"code": "name_taken"})
    channel = Channel(team_id=team.id, name=name, kind=kind, rule=rule, created_by_id=actor.id)
    db.session.add(channel)
    db.session.flush()
    if kind == "list":
        on_team = set(db.session.scalars(select(Membership.user_id).where(Membership.team_id == team.id)))
        for uid in dict.fromkeys(people or []):
            if uid not in on_team:
                raise ValidationFailed("Only people on the team can be in its channels.",
                                       errors={"people": [f"Person {uid} is not on this team."]})
            db.session.add(ChannelMember(channel_id=channel.id, user_id=uid))
    audit.record("channel.created", actor=actor, entity=channel, team_id=team.id, summary={"kind": kind})
    return channel


# ------------------------------------------------------------------------------------------------ posting


def poll_new_posts(last: int | None) -> tuple[list[dict], int]:
    """The SQLite stream service's feed of channel pages (``core.registry.register_stream_poll_source``): the posts
    and replies written since ``last`` (web-tier processes cannot reach the stream service's hub on SQLite; PostgreSQL
    and Redis carry every event, edits, reactions and read receipts included)."""
    if last is None:
        return [], db.session.scalar(select(func.coalesce(func.max(Post.id), 0))) or 0
    rows = db.session.execute(select(Post.id, Post.channel_id, Post.parent_id).where(Post.id > last)
                              .order_by(Post.id).limit(1000)).all()
    events = [{"id": pid, "user_id": TOPIC.format(cid), "kind": "reply" if parent else "post", "post_id": pid,
               "parent_id": parent} for pid, cid, parent in rows]
    return events, rows[-1][0] if rows else last


def publish_post(channel_id: int, kind: str, post: Post) -> None:
    """Tell the channel's open pages (ids only: each page fetches what its viewer may see)."""
    realtime.publish(db.session, [{"id": post.id, "user_id": TOPIC.format(channel_id), "kind": kind,
                                   "post_id": post.id, "parent_id": post.parent_id}])


def refuse_patient_data(channel: Channel, actor, text: str) -> None:
    finding = guard.check(text, current_app.config.get("CHANNELS_HOSPITAL_NUMBER_PATTERN"))
    if finding is not None:
        # Counted (team, reason) in the audit trail by whoever owns the transaction, after its rollback (the error
        # carries the entry); the text itself is never stored anywhere.
        raise RuleViolation(guard.HANDOVER_POINTER, errors={"text": [guard.HANDOVER_POINTER]},
                            extra={"code": "patient_data", "reason": finding.reason, "handover": "/handover"},
                            audit={"action": "channel.post_refused", "actor": actor, "entity_type": "channel",
                                   "entity_id": channel.id, "team_id": channel.team_id, "outcome": "refused",
                                   "summary": {"reason": finding.reason}})


def clean_text(text: str, *, optional: bool = False) -> str:
    text = (text or "").replace("\x00", "").strip()
    if not text and not optional:
        raise ValidationFailed("Write a message.", errors={"text": ["Write a message."]})
    if len(text) > POST_MAX:
        raise ValidationFailed(f"A post is at most {POST_MAX} characters.", errors={"text": ["Too long."]})
    return text


def names(user_ids) -> dict[int, str]:
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())


NO_PATIENT_INFO = "Confirm the photo or file shows no patient information (no names, numbers, notes or screens)."


@dataclass(frozen=True)
class Upload:
    """A photo or file sent with a post: its bytes (read up to ``attachments.read_limit()``), the name it came
    with, and the sender's confirmation that it shows no patient information."""

    data: bytes
    filename: str | None
    no_patient_information: bool


def post(channel: Channel, actor, text: str, *, parent: Post | None = None, urgent: bool = False,
         upload: Upload | None = None) -> Post:
    require_see(channel, actor)
    text = clean_text(text, optional=upload is not None)
    team = db.session.get(Team, channel.team_id)
    if urgent and not team.can_manage(actor):
        raise Forbidden("Only coordinators can send an urgent post.")
    if parent is not None and (parent.channel_id != channel.id or parent.parent_id is not None):
        raise ValidationFailed("Reply to a post in this channel.", errors={"parent_id": ["Not a post here."]})
    if upload is not None and not upload.no_patient_information:
        raise ValidationFailed(NO_PATIENT_INFO, errors={"no_patient_information": [NO_PATIENT_INFO]})
    refuse_patient_data(channel, actor, f"{text}\n{upload.filename or ''}" if upload else text)
    prepared = attachments.prepare(upload.data, upload.filename) if upload is not None else None
    now = now_utc()
    members = member_ids(channel)
    reached = mentions.resolve(text, team, names(members), now)
    p = Post(channel_id=channel.id, parent_id=parent.id if parent else None, author_id=actor.id,
             kind="urgent" if urgent else "text", text=text, reached=reached, created_at=now)
    db.session.add(p)
    db.session.flush()
    if parent is not None:
        db.session.execute(update(Post).where(Post.id == parent.id).values(reply_count=Post.reply_count + 1))
    if prepared is not None:
        attachments.store(prepared, p, actor, team.id)
    if urgent:
        _send_urgent(team, channel, p, actor)
    mentioned = list(dict.fromkeys(uid for r in reached for uid in r["user_ids"] if uid != actor.id))
    _notify_members(channel, team, p, actor, members, mentioned)
    record_read(channel, actor, p.id)
    audit.record("channel.posted", actor=actor, entity=p, team_id=team.id,
                 summary={"channel_id": channel.id, "reply": parent is not None, "urgent": urgent,
                          "mentions": len(reached), "reached": len(set(mentioned)),
                          "attachment": prepared.kind if prepared else None})
    publish_post(channel.id, "reply" if parent else "post", p)
    return p


def _send_urgent(team: Team, channel: Channel, p: Post, actor) -> None:
    """An urgent post is a broadcast to the channel: the same acknowledgements, report and SMS as any other."""

    b = broadcasts.create(team, actor, audience=CHANNEL_AUDIENCE, params={"channel_id": channel.id}, requires_ack=True,
                          urgent=True, reference=f"post:{p.id}", link=f"/channels/{channel.id}#post-{p.id}",
                          text=f"Urgent post from {actor.display_name} in {team.name} › {channel.name}: open "
                               "Shiftbridge and acknowledge.")
    p.broadcast_id = b.id


def channel_audience(team_id: int, params: dict) -> list[int]:
    """The ``channel`` broadcast audience (registered with notifications): the channel's members."""
    channel = db.session.get(Channel, int(params["channel_id"]))
    if channel is None or channel.team_id != team_id:
        raise ValueError("No such channel on this team.")
    return member_ids(channel)


def acknowledge(p: Post, actor) -> dict:

    if p.broadcast_id is None:
        raise Conflict("Only urgent posts are acknowledged.", extra={"code": "not_urgent"})
    r = broadcasts.acknowledge(broadcasts.get(p.broadcast_id), actor)
    publish_post(p.channel_id, "update", p)
    return {"post_id": p.id, "acknowledged_at": r.acknowledged_at}


def acknowledgements(p: Post) -> tuple[int, int]:

    if p.broadcast_id is None:
        return 0, 0
    row = db.session.execute(select(func.count(), func.count(BroadcastRecipient.acknowledged_at)).where(
        BroadcastRecipient.broadcast_id == p.broadcast_id)).one()
    return row[1], row[0]


# ------------------------------------------------------------------------------------------------ reading


def record_read(channel: Channel, user, post_id: int) -> int:
    row = db.session.get(ReadPosition, (channel.id, user.id))
    if row is None:
        row = ReadPosition(channel_id=channel.id, user_id=user.id, last_read_post_id=0)
        db.session.add(row)
    if post_id > row.last_read_post_id:
        row.last_read_post_id, row.updated_at = post_id, now_utc()
    db.session.flush()
    return row.last_read_post_id


def _notify_members(channel: Channel, team: Team, p: Post, actor, members: list[int], mentioned: list[int]) -> None:
    """Mentions reach everyone mentioned (push; and SMS, push first, for those who chose it); other posts are pushed
    to the members whose level for the channel is "all". Quiet hours hold non-urgent pushes and texts until they
    end (notifications.service). Texts name the team, the channel and the author, never the post's words."""
    link = f"/channels/{channel.id}#post-{p.id}"
    settings = {uid: (level, sms) for uid, level, sms, muted in db.session.execute(
        select(ReadPosition.user_id, ReadPosition.notify_level, ReadPosition.sms_mentions, ReadPosition.muted)
        .where(ReadPosition.channel_id == channel.id))}
    if mentioned:
        by_sms = [uid for uid in mentioned if settings.get(uid, (None, False))[1]]
        text = f"{actor.display_name} mentioned you in {team.name} › {channel.name}."
        for ids, channels in ((by_sms, (IN_APP, SMS)), ([u for u in mentioned if u not in by_sms], (IN_APP,))):
            if ids:
                notify(ids, kind="channel.mention", team_id=team.id, link=link, text=text, channels=channels,
                       idempotency_key=f"channel.mention:{p.id}")
    if p.kind == "urgent":
        return  # the broadcast reaches everyone
    what = "reply" if p.parent_id else "post"
    notify_level_all(channel, team, p, members, f"New {what} in {team.name} › {channel.name} from "
                                               f"{actor.display_name}.", exclude=set(mentioned) | {actor.id},
                     settings={uid: level for uid, (level, _) in settings.items()})


def notify_level_all(channel: Channel, team: Team, p: Post, members: list[int], text: str, *,
                     exclude: set[int] = frozenset(), settings: dict[int, str | None] | None = None) -> None:
    """Push ``text`` (never the post's words) to the channel's members whose level for it is "all", but those in
    ``exclude``; through the outbox, so quiet hours hold it."""
    if settings is None:
        settings = dict(db.session.execute(select(ReadPosition.user_id, ReadPosition.notify_level)
                                           .where(ReadPosition.channel_id == channel.id)).all())
    everyone = [uid for uid in members if uid not in exclude and settings.get(uid) == "all"]
    if everyone:
        notify(everyone, kind="channel.post", team_id=team.id, link=f"/channels/{channel.id}#post-{p.id}",
               text=text, idempotency_key=f"channel.post:{p.id}")



def reactions_for(post_ids: list[int], viewer_id: int) -> dict[int, dict]:
    out: dict[int, dict] = {}
    if not post_ids:
        return out
    for pid, emoji, count, mine in db.session.execute(
            select(Reaction.post_id, Reaction.emoji, func.count(),
                   func.sum(case((Reaction.user_id == viewer_id, 1), else_=0)))
            .where(Reaction.post_id.in_(post_ids)).group_by(Reaction.post_id, Reaction.emoji)):
        out.setdefault(pid, {})[emoji] = {"count": count, "mine": bool(mine)}
    return out


@dataclass
class Page:
    posts: list[Post]
    next_cursor: int | None
    authors: dict[int, str] = field(default_factory=dict)  # everyone the page names: authors, mentioned, ...
    seen: dict[int, int] = field(default_factory=dict)  # post id -> how many have read it
    reactions: dict[int, dict] = field(default_factory=dict)
    attachments: dict[int, list] = field(default_factory=dict)  # post id -> its photos and files
    members: int = 0
    member_ids: frozenset = frozenset()


def page(channel: Channel, viewer, *, before: int | None = None, limit: int = 30, parent: Post | None = None,
         after: int | None = None) -> Page:
    """Newest first, ``limit`` posts older than cursor ``before`` (a post id): a constant number of queries at any
    depth (an index range scan on (channel, parent, id)). Replies (``parent``) come oldest first."""
    require_see(channel, viewer)
    stmt = select(Post).where(Post.channel_id == channel.id)
    stmt = stmt.where(Post.parent_id == parent.id) if parent is not None else stmt.where(Post.parent_id.is_(None))
    if parent is not None:
        stmt = stmt.where(Post.id > (after or 0)).order_by(Post.id)
    else:
        if before:
            stmt = stmt.where(Post.id < before)
        if after:
            stmt = stmt.where(Post.id > after)
        stmt = stmt.order_by(Post.id.desc())
    rows = list(db.session.scalars(stmt.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    out = Page(rows, rows[-1].id if more and parent is None else None)
    decorate(channel, out, viewer)
    return out


def decorate(channel: Channel, out: Page, viewer) -> None:
    """Authors, "seen by" counts and reactions of a page's posts: three queries, whatever the page size."""
    ids = [p.id for p in out.posts]
    out.authors = names([p.author_id for p in out.posts if p.author_id]
                        + [p.deleted_by_id for p in out.posts if p.deleted_by_id]
                        + [u for p in out.posts for r in (p.reached or []) for u in r["user_ids"]])
    members = member_ids(channel)
    out.members = len(members)
    out.member_ids = frozenset(members)
    if ids:
        rp = ReadPosition
        out.seen = dict(db.session.execute(
            select(Post.id, func.count(rp.user_id)).join(rp, and_(rp.channel_id == Post.channel_id,
                                                                  rp.last_read_post_id >= Post.id,
                                                                  or_(Post.author_id.is_(None),
                                                                      rp.user_id != Post.author_id)))
            .where(Post.id.in_(ids), rp.user_id.in_(members)).group_by(Post.id)).all())
    out.reactions = reactions_for(ids, viewer.id)
    out.attachments = attachments.for_posts(ids)


def get_attachment(attachment_id: int, viewer):
    """A photo or file, for a member of its channel only (403 otherwise)."""
    row = attachments.get(attachment_id)
    channel = _get(Channel, row.channel_id, "channel")
    require_see(channel, viewer)
    owner = db.session.get(Post, row.post_id)
    if owner.hidden_at is not None and not db.session.get(Team, channel.team_id).can_manage(viewer):
        raise Forbidden("A coordinator has hidden this post.")
    return row
