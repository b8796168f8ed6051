"""Single sign-on with the trust's identity provider: OpenID Connect (authorization code flow, PKCE, ``state`` and
``nonce``) with Authlib, ID tokens checked with joserfc against the provider's published keys.

The views (``core.sso_views``) are thin; this module holds the rules: which keys and algorithms are trusted, how a
provider identity is linked to an account (a verified email or a staff number, once; then by ``iss``+``sub``),
just-in-time creation, group-to-role mapping, and whether a password may still be used. See docs/sso.md.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import accounts, audit, passwords, sessions, throttle
from core.accounts import Team, TeamRole, User
from core.db import UTCDateTime, db, now_utc
from core.errors import Conflict

log = logging.getLogger(__name__)

DEFAULTS = {
    "SSO_ISSUER": "",  # the provider's issuer URL (discovery at <issuer>/.well-known/openid-configuration); empty: off
    "SSO_CLIENT_ID": "",
    "SSO_CLIENT_SECRET": "",
    "SSO_SCOPES": "openid email profile",
    "SSO_DISPLAY_NAME": "your trust account",  # the button reads "Sign in with <this>"
    "SSO_EMAIL_CLAIM": "email",  # the claim holding the person's email address (Entra ID: upn or preferred_username)
    "SSO_EMAIL_VERIFIED": "claim",  # claim: email_verified must be true; trusted: the provider vouches (Entra ID)
    "SSO_NAME_CLAIM": "name",
    "SSO_STAFF_NUMBER_CLAIM": "",  # e.g. employeeid: links an account by staff number when present
    "SSO_GROUPS_CLAIM": "",  # e.g. groups: enables SSO_GROUP_ROLES
    "SSO_GROUP_ROLES": "{}",  # JSON {"<group id>": "<team name>:<coordinator|staff>", ...}
    "SSO_JIT": False,  # create unknown people (no team; administrators are told) instead of refusing them
    "SSO_CLOCK_SKEW_SECONDS": 120,
    "SSO_TIMEOUT_SECONDS": 10,
    "SSO_JWKS_MIN_REFRESH_SECONDS": 10,  # an unknown key id refetches the JWKS at most this often
    "PASSWORD_SIGN_IN": "on",  # off: only BREAK_GLASS_ADMINS may sign in with a password
    "BREAK_GLASS_ADMINS": "",  # comma-separated emails of administrators who keep their password
}
_BOOL = {"SSO_JIT"}
_INT = {"SSO_CLOCK_SKEW_SECONDS", "SSO_TIMEOUT_SECONDS", "SSO_JWKS_MIN_REFRESH_SECONDS"}

# Extension point: callables ``(user)`` run when sign-in created an account (notifications tells administrators).
ACCOUNT_CREATED = "sso_account_created"

# Signature algorithms an ID token may use: asymmetric only. "none" and HMAC ("HS256" keyed with the public key)
# are refused whatever the provider's discovery document says.
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class UserIdentity(db.Model):
    """A provider identity (issuer + subject) linked to an account: found again at every later sign-in."""

    __tablename__ = "user_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    issuer: Mapped[str] = mapped_column(String(255), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<UserIdentity {self.id} user={self.user_id}>"


# ------------------------------------------------------------------------------------------------ settings


def load_settings(app) -> None:
    for key, default in DEFAULTS.items():
        if key not in app.config and os.environ.get(key, "").strip():
            raw = os.environ[key]
            app.config[key] = (raw.lower() in {"1", "true", "yes", "on"} if key in _BOOL
                               else int(raw) if key in _INT else raw)
        app.config.setdefault(key, default)
    if str(app.config["PASSWORD_SIGN_IN"]).lower() == "off" and not passwords.break_glass_emails(app.config):
        raise RuntimeError("PASSWORD_SIGN_IN=off needs BREAK_GLASS_ADMINS: at least one administrator must be able "
                           "to sign in with a password when the identity provider is down.")
    group_roles(app.config)  # a malformed mapping stops start-up, not a sign-in


def enabled() -> bool:
    return bool(current_app.config.get("SSO_ISSUER"))


def display_name() -> str:
    return current_app.config["SSO_DISPLAY_NAME"]


def group_roles(config) -> dict[str, tuple[str, TeamRole]]:
    """``SSO_GROUP_ROLES`` as {group: (team name, role)}."""
    raw = config.get("SSO_GROUP_ROLES") or "{}"
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise RuntimeError("SSO_GROUP_ROLES must be a JSON object") from None
    if not isinstance(data, dict):
        raise RuntimeError("SSO_GROUP_ROLES must be a JSON object")
    out = {}
    for group, target in data.items():
        team, _, role = str(target).rpartition(":")
        if not team or role not in {r.value for r in TeamRole}:
            raise RuntimeError(f"SSO_GROUP_ROLES: {group!r} must map to '<team name>:coordinator' or ':staff'")
        out[str(group)] = (team, TeamRole(role))
    return out


def issuer_origin() -> str:
    parts = urlsplit(current_app.config["SSO_ISSUER"])
    return f"{parts.scheme}://{parts.netloc}"


def redirect_uri() -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/auth/sso/callback"


def post_logout_redirect_uri() -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/auth/sso/signed-out"


# ------------------------------------------------------------------------------------------------ provider


class ProviderDown(Exception):
    """The identity provider could not be reached or answered nonsense."""


class SignInRefused(Exception):
    """This sign-in must not succeed. ``reason`` is a short code for the audit trail (never a token or a claim)."""

    def __init__(self, reason: str, message: str | None = None, status: int = 401):
        super().__init__(reason)
        self.reason, self.message, self.status = reason, message, status


@dataclass
class _Cache:
    metadata: dict | None = None
    metadata_at: float = 0.0
    jwks: KeySet | None = None
    kids: frozenset = frozenset()
    jwks_at: float = 0.0


_LOCK = threading.Lock()
METADATA_TTL = 3600


def _cache() -> _Cache:
    return current_app.extensions.setdefault("sso_cache", _Cache())


def _get_json(url: str) -> dict:
    try:
        resp = requests.get(url, timeout=current_app.config["SSO_TIMEOUT_SECONDS"])
        resp.raise_for_status()
        data = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderDown(f"{url}: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise ProviderDown(f"{url}: not a JSON object")
    return data


def metadata() -> dict:
    """The provider's discovery document (cached for an hour; its issuer must be the configured one)."""
    cache = _cache()
    with _LOCK:
        if cache.metadata is None or time.monotonic() - cache.metadata_at > METADATA_TTL:
            issuer = current_app.config["SSO_ISSUER"].rstrip("/")
            data = _get_json(issuer + "/.well-known/openid-configuration")
            if data.get("issuer", "").rstrip("/") != issuer or not data.get("authorization_endpoint"):
                raise ProviderDown("the discovery document names another issuer")
            cache.metadata, cache.metadata_at = data, time.monotonic()
        return cache.metadata


