"""JSON API: the notification centre, its event stream, broadcasts and their reports, preferences."""

from __future__ import annotations

import json
import re

from flask import Response, abort, current_app, jsonify, request
from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core import metrics
from core.accounts import Team
from core.api import MAX_ID, Blueprint, Id, LocalPath, PageArgs, Text, login_required_api
from core.db import db
from notifications import broadcasts, realtime, service, sms

blp = Blueprint("notifications_api", __name__, url_prefix="/api/v1",
                description="Notification centre, real-time stream, broadcasts and preferences")

HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Use a 24-hour time such as 22:00.")


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    text = fields.String()
    link = fields.String(allow_none=True)
    team_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


class NotificationListArgs(PageArgs):
    unread_only = fields.Boolean(load_default=False)


class NotificationPageSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    unread = fields.Integer(required=True)


class ReadAllSchema(Schema):
    marked = fields.Integer(required=True)
    unread = fields.Integer(required=True)


class StreamArgs(Schema):
    once = fields.Boolean(load_default=False, metadata={"description": "Send what is waiting, then end."})
    last_event_id = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_ID),
                                   metadata={"description": "Replay notifications after this id (as the "
                                                            "Last-Event-ID header does)."})


def _params(value: dict) -> None:
    if len(value) > 20:
        raise ValidationError("At most 20 settings.")
    for key, v in value.items():
        items = v if isinstance(v, list) else [v]
        if isinstance(v, list) and len(v) > 50:
            raise ValidationError(f"{key}: at most 50 values.")
        for item in items:
            if isinstance(item, bool) or item is None:
                continue
            if isinstance(item, int):
                if abs(item) > 2**31 - 1:
                    raise ValidationError(f"{key}: number out of range.")
                continue
            if isinstance(item, str) and len(item) <= 64 and "\x00" not in item:
                try:
                    item.encode("utf-8")
                    continue
                except UnicodeEncodeError:
                    pass
            raise ValidationError(f"{key}: use short text, numbers or lists of them.")


class BroadcastCreateSchema(Schema):
    team_id = Id(required=True)
    audience = Text(required=True, min_len=1, max_len=48)
    params = fields.Dict(keys=Text(min_len=1, max_len=32), values=fields.Raw(allow_none=True), load_default=dict,
                         validate=_params)
    text = Text(required=True, min_len=1, max_len=320)
    link = LocalPath(max_len=300, allow_none=True, load_default=None)
    kind = fields.String(load_default="message", validate=validate.OneOf(broadcasts.KINDS))
    reference = Text(max_len=64, allow_none=True, load_default=None)
    requires_ack = fields.Boolean(load_default=False)
    urgent = fields.Boolean(load_default=False)
    channels = fields.List(fields.String(validate=validate.OneOf(service.CHANNELS)), load_default=lambda: [
        service.IN_APP, service.SMS], validate=validate.Length(min=1, max=2))
    dry_run = fields.Boolean(load_default=False, metadata={"description": "Only count the recipients."})


class PreviewSchema(Schema):
    recipient_count = fields.Integer(required=True)
    muted_count = fields.Integer(required=True)
    sms_enabled = fields.Boolean(required=True)


class BroadcastSchema(Schema):
    id = fields.Integer()
    team_id = fields.Integer()
    kind = fields.String()
    audience = fields.String()
    audience_params = fields.Dict()
    text = fields.String()
    link = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    channels = fields.List(fields.String())
    requires_ack = fields.Boolean()
    urgent = fields.Boolean()
    state = fields.String()
    escalation_step = fields.Integer()
    next_escalation_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)


class RecipientReportSchema(Schema):
    user_id = fields.Integer()
    name = fields.String()
    step = fields.Integer()
    status = fields.String(metadata={"description": "claimed | acknowledged | read | delivered | sent | failed | "
                                                    "pending"})
    sms_state = fields.String(allow_none=True)
    sms_error = fields.String(allow_none=True)
    sms_error_message = fields.String(allow_none=True)
    sms_skipped = fields.String(allow_none=True)
    read_at = fields.DateTime(allow_none=True)
    acknowledged_at = fields.DateTime(allow_none=True)
    claimed_at = fields.DateTime(allow_none=True)
    muted = fields.Boolean()


