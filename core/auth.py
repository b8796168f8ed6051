"""Sign-in, sign-out, session time-outs, profile (password, API tokens) and account administration pages."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from core import accounts, mail, metrics, passwords, registry, sessions, throttle
from core.accounts import ApiToken, User
from core.db import db
from core.errors import DomainError
from core.links import local_path, public_base_url
from core.pages import CsrfForm
from core.security import SAFE_METHODS, bearer_token

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to continue."
login_manager.login_message_category = "info"

bp = Blueprint("auth", __name__)

# Extension point: callables ``(session) -> url | None`` asked at sign-out where the browser should go next
# (core.sso_views: the identity provider's end-session page).
SIGN_OUT_TARGETS = "sign_out_targets"


def _used_by_a_person() -> bool:
    """Whether this request is someone using the app (a page opened, a form sent) rather than background polling,
    which must not keep an unattended screen signed in. Browsers say so in ``Sec-Fetch-Dest`` (HTTPS and localhost
    only); a page opened or a form sent from another site (``Sec-Fetch-Site`` not ``same-origin`` or ``none``) is not
    this person using the app, or another site could keep her session alive. Without these headers (old browsers),
    a read that does not ask for a page (JSON, an event stream) is background."""
    if request.endpoint == "auth.session_status":
        return False
    if request.headers.get("Sec-Fetch-Site", "none") not in ("same-origin", "none"):
        return False
    if request.method not in SAFE_METHODS:
        return True
    dest = request.headers.get("Sec-Fetch-Dest")
    if dest is not None:
        return dest == "document"
    accept = request.headers.get("Accept", "")
    return not accept or "text/html" in accept or "*/*" in accept


@login_manager.user_loader
def _load_user(session_key: str):
    if bearer_token(request) is not None:
        return None  # an Authorization header decides alone: a junk token is not rescued by a session cookie
    state = sessions.session_for_key(session_key, touch=_used_by_a_person())
    if state.ended:
        g.session_ended, g.session_ended_user_id = state.ended, state.ended_user_id
    return state.user


@login_manager.request_loader
def _load_user_from_bearer(req):
    token = bearer_token(req)
    if token is None:
        return None
    user = accounts.user_for_token(token)  # records the use, at most once a minute
    if user is not None:
        g.auth_via_token = True
    return user


@bp.before_app_request
def _load_user_first():
    """Resolve the session before the view runs: ending a timed-out session commits, which must not happen in the
    middle of a view's own changes."""
    if request.endpoint and not request.endpoint.endswith(("static", "assets")):
        current_user._get_current_object()


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        abort(401, description="Sign in, or send a personal API token as 'Authorization: Bearer <token>'.")
    ended = g.get("session_ended")
    if request.method == "GET":
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?"), ended=ended))
    carry = _carry_from_expired_post()
    if carry is not None:
        return sign_in_page(LoginForm(formdata=None), 401, carry=carry, ended=ended)
    return redirect(url_for("auth.login", ended=ended))


# ------------------------------------------------------------------------------------------------------ forms


class LoginForm(FlaskForm):
    email = EmailField("Email address", validators=[
        DataRequired("Enter your email address."), Length(max=254),
        Regexp(r"^[^@\s]+@[^@\s]+$", message="Enter a valid email address.")])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=256)])
    remember = BooleanField("Keep me signed in on this device")


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired("Enter your current password."),
                                                                     Length(max=256)])
    new_password = PasswordField("New password", validators=[
        DataRequired("Enter a new password."),
        Length(min=accounts.MIN_PASSWORD, max=256, message=f"Use {accounts.MIN_PASSWORD} to 256 characters.")])
    confirm = PasswordField("Confirm new password", validators=[
        DataRequired("Type the new password again."), EqualTo("new_password", "The two new passwords do not match.")])


class ResetForm(FlaskForm):
    new_password = PasswordForm.new_password
    confirm = PasswordForm.confirm


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired("Give the token a name."), Length(max=80)])


def _safe_next(target: str | None) -> str:
    return local_path(target) or url_for("web.home")


# ------------------------------------------------------------------------------- known browsers (device cookie)


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="shiftbridge-device")


