"""SMS through the official ``twilio`` client, configured from the environment.

Without ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN`` and a sender (``TWILIO_MESSAGING_SERVICE_SID`` or
``TWILIO_FROM_NUMBER``) the SMS channel is off: nothing is queued for SMS and the screens say so.
``TWILIO_API_BASE_URL`` (default Twilio's own) points the real client at any Twilio-compatible server.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

import requests
from flask import current_app
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from core.links import FALLBACK_BASE_URL

TWILIO_DEFAULT_BASE = "https://api.twilio.com"
ENV_KEYS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_MESSAGING_SERVICE_SID", "TWILIO_FROM_NUMBER",
            "TWILIO_API_BASE_URL")
# Permanent: invalid number, opted out, unreachable/landline, not SMS-capable, permission to that region.
PERMANENT_CODES = {21211, 21610, 21612, 21614, 21606, 21408, 21217}
OPTED_OUT = 21610
UNREACHABLE = "unreachable"  # no connection to the provider could be made: the text certainly did not leave


def never_reached(exc: BaseException) -> bool:
    """True when the request never got to the provider (refused, DNS, connect timeout): safe to send again, and
    not the text's fault. A connection dropped *after* sending is not this (the provider may have accepted it)."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, NewConnectionError | NameResolutionError):
            return True
        exc = getattr(exc, "reason", None) or (exc.args[0] if exc.args and isinstance(exc.args[0], BaseException)
                                              else None) or exc.__cause__ or exc.__context__
    return False

# The Twilio client logs each request (numbers, bodies) at DEBUG: keep that out of our logs.
_twilio_log = logging.getLogger("shiftbridge.twilio")
_twilio_log.setLevel(logging.WARNING)


def load_env_into(app) -> None:
    """Settings come from the environment unless the app was given them (tests pass a mapping)."""
    for key in ENV_KEYS:
        if key not in app.config and os.environ.get(key):
            app.config[key] = os.environ[key]
    app.config.setdefault("TWILIO_API_BASE_URL", TWILIO_DEFAULT_BASE)


@dataclass(frozen=True)
class SmsConfig:
    account_sid: str
    auth_token: str
    messaging_service_sid: str | None
    from_number: str | None
    api_base_url: str
    public_base_url: str
    timeout: float


def sms_config(app=None) -> SmsConfig | None:
    cfg = (app or current_app).config
    sid, token = cfg.get("TWILIO_ACCOUNT_SID"), cfg.get("TWILIO_AUTH_TOKEN")
    service, sender = cfg.get("TWILIO_MESSAGING_SERVICE_SID"), cfg.get("TWILIO_FROM_NUMBER")
    if not (sid and token and (service or sender)):
        return None
    return SmsConfig(sid, token, service or None, sender or None,
                     (cfg.get("TWILIO_API_BASE_URL") or TWILIO_DEFAULT_BASE).rstrip("/"),
                     (cfg.get("PUBLIC_BASE_URL") or FALLBACK_BASE_URL).rstrip("/"),
                     float(cfg.get("TWILIO_TIMEOUT_SECONDS", 10)))


def sms_enabled(app=None) -> bool:
    return sms_config(app) is not None


class BaseUrlHttpClient(TwilioHttpClient):
    """The real Twilio HTTP client, sending to ``base_url`` instead of https://api.twilio.com."""

    def __init__(self, base_url: str, timeout: float):
        super().__init__(timeout=timeout, logger=_twilio_log)
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):
        if self.base_url != TWILIO_DEFAULT_BASE and url.startswith(TWILIO_DEFAULT_BASE):
            url = self.base_url + url[len(TWILIO_DEFAULT_BASE):]
        return super().request(method, url, *args, **kwargs)


def make_client(config: SmsConfig) -> Client:
    return Client(config.account_sid, config.auth_token,
                  http_client=BaseUrlHttpClient(config.api_base_url, config.timeout))


@dataclass
class SendResult:
    ok: bool
    provider_id: str | None = None
    status: str | None = None
    transient: bool = False
    error_code: str | None = None
    error_message: str | None = None


def send(client: Client, config: SmsConfig, to: str, body: str, message_id: int | None = None) -> SendResult:
    kwargs = {"to": to, "body": body}
    if config.messaging_service_sid:
        kwargs["messaging_service_sid"] = config.messaging_service_sid
    else:
        kwargs["from_"] = config.from_number
    if config.public_base_url:
        # The outbox id in the callback URL lets a callback that beats our own commit find its message.
        kwargs["status_callback"] = config.public_base_url + "/webhooks/twilio/status" + (
            f"?m={message_id}" if message_id else "")
    try:
        msg = client.messages.create(**kwargs)
    except (TwilioRestException, TwilioServiceException) as exc:
        return classify(exc.status, exc.code, getattr(exc, "msg", None) or getattr(exc, "detail", None))
    except TwilioException as exc:
        return SendResult(False, transient=True, error_code="twilio", error_message=str(exc)[:200])
    except requests.RequestException as exc:
        if never_reached(exc):
            return SendResult(False, transient=True, error_code=UNREACHABLE, error_message="provider unreachable")
        if not isinstance(exc, requests.Timeout):
            return SendResult(False, transient=True, error_code="connection", error_message=type(exc).__name__)
        # Unknown outcome: the provider may have accepted it. Retried (at-least-once), as GOV.UK Notify does.
        return SendResult(False, transient=True, error_code="timeout", error_message="provider timed out")
    return SendResult(True, provider_id=msg.sid, status=msg.status)


def classify(status: int | None, code: int | None, message: str | None) -> SendResult:
    message = (message or "")[:200]
    if code in PERMANENT_CODES:
        return SendResult(False, transient=False, error_code=str(code), error_message=message)
    if status == 429 or code == 20429 or (status or 500) >= 500:
        return SendResult(False, transient=True, error_code=str(code or status), error_message=message)
    return SendResult(False, transient=False, error_code=str(code or status), error_message=message)


# ---------------------------------------------------------------------------------------------- wording

GSM_SEGMENT = 160
_REPLACEMENTS = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
                 "\u2026": "...", "\u00a0": " "}


def compose(text: str, short_link: str | None, suffix: str = "") -> str:
    """A text that fits one GSM-7 segment where possible, ending with the short link."""
    for bad, good in _REPLACEMENTS.items():
        text = text.replace(bad, good)
    text = re.sub(r"\s+", " ", text).strip()
    tail = "".join(f" {p}" for p in (suffix, short_link) if p)
    room = GSM_SEGMENT - len(tail)
    if len(text) > room:
        text = text[: max(room - 3, 20)].rstrip() + "..."
    return text + tail
