"""Web Push (RFC 8030 / 8291 / 8292) with ``pywebpush`` and ``py-vapid``: keys, devices, payloads, sending.

* Keys: ``VAPID_PRIVATE_KEY`` / ``VAPID_PUBLIC_KEY`` (base64url, raw P-256) and ``VAPID_SUBJECT`` (``mailto:`` or
  ``https:``) from the environment, else ``instance/vapid.json`` written once by ``flask push keys`` (never
  committed). Without keys the push channel is off, as SMS is without Twilio settings.
* Devices: one :class:`PushSubscription` per browser, tied to the sign-in session that made it; deleted when the push
  service says it is gone (404/410), when that browser signs out, on a password change and on deactivation.
* Sending (by the outbox worker, :mod:`notifications.worker`): one outbox row per person on channel ``push``, sent to
  each of their devices; payloads are encrypted (aes128gcm), carry no patient details (the same text rules as SMS)
  and are at most :data:`MAX_PAYLOAD` bytes before encryption; TTL and ``Urgency`` follow the message's priority.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from py_vapid import Vapid02
from pywebpush import WebPusher
from sqlalchemy import delete, select, update

from core import audit
from core.db import db, now_utc
from core.errors import Forbidden, NotFound, ValidationFailed
from notifications.models import OutboxMessage, OutboxState, PushPolicy, PushSubscription
from notifications.sms import SendResult, never_reached

log = logging.getLogger(__name__)

PUSH = "push"
ENV_KEYS = ("VAPID_PRIVATE_KEY", "VAPID_PUBLIC_KEY", "VAPID_SUBJECT", "PUSH_TIMEOUT_SECONDS",
            "PUSH_SUBSCRIBE_TIMEOUT_SECONDS")
KEY_FILE = "vapid.json"
# RFC 8291: a push service must accept 4096 bytes of encrypted body; aes128gcm adds 86 (header 21 + key 65) + 16
# (tag) + 1 (padding delimiter). What is left is the largest plaintext we send.
MAX_RECORD = 4096
MAX_PAYLOAD = MAX_RECORD - 86 - 16 - 1
TTL_URGENT, TTL_NORMAL = 60 * 60, 24 * 60 * 60  # an unanswered urgent push is followed by an SMS anyway
VAPID_LIFETIME = 12 * 60 * 60  # JWT exp: 12 h (RFC 8292 allows at most 24 h)
MAX_DEVICES = 10
UNREACHABLE = "unreachable"  # same meaning as sms.UNREACHABLE: nothing left the building


# ------------------------------------------------------------------------------------------------------ keys


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_keys() -> dict:

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"VAPID_PRIVATE_KEY": _b64(private), "VAPID_PUBLIC_KEY": _b64(public)}


def write_keys(instance_path: str, *, force: bool = False) -> tuple[Path, bool]:
    """Create ``instance/vapid.json`` once (mode 0600). Returns (path, created)."""
    path = Path(instance_path) / KEY_FILE
    if path.exists() and not force:
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(generate_keys(), fh)
    return path, True


def load_env_into(app) -> None:
    for key in ENV_KEYS:
        if key not in app.config and os.environ.get(key):
            app.config[key] = os.environ[key]
    path = Path(app.instance_path) / KEY_FILE
    if not app.config.get("VAPID_PRIVATE_KEY") and path.exists():
        try:
            app.config.update({k: v for k, v in json.loads(path.read_text()).items() if k.startswith("VAPID_")})
        except (OSError, ValueError):
            log.error("%s is not readable: push is off until `flask push keys --force` rewrites it", path)
    app.config.setdefault("PUSH_TIMEOUT_SECONDS", 10.0)
    app.config.setdefault("PUSH_SUBSCRIBE_TIMEOUT_SECONDS", 20)  # the browser's subscribe, in the profile's script


@dataclass(frozen=True)
class PushConfig:
    private_key: str
    public_key: str
    subject: str
    public_base_url: str
    timeout: float


def push_config(app=None) -> PushConfig | None:
    cfg = (app or current_app).config
    private, public = cfg.get("VAPID_PRIVATE_KEY"), cfg.get("VAPID_PUBLIC_KEY")
    if not (private and public):
        return None
    base = (cfg.get("PUBLIC_BASE_URL") or "").rstrip("/")
    subject = cfg.get("VAPID_SUBJECT") or (f"{base}/" if base.startswith("https://") else
                                           "mailto:shiftbridge@localhost.invalid")
    return PushConfig(private, public, subject, base, float(cfg.get("PUSH_TIMEOUT_SECONDS", 10)))


def push_enabled(app=None) -> bool:
    return push_config(app) is not None


# --------------------------------------------------------------------------------------------------- devices


def _valid_endpoint(endpoint) -> bool:
    if not isinstance(endpoint, str) or not 10 < len(endpoint) <= 1000:
        return False
    parts = urlsplit(endpoint)
    if parts.scheme == "https" and parts.hostname:
        return True
    # Plain http only to a push service on this machine, and only in tests or debug (the local push service).
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    return parts.scheme == "http" and local and bool(current_app.config.get("TESTING") or current_app.debug)


def _valid_key(value, length: int) -> bool:
    try:
        return isinstance(value, str) and len(value) < 200 and len(_unb64(value)) == length
    except (ValueError, TypeError):
        return False


def subscribe(user, subscription: dict, *, name: str | None, session_id: int | None,
              user_agent: str | None) -> PushSubscription:
    """Record this browser's subscription for ``user``. An endpoint already held by another person is refused (a
    browser belongs to whoever signed in there: they must sign out first, which removes it)."""
    sub = subscription if isinstance(subscription, dict) else {}
    keys = sub.get("keys") if isinstance(sub.get("keys"), dict) else {}
    errors = {}
    if not _valid_endpoint(sub.get("endpoint")):
        errors["subscription.endpoint"] = ["Not a push service address."]
    if not _valid_key(keys.get("p256dh"), 65) or not _unb64(keys["p256dh"]).startswith(b"\x04"):
        errors["subscription.keys.p256dh"] = ["Not a P-256 public key."]
    if not _valid_key(keys.get("auth"), 16):
        errors["subscription.keys.auth"] = ["Not a 16-byte auth secret."]
    expires = sub.get("expirationTime")
    if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int | float)
                                or expires / 1000 <= time.time()):
        errors["subscription.expirationTime"] = ["This subscription has expired: turn notifications on again."]
    if errors:
        raise ValidationFailed("That is not a valid push subscription.", errors=errors)
    name = (name or "").strip()[:60] or _guess_name(user_agent)
    existing = db.session.scalar(select(PushSubscription).where(PushSubscription.endpoint == sub["endpoint"]))
    if existing is not None and existing.user_id != user.id:
        audit.record("push.subscribe_refused", actor=user, outcome="denied", entity_type="push_subscription",
                     entity_id=existing.id)
        raise Forbidden("This browser receives notifications for someone else. They must sign out here first.")
    if existing is None:
        count = len(devices(user))
        if count >= MAX_DEVICES:
            raise ValidationFailed(f"At most {MAX_DEVICES} devices: remove one first.",
                                   errors={"subscription": [f"At most {MAX_DEVICES} devices."]})
        existing = PushSubscription(user_id=user.id, endpoint=sub["endpoint"], created_at=now_utc())
        db.session.add(existing)
    existing.p256dh, existing.auth, existing.name = keys["p256dh"], keys["auth"], name
    existing.session_id, existing.user_agent = session_id, (user_agent or "")[:200] or None
    db.session.flush()
    audit.record("push.subscribed", actor=user, entity_type="push_subscription", entity_id=existing.id,
                 summary={"name": name})
    return existing


def _guess_name(user_agent: str | None) -> str:
    ua = (user_agent or "").lower()
    if "iphone" in ua or "android" in ua and "mobile" in ua:
        return "This phone"
    if "ipad" in ua or "android" in ua:
        return "Tablet"
    return "Computer"


def devices(user) -> list[PushSubscription]:
    return list(db.session.scalars(select(PushSubscription).where(PushSubscription.user_id == user.id)
                                   .order_by(PushSubscription.created_at)))


def remove_device(user, device_id: int, *, actor=None) -> None:
    sub = db.session.get(PushSubscription, device_id) if 0 < device_id < 2**31 else None
    if sub is None or sub.user_id != user.id:
        raise NotFound("No such device.")
    db.session.delete(sub)
    audit.record("push.unsubscribed", actor=actor or user, entity_type="push_subscription", entity_id=device_id,
                 summary={"reason": "removed"})


def forget_session(user, session_id: int | None) -> int:
    """That browser signed out: it receives nothing more for this person."""
    if not session_id:
        return 0
    gone = db.session.execute(delete(PushSubscription).where(PushSubscription.session_id == session_id,
                                                             PushSubscription.user_id == user.id)).rowcount
    if gone:
        audit.record("push.unsubscribed", actor=user, entity_type="user", entity_id=user.id,
                     summary={"reason": "signed out", "count": gone})
    return gone


def forget_all(user, *, actor=None) -> int:
    """Password changed or account deactivated (a ``credential_revokers`` hook): every device of theirs goes."""
    gone = db.session.execute(delete(PushSubscription).where(PushSubscription.user_id == user.id)).rowcount
    if gone:
        audit.record("push.unsubscribed", actor=actor, entity_type="user", entity_id=user.id,
                     summary={"reason": "credentials revoked", "count": gone})
    return gone


def forget_endpoints(ids: list[int]) -> int:
    """The push service said these are gone (404/410)."""
    if not ids:
        return 0
    return db.session.execute(delete(PushSubscription).where(PushSubscription.id.in_(ids))).rowcount


def mark_used(ids: list[int], at) -> None:
    if ids:
        db.session.execute(update(PushSubscription).where(PushSubscription.id.in_(ids)).values(last_used_at=at)
                           .execution_options(synchronize_session=False))


# --------------------------------------------------------------------------------------------------- payloads


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="push-message")


def message_token(outbox_id: int, user_id: int) -> str:
    """What the service worker sends back with a receipt or an action: which message, for whom (signed)."""
    return _signer().dumps([outbox_id, user_id])


def read_token(token) -> tuple[int, int]:
    try:
        outbox_id, user_id = _signer().loads(str(token or ""))
        return int(outbox_id), int(user_id)
    except (BadSignature, ValueError, TypeError):
        raise NotFound("No such message.")


def build_payload(*, outbox_id: int, user_id: int, text: str, urgent: bool, actions: list[tuple[str, str]] = (),
                  tag: str | None = None, title: str = "Shiftbridge") -> bytes:
    """The JSON the service worker reads: title, body, the page a tap opens (``/p/<id>``: records the open, then the
    message's own link), a signed token, action buttons. Never patient details: ``text`` is the outbox text, which
    obeys the SMS rules. Over :data:`MAX_PAYLOAD` the body is shortened (the tap still opens the whole message)."""
    body = {"t": title, "b": text, "u": f"/p/{outbox_id}", "k": message_token(outbox_id, user_id),
            "a": [list(a) for a in actions], "g": tag or f"sb-{outbox_id}", "r": bool(urgent)}
    data = json.dumps(body, separators=(",", ":")).encode()
    if len(data) <= MAX_PAYLOAD:
        return data
    body["a"] = []
    room = MAX_PAYLOAD - len(json.dumps({**body, "b": ""}, separators=(",", ":")).encode()) - 40
    short = text.encode()[:max(room, 0)].decode(errors="ignore").rstrip()
    body["b"] = short + "… Tap to read it all."
    data = json.dumps(body, separators=(",", ":")).encode()
    assert len(data) <= MAX_PAYLOAD
    return data


# ----------------------------------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class Target:
    id: int
    endpoint: str
    p256dh: str
    auth: str


@dataclass
class PushResult(SendResult):
    """The outcome of one outbox row (all the person's devices): an SMS send result plus the devices involved."""

    gone: list[int] = field(default_factory=list)  # subscriptions the push service says no longer exist
    used: list[int] = field(default_factory=list)  # subscriptions that accepted it


class Sender:
    """One per worker: one HTTP session (kept-alive connections to each push service), VAPID headers signed once per
    push service and reused until 1 h before they expire."""

    def __init__(self, config: PushConfig):

        self.config = config
        self.vapid = Vapid02.from_raw(config.private_key.encode())
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=64)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self._headers: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def vapid_headers(self, endpoint: str) -> dict:
        parts = urlsplit(endpoint)
        aud = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        with self._lock:
            cached = self._headers.get(aud)
            if cached and cached[0] - now > 3600:
                return cached[1]
        exp = int(now) + VAPID_LIFETIME
        headers = self.vapid.sign({"aud": aud, "exp": exp, "sub": self.config.subject})
        with self._lock:
            self._headers[aud] = (exp, headers)
        return headers

    def send_one(self, target: Target, data: bytes, *, urgent: bool) -> tuple[str, str | None]:
        """``(outcome, detail)``: outcome is ok | gone | too_large | transient | permanent | unreachable."""

        headers = {**self.vapid_headers(target.endpoint), "Urgency": "high" if urgent else "normal"}
        info = {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}}
        try:
            resp = WebPusher(info, requests_session=self.session).send(
                data, headers=headers, ttl=TTL_URGENT if urgent else TTL_NORMAL, content_encoding="aes128gcm",
                timeout=self.config.timeout)
        except requests.RequestException as exc:
            if never_reached(exc):
                return UNREACHABLE, "push service unreachable"
            return "transient", "push service timed out" if isinstance(exc, requests.Timeout) else type(exc).__name__
        except (ValueError, TypeError) as exc:  # a key the browser gave us that does not work
            return "permanent", f"bad subscription keys ({type(exc).__name__})"
        return classify(resp.status_code)

    def send(self, targets: list[Target], data: bytes, *, urgent: bool) -> PushResult:
        if not targets:
            return PushResult(False, transient=False, error_code="no_device", error_message="no push device")
        if len(data) > MAX_PAYLOAD:
            return PushResult(False, transient=False, error_code="too_large", error_message="payload over 4 KB")
        outcomes = [(t, *self.send_one(t, data, urgent=urgent)) for t in targets]
        used = [t.id for t, o, _ in outcomes if o == "ok"]
        gone = [t.id for t, o, _ in outcomes if o == "gone"]
        if used:
            return PushResult(True, provider_id=f"push:{len(used)}", status="sent", used=used, gone=gone)
        if any(o == "transient" for _, o, _ in outcomes):
            detail = next(d for _, o, d in outcomes if o == "transient")
            return PushResult(False, transient=True, error_code="push_retry", error_message=detail, gone=gone)
        if all(o == UNREACHABLE for _, o, _ in outcomes):
            return PushResult(False, transient=True, error_code=UNREACHABLE, error_message="push service unreachable")
        if gone and len(gone) == len(outcomes):
            return PushResult(False, transient=False, error_code="gone", error_message="device no longer subscribed",
                              gone=gone)
        detail = next((d for _, o, d in outcomes if o not in ("ok", "gone")), "")
        code = next((o for _, o, _ in outcomes if o not in ("ok", "gone")), "permanent")
        return PushResult(False, transient=code == UNREACHABLE, error_code=code, error_message=(detail or "")[:200],
                          gone=gone)

    def close(self) -> None:
        self.session.close()


