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

import inspect
from collections.abc import Callable
from dataclasses import dataclass

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


def register_audience(*args) -> None:
    """``register_audience(name, label, resolver)``; ``(app, name, resolver)`` is accepted too (see _adapt)."""
    if args and not isinstance(args[0], str):
        _, name, resolver = args
        label = name.replace("_", " ").capitalize()
    else:
        name, label, resolver = args
    _AUDIENCES[name] = Audience(name, label, _adapt_resolver(resolver))


def unregister_audience(name: str) -> None:
    _AUDIENCES.pop(name, None)


def audiences() -> dict[str, Audience]:
    return dict(_AUDIENCES)


def register_reply_handler(*args) -> None:
    """``register_reply_handler(keyword, handler)``; ``(app, "claim", handler)`` is accepted too and answers "YES"."""
    if args and not isinstance(args[0], str):
        _, keyword, handler = args
        keyword = "YES" if keyword.strip().lower() == "claim" else keyword
    else:
        keyword, handler = args
    keyword = keyword.strip().upper()
    handler = _adapt_handler(handler)
    if keyword in RESERVED_KEYWORDS:
        raise ValueError(f"{keyword} is reserved for consent and acknowledgement")
    _REPLY_HANDLERS[keyword] = handler


def unregister_reply_handler(keyword: str) -> None:
    _REPLY_HANDLERS.pop(keyword.strip().upper(), None)


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
    from core.api import MAX_ID

    kind, _, ident = str(reference or "").partition(":")
    if not (kind.isidentifier() and ident.isascii() and ident.isdigit() and len(ident) <= 10):
        return None
    return (kind, int(ident)) if 0 < int(ident) <= MAX_ID else None


# Adapters for callables written keyword-only (``resolver(*, shift_id, **_)``, ``handler(*, user, shift_id, **_)``
# returning a reply string): they get the params / the reference's "kind:id" spelled out as keywords.


def _keyword_only(fn) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return not any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


def _reference_kwargs(reference: str | None) -> dict:
    parsed = parse_reference(reference)
    return {f"{parsed[0]}_id": parsed[1]} if parsed else {}


def _adapt_resolver(fn):
    if not _keyword_only(fn):
        return fn
    params = inspect.signature(fn).parameters.values()
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params)
    names = {p.name for p in params}

    def resolver(team_id, params):
        return fn(team_id=team_id, **{k: v for k, v in (params or {}).items() if isinstance(k, str) and
                                      k.isidentifier() and k != "team_id" and (takes_any or k in names)})

    return resolver


def _adapt_handler(fn):
    if not _keyword_only(fn):
        return fn

    def handler(user_id, reference):
        from core.accounts import User
        from core.db import db

        reply = fn(user=db.session.get(User, user_id), user_id=user_id, reference=reference,
                   **_reference_kwargs(reference))
        if isinstance(reply, tuple):
            return reply
        text = str(reply or "")
        return (not text.lower().startswith("sorry")), text

    return handler
