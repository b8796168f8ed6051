"""Sign-in, sign-out, profile (password, API tokens) and account administration pages."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from core import accounts
from core.accounts import ApiToken, User
from core.db import db
from core.errors import DomainError
from core.links import local_path
from core.security import limiter

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to continue."
login_manager.login_message_category = "info"

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def _load_user(session_key: str):
    return accounts.user_for_session_key(session_key)


@login_manager.request_loader
def _load_user_from_bearer(req):
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    user = accounts.user_for_token(header[7:].strip())  # records the use, at most once a minute
    if user is not None:
        g.auth_via_token = True
    return user


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        abort(401, description="Sign in, or send a personal API token as 'Authorization: Bearer <token>'.")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None))


# ------------------------------------------------------------------------------------------------------ forms


class LoginForm(FlaskForm):
    email = EmailField("Email address", validators=[
        DataRequired("Enter your email address."), Length(max=254),
        Regexp(r"^[^@\s]+@[^@\s]+$", message="Enter a valid email address.")])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=256)])


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired("Enter your current password."),
                                                                     Length(max=256)])
    new_password = PasswordField("New password", validators=[
        DataRequired("Enter a new password."),
        Length(min=accounts.MIN_PASSWORD, max=256, message=f"Use {accounts.MIN_PASSWORD} to 256 characters.")])
    confirm = PasswordField("Confirm new password", validators=[
        DataRequired("Type the new password again."), EqualTo("new_password", "The two new passwords do not match.")])


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired("Give the token a name."), Length(max=80)])


class EmptyForm(FlaskForm):
    """CSRF-only form for buttons that POST."""


def _safe_next(target: str | None) -> str:
    return local_path(target) or url_for("web.home")


def _failed_login(response) -> bool:
    return bool(g.get("login_failed"))


def _account_key() -> str:
    return "account:" + (request.form.get("email") or "").strip().lower()[:254]


_TOO_MANY = "Too many failed sign-in attempts. Wait 15 minutes and try again, or ask your ward manager for help."


@bp.route("/auth/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_ATTEMPTS"], methods=["POST"], deduct_when=_failed_login,
               error_message=_TOO_MANY, scope="login-ip")
@limiter.limit(lambda: current_app.config["LOGIN_ATTEMPTS"], methods=["POST"], deduct_when=_failed_login,
               key_func=_account_key, error_message=_TOO_MANY, scope="login-account")
def login():
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data, user_agent=request.user_agent.string)
        if user is not None:
            session.clear()
            login_user(user)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        db.session.commit()  # keeps the audit entry for the failed attempt
        g.login_failed = True
        form.password.errors.append("Email address or password is not right.")
        status = 401
    elif request.method == "POST":
        status = 422
    return render_template("core/login.html", form=form), status


@bp.post("/auth/logout")
@login_required
def logout():
    if not EmptyForm().validate_on_submit():
        abort(400)
    accounts.end_session(current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login", signed_out=1))


def _profile(**extra):
    tokens = db.session.scalars(select(ApiToken).where(ApiToken.user_id == current_user.id)
                                .order_by(ApiToken.created_at.desc())).all()
    ctx = {"password_form": PasswordForm(prefix="pw"), "token_form": TokenForm(prefix="tok"), "tokens": tokens,
           "button_form": EmptyForm(), "profile_sections": current_app.extensions.get("profile_sections", [])}
    ctx.update(extra)
    return render_template("core/profile.html", **ctx)


@bp.get("/profile")
@login_required
def profile():
    return _profile()


@bp.post("/profile/password")
@login_required
def change_password():
    form = PasswordForm(prefix="pw")
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user._get_current_object(), form.current_password.data,
                                     form.new_password.data)
        except DomainError as exc:
            db.session.rollback()
            for field, msgs in (exc.errors or {}).items():
                getattr(form, field if field != "password" else "new_password").errors.extend(msgs)
            return _profile(password_form=form), 422
        db.session.commit()
        return _profile(message="Password changed. Other browsers and all API tokens were signed out.")
    return _profile(password_form=form), 422


@bp.post("/profile/tokens")
@login_required
def create_token():
    form = TokenForm(prefix="tok")
    if not form.validate_on_submit():
        return _profile(token_form=form), 422
    token, secret = accounts.create_token(current_user._get_current_object(), form.name.data)
    db.session.commit()
    # Rendered, never flashed: a flash would put the secret into the session cookie.
    return _profile(new_token=secret, new_token_name=token.name)


@bp.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    accounts.revoke_token(current_user._get_current_object(), token_id, actor=current_user._get_current_object())
    db.session.commit()
    return redirect(url_for("auth.profile"))


@bp.get("/admin/users")
@login_required
def admin_users():
    if not current_user.is_admin:
        abort(403, description="Only administrators can manage accounts.")
    users = db.session.scalars(select(User).order_by(User.display_name)).all()
    return render_template("core/admin_users.html", users=users, button_form=EmptyForm())


@bp.post("/admin/users/<int:user_id>/<any(deactivate, reactivate):action>")
@login_required
def admin_set_active(user_id: int, action: str):
    if not EmptyForm().validate_on_submit():
        abort(400)
    user = accounts.get_user(user_id)
    accounts.set_active(user, action == "reactivate", actor=current_user._get_current_object())
    db.session.commit()
    return redirect(url_for("auth.admin_users"))