def _client() -> throttle.Client:
    """The client for throttling: its address (from the proxy chain) and the accounts this browser has signed in to
    before, as vouched for by its signed device cookie (a forged or expired cookie vouches for nothing)."""
    address = request.remote_addr or "unknown"
    raw = request.cookies.get(current_app.config["DEVICE_COOKIE_NAME"])
    if raw:
        try:
            data = _device_serializer().loads(raw, max_age=int(current_app.config["DEVICE_COOKIE_DAYS"]) * 86400)
            return throttle.Client(address, str(data["d"]), frozenset(str(a) for a in data["a"]))
        except (BadData, KeyError, TypeError):
            pass
    return throttle.Client(address)


def _remember_device(response, client: throttle.Client, email: str):
    account = throttle.account_key(email)
    known = sorted(client.known_accounts - {account})[:19] + [account]
    value = _device_serializer().dumps({"d": client.device or secrets.token_urlsafe(16), "a": known})
    cfg = current_app.config
    response.set_cookie(cfg["DEVICE_COOKIE_NAME"], value, max_age=int(cfg["DEVICE_COOKIE_DAYS"]) * 86400,
                        httponly=True, secure=bool(cfg.get("SESSION_COOKIE_SECURE")), samesite="Lax")
    return response


def _throttled(exc: throttle.Throttled, check: str):
    if passwords.record_throttled(exc, check=check, actor=current_user if current_user.is_authenticated else None):
        db.session.commit()


# ------------------------------------------------------------------- text typed before a timeout is carried over


def _carry_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="shiftbridge-carry")


_REPEATED = re.compile(r"[-_]confirm(ation)?$", re.IGNORECASE)  # "email-confirm": a value typed twice


def _secret_field(name: str) -> bool:
    return "password" in name.lower() or _REPEATED.search(name) is not None


