"""Channel pages: the list with unread counts, a channel (post, react, claim cards, see who has read), a thread, and
the live event stream the pages listen to. Thin: forms in, services, templates out."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from channels import attachments, cards, moderation, reading, services
from channels.models import POST_MAX, Channel, Post
from channels.payload import linkify, page_dicts
from core import audit, images, metrics
from core.accounts import GRADES, StaffGroup, Team
from core.db import db
from core.errors import DomainError, Forbidden
from core.pages import form_errors
from core.security import no_store
from core.web import as_choices
from notifications import realtime

bp = Blueprint("channels", __name__)


@bp.app_template_filter("post_html")
def post_html(text: str):

    return linkify(text, current_app.config.get("PUBLIC_BASE_URL"))


class PostForm(FlaskForm):
    text = TextAreaField("Message", validators=[Length(max=POST_MAX)])  # may be empty with a photo (service checks)
    urgent = BooleanField("Urgent: everyone must acknowledge")
    file = FileField("Add a photo or PDF")
    no_patient_information = BooleanField("It shows no patient information: no names, numbers, notes, wristbands "
                                          "or screens")


class NotificationsForm(FlaskForm):
    level = SelectField("Send to my phone", choices=as_choices([("all", "Every post"),
                                                                ("mentions", "Only when I'm mentioned"),
                                                                ("none", "Nothing (muted)")]))
    sms_mentions = BooleanField("Also text me when I'm mentioned (if a push goes unanswered)")


class ReasonForm(FlaskForm):
    reason = StringField("Reason", validators=[DataRequired("Give a reason."), Length(max=200)])


class ActionForm(FlaskForm):
    emoji = HiddenField()


def _team(channel: Channel) -> Team:
    return db.session.get(Team, channel.team_id)


def _render_channel(channel: Channel, form: PostForm, status: int = 200, refusal: str | None = None):
    pg = services.page(channel, current_user, before=request.args.get("before", type=int),
                       limit=current_app.config["CHANNELS_PAGE_SIZE"])
    if not request.args.get("before") and pg.posts:
        reading.mark_read(channel, current_user, pg.posts[0].id)
        db.session.commit()
    return render_template("channels/channel.html", channel=channel, team=_team(channel), form=form,
                           posts=page_dicts(channel, pg, current_user), next_cursor=pg.next_cursor,
                           action=ActionForm(), refusal=refusal, emoji=services.EMOJI,
                           can_moderate=_team(channel).can_manage(current_user),
                           muted=channel.id in reading.muted_ids(current_user),
                           notifications=_notifications_form(channel), photo_mb=images.max_bytes() // 1048576,
                           file_mb=attachments.max_file_bytes() // 1048576, heic=images.HEIC_SUPPORTED), status


def _notifications_form(channel: Channel) -> NotificationsForm:
    current = reading.notification_settings(channel, current_user)
    form = NotificationsForm(formdata=None)
    form.level.data, form.sms_mentions.data = current["level"], current["sms_mentions"]
    return form


def _send(form: PostForm, send, has_file: bool):
    """Run ``send`` (a service call that posts); on a refusal roll back and put it on the form beside the typed
    text. Returns (post, status, patient-data refusal)."""
    try:
        p = send()
    except DomainError as exc:
        db.session.rollback()
        if exc.status == 403:
            raise
        if (exc.extra or {}).get("code") == "patient_data":
            audit.record_carried(exc)  # the refusal is counted (reason only) in its own transaction
            return None, exc.status, exc.detail
        form_errors(form, exc, default="file" if has_file else "text")
        return None, exc.status, None
    db.session.commit()
    return p, 200, None


def _upload(form: PostForm) -> services.Upload | None:
    storage = form.file.data
    if not storage or not getattr(storage, "filename", None):
        return None
    return services.Upload(storage.stream.read(attachments.read_limit()), storage.filename,
                           bool(form.no_patient_information.data))


@bp.get("/channels")
@login_required
@no_store
def index():
    channels = services.my_channels(current_user)
    unread = reading.unread_counts(current_user)
    teams = services.teams_of(channels)
    db.session.commit()
    managed = [t for t in teams.values() if t.can_manage(current_user)]
    return render_template("channels/index.html", channels=channels, unread=unread, teams=teams, managed=managed,
                           muted=reading.muted_ids(current_user))


@bp.get("/channels/<int:channel_id>")
@login_required
@no_store
def channel_page(channel_id: int):
    return _render_channel(services.get_channel(channel_id, current_user), PostForm())


@bp.post("/channels/<int:channel_id>/posts")
@login_required
def create_post(channel_id: int):
    channel = services.get_channel(channel_id, current_user)
    form = PostForm()
    if not form.validate():
        return _render_channel(channel, form, 422)
    upload = _upload(form)
    p, status, refusal = _send(form, lambda: services.post(channel, current_user, form.text.data,
                                                           urgent=form.urgent.data, upload=upload),
                               upload is not None)
    if p is None:
        return _render_channel(channel, form, status, refusal=refusal)
    return redirect(url_for("channels.channel_page", channel_id=channel.id) + f"#post-{p.id}")


@bp.get("/channels/<int:channel_id>/posts/<int:post_id>")
@login_required
@no_store
def thread(channel_id: int, post_id: int, form: PostForm | None = None, status: int = 200,
           refusal: str | None = None):
    channel = services.get_channel(channel_id, current_user)
    parent = services.get_post(post_id, current_user)
    if parent.channel_id != channel.id:
        return redirect(url_for("channels.thread", channel_id=parent.channel_id, post_id=parent.id))
    top = services.Page([parent], None)
    services.decorate(channel, top, current_user)
    replies = services.page(channel, current_user, parent=parent, limit=500)
    return render_template("channels/thread.html", channel=channel, team=_team(channel), form=form or PostForm(),
                           parent=page_dicts(channel, top, current_user)[0], action=ActionForm(), refusal=refusal,
                           posts=page_dicts(channel, replies, current_user), emoji=services.EMOJI,
                           can_moderate=_team(channel).can_manage(current_user),
                           photo_mb=images.max_bytes() // 1048576, file_mb=attachments.max_file_bytes() // 1048576,
                           heic=images.HEIC_SUPPORTED), status


@bp.post("/channels/<int:channel_id>/posts/<int:post_id>/replies")
@login_required
def reply(channel_id: int, post_id: int):
    channel = services.get_channel(channel_id, current_user)
    parent = services.get_post(post_id, current_user)
    form = PostForm()
    if not form.validate():
        return thread(channel_id, post_id, form=form, status=422)
    upload = _upload(form)
    p, status, refusal = _send(form, lambda: services.post(channel, current_user, form.text.data, parent=parent,
                                                           upload=upload), upload is not None)
    if p is None:
        return thread(channel_id, post_id, form=form, status=status, refusal=refusal)
    return redirect(url_for("channels.thread", channel_id=channel.id, post_id=parent.id))


@bp.get("/channels/<int:channel_id>/posts/<int:post_id>/fragment")
@login_required
@no_store
def fragment(channel_id: int, post_id: int):
    """One post as the page shows it (the live script swaps it in)."""
    channel = services.get_channel(channel_id, current_user)
    p = services.get_post(post_id, current_user)
    pg = services.Page([p], None)
    services.decorate(channel, pg, current_user)
    return render_template("channels/_post.html", p=page_dicts(channel, pg, current_user)[0], channel=channel,
                           team=_team(channel), action=ActionForm(), emoji=services.EMOJI,
                           in_thread=p.parent_id is not None, can_moderate=_team(channel).can_manage(current_user))


@bp.get("/channels/<int:channel_id>/posts/<int:post_id>/seen")
@login_required
@no_store
def seen(channel_id: int, post_id: int):
    channel = services.get_channel(channel_id, current_user)
    p = services.get_post(post_id, current_user)
    people = sorted(services.names(reading.seen_by(p)).values())
    return render_template("channels/seen.html", channel=channel, post=p, people=people,
                           seen_of=reading.seen_denominator(p, services.member_ids(channel)))


def _back(p: Post):
    if p.parent_id:
        return redirect(url_for("channels.thread", channel_id=p.channel_id, post_id=p.parent_id))
    return redirect(url_for("channels.channel_page", channel_id=p.channel_id) + f"#post-{p.id}")


@bp.post("/channels/posts/<int:post_id>/<any(react, delete, pin, unpin, acknowledge, claim):what>")
@login_required
def act(post_id: int, what: str):
    p = services.get_post(post_id, current_user)
    form = ActionForm()
    if not form.validate():
        return _back(p)
    if what == "react":
        moderation.react(p, current_user, form.emoji.data or "")
    elif what == "delete":
        moderation.delete(p, current_user)
    elif what in ("pin", "unpin"):
        moderation.pin(p, current_user, what == "pin")
    elif what == "acknowledge":
        services.acknowledge(p, current_user)
    else:
        cards.claim(p, current_user)
    db.session.commit()
    return _back(p)


@bp.route("/channels/posts/<int:post_id>/<any(hide, report):what>", methods=["GET", "POST"])
@login_required
def moderate(post_id: int, what: str):
    p = services.get_post(post_id, current_user)
    form = ReasonForm()
    if request.method == "POST" and form.validate():
        (moderation.hide if what == "hide" else moderation.report)(p, current_user, form.reason.data)
        db.session.commit()
        return _back(p)
    return render_template("channels/reason.html", post=p, form=form, what=what), \
        422 if request.method == "POST" else 200


@bp.post("/channels/<int:channel_id>/<any(mute, unmute):what>")
@login_required
def mute(channel_id: int, what: str):
    channel = services.get_channel(channel_id, current_user)
    if ActionForm().validate():
        reading.set_muted(channel, current_user, what == "mute")
        db.session.commit()
    return redirect(url_for("channels.channel_page", channel_id=channel.id))


@bp.post("/channels/<int:channel_id>/notifications")
@login_required
def notifications(channel_id: int):
    channel = services.get_channel(channel_id, current_user)
    form = NotificationsForm()
    if form.validate():
        reading.set_notifications(channel, current_user, level=form.level.data,
                                   sms_mentions=bool(form.sms_mentions.data))
        db.session.commit()
    return redirect(url_for("channels.channel_page", channel_id=channel.id))


@bp.get("/channels/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int):
    """A photo or PDF from a post: members of the channel only; never cached; PDFs are downloaded."""
    row = services.get_attachment(attachment_id, current_user)
    return attachments.response(row, thumb=request.args.get("size") == "thumb")


class ChannelForm(FlaskForm):
    name = StringField("Channel name", validators=[DataRequired("Give the channel a name."), Length(max=60)])
    staff_group = SelectField("Staff group", validators=[Optional()])
    min_grade = SelectField("Minimum grade", validators=[Optional()])
    skill = StringField("Skill", validators=[Optional(), Length(max=60)])
    nights_this_week = BooleanField("Only people on nights this week")


@bp.route("/teams/<int:team_id>/channels/new", methods=["GET", "POST"])
@login_required
def new_channel(team_id: int):
    """Coordinators: a channel whose members are a rule (staff group, minimum grade, skill)."""
    team = services.get_team(team_id)
    if not team.can_manage(current_user):
        raise Forbidden("Only the team's coordinators can add channels.")
    form = ChannelForm()
    form.staff_group.choices = as_choices([("", "Any")] + [(g.value, g.value.capitalize()) for g in StaffGroup])
    form.min_grade.choices = as_choices([("", "Any")] + [(g, g) for g in GRADES])
    if request.method == "POST" and form.validate():
        channel = services.create_channel(team, current_user, name=form.name.data, kind="rule",
                                          rule={"staff_group": form.staff_group.data, "min_grade": form.min_grade.data,
                                                "skill": (form.skill.data or "").strip(),
                                                "nights_this_week": form.nights_this_week.data})
        db.session.commit()
        return redirect(url_for("channels.channel_page", channel_id=channel.id))
    return render_template("channels/new.html", team=team, form=form), 422 if request.method == "POST" else 200


@bp.post("/channels/<int:channel_id>/read")
@login_required
def read(channel_id: int):
    """The live page saw a new post while open (fetch with the CSRF header)."""
    channel = services.get_channel(channel_id, current_user)
    post_id = request.form.get("post_id", type=int)
    last = reading.mark_read(channel, current_user, post_id if post_id and post_id > 0 else None)
    db.session.commit()
    return {"last_read_post_id": last}


@bp.get("/channels/<int:channel_id>/stream")
@login_required
def stream(channel_id: int):
    """Server-Sent Events for one channel: `post`, `reply`, `update` and `read` events carrying ids only; the page
    fetches what its viewer may see. Held open by the stream service (gevent; the load balancer routes this path
    there, ``make run`` points the page at it); a web-tier worker never holds it: it answers at once and the browser
    comes back later (the page catches up each time its stream opens)."""
    channel = services.get_channel(channel_id, current_user)
    app = current_app._get_current_object()
    topic = services.TOPIC.format(channel.id)
    user_id = current_user.id
    keepalive = float(app.config.get("NOTIFICATIONS_KEEPALIVE_SECONDS", 15))
    max_seconds = float(app.config.get("NOTIFICATIONS_STREAM_MAX_SECONDS", 600))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **realtime.cross_origin_headers(app)}
    if not realtime.holds_streams(app):
        return Response("retry: 15000\n\n: connected\n\n", mimetype="text/event-stream", headers=headers)
    realtime.ensure_listener(app)  # first: its start may count as a gap, which would end this stream at once
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    q = realtime.HUB.try_subscribe(user_id, int(app.config["NOTIFICATIONS_STREAMS_PER_USER"]), keepalive=keepalive,
                                   max_seconds=max_seconds, peer_gone=realtime.peer_gone_probe(sock), topic=topic,
                                   kind="channel")
    if q is None:
        abort(429, description="You have too many channel pages open; close a tab.")
    db.session.remove()  # never hold a transaction (on SQLite: the write lock) while streaming

    def still_allowed() -> bool:
        with app.app_context():
            try:
                return services.still_sees(channel_id, user_id)
            finally:
                db.session.remove()

    def generate():
        yield "retry: 3000\n\n: connected\n\n"
        # No timer of its own: the hub's heartbeat wheel nudges it every keep-alive period and ends it when its time
        # is up or its browser has gone.
        while (ev := q.get()) is not realtime.CLOSED:
            if ev is realtime.KEEPALIVE:
                if not still_allowed():  # a leaver loses the channel at the next keep-alive, open page or not
                    return
                if realtime.HUB.needs_catch_up(q) and realtime.HUB.listening:
                    return  # events may have been missed (listener gap, full queue): the page reconnects, catches up
                yield ": keep-alive\n\n"
                continue
            data = {k: ev.get(k) for k in ("kind", "post_id", "parent_id")}
            yield f"event: {ev.get('kind')}\ndata: {json.dumps(data)}\n\n"

    response = Response(generate(), mimetype="text/event-stream", headers=headers)
    metrics.OPEN_STREAMS.inc()

    def closed():
        realtime.HUB.unsubscribe(topic, q)
        metrics.OPEN_STREAMS.dec()

    response.call_on_close(closed)
    return response


def unread_panel(user):
    """Home card: unread posts in your channels."""
    if not user.team_ids:
        return None
    unread = reading.unread_counts(user)
    channels = services.channels_by_id(list(unread))
    return {"title": "Channels", "template": "channels/_home_panel.html", "channels": channels, "unread": unread}


def menu_badge():
    if not current_user or not current_user.is_authenticated:
        return {}
    return {"channels_unread": sum(reading.unread_counts(current_user).values())}