def _key_set(*, refresh: bool) -> tuple[KeySet, frozenset]:
    cache = _cache()
    with _LOCK:
        stale = cache.jwks is None or (
            refresh and time.monotonic() - cache.jwks_at >= current_app.config["SSO_JWKS_MIN_REFRESH_SECONDS"])
        if stale:
            data = _get_json(cache.metadata["jwks_uri"])
            keys = [k for k in data.get("keys", []) if k.get("kty") in {"RSA", "EC", "OKP"}]  # never a shared secret
            try:
                cache.jwks = KeySet.import_key_set({"keys": keys})
            except (JoseError, ValueError, TypeError):
                raise ProviderDown("the provider's JWKS could not be read") from None
            cache.kids, cache.jwks_at = frozenset(k.get("kid") for k in keys), time.monotonic()
        return cache.jwks, cache.kids


def new_flow() -> dict:
    """What the browser's session keeps between leaving for the provider and coming back."""
    return {"state": generate_token(32), "nonce": generate_token(32), "verifier": generate_token(64)}


def _oauth(scope: str | None = None) -> OAuth2Session:
    cfg = current_app.config
    return OAuth2Session(cfg["SSO_CLIENT_ID"], cfg["SSO_CLIENT_SECRET"], scope=scope, redirect_uri=redirect_uri(),
                         code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")


def authorization_url(flow: dict) -> str:
    url, _ = _oauth(current_app.config["SSO_SCOPES"]).create_authorization_url(
        metadata()["authorization_endpoint"], state=flow["state"], nonce=flow["nonce"], code_verifier=flow["verifier"])
    return url


def _segment(token: str, index: int) -> dict:
    try:
        part = token.split(".")[index]
        data = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        raise SignInRefused("malformed_token") from None
    if not isinstance(data, dict):
        raise SignInRefused("malformed_token")
    return data


def exchange_code(code: str, flow: dict) -> str:
    """The ID token for an authorization code (the provider refuses a used, expired or stolen code: PKCE)."""
    meta = metadata()
    try:
        token = _oauth().fetch_token(meta["token_endpoint"], grant_type="authorization_code", code=code,
                                     code_verifier=flow["verifier"], timeout=current_app.config["SSO_TIMEOUT_SECONDS"])
    except OAuthError as exc:
        raise SignInRefused(f"token_{exc.error}"[:40] if exc.error else "token_refused") from None
    except requests.RequestException as exc:
        raise ProviderDown(f"token endpoint: {type(exc).__name__}") from None
    id_token = token.get("id_token") if isinstance(token, dict) else None
    if not isinstance(id_token, str):
        raise SignInRefused("no_id_token")
    return id_token


def validate_id_token(id_token: str, nonce: str) -> dict:
    """The ID token's claims, after checking its signature against the provider's keys (an unknown key id refetches
    them once: key rotation), its algorithm (asymmetric only), issuer, audience, expiry (with clock-skew leeway) and
    that ``nonce`` is the one this browser sent."""
    meta = metadata()
    header = _segment(id_token, 0)
    offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
    allowed = [alg for alg in offered if alg in ASYMMETRIC]
    if header.get("alg") not in allowed:
        raise SignInRefused("bad_algorithm")
    keys, kids = _key_set(refresh=False)
    if header.get("kid") not in kids:
        keys, kids = _key_set(refresh=True)  # the provider may have rotated its keys
        if header.get("kid") not in kids:
            raise SignInRefused("unknown_key")
    try:
        claims = jwt.decode(id_token, keys, algorithms=allowed).claims
    except JoseError:
        raise SignInRefused("bad_signature") from None
    cfg = current_app.config
    registry = JWTClaimsRegistry(
        leeway=int(cfg["SSO_CLOCK_SKEW_SECONDS"]),
        iss={"essential": True, "value": cfg["SSO_ISSUER"].rstrip("/")},
        aud={"essential": True, "value": cfg["SSO_CLIENT_ID"]},
        sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
        nonce={"essential": True, "value": nonce})
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise SignInRefused("expired") from None
    except (InvalidClaimError, MissingClaimError) as exc:
        raise SignInRefused(f"bad_{getattr(exc, 'claim', 'claim')}") from None
    except JoseError:
        raise SignInRefused("bad_claims") from None
    if isinstance(claims.get("aud"), list) and len(claims["aud"]) > 1 and claims.get("azp") != cfg["SSO_CLIENT_ID"]:
        raise SignInRefused("bad_azp")
    return claims


def end_session_url() -> str | None:
    """Where to send the browser to sign out at the provider too (RP-initiated logout), when it supports that."""
    try:
        endpoint = metadata().get("end_session_endpoint")
    except ProviderDown:
        return None
    if not endpoint:
        return None
    return requests.Request("GET", endpoint, params={
        "client_id": current_app.config["SSO_CLIENT_ID"],
        "post_logout_redirect_uri": post_logout_redirect_uri()}).prepare().url


# ------------------------------------------------------------------------------------------ accounts, roles


def _claim_text(claims: dict, name: str) -> str | None:
    value = claims.get(name) if name else None
    return value.strip() if isinstance(value, str) and value.strip() else None


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def _verified_email(claims: dict) -> str | None:
    email = _claim_text(claims, current_app.config["SSO_EMAIL_CLAIM"])
    if email is None or not _EMAIL.match(email) or len(email) > 254:
        return None
    if current_app.config["SSO_EMAIL_VERIFIED"] != "trusted" and claims.get("email_verified") is not True:
        return None
    return accounts.normalise_email(email)


def _find_or_link(claims: dict, issuer: str) -> tuple[User, bool]:
    """The account for these claims: (user, created). Raises SignInRefused."""
    subject = str(claims["sub"])[:255]
    identity = db.session.scalar(select(UserIdentity).where(UserIdentity.issuer == issuer,
                                                            UserIdentity.subject == subject))
    if identity is not None:
        identity.last_sign_in_at = now_utc()
        return identity.user, False
    user, created = None, False
    staff_number = _claim_text(claims, current_app.config["SSO_STAFF_NUMBER_CLAIM"])
    if staff_number:
        user = db.session.scalar(select(User).where(User.staff_number == staff_number[:32]))
    email = _verified_email(claims)
    if user is None and email is None:
        raise SignInRefused("email_unverified", "Your trust account did not give Shiftbridge a verified email "
                            "address, so it cannot be matched to a Shiftbridge account. Ask your IT service desk, or "
                            "your ward manager to check your email address in Shiftbridge.", 403)
    if user is None:
        user = accounts.user_by_email(email)
    if user is None:
        if not current_app.config["SSO_JIT"]:
            raise SignInRefused("unknown_person", "There is no Shiftbridge account for your trust account yet. Ask "
                                "your ward manager to add you, then sign in again.", 403)
        name = (_claim_text(claims, current_app.config["SSO_NAME_CLAIM"]) or email.split("@")[0])[:120]
        user = accounts.create_user(email=email, display_name=name, password=secrets.token_urlsafe(32),
                                    grade=None, staff_number=staff_number)
        user.password_sign_in_disabled = True  # nobody knows that password
        created = True
    db.session.add(UserIdentity(user_id=user.id, issuer=issuer, subject=subject, last_sign_in_at=now_utc()))
    db.session.flush()
    audit.record("user.sso_linked", actor=user, entity=user,
                 summary={"via": "jit" if created else ("staff_number" if staff_number and not email else "email")})
    return user, created


def account_for(claims: dict) -> tuple[User, bool]:
    """Find, link or create the account, safe against the same person's first sign-in arriving twice at once (two
    tabs, a double click): the loser of the race on the unique keys retries and finds the winner's rows."""
    issuer = current_app.config["SSO_ISSUER"].rstrip("/")
    for attempt in range(3):
        try:
            with db.session.begin_nested():
                user, created = _find_or_link(claims, issuer)
        except (IntegrityError, Conflict):
            if attempt == 2:
                raise
            log.info("first sign-in raced another for the same person; retrying (attempt %d)", attempt + 2)
            continue
        if not user.active:
            raise SignInRefused("inactive", "Your Shiftbridge account has been deactivated. Ask your ward manager.",
                                403)
        return user, created
    raise AssertionError("unreachable")


def apply_group_roles(user: User, claims: dict) -> None:
    """Provider groups to team roles (``SSO_GROUP_ROLES``), at every sign-in: a mapped group adds the person to its
    team or sets their role there; a coordinator who is no longer in a coordinator group becomes staff. Nobody is
    taken off a team here (their future shifts need a coordinator's attention). When the provider left the groups
    out because there were too many (Entra ID's overage: ``_claim_names`` / ``hasgroups``), nothing changes and the
    audit trail says why."""
    cfg = current_app.config
    name, mapping = cfg["SSO_GROUPS_CLAIM"], group_roles(cfg)
    if not name or not mapping:
        return
    if name in (claims.get("_claim_names") or {}) or claims.get("hasgroups"):
        log.warning("sign-in of user %s: the provider sent no group list (too many groups: overage); team roles "
                    "left as they were", user.id)
        audit.record("auth.sso_groups_overage", actor=user, entity=user, outcome="denied",
                     summary={"claim": name[:40]})
        return
    listed = claims.get(name)
    groups = {listed} if isinstance(listed, str) else {g for g in (listed if isinstance(listed, list) else [])
                                                        if isinstance(g, str)}
    wanted: dict[str, TeamRole] = {}
    for group, (team_name, role) in mapping.items():
        if group in groups and wanted.get(team_name) != TeamRole.coordinator:
            wanted[team_name] = role
    for team_name in {t for t, _ in mapping.values()}:
        team = db.session.scalar(select(Team).where(Team.name == team_name))
        if team is None:
            log.warning("SSO_GROUP_ROLES names a team that does not exist (%s)", team_name)
            continue
        role = wanted.get(team_name)
        if role is None and user.role_in(team) == TeamRole.coordinator:
            role = TeamRole.staff
        if role is not None:
            accounts.add_member(team, user, role)
    db.session.flush()


def tell_about_new_account(user: User) -> None:
    for listener in current_app.extensions.get(ACCOUNT_CREATED, []):
        listener(user)


# ----------------------------------------------------------------------------------------- audit, throttle


SSO_CHECK = "sso"


def check_throttle(client: throttle.Client) -> None:
    """Failed single sign-ins count against the client like failed passwords (``LOGIN_CLIENT_ATTEMPTS``)."""
    key = (SSO_CHECK, "client", client.address)
    wait = throttle.refusal("LOGIN_CLIENT_ATTEMPTS", *key)
    if wait is not None:
        raise throttle.Throttled(throttle.MESSAGES["client"], bucket="client", retry_after=wait,
                                 setting="LOGIN_CLIENT_ATTEMPTS", key=key)


def record_failure(reason: str, client: throttle.Client, user: User | None = None) -> None:
    throttle.count("LOGIN_CLIENT_ATTEMPTS", SSO_CHECK, "client", client.address)
    audit.record("auth.login_failed", actor=None, outcome="denied", entity_type="user",
                 entity_id=user.id if user else None, summary={"via": "sso", "reason": reason[:40]})


def record_sign_in(user: User, user_agent: str | None) -> None:
    sessions.start_session(user, user_agent)
    audit.record("auth.login", actor=user, entity=user, summary={"via": "sso"})


# ------------------------------------------------------------------------------- no codes or tokens in logs


_SECRET_PARAMS = re.compile(r"\b(code|state|id_token|access_token|refresh_token|session_state|nonce)=[^&\s\"']+")


class RedactCallbackParams(logging.Filter):
    """Access logs (werkzeug's, gunicorn's) print request lines: the callback's ``code`` and ``state`` must not
    reach them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the logging module's business
            return True
        if "=" in message and _SECRET_PARAMS.search(message):
            record.msg, record.args = _SECRET_PARAMS.sub(r"\1=[redacted]", message), ()
        return True


def install_log_redaction() -> None:
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCallbackParams) for f in logger.filters):
            logger.addFilter(RedactCallbackParams())
