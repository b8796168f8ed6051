"""The installable app and Web Push, as pages and endpoints: manifest, root-scope service worker, this person's
devices on the profile, the tap that opens a pushed message, and the service worker's receipts and buttons.

Views are thin: the rules live in :mod:`notifications.push` and :mod:`notifications.push_first`.
"""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

from core.auth import EmptyForm
from core.db import db
from core.errors import DomainError, ValidationFailed
from core.links import is_local_path
from notifications import push, push_first

bp = Blueprint("pwa", __name__)

THEME = "#005eb8"  # NHS blue


@bp.get("/manifest.webmanifest")
def manifest():
    icon = lambda name, size, purpose="any": {  # noqa: E731
        "src": url_for("static", filename=f"icons/{name}"), "sizes": f"{size}x{size}", "type": "image/png",
        "purpose": purpose}
    resp = jsonify({
        "name": "Shiftbridge", "short_name": "Shiftbridge", "id": "/", "start_url": "/", "scope": "/",
        "display": "standalone", "orientation": "portrait", "lang": "en-GB",
        "background_color": "#f0f4f5", "theme_color": THEME,
        "description": "Your shifts, swaps, open shifts and handover.",
        "icons": [icon("icon-192.png", 192), icon("icon-512.png", 512), icon("icon-512-maskable.png", 512, "maskable")],
        "shortcuts": [{"name": "My shifts", "url": "/my/shifts"}, {"name": "Open shifts", "url": "/open-shifts"}],
    })
    resp.mimetype = "application/manifest+json"
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/sw.js")
def service_worker():
    resp = send_file(Path(current_app.static_folder) / "js" / "sw.js", mimetype="text/javascript", max_age=0)
    resp.headers["Service-Worker-Allowed"] = "/"
    resp.headers["Cache-Control"] = "no-cache"
    return resp


# ------------------------------------------------------------------------------------------- profile: devices


@bp.post("/profile/push/subscribe")
@login_required
def subscribe():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed("Send the subscription as JSON.", errors={"subscription": ["Send JSON."]})
    if not push.push_enabled():
        raise ValidationFailed("Notifications to devices are not set up on this server.",
                               errors={"subscription": ["Push is off (no VAPID keys)."]})
    name = data.get("name") if isinstance(data.get("name"), str) else None
    row = getattr(current_user, "session_row", None)
    sub = push.subscribe(current_user._get_current_object(), data.get("subscription"), name=name,
                         session_id=row.id if row is not None else None,
                         user_agent=request.headers.get("User-Agent"))
    db.session.commit()
    return jsonify({"id": sub.id, "name": sub.name}), 201


@bp.post("/profile/push/<int:device_id>/remove")
@login_required
def remove(device_id: int):
    if not EmptyForm().validate_on_submit():
        raise ValidationFailed("The form expired: try again.")
    push.remove_device(current_user._get_current_object(), device_id)
    db.session.commit()
    return redirect(url_for("auth.profile") + "#devices")


def profile_context() -> dict:
    if not current_user.is_authenticated:
        return {}
    return {"push_devices": push.devices(current_user), "push_public_key": (push.push_config() or None)
            and push.push_config().public_key}


# ---------------------------------------------------------------------------------------- from the device


@bp.get("/p/<int:outbox_id>")
@login_required
def open_pushed(outbox_id: int):
    link = push_first.record_open(current_user._get_current_object(), outbox_id)
    db.session.commit()
    return redirect(link if is_local_path(link) else url_for("notifications.centre"))


def _token() -> tuple[str, dict]:
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    token = data.get("k")
    if not isinstance(token, str) or not 0 < len(token) <= 200:
        raise ValidationFailed("Missing message token.", errors={"k": ["Required."]})
    return token, data


@bp.post("/webhooks/push/receipt")
def receipt():
    """The service worker showed a pushed message. Authenticated by the message's signed token."""
    token, _ = _token()
    push_first.record_receipt(token)
    db.session.commit()
    return "", 204


@bp.post("/webhooks/push/action")
def action():
    """A notification button ("I'll take it", "Acknowledge"), through the same services as the page's buttons."""
    token, data = _token()
    ok, message = push_first.act(token, str(data.get("action") or ""))
    db.session.commit()
    return jsonify({"ok": ok, "message": message})


# ------------------------------------------------------------------------------------ team: push-first wait


class PushPolicyForm(FlaskForm):
    minutes = IntegerField("Wait before texting (minutes)", validators=[
        InputRequired(message="Enter a number of minutes."), NumberRange(*push_first.MINUTES)])
    urgent_minutes = IntegerField("Wait before texting, urgent messages (minutes)", validators=[
        InputRequired(message="Enter a number of minutes."), NumberRange(*push_first.MINUTES)])


@bp.route("/teams/<int:team_id>/push-policy", methods=["GET", "POST"])
@login_required
def push_policy(team_id: int):
    from notifications import broadcasts

    team = broadcasts.get_team(team_id)
    minutes, urgent = push_first.get_policy(team, current_user)  # Forbidden unless they manage the team
    form = PushPolicyForm(data={"minutes": minutes, "urgent_minutes": urgent} if request.method == "GET" else None)
    saved, status = False, 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                push_first.set_policy(team, current_user, minutes=form.minutes.data,
                                      urgent_minutes=form.urgent_minutes.data)
                db.session.commit()
                saved, status = True, 200
            except DomainError as exc:
                db.session.rollback()
                for name, messages in (exc.errors or {}).items():
                    getattr(form, name).errors = list(getattr(form, name).errors) + list(messages)
    return render_template("notifications/push_policy.html", form=form, team=team, saved=saved), status
