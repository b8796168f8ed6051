"""Single sign-on pages: leave for the provider, come back (the callback), sign out there too, and the per-account
password switch for administrators. The rules are in ``core.sso``."""

from __future__ import annotations

import hmac

from flask import Blueprint, abort, current_app, g, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user

from core import accounts, passwords, sso, throttle
from core.auth import SIGN_OUT_TARGETS, LoginForm, carry_from_sign_in, sign_in_page
from core.db import db
from core.errors import DomainError
from core.links import local_path
from core.pages import CsrfForm
from core.security import FORM_TARGETS

bp = Blueprint("sso", __name__)

FLOW_KEY = "sso_flow"
SIGNED_IN_WITH_SSO = "sso"


def register(app) -> None:
    sso.load_settings(app)
    sso.install_log_redaction()
    app.register_blueprint(bp)
    # Signing out posts a form that ends at the provider's end-session page (RP-initiated logout): the pages'
    # form-action policy must allow that one origin, or the browser stops at the redirect.
    app.extensions.setdefault(SIGN_OUT_TARGETS, []).append(_sign_out_target)
    app.extensions.setdefault(FORM_TARGETS, []).append(lambda: sso.issuer_origin() if sso.enabled() else "")


@bp.app_context_processor
def _sso_button():
    """For the sign-in page: "Sign in with <trust name>" comes first when single sign-on is configured."""
    if not sso.enabled():
        return {"sso_sign_in": None}
    return {"sso_sign_in": {"label": f"Sign in with {sso.display_name()}", "trust_name": sso.display_name(),
                            "url": url_for("sso.start", next=local_path(request.args.get("next")))}}


def _page(status: int, message: str, *, retry: bool = True):
    ctx = {"message": message, "retry": retry, "trust_name": sso.display_name()}
    return make_response(render_template("core/sso_problem.html", **ctx), status)


def _provider_down():
    current_app.logger.warning("single sign-on: the identity provider is not answering")
    return _page(503, f"The {sso.display_name()} sign-in service is not answering at the moment, so you cannot sign "
                      "in with it. Try again in a few minutes. Administrators with a break-glass password can still "
                      "sign in with it below.")


# What a session cookie may grow to while text typed before a time-out travels through the provider in it.
CARRY_COOKIE_LIMIT = 3800


@bp.route("/auth/sso/start", methods=["GET", "POST"])
def start():
    """Leave for the provider. A POST comes from a sign-in page that holds text typed before a time-out: the text
    travels in the (signed) session and is offered for saving on return, as after a password sign-in."""
    if not sso.enabled():
        abort(404)
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    carry = None
    if request.method == "POST":
        if not CsrfForm().validate_on_submit():
            abort(400)
        carry = carry_from_sign_in()
    flow = sso.new_flow()
    try:
        url = sso.authorization_url(flow)
    except sso.ProviderDown:
        return _provider_down()
    session[FLOW_KEY] = flow | {"next": local_path(request.args.get("next")), "carry": carry}
    if carry is not None and _session_cookie_size() > CARRY_COOKIE_LIMIT:
        session.pop(FLOW_KEY)
        return sign_in_page(LoginForm(formdata=None), 413, carry=carry, sso_too_long=True)
    return redirect(url)


def _session_cookie_size() -> int:
    serializer = current_app.session_interface.get_signing_serializer(current_app)
    return len(serializer.dumps(dict(session)))


def _client() -> throttle.Client:
    return throttle.Client(request.remote_addr or "unknown")


def _refuse(reason: str, client: throttle.Client, message: str | None = None, status: int = 401, user=None):
    sso.record_failure(reason, client, user)
    db.session.commit()
    current_app.logger.info("single sign-on refused (%s)", reason)
    return _page(status, message or "Signing in with your trust account did not work. This can happen when the "
                                    "sign-in page was open for a long time or in two tabs. Please try again.")


@bp.get("/auth/sso/callback")
def callback():
    if not sso.enabled():
        abort(404)
    client = _client()
    try:
        sso.check_throttle(client)
    except throttle.Throttled as exc:
        if passwords.record_throttled(exc, check=sso.SSO_CHECK):
            db.session.commit()
        resp = _page(429, exc.detail, retry=False)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    flow = session.get(FLOW_KEY)
    state = request.args.get("state", "")
    if not flow or not state or not _same(state, flow["state"]):
        return _refuse("state", client)  # a stale tab's callback leaves the sign-in under way in this browser alone
    session.pop(FLOW_KEY)  # used once, whatever happens next
    if request.args.get("error"):
        reason = "provider_" + request.args.get("error", "")[:30]
        return _refuse(reason, client, "Your trust's sign-in service did not sign you in (you may have cancelled). "
                                       "Please try again.")
    issuer = request.args.get("iss")
    if issuer is not None and issuer.rstrip("/") != current_app.config["SSO_ISSUER"].rstrip("/"):
        return _refuse("iss", client)
    try:
        id_token = sso.exchange_code(request.args.get("code", ""), flow)
        claims = sso.validate_id_token(id_token, flow["nonce"])
        user, created = sso.account_for(claims)
        sso.apply_group_roles(user, claims)
        if created:
            sso.tell_about_new_account(user)
        sso.record_sign_in(user, request.user_agent.string)
    except sso.ProviderDown:
        db.session.rollback()
        return _provider_down()
    except sso.SignInRefused as exc:
        db.session.rollback()
        return _refuse(exc.reason, client, exc.message, exc.status)
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)  # its secret went with the old session
    login_user(user)
    session[SIGNED_IN_WITH_SSO] = True
    db.session.commit()
    carry = flow.get("carry")
    if carry is not None and carry["user_id"] == user.id:
        return render_template("core/resume.html", carry=carry)
    return redirect(flow.get("next") or url_for("web.home"))  # typed by someone else: not shown to this person


def _same(a: str, b: str) -> bool:

    return hmac.compare_digest(a.encode(), b.encode())


def _sign_out_target(browser_session) -> str | None:
    """After the local sign-out: the provider's end-session page (RP-initiated logout), when this browser signed in
    there and the provider supports it."""
    if not browser_session.get(SIGNED_IN_WITH_SSO) or not sso.enabled():
        return None
    return sso.end_session_url()


@bp.get("/auth/sso/signed-out")
def signed_out():
    """Where the provider sends the browser back after signing out there."""
    return redirect(url_for("auth.login", signed_out=1))


@bp.post("/admin/users/<int:user_id>/password-sign-in/<any(on, off):state>")
@login_required
def admin_password_sign_in(user_id: int, state: str):
    if not CsrfForm().validate_on_submit():
        abort(400)
    if not current_user.is_admin:
        abort(403, description="Only administrators can change how people sign in.")
    user = accounts.get_user(user_id)
    try:
        passwords.set_password_sign_in(user, state == "on", actor=current_user._get_current_object())
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return redirect(url_for("auth.admin_users"))
