"""Channels JSON API under /api/v1: channels, posts (cursor pages), threads, read positions, reactions,
acknowledgements, moderation and rota-card claims."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from channels import attachments, cards, moderation, reading, services
from channels.payload import page_dicts
from channels.schemas import (
    AckSchema,
    AttachmentFileSchema,
    AttachmentPostForm,
    ChannelCreateSchema,
    ChannelNotificationsSchema,
    ChannelSchema,
    ClaimResultSchema,
    NotificationLevelUpdateSchema,
    PostCreateSchema,
    PostListArgs,
    PostPageSchema,
    PostSchema,
    PostUpdateSchema,
    ReactionSchema,
    ReactionToggleSchema,
    ReadResultSchema,
    ReadSchema,
    ReasonSchema,
    ReplyCreateSchema,
    SeenBySchema,
)
from core.api import Blueprint, login_required_api
from core.db import db
from core.security import no_store

blp = no_store(Blueprint("channels_api", __name__, url_prefix="/api/v1",
                         description="Team channels: posts, threads, read receipts, mentions, rota cards"))


def _channel_dict(c, unread: dict) -> dict:
    return {"id": c.id, "team_id": c.team_id, "name": c.name, "kind": c.kind, "rule": c.rule or {},
            "legal_hold": c.legal_hold, "unread": unread.get(c.id, 0)}


def _one(p) -> dict:
    channel = services.channel_of(p)
    pg = services.Page([p], None)
    services.decorate(channel, pg, current_user)
    return page_dicts(channel, pg, current_user)[0]


@blp.get("/teams/<int:team_id>/channels")
@blp.response(200, ChannelSchema(many=True))
@login_required_api
def list_channels(team_id):
    """The team's channels you can open, with your unread counts."""
    channels = services.channels_for(services.get_team(team_id), current_user)
    unread = reading.unread_counts(current_user)
    db.session.commit()  # the team channel is made the first time anyone looks
    return [_channel_dict(c, unread) for c in channels]


@blp.post("/teams/<int:team_id>/channels")
@blp.arguments(ChannelCreateSchema)
@blp.response(201, ChannelSchema)
@login_required_api
def create_channel(data, team_id):
    """Coordinators: a channel whose members are a rule (staff group, minimum grade, skill) or a list."""
    c = services.create_channel(services.get_team(team_id), current_user, **data)
    db.session.commit()
    return _channel_dict(c, {})


@blp.get("/channels/<int:channel_id>/posts")
@blp.arguments(PostListArgs, location="query")
@blp.response(200, PostPageSchema)
@login_required_api
def list_posts(args, channel_id):
    """Top-level posts, newest first; pass `next_cursor` back as `before` for older ones."""
    channel = services.get_channel(channel_id, current_user)
    pg = services.page(channel, current_user, before=args.get("before"), limit=args["limit"])
    return {"items": page_dicts(channel, pg, current_user), "next_cursor": pg.next_cursor}


@blp.post("/channels/<int:channel_id>/posts")
@blp.arguments(PostCreateSchema)
@blp.response(201, PostSchema)
@login_required_api
def create_post(data, channel_id):
    """Post. Refused (422, code `patient_data`) if it holds an NHS number, a hospital number or a date of birth next
    to a name: that belongs in the handover. Mentions (@on-shift, @tonight, @tomorrow-early, @in-charge,
    @coordinators, @name) are resolved now and listed in `reached`."""
    p = services.post(services.get_channel(channel_id, current_user), current_user, data["text"],
                      urgent=data["urgent"])
    db.session.commit()
    return _one(p)


