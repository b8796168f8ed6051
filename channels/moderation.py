"""Channels: changing a post after it is written: edit, delete, pin, hide, report, react. Split out of
``channels.services`` to keep each module under ~500 lines (#14).
"""

from __future__ import annotations

from sqlalchemy import select, update

from channels import attachments, mentions
from channels.models import Post, PostReport, PostVersion, Reaction
from channels.services import (
    EMOJI,
    channel_of,
    clean_text,
    publish_post,
    reactions_for,
    refuse_patient_data,
    require_see,
)
from core import audit
from core.accounts import Team
from core.db import db, now_utc
from core.errors import Conflict, Forbidden, ValidationFailed
from notifications.service import notify


def _own_or_coordinator(p: Post, actor, doing: str) -> Team:
    team = db.session.get(Team, channel_of(p).team_id)
    if p.author_id != actor.id and not team.can_manage(actor):
        raise Forbidden(f"Only the author or a coordinator can {doing} this post.")
    return team


def edit(p: Post, actor, text: str) -> Post:
    channel = channel_of(p)
    require_see(channel, actor)
    if p.author_id != actor.id:
        raise Forbidden("Only the author can edit a post.")
    if p.deleted_at or p.kind == "card":
        raise Conflict("This post cannot be edited.", extra={"code": "not_editable"})
    text = clean_text(text)
    refuse_patient_data(channel, actor, text)
    db.session.add(PostVersion(post_id=p.id, version=p.version, text=p.text, replaced_at=now_utc()))
    p.text, p.version, p.edited_at = text, p.version + 1, now_utc()
    audit.record("channel.post_edited", actor=actor, entity=p, team_id=channel.team_id,
                 summary={"version": p.version})
    publish_post(p.channel_id, "update", p)
    return p


def delete(p: Post, actor) -> Post:
    require_see(channel_of(p), actor)
    team = _own_or_coordinator(p, actor, "delete")
    if p.deleted_at is None:
        p.text, p.deleted_at, p.deleted_by_id = "", now_utc(), actor.id
        db.session.execute(PostVersion.__table__.delete().where(PostVersion.post_id == p.id))
        attachments.remove_for_posts([p.id], legal_hold=channel_of(p).legal_hold)
        audit.record("channel.post_deleted", actor=actor, entity=p, team_id=team.id)
        publish_post(p.channel_id, "update", p)
    return p


def pin(p: Post, actor, pinned: bool = True) -> Post:
    team = _own_or_coordinator(p, actor, "pin")
    p.pinned_at, p.pinned_by_id = (now_utc(), actor.id) if pinned else (None, None)
    audit.record("channel.post_pinned" if pinned else "channel.post_unpinned", actor=actor, entity=p,
                 team_id=team.id)
    publish_post(p.channel_id, "update", p)
    return p


def hide(p: Post, actor, reason: str) -> Post:
    team = db.session.get(Team, channel_of(p).team_id)
    if not team.can_manage(actor):
        raise Forbidden("Only coordinators can hide posts.")
    reason = (reason or "").strip()[:200]
    if not reason:
        raise ValidationFailed("Say why the post is hidden.", errors={"reason": ["Give a reason."]})
    p.hidden_at, p.hidden_by_id, p.hidden_reason = now_utc(), actor.id, reason
    db.session.execute(update(PostReport).where(PostReport.post_id == p.id, PostReport.resolved_at.is_(None))
                       .values(resolved_at=now_utc()))
    audit.record("channel.post_hidden", actor=actor, entity=p, team_id=team.id)
    publish_post(p.channel_id, "update", p)
    return p


def report(p: Post, actor, reason: str) -> PostReport:
    channel = channel_of(p)
    require_see(channel, actor)
    reason = (reason or "").strip()[:200]
    if not reason:
        raise ValidationFailed("Say what is wrong with the post.", errors={"reason": ["Give a reason."]})
    r = PostReport(post_id=p.id, reporter_id=actor.id, reason=reason, created_at=now_utc())
    db.session.add(r)
    db.session.flush()
    team = db.session.get(Team, channel.team_id)
    coordinators = mentions.coordinators(team, now_utc())
    notify(coordinators, kind="channel.report", team_id=team.id, link=f"/channels/{channel.id}#post-{p.id}",
           text=f"A post in {team.name} › {channel.name} was reported.", idempotency_key=f"channel.report:{r.id}")
    audit.record("channel.post_reported", actor=actor, entity=p, team_id=team.id, summary={"report_id": r.id})
    return r


def react(p: Post, actor, emoji: str) -> dict:
    require_see(channel_of(p), actor)
    if emoji not in EMOJI:
        raise ValidationFailed("Choose one of the reactions offered.", errors={"emoji": [" ".join(EMOJI)]})
    existing = db.session.scalar(select(Reaction).where(Reaction.post_id == p.id, Reaction.user_id == actor.id,
                                                        Reaction.emoji == emoji))
    if existing is None:
        db.session.add(Reaction(post_id=p.id, user_id=actor.id, emoji=emoji, created_at=now_utc()))
    else:
        db.session.delete(existing)
    db.session.flush()
    publish_post(p.channel_id, "update", p)
    return reactions_for([p.id], actor.id).get(p.id, {})
