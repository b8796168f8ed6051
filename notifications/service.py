"""The one entry point other packages use to tell people something: :func:`notify`.

It writes rows in the caller's transaction (nothing leaves the building before the commit). ``rota`` and
``handover`` call it with recipients, text and a link; this package never imports them.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from core.db import db
from notifications.models import Notification

IN_APP = "in_app"
SMS = "sms"


def notify(user_ids: Iterable[int], *, kind: str, text: str, link: str | None = None, team_id: int | None = None,
           channels: Iterable[str] = (IN_APP,), idempotency_key: str | None = None, urgent: bool = False) -> list:
    """Queue a message for each person, once. ``idempotency_key`` (suffixed per recipient) makes repeats no-ops.

    ``text`` must carry no patient-identifiable data; ``link`` is a path inside the app.
    """
    created = []
    for uid in dict.fromkeys(user_ids):
        key = f"{idempotency_key}:{uid}" if idempotency_key else None
        if key and db.session.scalar(select(Notification.id).where(Notification.idempotency_key == key)):
            continue
        n = Notification(user_id=uid, team_id=team_id, kind=kind, text=text[:320], link=link, idempotency_key=key)
        db.session.add(n)
        created.append(n)
    db.session.flush()
    return created
