"""Governance: retention per team (purged by the worker or ``flask channels purge``), legal hold on a channel, and
the subject-access export of everything one person wrote (JSON and readable HTML). Audited by counts and ids."""

from __future__ import annotations

import html
import json
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import aliased

from channels import attachments
from channels.models import Attachment, Channel, ChannelSettings, Post, PostReport, PostVersion, Reaction
from core import audit
from core.accounts import Team, User, normalise_email
from core.db import db, now_utc
from core.errors import Forbidden, NotFound, ValidationFailed

PURGE_TASK = "channels.purge"
BATCH = 2000


def retention_days(team_id: int) -> int:
    row = db.session.get(ChannelSettings, team_id)
    return row.retention_days if row else int(current_app.config["CHANNELS_RETENTION_DAYS"])


def set_retention(team: Team, actor, days: int) -> ChannelSettings:
    if actor is not None and not team.can_manage(actor):
        raise Forbidden("Only the team's coordinators can set how long its channels keep posts.")
    if not 1 <= days <= 3650:
        raise ValidationFailed("Keep posts for 1 to 3650 days.", errors={"retention_days": ["1 to 3650 days."]})
    row = db.session.get(ChannelSettings, team.id) or ChannelSettings(team_id=team.id)
    row.retention_days = days
    db.session.add(row)
    audit.record("channel.retention_set", actor=actor, entity_type="team", entity_id=team.id, team_id=team.id,
                 summary={"days": days})
    return row


def set_legal_hold(channel: Channel, actor, on: bool) -> Channel:
    if actor is not None and not (actor.is_admin):
        raise Forbidden("Only an administrator can place or lift a legal hold.")
    channel.legal_hold = on
    audit.record("channel.legal_hold", actor=actor, entity=channel, team_id=channel.team_id, summary={"on": on})
    return channel


def purge_expired(now: datetime | None = None) -> int:
    """Delete posts older than their team's retention, channel by channel, skipping channels on legal hold. A
    thread goes once its newest reply has expired too; replies, versions, reactions and reports go with their post.
    Returns how many posts were deleted."""
    now = now or now_utc()
    total = 0
    channels = db.session.execute(select(Channel.id, Channel.team_id).where(Channel.legal_hold.is_(False))).all()
    for channel_id, team_id in channels:
        cutoff = now - timedelta(days=retention_days(team_id))
        newer_reply = aliased(Post)
        expired = (select(Post.id).where(
            Post.channel_id == channel_id, Post.parent_id.is_(None), Post.created_at < cutoff,
            ~exists().where(newer_reply.parent_id == Post.id, newer_reply.created_at >= cutoff))
            .order_by(Post.id).limit(BATCH))
        deleted = 0
        while ids := list(db.session.scalars(expired)):
            everything = ids + list(db.session.scalars(select(Post.id).where(Post.parent_id.in_(ids))))
            attachments.remove_for_posts(everything, legal_hold=False)  # the files go after the commit
            for model in (Reaction, PostVersion, PostReport):
                db.session.execute(delete(model).where(model.post_id.in_(everything)))
            db.session.execute(delete(Post).where(Post.parent_id.in_(ids)))
            db.session.execute(delete(Post).where(Post.id.in_(ids)))
            deleted += len(everything)
        if deleted:
            audit.record("channel.purged", entity_type="channel", entity_id=channel_id, team_id=team_id,
                         summary={"posts": deleted, "cutoff": cutoff.date().isoformat()})
        total += deleted
    db.session.flush()
    return total


def export_person(email: str, actor_label: str = "cli") -> dict:
    """Everything one person wrote in any channel (text of deleted posts is gone; earlier versions are included),
    the reactions they gave and the reports they made."""

    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound("No account with that email address.")
    names = dict(db.session.execute(select(Channel.id, Channel.name)).all())
    teams = dict(db.session.execute(select(Channel.id, Team.name).join(Team, Team.id == Channel.team_id)).all())
    posts = list(db.session.scalars(select(Post).where(Post.author_id == user.id).order_by(Post.id)))
    versions: dict[int, list] = {}
    for v in db.session.scalars(select(PostVersion).where(PostVersion.post_id.in_([p.id for p in posts]))
                                .order_by(PostVersion.post_id, PostVersion.version)):
        versions.setdefault(v.post_id, []).append({"version": v.version, "text": v.text,
                                                   "replaced_at": v.replaced_at.isoformat()})
    out = {
        "person": {"id": user.id, "name": user.display_name, "email": user.email},
        "generated_at": now_utc().isoformat(),
        "posts": [{"id": p.id, "team": teams.get(p.channel_id), "channel": names.get(p.channel_id),
                   "reply_to": p.parent_id, "kind": p.kind, "text": p.text, "created_at": p.created_at.isoformat(),
                   "edited_at": p.edited_at.isoformat() if p.edited_at else None,
                   "deleted_at": p.deleted_at.isoformat() if p.deleted_at else None,
                   "hidden_reason": p.hidden_reason, "earlier_versions": versions.get(p.id, [])} for p in posts],
        "attachments": [{"post_id": a.post_id, "kind": a.kind, "filename": a.filename, "bytes": a.size_bytes,
                         "storage_key": a.storage_key, "at": a.created_at.isoformat(),
                         "deleted_at": a.deleted_at.isoformat() if a.deleted_at else None}
                        for a in db.session.scalars(select(Attachment).where(Attachment.uploaded_by_id == user.id)
                                                    .order_by(Attachment.id))],
        "reactions": [{"post_id": r.post_id, "emoji": r.emoji, "at": r.created_at.isoformat()}
                      for r in db.session.scalars(select(Reaction).where(Reaction.user_id == user.id))],
        "reports": [{"post_id": r.post_id, "reason": r.reason, "at": r.created_at.isoformat()}
                    for r in db.session.scalars(select(PostReport).where(PostReport.reporter_id == user.id))],
    }
    audit.record("channel.exported", entity_type="user", entity_id=user.id,
                 summary={"posts": len(out["posts"]), "by": actor_label})
    return out


def export_html(data: dict) -> str:
    e = html.escape
    def row(p: dict) -> str:
        text = "<em>deleted</em>" if p["deleted_at"] else e(p["text"])
        earlier = "".join(f"<br><small>earlier: {e(v['text'])}</small>" for v in p["earlier_versions"])
        kind = "reply" if p["reply_to"] else p["kind"]
        return (f"<tr><td>{e(p['created_at'])}</td><td>{e(p['team'] or '')} › {e(p['channel'] or '')}</td>"
                f"<td>{kind}</td><td>{text}{earlier}</td></tr>")

    rows = "\n".join(row(p) for p in data["posts"])
    person = data["person"]
    return (f"<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Channel posts by {e(person['name'])}"
            f"</title><h1>Channel posts by {e(person['name'])} ({e(person['email'])})</h1>"
            f"<p>Generated {e(data['generated_at'])}: {len(data['posts'])} post(s), {len(data['reactions'])} "
            f"reaction(s), {len(data['reports'])} report(s), {len(data.get('attachments', []))} photo(s) or file(s)."
            f"</p><table border=\"1\" cellpadding=\"4\">"
            f"<tr><th>When (UTC)</th><th>Channel</th><th>Kind</th><th>Text</th></tr>{rows}</table></html>")


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
