"""In-process domain events: one package announces that something happened, others react, neither imports the other.

``emit(name, **data)`` calls every handler subscribed to ``name`` (and to ``"*"``) at once, in the caller's
transaction, so a reaction commits or rolls back with the change it reacts to. Handlers are registered per
application at start-up (``subscribe(app, name, fn)``); an app with no subscribers makes ``emit`` a no-op.

Events used today (all sent by ``rota``): ``shift.opened`` (shift), ``shift.taken`` (shift), ``cover.requested``
(shift), ``swap.offered`` (request, offered to everyone), ``rota.published`` (period).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, has_app_context

EXTENSION = "domain_event_handlers"


def subscribe(app, name: str, handler: Callable[..., None]) -> None:
    app.extensions.setdefault(EXTENSION, {}).setdefault(name, []).append(handler)


def emit(name: str, **data) -> None:
    if not has_app_context():
        return
    handlers = current_app.extensions.get(EXTENSION, {})
    for handler in (*handlers.get(name, ()), *handlers.get("*", ())):
        handler(name=name, **data)