def _carriable(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Everything typed, except from a form with a password in it (nothing of it travels: a mistyped confirmation is
    a password too) and any confirmation field; CSRF fields keep their names and get a fresh token when the form is
    sent again."""
    if any("password" in k.lower() for k, _ in fields):
        return []
    return [(k, "" if k.endswith("csrf_token") else v) for k, v in fields if not _secret_field(k)]


def _carry_from_expired_post() -> dict | None:
    """A form posted after the session timed out: keep what was typed in the sign-in page (never stored anywhere),
    for the same person only."""
    user_id = g.get("session_ended_user_id")
    fields = _carriable(list(request.form.items(multi=True)))
    if user_id is None or not any(v for _, v in fields):
        return None
    token = _carry_serializer().dumps({"u": user_id, "to": request.full_path.rstrip("?")})
    return {"token": token, "fields": fields}


def carry_from_sign_in() -> dict | None:
    token = request.form.get("carry_to")
    if not token:
        return None
    try:
        data = _carry_serializer().loads(token, max_age=86400)
    except BadData:
        return None
    fields = [(k[len("carry:"):], v) for k, v in request.form.items(multi=True) if k.startswith("carry:")]
    return {"token": token, "fields": _carriable(fields), "user_id": data["u"], "to": _safe_next(data["to"])}


def _absolute_text() -> str:
    hours, minutes = divmod(int(sessions.session_limits()[1].total_seconds() // 60), 60)
    return f"{hours} hours" if not minutes else f"{hours * 60 + minutes} minutes"


def sign_in_page(form, status: int, *, carry: dict | None = None, ended: str | None = None, **extra):
    idle, _ = sessions.session_limits()
    ctx = {"form": form, "carry": carry, "ended": ended if ended in sessions.TIMEOUTS else None,
           "idle_minutes": int(idle.total_seconds() // 60), "absolute_text": _absolute_text(),
           "remember_days": sessions.remember_days(),
           "action": url_for("auth.login", next=request.args.get("next")) if request.endpoint == "auth.login"
           else url_for("auth.login")} | extra
    return make_response(render_template("core/login.html", **ctx), status)


@bp.route("/auth/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = LoginForm()
    carry = carry_from_sign_in()
    ended = request.args.get("ended")
    if not form.validate_on_submit():
        return sign_in_page(form, 422 if request.method == "POST" else 200, carry=carry, ended=ended)
    client = _client()
    try:
        user = passwords.authenticate(form.email.data, form.password.data, client=client,
                                     user_agent=request.user_agent.string, remember=bool(form.remember.data))
    except throttle.Throttled as exc:
        _throttled(exc, throttle.SIGN_IN)
        metrics.SIGN_IN_FAILURES.labels("throttled").inc()
        form.password.errors.append(exc.detail)
        resp = sign_in_page(form, 429, carry=carry, ended=ended)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except passwords.PasswordSignInOff as exc:
        db.session.commit()  # keeps the audit entry
        form.password.errors.append(exc.detail)
        return sign_in_page(form, 403, carry=carry, ended=ended)
    if user is None:
        db.session.commit()  # keeps the audit entry for the failed attempt
        metrics.SIGN_IN_FAILURES.labels("wrong_password").inc()
        form.password.errors.append("Email address or password is not right.")
        return sign_in_page(form, 401, carry=carry, ended=ended)
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)  # its secret went with the old session
    # A remembered device also gets flask-login's remember cookie, so closing the browser does not sign it out.
    login_user(user, remember=bool(form.remember.data), duration=timedelta(days=sessions.remember_days()))
    db.session.commit()
    if carry is not None and carry["user_id"] == user.id:
        resp = make_response(render_template("core/resume.html", carry=carry))
    else:  # typed by someone else (or nothing carried): not shown to this person
        resp = redirect(_safe_next(request.args.get("next")))
    return _remember_device(resp, client, form.email.data)


@bp.app_context_processor
def _session_timeout():
    def session_timeout() -> dict:
        """What the sign-out warning in base.html needs (the loader already holds the session: no query)."""
        left = sessions.session_time_left(current_user._get_current_object())
        return left and left | {"warn_seconds": int(current_app.config["SESSION_WARNING_SECONDS"]),
                                "absolute_text": _absolute_text()}

    return {"session_timeout": session_timeout}


def _session_answer(left: dict | None):
    if left is None:
        abort(404, description="This request has no browser session (it came with an API token).")
    return jsonify(left | {"warn_seconds": int(current_app.config["SESSION_WARNING_SECONDS"])})


@bp.route("/auth/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """The page a reset link from an administrator opens: choose a new password, then sign in with it."""
    try:
        user = passwords.user_for_reset(token)
    except passwords.ResetLinkDead as exc:
        return render_template("core/reset.html", dead=exc.detail, page_title="Link no longer works"), 410
    form = ResetForm()
    if form.validate_on_submit():
        try:
            passwords.reset_password(token, form.new_password.data)
        except DomainError as exc:
            db.session.rollback()
            form.new_password.errors.extend([m for msgs in (exc.errors or {}).values() for m in msgs] or [exc.detail])
        else:
            db.session.commit()
            flash("Your new password is set. Sign in with it.", "success")
            return redirect(url_for("auth.login"))
    status = 422 if form.errors else 200
    return render_template("core/reset.html", form=form, person=user, min_password=accounts.MIN_PASSWORD,
                           page_title="Choose a new password"), status


@bp.get("/auth/session")
def session_status():
    """Seconds before this session times out (for the sign-out warning). Asking does not count as use."""
    if not current_user.is_authenticated:
        abort(401, description="You are signed out.")
    return _session_answer(sessions.session_time_left(current_user._get_current_object()))


@bp.post("/auth/session/keepalive")
def session_keepalive():
    """'Stay signed in' on the warning."""
    if not current_user.is_authenticated:
        abort(401, description="You are signed out.")
    left = sessions.keep_session_alive(current_user._get_current_object())
    db.session.commit()
    return _session_answer(left)


@bp.post("/auth/logout")
@login_required
def logout():
    if not CsrfForm().validate_on_submit():
        abort(400)
    sessions.end_session(current_user._get_current_object())
    db.session.commit()
    # Signed in elsewhere too (single sign-on): the first place that wants the browser next, to sign out there.
    at_provider = next(filter(None, (target(session) for target in current_app.extensions.get(SIGN_OUT_TARGETS, []))),
                       None)
    logout_user()
    session.clear()
    return redirect(at_provider or url_for("auth.login", signed_out=1))


def render_profile(**extra):
    tokens = db.session.scalars(select(ApiToken).where(ApiToken.user_id == current_user.id)
                                .order_by(ApiToken.created_at.desc())).all()
    ctx = {"password_form": PasswordForm(prefix="pw"), "token_form": TokenForm(prefix="tok"), "tokens": tokens,
           "button_form": CsrfForm(), "devices": sessions.remembered_devices(current_user),
           "profile_sections": registry.profile_sections_of(current_app)}
    ctx.update(extra)
    return render_template("core/profile.html", **ctx)


@bp.get("/profile")
@login_required
def profile():
    return render_profile()


@bp.post("/profile/devices/<int:session_id>/forget")
@login_required
def forget_device(session_id: int):
    if not CsrfForm().validate_on_submit():
        abort(400)
    sessions.forget_device(current_user._get_current_object(), session_id)
    db.session.commit()
    flash("That device is signed out.", "success")
    return redirect(url_for("auth.profile") + "#devices")


@bp.post("/profile/password")
@login_required
def change_password():
    form = PasswordForm(prefix="pw")
    if form.validate_on_submit():
        try:
            passwords.change_password(current_user._get_current_object(), form.current_password.data,
                                     form.new_password.data, client=_client())
        except throttle.Throttled as exc:
            _throttled(exc, throttle.CURRENT_PASSWORD)
            form.current_password.errors.append(exc.detail)
            resp = make_response(render_profile(password_form=form), 429)
            resp.headers["Retry-After"] = str(exc.retry_after)
            return resp
        except DomainError as exc:
            if isinstance(exc, passwords.WrongPassword):
                db.session.commit()  # keeps the audit entry of the failed check; nothing else changed
            else:
                db.session.rollback()
            for field, msgs in (exc.errors or {}).items():
                getattr(form, field if field != "password" else "new_password").errors.extend(msgs)
            return render_profile(password_form=form), 422
        db.session.commit()
        return render_profile(message="Password changed. Other browsers were signed out, and your API tokens and "
                                "calendar links stopped working: make new ones below if you need them.")
    return render_profile(password_form=form), 422


@bp.post("/profile/tokens")
@login_required
def create_token():
    form = TokenForm(prefix="tok")
    if not form.validate_on_submit():
        return render_profile(token_form=form), 422
    token, secret = accounts.create_token(current_user._get_current_object(), form.name.data)
    db.session.commit()
    # Rendered, never flashed: a flash would put the secret into the session cookie.
    return render_profile(new_token=secret, new_token_name=token.name)


@bp.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    if not CsrfForm().validate_on_submit():
        abort(400)
    accounts.revoke_token(current_user._get_current_object(), token_id, actor=current_user._get_current_object())
    db.session.commit()
    return redirect(url_for("auth.profile"))


@bp.get("/admin/users")
@login_required
def admin_users():
    if not current_user.is_admin:
        abort(403, description="Only administrators can manage accounts.")
    return _admin_users_page()


def _admin_users_page(**extra):
    users = db.session.scalars(select(User).order_by(User.display_name)).all()
    return render_template("core/admin_users.html", users=users, button_form=CsrfForm(), **extra)


@bp.post("/admin/users/<int:user_id>/reset-link")
@login_required
def admin_reset_link(user_id: int):
    """What `flask users reset-link` prints, for an administrator at a browser. Rendered, never flashed: a flash
    would put the secret into the session cookie."""
    if not current_user.is_admin:
        abort(403, description="Only administrators can manage accounts.")
    if not CsrfForm().validate_on_submit():
        abort(400)
    user = accounts.get_user(user_id)
    actor = current_user._get_current_object()
    token = passwords.issue_reset_link(user, actor=actor)
    link = public_base_url() + url_for("auth.reset_password", token=token)
    emailed = passwords.email_reset_link(user, link, actor=actor)
    db.session.commit()
    return _admin_users_page(reset_for=user, reset_link=None if emailed else link, reset_emailed=emailed,
                             mail_failed=mail.enabled() and not emailed,
                             reset_hours=current_app.config["RESET_LINK_HOURS"])


@bp.post("/admin/users/<int:user_id>/<any(deactivate, reactivate):action>")
@login_required
def admin_set_active(user_id: int, action: str):
    if not CsrfForm().validate_on_submit():
        abort(400)
    user = accounts.get_user(user_id)
    accounts.set_active(user, action == "reactivate", actor=current_user._get_current_object())
    db.session.commit()
    return redirect(url_for("auth.admin_users"))