class EscalationStepSchema(Schema):
    step = fields.Integer()
    audience = fields.String()
    added = fields.Integer()
    at = fields.DateTime()


class BroadcastReportSchema(Schema):
    broadcast = fields.Nested(BroadcastSchema)
    team_name = fields.String()
    recipient_count = fields.Integer()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    recipients = fields.List(fields.Nested(RecipientReportSchema))
    escalations = fields.List(fields.Nested(EscalationStepSchema))
    sms_enabled = fields.Boolean()


class AcknowledgementSchema(Schema):
    broadcast_id = fields.Integer()
    user_id = fields.Integer()
    acknowledged_at = fields.DateTime(allow_none=True)
    claimed_at = fields.DateTime(allow_none=True)


class PreferencesSchema(Schema):
    sms_enabled = fields.Boolean()
    quiet_start = fields.String()
    quiet_end = fields.String()
    daily_sms_cap = fields.Integer()
    mobile_on_file = fields.Boolean(dump_only=True)
    sms_opted_out = fields.Boolean(dump_only=True)
    sms_available = fields.Boolean(dump_only=True, metadata={"description": "False when SMS is not configured."})


class PreferencesUpdateSchema(Schema):
    sms_enabled = fields.Boolean()
    quiet_start = Text(max_len=5, validate=HHMM)
    quiet_end = Text(max_len=5, validate=HHMM)
    daily_sms_cap = fields.Integer(strict=True, validate=validate.Range(min=0, max=50))

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError("Send at least one setting.")


def _page(args, stmt):
    total = db.session.scalar(db.select(db.func.count()).select_from(stmt.subquery()))
    items = db.session.scalars(stmt.limit(args["per_page"]).offset((args["page"] - 1) * args["per_page"])).all()
    return total, items


@blp.get("/notifications")
@blp.arguments(NotificationListArgs, location="query")
@blp.response(200, NotificationPageSchema)
@login_required_api
def list_notifications(args):
    """Your notifications, newest first, with your unread count."""
    total, items = _page(args, service.list_for(current_user.id, unread_only=args["unread_only"]))
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total,
            "unread": service.unread_count(current_user.id)}


@blp.post("/notifications/<int:notification_id>/read")
@blp.response(200, NotificationSchema)
@login_required_api
def read_notification(notification_id):
    """Mark one of your notifications read."""
    n = service.mark_read(current_user, notification_id)
    db.session.commit()
    return n


@blp.post("/notifications/read-all")
@blp.response(200, ReadAllSchema)
@login_required_api
def read_all():
    """Mark all your notifications read."""
    marked = service.mark_all_read(current_user)
    db.session.commit()
    return {"marked": marked, "unread": 0}


def _sse(event: dict) -> str:

    return f"id: {event['id']}\nevent: notification\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


def _backlog(app, user_id: int, after: int) -> list[dict]:
    with app.app_context():
        try:
            return [service.event_for(n) for n in service.since(user_id, after)]
        finally:
            db.session.remove()  # never hold a transaction (on SQLite: the write lock) while streaming


def _last_event_id(header: str, default: int) -> int:
    """The browser echoes the last id it saw; anything that is not one of our ids (ASCII digits, in range) is
    ignored rather than trusted: str.isdigit() accepts '²' and '١', and ids stop at MAX_ID."""
    if re.fullmatch(r"[0-9]{1,10}", header) and int(header) <= MAX_ID:
        return int(header)
    return default