@blp.post("/channels/<int:channel_id>/attachments")
@blp.arguments(AttachmentPostForm, location="form")
@blp.arguments(AttachmentFileSchema, location="files")
@blp.response(201, PostSchema)
@blp.alt_response(503, description="The server is busy processing other photos: try again (Retry-After).")
@login_required_api
def create_attachment_post(form, files, channel_id):
    """Post a photo or a PDF (multipart: `file`, optional caption `text`, and `no_patient_information=true`, the
    sender's confirmation that it shows no patient information). Photos are re-encoded as JPEG with all metadata
    (EXIF, GPS) removed, with the handover's limits; 422 says why a file is refused (wrong type, too large, too many
    pixels, a caption or file name with patient data)."""
    channel = services.get_channel(channel_id, current_user)
    upload = files["file"]
    p = services.post(channel, current_user, form["text"],
                      upload=services.Upload(upload.stream.read(attachments.read_limit()), upload.filename,
                                             form["no_patient_information"]))
    db.session.commit()
    return _one(p)


@blp.get("/attachments/<int:attachment_id>")
@blp.response(200, content_type="application/octet-stream",
              description="The photo (image/jpeg) or file (application/pdf), `no-store`, `nosniff`")
@login_required_api
def get_attachment(attachment_id):
    """A photo or file from a post, for members of its channel (403 otherwise). `?size=thumb` for a photo's
    thumbnail."""
    row = services.get_attachment(attachment_id, current_user)
    return attachments.response(row, thumb=request.args.get("size") == "thumb")


@blp.get("/channels/<int:channel_id>/notifications")
@blp.response(200, ChannelNotificationsSchema)
@login_required_api
def get_notifications(channel_id):
    """What reaches your phone from this channel."""
    return reading.notification_settings(services.get_channel(channel_id, current_user), current_user)


@blp.put("/channels/<int:channel_id>/notifications")
@blp.arguments(NotificationLevelUpdateSchema)
@blp.response(200, ChannelNotificationsSchema)
@login_required_api
def set_notifications(data, channel_id):
    """Choose `all`, `mentions` (the default) or `none` (muted) for this channel, and whether mentions also come by
    SMS. Mentions and urgent posts always reach you; quiet hours hold other pushes until they end."""
    result = reading.set_notifications(services.get_channel(channel_id, current_user), current_user, **data)
    db.session.commit()
    return result


@blp.put("/channels/<int:channel_id>/mute")
@blp.response(200, ChannelNotificationsSchema)
@login_required_api
def mute(channel_id):
    """Mute the channel (level `none`): no unread count, no pushes for ordinary posts."""
    channel = services.get_channel(channel_id, current_user)
    reading.set_muted(channel, current_user, True)
    db.session.commit()
    return reading.notification_settings(channel, current_user)


@blp.delete("/channels/<int:channel_id>/mute")
@blp.response(200, ChannelNotificationsSchema)
@login_required_api
def unmute(channel_id):
    """Unmute the channel (back to the default level, mentions only)."""
    channel = services.get_channel(channel_id, current_user)
    reading.set_muted(channel, current_user, False)
    db.session.commit()
    return reading.notification_settings(channel, current_user)


@blp.post("/channels/<int:channel_id>/read")
@blp.arguments(ReadSchema)
@blp.response(200, ReadResultSchema)
@login_required_api
def read(data, channel_id):
    """Move your read position forward (never back) to `post_id`, or to the newest post."""
    last = reading.mark_read(services.get_channel(channel_id, current_user), current_user, data.get("post_id"))
    db.session.commit()
    return {"last_read_post_id": last}


@blp.get("/posts/<int:post_id>")
@blp.response(200, PostSchema)
@login_required_api
def get_post(post_id):
    return _one(services.get_post(post_id, current_user))


@blp.patch("/posts/<int:post_id>")
@blp.arguments(PostUpdateSchema)
@blp.response(200, PostSchema)
@login_required_api
def update_post(data, post_id):
    """Edit your post (the earlier text is kept as a version) and/or pin it."""
    p = services.get_post(post_id, current_user)
    if "text" in data:
        moderation.edit(p, current_user, data["text"])
    if "pinned" in data:
        moderation.pin(p, current_user, data["pinned"])
    db.session.commit()
    return _one(p)


@blp.delete("/posts/<int:post_id>")
@blp.response(200, PostSchema)
@login_required_api
def delete_post(post_id):
    """Delete your post (coordinators: any post): a tombstone "deleted by … at …" stays."""
    p = moderation.delete(services.get_post(post_id, current_user), current_user)
    db.session.commit()
    return _one(p)


