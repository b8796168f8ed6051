"""Pages: notification centre, preferences, short links, broadcasts (compose, preview, report, recipient view)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from core.accounts import GRADES, StaffGroup, Team
from core.db import db, get_by_id
from core.errors import DomainError, NotFound
from core.links import LINK_HELP, is_local_path, local_path
from core.pages import CsrfForm
from core.web import as_choices
from notifications import broadcasts, registry, service, sms, worker
from notifications.models import Broadcast, Notification, OutboxMessage

bp = Blueprint("notifications", __name__)
PAGE = 50


def _local_path(link: str | None) -> str:
    return local_path(link) or url_for("notifications.centre")


def _local_link(form, field) -> None:
    if field.data and not is_local_path(field.data):
        raise ValidationError(LINK_HELP)


@bp.get("/notifications")
@login_required
def centre():
    page_no = request.args.get("page", 1, type=int) or 1
    page_no = min(max(page_no, 1), 100_000)
    items = db.session.scalars(service.list_for(current_user.id).limit(PAGE).offset((page_no - 1) * PAGE)).all()
    return render_template("notifications/centre.html", items=items, page_no=page_no, page_size=PAGE,
                           unread=service.unread_count(current_user.id), form=CsrfForm(),
                           last_id=max((n.id for n in items), default=0))


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def read(notification_id: int):
    CsrfForm().validate_on_submit() or abort(400)
    service.mark_read(current_user, notification_id)
    db.session.commit()
    return redirect(url_for("notifications.centre"))


@bp.post("/notifications/read-all")
@login_required
def read_all():
    CsrfForm().validate_on_submit() or abort(400)
    service.mark_all_read(current_user)
    db.session.commit()
    return redirect(url_for("notifications.centre"))


@bp.get("/notifications/<int:notification_id>/open")
@login_required
def open_notification(notification_id: int):
    """Following a notification marks it read (a GET that changes only the reader's own read flag)."""
    n = get_by_id(Notification, notification_id)
    if n is None or n.user_id != current_user.id:
        raise NotFound("No such notification.")
    service.mark_read(current_user, n.id)
    db.session.commit()
    return redirect(_local_path(n.link))


@bp.get("/n/<int:message_id>")
@login_required
def short_link(message_id: int):
    """The short link at the end of a text message."""
    msg = get_by_id(OutboxMessage, message_id)
    if msg is None or msg.user_id != current_user.id:
        raise NotFound("No such message.")
    return redirect(_local_path(msg.link))


class PreferencesForm(FlaskForm):
    sms_enabled = BooleanField("Send me text messages")
    quiet_start = StringField("Quiet from", validators=[DataRequired(), Regexp(r"^([01]\d|2[0-3]):[0-5]\d$",
                                                                               message="Use a time such as 22:00.")])
    quiet_end = StringField("Quiet until", validators=[DataRequired(), Regexp(r"^([01]\d|2[0-3]):[0-5]\d$",
                                                                              message="Use a time such as 07:00.")])
    daily_sms_cap = IntegerField("Most broadcast texts per day", validators=[DataRequired(message="Enter a number."),
                                                                           NumberRange(min=0, max=50)])


@bp.route("/notifications/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    pref = service.get_preferences(current_user)
    form = PreferencesForm(obj=pref)
    saved = False
    if form.validate_on_submit():
        service.set_preferences(current_user, sms_enabled=form.sms_enabled.data, quiet_start=form.quiet_start.data,
                                quiet_end=form.quiet_end.data, daily_sms_cap=form.daily_sms_cap.data)
        db.session.commit()
        saved = True
    status = 422 if form.errors else 200
    return render_template("notifications/preferences.html", form=form, saved=saved,
                           sms_available=sms.sms_enabled(), opted_out=service.sms_opted_out(current_user)), status


# ------------------------------------------------------------------------------------------------ broadcasts


def _managed_teams():
    teams = db.session.scalars(select(Team).order_by(Team.name)).all()
    return [t for t in teams if t.can_manage(current_user)]


class BroadcastForm(FlaskForm):
    team_id = SelectField("Team", coerce=int)
    audience = SelectField("Who should get it")
    staff_group = SelectField("Staff group (for a group)",
                              choices=as_choices([("", "Any")] + [(g.value, g.value.title()) for g in StaffGroup]),
                              validators=[Optional()])
    min_grade = SelectField("Minimum grade (for a group)", choices=as_choices([("", "Any")] + [(g, g) for g in GRADES]),
                            validators=[Optional()])
    skill = StringField("Skill (for a group)", validators=[Optional(), Length(max=64)])
    shift_id = IntegerField("Shift id (for a shift audience)", validators=[Optional(), NumberRange(1, 2**31 - 1)])
    kind = SelectField("Type", choices=as_choices([("message", "A message"), ("open_shift", "An open shift")]))
    reference = StringField("Reference (e.g. shift:12)", validators=[Optional(), Length(max=64)])
    text = TextAreaField("Message", validators=[DataRequired(message="Write a message."), Length(max=320)])
    link = StringField("Link inside Shiftbridge (optional)", validators=[Optional(), Length(max=300), _local_link])
    channels = SelectMultipleField("Send by",
                                   choices=as_choices([("in_app", "In the app"), ("sms", "Text message (SMS)")]),
                                   default=["in_app", "sms"])
    requires_ack = BooleanField("Ask people to confirm they have seen it")
    urgent = BooleanField("Urgent (texts even in quiet hours)")
    confirm = StringField()

    def params(self) -> dict:
        p = {}
        if self.staff_group.data:
            p["staff_group"] = self.staff_group.data
        if self.min_grade.data:
            p["min_grade"] = self.min_grade.data
        if self.skill.data:
            p["skills"] = [self.skill.data.strip()]
        if self.shift_id.data:
            p["shift_id"] = self.shift_id.data
        return p


PREFILL_TEXT = ("audience", "kind", "reference", "text", "link")
PREFILL_INT = ("team_id", "shift_id")


def _prefill(args) -> dict:
    """Form values from a query string (only these fields; ids that are not numbers are left out). Nothing is sent
    until the coordinator counts the recipients and confirms."""
    data = {name: args.get(name, "")[:320] for name in PREFILL_TEXT if args.get(name)}
    data.update({name: args.get(name, type=int) for name in PREFILL_INT if args.get(name, type=int)})
    return data


@bp.get("/broadcasts")
@login_required
def broadcast_list():
    teams = _managed_teams()
    rows = db.session.scalars(select(Broadcast).where(Broadcast.team_id.in_([t.id for t in teams]))
                              .order_by(Broadcast.id.desc()).limit(100)).all() if teams else []
    return render_template("notifications/broadcasts.html", rows=rows, teams={t.id: t.name for t in teams})


@bp.route("/broadcasts/new", methods=["GET", "POST"])
@login_required
def broadcast_new():
    teams = _managed_teams()
    if not teams:
        abort(403)
    # A GET may pre-fill the form from its query string, e.g. rota's "Ask for cover" on an open shift.
    form = BroadcastForm(data=_prefill(request.args) if request.method == "GET" else None)
    form.team_id.choices = as_choices([(t.id, t.name) for t in teams])
    form.audience.choices = as_choices(broadcasts.audience_choices())
    preview, status = None, 200
    if form.validate_on_submit():
        team = db.session.get(Team, form.team_id.data)
        try:
            if form.confirm.data == "send":
                b = broadcasts.create(team, current_user, audience=form.audience.data, params=form.params(),
                                      text=form.text.data, link=form.link.data or None, kind=form.kind.data,
                                      reference=form.reference.data or None, requires_ack=form.requires_ack.data,
                                      urgent=form.urgent.data, channels=form.channels.data or ["in_app"])
                db.session.commit()
                return redirect(url_for("notifications.broadcast_report", broadcast_id=b.id))
            preview = broadcasts.preview(team, current_user, audience=form.audience.data, params=form.params(),
                                         reference=form.reference.data or None)
        except DomainError as exc:
            db.session.rollback()
            for name, messages in (exc.errors or {"text": [exc.detail]}).items():
                target = getattr(form, name, None) if name != "params" else form.audience
                (target or form.text).errors = list(getattr(target or form.text, "errors", []) or []) + list(
                    messages)
            status = 422
    elif request.method == "POST":
        status = 422
    return render_template("notifications/broadcast_new.html", form=form, preview=preview,
                           sms_available=sms.sms_enabled()), status


@bp.get("/broadcasts/<int:broadcast_id>")
@login_required
def broadcast_report(broadcast_id: int):
    report = broadcasts.report(broadcasts.get(broadcast_id), current_user)
    return render_template("notifications/broadcast_report.html", r=report, form=CsrfForm(),
                           sms_available=sms.sms_enabled())


@bp.post("/broadcasts/<int:broadcast_id>/close")
@login_required
def broadcast_close(broadcast_id: int):
    CsrfForm().validate_on_submit() or abort(400)
    broadcasts.close(broadcasts.get(broadcast_id), current_user)
    db.session.commit()
    return redirect(url_for("notifications.broadcast_report", broadcast_id=broadcast_id))


@bp.get("/broadcasts/<int:broadcast_id>/r")
@login_required
def broadcast_received(broadcast_id: int):
    b = broadcasts.get(broadcast_id)
    r = broadcasts.recipient_view(b, current_user)
    db.session.commit()
    action = registry.reference_action(b.reference) if b.state == "open" else None
    return render_template("notifications/broadcast_received.html", b=b, r=r, form=CsrfForm(), action=action)


@bp.post("/broadcasts/<int:broadcast_id>/r/<action>")
@login_required
def broadcast_respond(broadcast_id: int, action: str):
    CsrfForm().validate_on_submit() or abort(400)
    b = broadcasts.get(broadcast_id)
    if action == "acknowledge":
        broadcasts.acknowledge(b, current_user)
    elif action == "mute":
        broadcasts.mute(b, current_user)
    else:
        abort(404)
    db.session.commit()
    return redirect(url_for("notifications.broadcast_received", broadcast_id=broadcast_id))


# ------------------------------------------------------------------------------------------- escalation ladder


class LadderStepForm(Form):
    after_minutes = IntegerField("After (minutes)", validators=[
        InputRequired(message="Enter a number of minutes."),
        NumberRange(*broadcasts.MINUTES, message="Enter minutes from %(min)s to %(max)s.")])
    audience = SelectField("Widen to", validators=[InputRequired(message="Choose who to widen to.")])


class LadderForm(FlaskForm):
    steps = FieldList(FormField(LadderStepForm), max_entries=broadcasts.MAX_STEPS)


def _ladder_form(steps: list[dict] | None = None) -> LadderForm:
    """From the request (``steps`` None) or from ``steps``; every step offers the same audience choices."""
    form = LadderForm() if steps is None else LadderForm(formdata=None, data={"steps": steps})
    choices = broadcasts.audience_choices()
    for entry in form.steps:
        entry.form.audience.choices = as_choices(choices)
    return form


def _rearranged(steps: list[dict], action: str) -> list[dict]:
    """Apply "add", "remove-<i>", "up-<i>" or "down-<i>" to the posted steps (nothing is saved)."""
    verb, _, index = action.partition("-")
    i = int(index) if index.isdigit() else -1
    if verb == "add" and len(steps) < broadcasts.MAX_STEPS:
        steps.append({"after_minutes": 30, "audience": broadcasts.COORDINATORS})
    elif verb == "remove" and 0 <= i < len(steps):
        steps.pop(i)
    elif verb == "up" and 0 < i < len(steps):
        steps[i - 1], steps[i] = steps[i], steps[i - 1]
    elif verb == "down" and 0 <= i < len(steps) - 1:
        steps[i], steps[i + 1] = steps[i + 1], steps[i]
    return steps


@bp.route("/teams/<int:team_id>/escalation", methods=["GET", "POST"])
@login_required
def escalation_policy(team_id: int):
    """A team's escalation ladder: ordered "after N minutes, widen to <audience>" steps. Add, remove and move
    re-show the ladder without saving (no script needed); Save validates and stores it."""
    team = broadcasts.get_team(team_id)
    current = broadcasts.get_policy(team, current_user)  # Forbidden unless they manage the team
    status, saved, problems = 200, False, []
    if request.method == "GET":
        form = _ladder_form(current)
    else:
        form = _ladder_form()
        valid = form.validate_on_submit()
        if getattr(getattr(form, "csrf_token", None), "errors", None):
            abort(400)  # a stale or missing CSRF token: nothing to show or save
        posted = [{"after_minutes": e.form.after_minutes.data, "audience": e.form.audience.data}
                  for e in form.steps]
        action = request.form.get("action", "save")
        if action != "save":
            form = _ladder_form(_rearranged(posted, action))
        elif valid:
            try:
                broadcasts.set_policy(team, current_user, posted)
                db.session.commit()
                saved = True
            except DomainError as exc:
                db.session.rollback()
                problems = _attach_errors(form, exc)
        if not saved and action == "save":
            status = 422
    problems = problems + [(sub.id, e) for entry in form.steps for sub in entry.form for e in sub.errors]
    return render_template("notifications/escalation_policy.html", form=form, team=team, saved=saved,
                           problems=problems, labels=dict(broadcasts.audience_choices()),
                           max_steps=broadcasts.MAX_STEPS, step_minutes=broadcasts.MINUTES), status


def _attach_errors(form: LadderForm, exc: DomainError) -> list[tuple[str, str]]:
    """Put a service refusal's ``steps.<i>.<field>`` errors on those fields; returns the ladder-wide ones."""
    ladder = []
    for key, messages in (exc.errors or {"steps": [exc.detail]}).items():
        parts = key.split(".")
        sub = None
        if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(form.steps.entries):
            sub = getattr(form.steps.entries[int(parts[1])].form, parts[2], None)
        if sub is not None:
            sub.errors = list(sub.errors or []) + list(messages)
        else:
            ladder.extend(("ladder", m) for m in messages)
    return ladder


@bp.get("/healthz/worker")
def worker_health():
    """For a monitor: 503 when no notifications worker has written a heartbeat lately (no texts, escalations,
    overdue-handover flags or swap expiry are happening)."""
    ok, detail = worker.health()
    db.session.rollback()
    return {"status": "ok" if ok else "error", "worker": detail}, 200 if ok else 503