def classify(status: int) -> tuple[str, str | None]:
    if status in (200, 201, 202):
        return "ok", None
    if status in (404, 410):
        return "gone", f"push service said {status}"
    if status == 413:
        return "too_large", "push service said 413 (payload too large)"
    if status == 429 or status >= 500:
        return "transient", f"push service said {status}"
    return "permanent", f"push service said {status}"


# --------------------------------------------------------------- push first (push_first.py): waits, reports

DEFAULT_MINUTES, DEFAULT_URGENT_MINUTES = 15, 5  # a team's wait before the SMS safety net (PushPolicy)


def delay_minutes(team_id: int | None, urgent: bool) -> int:
    policy = db.session.get(PushPolicy, team_id) if team_id else None
    if policy is None:
        return DEFAULT_URGENT_MINUTES if urgent else DEFAULT_MINUTES
    return policy.urgent_sms_after_minutes if urgent else policy.sms_after_minutes


def fallback_due(team_id: int | None, urgent: bool, push_due: datetime) -> datetime:
    return push_due + timedelta(minutes=delay_minutes(team_id, urgent))


def channel_report(broadcast_id: int) -> dict[int, dict]:
    """Per person: their push for this broadcast (state, delivered, opened)."""
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id,
                                                          OutboxMessage.channel == PUSH)
                              .order_by(OutboxMessage.id))
    return {m.user_id: {"state": m.state.value, "sent_at": m.sent_at, "delivered_at": m.delivered_at,
                        "opened_at": m.opened_at, "error": m.error_code} for m in rows}


def reached(pushed: dict | None, sms_row: OutboxMessage | None, read_at) -> dict:
    """Which channel reached this person first, and when: the push when the device showed or opened it (accepted by
    the push service is not enough: the phone may be off), the SMS when
    the carrier delivered it (or Twilio accepted it), else the app when they read it there."""
    push_info = pushed or {}
    push_at = push_info.get("delivered_at") or push_info.get("opened_at")  # the device said so; "sent" is not enough
    sms_at = None
    if sms_row is not None and sms_row.state in (OutboxState.sent, OutboxState.delivered):
        sms_at = sms_row.updated_at if sms_row.state == OutboxState.delivered else sms_row.sent_at
    options = [(at, name) for at, name in ((push_at, "push"), (sms_at, "sms"), (read_at, "app")) if at]
    at, name = min(options, key=lambda o: o[0]) if options else (None, None)
    return {"push_state": push_info.get("state"), "push_delivered_at": push_info.get("delivered_at"),
            "push_opened_at": push_info.get("opened_at"), "reached_by": name, "reached_at": at}