@blp.get("/notifications/stream")
@blp.arguments(StreamArgs, location="query")
@blp.response(200, description="Server-Sent Events (`text/event-stream`): one `notification` event per new "
              "notification, `id` = notification id, `data` = JSON {id, kind, text, link, created_at}; a keep-alive "
              "comment every ~15 s. Replays what was missed after `Last-Event-ID` (or `last_event_id`). Long-lived "
              "only for clients that ask for `Accept: text/event-stream` (browsers' EventSource do) and not `once`; "
              "otherwise it sends what is waiting and ends (which also keeps fuzzing bounded). Long streams end "
              "after NOTIFICATIONS_STREAM_MAX_SECONDS; EventSource reconnects and replays.",
              content_type="text/event-stream")
@login_required_api
def stream(args):
    """Real-time notifications (Server-Sent Events)."""
    app = current_app._get_current_object()
    user_id = current_user.id
    last_id = _last_event_id(request.headers.get("Last-Event-ID", ""), args["last_event_id"])
    wants_live = not args["once"] and "text/event-stream" in request.headers.get("Accept", "")
    live = wants_live and realtime.holds_streams(app)
    keepalive = float(app.config.get("NOTIFICATIONS_KEEPALIVE_SECONDS", 15))
    max_seconds = float(app.config.get("NOTIFICATIONS_STREAM_MAX_SECONDS", 600))
    db.session.remove()
    q = None
    if live:
        realtime.ensure_listener(app)
        sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
        q = realtime.HUB.try_subscribe(user_id, int(app.config["NOTIFICATIONS_STREAMS_PER_USER"]),
                                       keepalive=keepalive, max_seconds=max_seconds,
                                       peer_gone=realtime.peer_gone_probe(sock))
        if q is None:
            abort(429, description="You have too many live notification streams open; close a tab. "
                                   "The page checks for notifications every 15 seconds instead.")
    # A web-tier worker answers with what is waiting and asks the browser to come back later (behind the load
    # balancer the stream path goes to the stream service, so this only happens on a misrouted request).
    retry_ms = 3000 if live or not wants_live else 15000

    def generate():
        nonlocal last_id
        seen: set[int] = set()
        yield f"retry: {retry_ms}\n\n"
        for ev in _backlog(app, user_id, last_id):
            seen.add(ev["id"])
            last_id = max(last_id, ev["id"])
            yield _sse(ev)
        if not live:
            return
        # The stream waits without a timer of its own: the hub's heartbeat wheel nudges it every keep-alive period
        # (staggered over all streams) and ends it when its time is up or its browser has gone.
        while (ev := q.get()) is not realtime.CLOSED:
            if ev is realtime.KEEPALIVE:
                if realtime.HUB.needs_catch_up(q):  # a listener gap or a full queue (or no listener at all)
                    for missed in _backlog(app, user_id, last_id):
                        if missed["id"] not in seen:
                            seen.add(missed["id"])
                            last_id = max(last_id, missed["id"])
                            yield _sse(missed)
                yield ": keep-alive\n\n"
                continue
            if ev["id"] in seen:
                continue
            seen.add(ev["id"])
            last_id = max(last_id, ev["id"])
            yield _sse({k: v for k, v in ev.items() if k != "user_id"})

    response = Response(generate(), mimetype="text/event-stream", headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no", **realtime.cross_origin_headers(app)})
    if q is not None:  # the server closes the response when the client goes, even before it was iterated
        metrics.OPEN_STREAMS.inc()

        def closed():
            realtime.HUB.unsubscribe(user_id, q)
            metrics.OPEN_STREAMS.dec()

        response.call_on_close(closed)
    return response


@blp.post("/broadcasts")
@blp.arguments(BroadcastCreateSchema)
@blp.response(201, BroadcastSchema)
@blp.alt_response(200, schema=PreviewSchema, description="With dry_run: how many people it would reach.")
@login_required_api
def create_broadcast(data):
    """Broadcast a message or an open shift to an audience (coordinators). `dry_run` only counts recipients."""
    team = broadcasts.get_team(data.pop("team_id"))
    if data.pop("dry_run"):
        counted = broadcasts.preview(team, current_user, audience=data["audience"], params=data["params"],
                                     reference=data["reference"])
        return jsonify(PreviewSchema().dump(counted))  # a Response: flask-smorest sends it as it is
    b = broadcasts.create(team, current_user, **data)
    db.session.commit()
    return b


@blp.get("/broadcasts/<int:broadcast_id>")
@blp.response(200, BroadcastReportSchema)
@login_required_api
def broadcast_report(broadcast_id):
    """The live delivery report: per person sent / delivered / failed / read / acknowledged / claimed."""
    report = broadcasts.report(broadcasts.get(broadcast_id), current_user)
    report["sms_enabled"] = sms.sms_enabled()
    return report


@blp.post("/broadcasts/<int:broadcast_id>/acknowledge")
@blp.response(200, AcknowledgementSchema)
@login_required_api
def acknowledge(broadcast_id):
    """"I've seen this" (recipients only)."""
    r = broadcasts.acknowledge(broadcasts.get(broadcast_id), current_user)
    db.session.commit()
    return r


def _prefs_out(user):
    pref = service.get_preferences(user)
    return {"sms_enabled": pref.sms_enabled, "quiet_start": pref.quiet_start, "quiet_end": pref.quiet_end,
            "daily_sms_cap": pref.daily_sms_cap, "mobile_on_file": bool(user.mobile),
            "sms_opted_out": service.sms_opted_out(user), "sms_available": sms.sms_enabled()}


@blp.get("/me/notification-preferences")
@blp.response(200, PreferencesSchema)
@login_required_api
def get_preferences():
    """Your SMS choices: on/off, quiet hours (no non-urgent texts), daily cap on broadcast texts."""
    return _prefs_out(current_user)


@blp.put("/me/notification-preferences")
@blp.arguments(PreferencesUpdateSchema)
@blp.response(200, PreferencesSchema)
@login_required_api
def put_preferences(data):
    """Change your SMS choices."""
    service.set_preferences(current_user, **data)
    db.session.commit()
    return _prefs_out(current_user)





class LadderStepSchema(Schema):
    after_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(*broadcasts.MINUTES),
                                   metadata={"description": "Minutes after the previous step (or the broadcast)."})
    audience = Text(required=True, min_len=1, max_len=48,
                    metadata={"description": "An audience name, see `choices` (e.g. staff_bank, coordinators)."})
    params = fields.Dict(keys=Text(min_len=1, max_len=32), values=fields.Raw(allow_none=True), load_default=dict,
                         validate=_params)


