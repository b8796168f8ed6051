"""Calendar feeds over HTTP: the ``/calendar/<token>.ics`` fetch and the profile actions (rotate, revoke, reminder,
team access). The fetch path is in ``rota.feeds.fetch``, the reasoning behind it in ``rota.feeds.service``."""

from __future__ import annotations

import base64
import io

import qrcode
from flask import Blueprint, Response, abort, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from qrcode.image.svg import SvgPathImage
from sqlalchemy import select
from werkzeug.http import is_resource_modified
from wtforms import SelectField
from wtforms.validators import InputRequired

from core import throttle
from core.accounts import Team, TeamRole
from core.db import db
from core.errors import NotFound
from core.pages import CsrfForm
from core.security import limiter
from core.web import as_choices
from rota.feeds.fetch import advertised_last_modified, feed_body, find_feed, record_fetch
from rota.feeds.models import CalendarPreference, TeamFeedSetting
from rota.feeds.service import (
    feed_setting,
    feeds_overview,
    parse_kind,
    revoke,
    rotate,
    set_reminder,
    set_staff_may_subscribe,
    token_digest,
    was_issued,
)

# ------------------------------------------------------------------------------------------------ HTML views

bp = Blueprint("feeds", __name__)


def _limit_key() -> str:
    # A hash, not the token: Flask-Limiter logs its keys when a limit is hit.
    return "calendar-feed:" + token_digest((request.view_args or {}).get("token", ""))[:24]


@bp.route("/calendar/<token>.ics", methods=["GET", "HEAD"])
@limiter.limit(lambda: feed_setting("FEED_RATE_LIMIT"), key_func=_limit_key, scope="calendar-feed")
def calendar_feed(token: str):
    client = request.remote_addr or "unknown"
    wait = throttle.refusal("FEED_MISS_LIMIT", "feed-miss", client)
    if wait is not None:
        abort(429, description="Too many unknown calendar links from this address. Try again later.",
              retry_after=wait)
    found = find_feed(token)
    if found is None:
        if was_issued(token):
            # A dead subscription (calendar services poll from shared addresses): not a guess, and 410 tells the
            # calendar the subscription is over.
            abort(410, description="This calendar link has been turned off. Subscribe again from your profile.")
        throttle.count("FEED_MISS_LIMIT", "feed-miss", client)
        abort(404)
    record_fetch(found, request.user_agent.string)
    db.session.commit()
    headers = {"Cache-Control": "private, no-cache", "X-Robots-Tag": "noindex"}
    if not is_resource_modified(request.environ, etag=found.etag, last_modified=found.last_modified):
        resp = Response(status=304, headers=headers)
    else:
        body = feed_body(found)
        resp = Response(body, mimetype="text/calendar", headers=headers)
        resp.headers["Content-Type"] = "text/calendar; charset=utf-8"
        resp.headers["Content-Disposition"] = f'inline; filename="shiftbridge-{found.kind.value}.ics"'
    resp.set_etag(found.etag)
    resp.last_modified = advertised_last_modified(found)
    return resp


REMINDER_CHOICES = [("0", "No reminder"), ("30", "30 minutes before"), ("60", "1 hour before"),
                    ("120", "2 hours before"), ("720", "12 hours before"), ("1440", "1 day before")]


class ReminderForm(FlaskForm):
    minutes = SelectField("Reminder before each of your shifts", choices=as_choices(REMINDER_CHOICES),
                          validators=[InputRequired("Choose a reminder.")])


def _qr_data_uri(text: str) -> str:

    img = qrcode.make(text, image_factory=SvgPathImage, box_size=8, border=2)
    buf = io.BytesIO()
    img.save(buf)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


def profile_section(user) -> dict:
    """Everything ``rota/feeds/profile.html`` shows; called from the template (profile page)."""
    feeds = feeds_overview(user)
    for f in feeds:
        f["qr"] = _qr_data_uri(f["webcal_url"]) if f["webcal_url"] else None
    pref = db.session.get(CalendarPreference, user.id)
    form = ReminderForm(prefix="cal", minutes=str(pref.reminder_minutes or 0) if pref else "0")
    managed = sorted((m.team for m in user.memberships if m.role == TeamRole.coordinator), key=lambda t: t.name)
    settings = {r.team_id: r.staff_may_subscribe for r in db.session.scalars(
        select(TeamFeedSetting).where(TeamFeedSetting.team_id.in_([t.id for t in managed])))} if managed else {}
    return {"feeds": feeds, "reminder_form": form, "button_form": CsrfForm(),
            "managed_teams": [(t, settings.get(t.id, False)) for t in managed]}


@bp.get("/my/calendar")
@login_required
def calendar_page():
    """The person's calendar links, read-only, on a page of their own so it can be read offline: the service worker
    keeps a copy (static/js/sw.js OFFLINE_PAGES), as for My shifts. The links are already shown to this signed-in
    person (profile), they are not in this page's address (so in no request log), and signing out clears the copy.
    ``private, no-cache``: no shared cache keeps it and the browser asks again each time it is online. Creating,
    replacing and turning links off stays on the profile (forms need the network anyway)."""
    feeds = [f for f in feeds_overview(current_user._get_current_object()) if f["active"]]
    resp = make_response(render_template("rota/feeds/calendar.html", feeds=feeds))
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp


def _back():
    return redirect(url_for("auth.profile") + "#calendar-feeds")


def _require_form():
    if not CsrfForm().validate_on_submit():
        abort(400, description="The form expired. Reload the page and try again.")


@bp.post("/profile/calendar-feeds/<kind>/rotate")
@login_required
def rotate_view(kind: str):
    _require_form()
    rotate(current_user._get_current_object(), parse_kind(kind), actor=current_user._get_current_object())
    db.session.commit()
    return _back()


@bp.post("/profile/calendar-feeds/<kind>/revoke")
@login_required
def revoke_view(kind: str):
    _require_form()
    revoke(current_user._get_current_object(), parse_kind(kind), actor=current_user._get_current_object())
    db.session.commit()
    return _back()


@bp.post("/profile/calendar-feeds/reminder")
@login_required
def reminder_view():
    form = ReminderForm(prefix="cal")
    if not form.validate_on_submit():
        abort(422, description="Choose one of the reminder options.")
    set_reminder(current_user._get_current_object(), int(form.minutes.data), actor=current_user._get_current_object())
    db.session.commit()
    return _back()


@bp.post("/profile/calendar-feeds/teams/<int:team_id>/staff-access")
@login_required
def staff_access_view(team_id: int):
    _require_form()
    team = db.session.get(Team, team_id)
    if team is None:
        raise NotFound("No such team.")
    allowed = request.form.get("allow") == "1"
    set_staff_may_subscribe(team, allowed, actor=current_user._get_current_object())
    db.session.commit()
    return _back()


