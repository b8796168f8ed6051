"""Registries other packages fill at start-up, so ``notifications`` never imports them (their tables are in
``core.registry``, with every other extension point; a clashing or malformed registration is refused there).

* ``register_audience(name, label, resolver)``: ``resolver(team_id, params) -> list[int]`` of user ids, e.g. the
  swaps package registers ``"eligible_for_shift"`` (params ``{"shift_id": 12}``).
* ``register_reference_action(kind, action)``: the button a recipient sees on a broadcast about ``"<kind>:<id>"``:
  ``action(id)`` returns ``(label, url)`` — a link — or ``(label, url, "post")`` — a button that posts to ``url`` with
  the page's CSRF token (e.g. rota: ``"shift"`` -> ("I'll take it", "/shifts/12/claim", "post")) — or None.
* ``register_reply_handler(keyword, handler)``: ``handler(user_id, reference) -> (ok, reply_text)``, run when a
  recipient texts ``"<KEYWORD> <code>"`` (e.g. ``YES 4821``); ``reference`` is the broadcast's reference
  (e.g. ``"shift:12"``). The handler may change the database; it runs inside the webhook's transaction. Closing
  the broadcast is the handler's business (the rota claim service does it when the shift is filled); an answer that
  leaves the broadcast open (e.g. a volunteer where the coordinator chooses) is recorded as an acknowledgement.
"""

from __future__ import annotations

from core.api import MAX_ID
from core.registry import (  # noqa: F401  (notifications' modules look them up here)
    audiences,
    reference_action_for,
    register_audience,
    register_reply_handler,
    reply_handler,
)

# The reply that takes what a broadcast offers ("YES 4821"): the owner of the offer (rota: an open shift) registers
# its handler under this keyword, and broadcasts offer the reply only while one is registered.
CLAIM_KEYWORD = "YES"


def reference_action(reference: str | None) -> tuple | None:
    parsed = parse_reference(reference)
    action = reference_action_for(parsed[0]) if parsed else None
    return action(parsed[1]) if action is not None else None


def parse_reference(reference) -> tuple[str, int] | None:
    """``"shift:12"`` -> ``("shift", 12)``; None unless it is an identifier, a colon and an id in the id range."""

    kind, _, ident = str(reference or "").partition(":")
    if not (kind.isidentifier() and ident.isascii() and ident.isdigit() and len(ident) <= 10):
        return None
    return (kind, int(ident)) if 0 < int(ident) <= MAX_ID else None