class AudienceChoiceSchema(Schema):
    name = fields.String()
    label = fields.String()


class EscalationPolicySchema(Schema):
    team_id = fields.Integer(dump_only=True)
    steps = fields.List(fields.Nested(LadderStepSchema), required=True,
                        validate=validate.Length(max=broadcasts.MAX_STEPS))
    choices = fields.List(fields.Nested(AudienceChoiceSchema), dump_only=True,
                          metadata={"description": "Audiences a step may widen to."})


def _policy_out(team: Team) -> dict:
    return {"team_id": team.id, "steps": broadcasts.get_policy(team, current_user),
            "choices": [{"name": n, "label": label} for n, label in broadcasts.audience_choices()]}


@blp.get("/teams/<int:team_id>/escalation-policy")
@blp.response(200, EscalationPolicySchema)
@login_required_api
def get_escalation_policy(team_id):
    """The team's escalation ladder for unanswered open-shift broadcasts (coordinators)."""
    return _policy_out(broadcasts.get_team(team_id))


@blp.put("/teams/<int:team_id>/escalation-policy")
@blp.arguments(EscalationPolicySchema)
@blp.response(200, EscalationPolicySchema)
@login_required_api
def put_escalation_policy(data, team_id):
    """Replace the team's escalation ladder: ordered steps, each "after N minutes, widen to <audience>" (at most
    six; minutes 1-1440; audiences from `choices`). An empty list turns escalation off."""
    team = broadcasts.get_team(team_id)
    broadcasts.set_policy(team, current_user, data["steps"])
    db.session.commit()
    return _policy_out(team)
