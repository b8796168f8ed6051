"""Registries other packages fill at start-up, so ``notifications`` never imports them.

* ``register_audience(name, label, resolver)``: ``resolver(team_id, params) -> list[int]`` of user ids, e.g. the
  swaps package registers ``"eligible_for_shift"`` (params ``{"shift_id": 12}``).
* ``register_reference_action(kind, action)``: the button a recipient sees on a broadcast about ``"<kind>:<id>"``.
* ``register_reply_handler(keyword, handler)``: ``handler(user_id, reference) -> (ok, reply_text)``, run when a
  recipient texts ``"<KEYWORD> <code>"`` (e.g. ``YES 4821``); ``reference`` is the broadcast's reference
  (e.g. ``"shift:12"``). The handler may change the database; it runs inside the webhook's transaction. Closing
  the broadcast is the handler's business (the rota claim service does it when the shift is filled); an answer that
  leaves the broadcast open (e.g. a volunteer where the coordinator chooses) is recorded as an acknowledgement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.api import MAX_ID

Resolver = Callable[[int, dict], list[int]]
ReplyHandler = Callable[[int, str | None], tuple[bool, str]]


@dataclass(frozen=True)
class Audience:
    name: str
    label: str
    resolver: Resolver


_AUDIENCES: dict[str, Audience] = {}
_REPLY_HANDLERS: dict[str, ReplyHandler] = {}
RESERVED_KEYWORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "START", "UNSTOP", "HELP", "INFO",
                     "OK", "SEEN", "ACK", "NO"}


def register_audience(name: str, label: str, resolver: Resolver) -> None:
    _AUDIENCES[name] = Audience(name, label, resolver)


def audiences() -> dict[str, Audience]:
    return dict(_AUDIENCES)


def register_reply_handler(keyword: str, handler: ReplyHandler) -> None:
    keyword = keyword.strip().upper()
    if keyword in RESERVED_KEYWORDS:
        raise ValueError(f"{keyword} is reserved for consent and acknowledgement")
    _REPLY_HANDLERS[keyword] = handler


def reply_handler(keyword: str) -> ReplyHandler | None:
    return _REPLY_HANDLERS.get(keyword.strip().upper())


_REFERENCE_ACTIONS: dict[str, Callable[[int], tuple | None]] = {}


def register_reference_action(kind: str, action: Callable[[int], tuple | None]) -> None:
    """What a recipient can do about a broadcast whose reference is ``"<kind>:<id>"``: ``action(id)`` returns
    ``(label, url)`` — a link — or ``(label, url, "post")`` — a button that posts to ``url`` with the page's CSRF
    token (e.g. rota: ``"shift"`` -> ("I'll take it", "/shifts/12/claim", "post")) — or None."""
    _REFERENCE_ACTIONS[kind] = action


def reference_action(reference: str | None) -> tuple | None:
    parsed = parse_reference(reference)
    action = _REFERENCE_ACTIONS.get(parsed[0]) if parsed else None
    return action(parsed[1]) if action is not None else None


def parse_reference(reference) -> tuple[str, int] | None:
    """``"shift:12"`` -> ``("shift", 12)``; None unless it is an identifier, a colon and an id in the id range."""

    kind, _, ident = str(reference or "").partition(":")
    if not (kind.isidentifier() and ident.isascii() and ident.isdigit() and len(ident) <= 10):
        return None
    return (kind, int(ident)) if 0 < int(ident) <= MAX_ID else None

