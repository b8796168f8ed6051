"""API schemas for channels and posts."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from channels.models import POST_MAX
from core.api import Id, QueryId, Text


class ChannelSchema(Schema):
    id = fields.Integer(required=True)
    team_id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "team | rule | list"})
    rule = fields.Dict()
    legal_hold = fields.Boolean()
    unread = fields.Integer(metadata={"description": "Top-level posts by others after your read position"})


class ChannelRuleSchema(Schema):
    staff_group = Text(max_len=32, allow_none=True)
    min_grade = Text(max_len=32, allow_none=True)
    skill = Text(max_len=60, allow_none=True)
    nights_this_week = fields.Boolean(metadata={"description": "Only people with a night shift this week"})


class ChannelCreateSchema(Schema):
    name = Text(required=True, min_len=1, max_len=60)
    kind = fields.String(load_default="rule", validate=validate.OneOf(["rule", "list"]))
    rule = fields.Nested(ChannelRuleSchema, load_default=dict)
    people = fields.List(Id(), load_default=list, validate=validate.Length(max=500))


class PosterSchema(Schema):
    id = fields.Integer(allow_none=True)
    display_name = fields.String()


class ReachedSchema(Schema):
    mention = fields.String(required=True, metadata={"description": "e.g. @on-shift, @tonight, @sam"})
    people = fields.List(fields.String(), required=True, metadata={"description": "Who it reached, at send time"})
    why = fields.String(allow_none=True, metadata={"description": "For @in-charge: \"in charge\" (marked by a "
                                                                  "coordinator) or \"most senior on shift\" (none "
                                                                  "marked)"})


class ReactionSchema(Schema):
    emoji = fields.String(required=True)
    count = fields.Integer(required=True)
    mine = fields.Boolean(required=True)


class CardSchema(Schema):
    type = fields.String(required=True, metadata={"description": "shift | swap | period"})
    ref = fields.Integer()
    text = fields.String()
    state = fields.String()
    action = fields.String(allow_none=True)
    holder = fields.String(allow_none=True)
    link = fields.String(allow_none=True)


class AttachmentSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "photo (re-encoded JPEG, no metadata) | file (PDF)"})
    filename = fields.String(required=True)
    content_type = fields.String(required=True)
    size_bytes = fields.Integer(required=True)
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    url = fields.String(required=True, metadata={"description": "The page route (signed-in session)"})
    api_url = fields.String(required=True, metadata={"description": "GET with your bearer token"})
    thumb_url = fields.String(allow_none=True)


class PostSchema(Schema):
    id = fields.Integer(required=True)
    channel_id = fields.Integer(required=True)
    parent_id = fields.Integer(allow_none=True)
    kind = fields.String(metadata={"description": "text | urgent | card"})
    author = fields.Nested(PosterSchema, allow_none=True)
    text = fields.String()
    created_at = fields.DateTime()
    edited_at = fields.DateTime(allow_none=True)
    version = fields.Integer()
    deleted = fields.Boolean()
    deleted_at = fields.DateTime(allow_none=True)
    deleted_by = fields.String(allow_none=True)
    hidden = fields.Boolean()
    hidden_reason = fields.String(allow_none=True)
    pinned = fields.Boolean()
    reply_count = fields.Integer()
    reached = fields.List(fields.Nested(ReachedSchema))
    seen_count = fields.Integer(metadata={"description": "Members (author aside) who have read up to this post"})
    member_count = fields.Integer()
    seen_of = fields.Integer(metadata={"description": "How many could have seen it: members now, its author aside"})
    reactions = fields.List(fields.Nested(ReactionSchema))
    mine = fields.Boolean()
    acknowledged = fields.Integer()
    recipients = fields.Integer()
    card = fields.Nested(CardSchema)
    attachments = fields.List(fields.Nested(AttachmentSchema))


class PostPageSchema(Schema):
    items = fields.List(fields.Nested(PostSchema), required=True)
    next_cursor = fields.Integer(allow_none=True, metadata={"description": "Pass as `before` for the next page"})


class PostListArgs(Schema):
    before = QueryId(metadata={"description": "Cursor: posts older than this post id"})
    limit = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class PostCreateSchema(Schema):
    text = Text(required=True, min_len=1, max_len=POST_MAX)
    urgent = fields.Boolean(load_default=False, metadata={"description": "Coordinators: needs everyone's "
                                                                         "acknowledgement (a broadcast)"})


class ReplyCreateSchema(Schema):
    text = Text(required=True, min_len=1, max_len=POST_MAX)


class PostUpdateSchema(Schema):
    text = Text(min_len=1, max_len=POST_MAX)
    pinned = fields.Boolean()


class ReadSchema(Schema):
    post_id = Id(metadata={"description": "Read up to this post (default: the newest)"})


class ReadResultSchema(Schema):
    last_read_post_id = fields.Integer(required=True)


class ReactionToggleSchema(Schema):
    emoji = Text(required=True, min_len=1, max_len=16)


class ReasonSchema(Schema):
    reason = Text(required=True, min_len=1, max_len=200)


class AckSchema(Schema):
    post_id = fields.Integer(required=True)
    acknowledged_at = fields.DateTime(allow_none=True)


class SeenBySchema(Schema):
    seen_count = fields.Integer(required=True)
    member_count = fields.Integer(required=True)
    seen_of = fields.Integer(required=True)
    people = fields.List(fields.String(), required=True)


class ClaimResultSchema(Schema):
    outcome = fields.String(required=True, metadata={"description": "claimed | volunteered"})
    shift_id = fields.Integer(required=True)


class AttachmentPostForm(Schema):
    text = Text(max_len=POST_MAX, load_default="", metadata={"description": "Caption (optional); the patient-data "
                                                                            "guard applies"})
    no_patient_information = fields.Boolean(
        load_default=False, metadata={"description": "Required true: the sender confirms the photo or file shows no "
                                                     "patient information (recorded in the audit trail)"})


class AttachmentFileSchema(Schema):
    file = Upload(required=True, metadata={"description": "A photo (JPEG, PNG, HEIC if supported) or a PDF"})


LEVEL_HELP = ("all: every post and reply is pushed to you; mentions: only posts that mention you (the default); "
              "none: muted (no pushes for ordinary posts, no unread count; mentions and urgent posts still reach you)")


class NotificationLevelUpdateSchema(Schema):
    level = fields.String(validate=validate.OneOf(["all", "mentions", "none"]), metadata={"description": LEVEL_HELP})
    sms_mentions = fields.Boolean()


class ChannelNotificationsSchema(Schema):
    channel_id = fields.Integer(required=True)
    level = fields.String(required=True)
    sms_mentions = fields.Boolean(required=True)
    muted = fields.Boolean(required=True)
    default = fields.Boolean(required=True, metadata={"description": "The level is the default (mentions only)"})