@blp.get("/posts/<int:post_id>/replies")
@blp.response(200, PostPageSchema)
@login_required_api
def list_replies(post_id):
    """The thread under a post, oldest first."""
    parent = services.get_post(post_id, current_user)
    channel = services.channel_of(parent)
    pg = services.page(channel, current_user, parent=parent, limit=500)
    return {"items": page_dicts(channel, pg, current_user), "next_cursor": None}


@blp.post("/posts/<int:post_id>/replies")
@blp.arguments(ReplyCreateSchema)
@blp.response(201, PostSchema)
@login_required_api
def reply(data, post_id):
    parent = services.get_post(post_id, current_user)
    channel = services.channel_of(parent)
    p = services.post(channel, current_user, data["text"], parent=parent)
    db.session.commit()
    return _one(p)


@blp.post("/posts/<int:post_id>/replies/attachments")
@blp.arguments(AttachmentPostForm, location="form")
@blp.arguments(AttachmentFileSchema, location="files")
@blp.response(201, PostSchema)
@blp.alt_response(503, description="The server is busy processing other photos: try again (Retry-After).")
@login_required_api
def reply_with_attachment(form, files, post_id):
    """Reply in a thread with a photo or a PDF (multipart, as `POST /channels/{id}/attachments`: `file`, optional
    caption `text`, `no_patient_information=true`). The same pipeline and refusals as a post's photo."""
    parent = services.get_post(post_id, current_user)
    upload = files["file"]
    p = services.post(services.channel_of(parent), current_user, form["text"], parent=parent,
                      upload=services.Upload(upload.stream.read(attachments.read_limit()), upload.filename,
                                             form["no_patient_information"]))
    db.session.commit()
    return _one(p)


@blp.get("/posts/<int:post_id>/seen")
@blp.response(200, SeenBySchema)
@login_required_api
def seen(post_id):
    """Who has read up to this post."""
    p = services.get_post(post_id, current_user)
    ids = reading.seen_by(p)
    people = services.names(ids)
    members = services.member_ids(services.channel_of(p))
    return {"seen_count": len(ids), "member_count": len(members), "seen_of": reading.seen_denominator(p, members),
            "people": sorted(people.values())}


@blp.post("/posts/<int:post_id>/acknowledge")
@blp.response(200, AckSchema)
@login_required_api
def acknowledge(post_id):
    """Acknowledge an urgent post (the broadcast behind it records it)."""
    result = services.acknowledge(services.get_post(post_id, current_user), current_user)
    db.session.commit()
    return result


@blp.post("/posts/<int:post_id>/reactions")
@blp.arguments(ReactionToggleSchema)
@blp.response(200, ReactionSchema(many=True))
@login_required_api
def react(data, post_id):
    """Add your reaction, or take it back if you had given it."""
    result = moderation.react(services.get_post(post_id, current_user), current_user, data["emoji"])
    db.session.commit()
    return [{"emoji": e, **v} for e, v in result.items()]


@blp.post("/posts/<int:post_id>/hide")
@blp.arguments(ReasonSchema)
@blp.response(200, PostSchema)
@login_required_api
def hide(data, post_id):
    """Coordinators: hide a post, saying why."""
    p = moderation.hide(services.get_post(post_id, current_user), current_user, data["reason"])
    db.session.commit()
    return _one(p)


@blp.post("/posts/<int:post_id>/report")
@blp.arguments(ReasonSchema)
@blp.response(202)
@login_required_api
def report(data, post_id):
    """Report a post to the team's coordinators."""
    moderation.report(services.get_post(post_id, current_user), current_user, data["reason"])
    db.session.commit()
    return ""


@blp.post("/posts/<int:post_id>/claim")
@blp.response(200, ClaimResultSchema)
@login_required_api
def claim(post_id):
    """"I'll take it" on an open-shift card: the rota's own claim and checks decide."""
    result = cards.claim(services.get_post(post_id, current_user), current_user)
    db.session.commit()
    return result


def register(app, api) -> None:
    api.register_blueprint(blp)
