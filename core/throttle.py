"""Throttling of password guesses: stop the guesser, never the owner on a computer she has signed in from before.

Each bucket counts *failed* password checks in the rate limiter's storage (Redis in production, so every worker
shares them); a refused attempt never reaches the password hasher.

=========  =========================================  ==========================  =====================================
bucket     key                                        setting                     when full
=========  =========================================  ==========================  =====================================
pair       (account, this client)                     ``LOGIN_ATTEMPTS``          that client may not try that account
client     (client address)                           ``LOGIN_CLIENT_ATTEMPTS``   that address may try no account it
                                                                                  has not signed in to before
account    (account) from clients it does not know    ``LOGIN_ACCOUNT_ATTEMPTS``  a slow-down, not a lock-out: unknown
                                                                                  clients get ``LOGIN_ACCOUNT_SLOWDOWN``
=========  =========================================  ==========================  =====================================

"This client" is the browser's device cookie when that browser has signed in to the account before (OWASP's
device-cookie scheme), otherwise the client address as read from the proxy chain (``PROXY_FIX``). So strangers'
failures, however many and from wherever, never refuse the owner on her usual computer, and a typing ward computer
behind the trust's proxy throttles only itself. Accounts are keyed by an HMAC of the address, never the address.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass, field

from flask import current_app
from limits import RateLimitItemPerSecond, parse_many

from core.errors import DomainError
from core.security import limiter
from core.tally import Tally

log = logging.getLogger(__name__)
REFUSED = Tally("refused %d sign-in or current-password attempt(s) by the throttle (counted; only the first from "
                "each full bucket is audited; next count in %.0f s)", log)

SIGN_IN = "sign-in"
CURRENT_PASSWORD = "current-password"

MESSAGES = {
    "pair": "Too many failed sign-in attempts for this account from this computer. Wait 15 minutes and try again, "
            "or ask your ward manager for help.",
    "client": "Too many failed sign-in attempts from this computer. Wait 15 minutes and try again, or ask your ward "
              "manager for help.",
    "account": "There have been many failed attempts to sign in to this account. Wait a minute and try again. On a "
               "computer you have signed in from before you do not have to wait.",
    CURRENT_PASSWORD: "Too many wrong current passwords. Wait 15 minutes and try again.",
}


class Throttled(DomainError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, bucket: str, retry_after: int, setting: str = "", key: tuple[str, ...] = ()):
        super().__init__(detail)
        self.bucket = bucket
        self.retry_after = max(1, retry_after)
        self.setting, self.key = setting, key  # the full bucket: its limit setting and storage key


@dataclass(frozen=True)
class Client:
    """Who is trying: the address from the proxy chain, and the device cookie's id and the accounts it vouches for."""

    address: str
    device: str | None = None
    known_accounts: frozenset[str] = field(default_factory=frozenset)

    def knows(self, account: str) -> bool:
        return bool(self.device) and account in self.known_accounts

    def key_for(self, account: str) -> str:
        return f"device:{self.device}" if self.knows(account) else f"address:{self.address}"


def account_key(email: str) -> str:
    """A stable, non-reversible name for an account (what device cookies and buckets hold instead of the email)."""
    secret = current_app.config["SECRET_KEY"].encode()
    email = (email or "").strip().lower()[:254]
    return hmac.new(secret, f"account:{email}".encode(), hashlib.sha256).hexdigest()[:24]


def _limits(setting: str):
    return parse_many(current_app.config[setting])


def refusal(setting: str, *key: str) -> int | None:
    """Seconds until the first full limit of ``setting`` for ``key`` has room again; None when none is full."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return None
    strategy = limiter.limiter
    for item in _limits(setting):
        if not strategy.test(item, *key):
            reset_at, _ = strategy.get_window_stats(item, *key)
            return int(reset_at - time.time()) + 1
    return None


def count(setting: str, *key: str) -> bool:
    """Count one event in every limit of ``setting``; False when one of them was already full."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    return all([limiter.limiter.hit(item, *key) for item in _limits(setting)])


def check(check: str, email: str, client: Client) -> None:
    """Raise ``Throttled`` when this attempt must be refused before any password is tested."""
    account = account_key(email)
    message = MESSAGES[CURRENT_PASSWORD] if check == CURRENT_PASSWORD else None
    key = (check, "pair", account, client.key_for(account))
    wait = refusal("LOGIN_ATTEMPTS", *key)
    if wait is not None:
        raise Throttled(message or MESSAGES["pair"], bucket="pair", retry_after=wait, setting="LOGIN_ATTEMPTS", key=key)
    if client.knows(account):
        return  # the owner's usual browser: only its own failures count against it
    key = (check, "client", client.address)
    wait = refusal("LOGIN_CLIENT_ATTEMPTS", *key)
    if wait is not None:
        raise Throttled(message or MESSAGES["client"], bucket="client", retry_after=wait,
                        setting="LOGIN_CLIENT_ATTEMPTS", key=key)
    key = (check, "account", account)
    if refusal("LOGIN_ACCOUNT_ATTEMPTS", *key) is not None:
        # Many clients have failed on this account: unknown clients now share a slow lane instead of a lock-out.
        if not count("LOGIN_ACCOUNT_SLOWDOWN", check, "slow", account):
            wait = refusal("LOGIN_ACCOUNT_SLOWDOWN", check, "slow", account) or 60
            raise Throttled(message or MESSAGES["account"], bucket="account", retry_after=wait,
                            setting="LOGIN_ACCOUNT_ATTEMPTS", key=key)


def first_refusal(exc: Throttled) -> bool:
    """Count a refusal; True only for the first one from its full bucket within that bucket's window (the one worth an
    audit entry: a flood of refused requests needs no sign-in and must not grow the audit trail at request speed)."""
    REFUSED.add()
    if not exc.setting or not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    window = max(item.get_expiry() for item in _limits(exc.setting))
    return limiter.limiter.hit(RateLimitItemPerSecond(1, window), "audited", *exc.key)


def failed(check: str, email: str, client: Client) -> None:
    """Count a failed password check against the buckets this attempt belongs to."""
    account = account_key(email)
    count("LOGIN_ATTEMPTS", check, "pair", account, client.key_for(account))
    if not client.knows(account):
        count("LOGIN_CLIENT_ATTEMPTS", check, "client", client.address)
        count("LOGIN_ACCOUNT_ATTEMPTS", check, "account", account)
