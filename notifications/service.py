"""The one entry point other packages use to tell people something: :func:`notify`.

It writes rows in the caller's transaction (nothing leaves the building before the commit): an in-app
``Notification`` per person (pushed to their open screens at commit) and, for the SMS channel, an ``OutboxMessage``
that ``flask notifications worker`` sends after the commit. ``rota`` and ``handover`` call it with recipients, text
and a link; this package never imports them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Integer, String, bindparam, case, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from core import audit, limits, timeutil
from core.accounts import Team, User
from core.db import core_rows, db, get_by_id, now_utc
from core.errors import NotFound
from notifications import push, realtime, sms
from notifications.models import (
    Notification,
    NotificationPreference,
    OutboxMessage,
    OutboxState,
    PushSubscription,
    SmsOptOut,
)
from notifications.realtime import event_for  # noqa: F401  (public: notifications.service.event_for)

IN_APP = "in_app"
SMS = "sms"
PUSH = "push"  # not chosen by callers: anything in-app or SMS is also pushed to the person's devices, if any
CHANNELS = (IN_APP, SMS)


@dataclass
class Queued:
    notifications: dict[int, Notification] = field(default_factory=dict)  # small batches: the rows
    notification_ids: dict[int, int] = field(default_factory=dict)  # bulk batches: ids only
    outbox: dict[int, dict] = field(default_factory=dict)  # user id -> queued SMS (column values)
    sms_skipped: dict[int, str] = field(default_factory=dict)  # user id -> why no SMS
    pushed: dict[int, tuple] = field(default_factory=dict)  # user id -> (push outbox id, due)


def notify(user_ids: Iterable[int], *, kind: str, text: str, link: str | None = None, team_id: int | None = None,
           channels: Iterable[str] = (IN_APP,), idempotency_key: str | None = None, urgent: bool = False,
           actor=None) -> list:
    """Queue a message for each person, once. ``idempotency_key`` (suffixed per recipient) makes repeats no-ops.

    ``text`` must carry no patient-identifiable data; ``link`` is a path inside the app. Returns the in-app
    notifications created. SMS goes out only if the SMS channel is configured, the person has a mobile number,
    has not opted out, and (unless ``urgent``) not in their quiet hours: then it waits until they end.
    """
    queued = queue(user_ids, kind=kind, text=text, link=link, team_id=team_id, channels=channels,
                   idempotency_key=idempotency_key, urgent=urgent, actor=actor)
    if queued.notification_ids:
        by_id = {n.id: n for n in db.session.scalars(select(Notification).where(
            in_list(Notification.id, queued.notification_ids.values())))}
        return [by_id[nid] for nid in queued.notification_ids.values()]
    return list(queued.notifications.values())


def queue(user_ids: Iterable[int], *, kind: str, text: str, link: str | None = None, team_id: int | None = None,
          channels: Iterable[str] = (IN_APP,), idempotency_key: str | None = None, urgent: bool = False,
          actor=None, broadcast_id: int | None = None, suffixes: dict[int, str] | None = None,
          daily_cap: bool = False) -> Queued:
    ids = list(dict.fromkeys(int(u) for u in user_ids))
    channels = set(channels)
    out = Queued()
    if not ids:
        return out
    text = text[:320]
    if IN_APP in channels:
        _queue_in_app(ids, kind, text, link, team_id, idempotency_key, out)
    if channels & {IN_APP, SMS}:
        out.pushed = _queue_push(ids, kind=kind, text=text, link=link, team_id=team_id,
                                           idempotency_key=idempotency_key, urgent=urgent, broadcast_id=broadcast_id)
    if SMS in channels:
        _queue_sms(ids, kind, text, link, team_id, idempotency_key, urgent, broadcast_id, suffixes or {},
                   daily_cap, out)
        if out.outbox:
            audit.record("notification.sms_queued", actor=actor, entity_type="notification_outbox",
                         team_id=team_id, summary={"kind": kind, "count": len(out.outbox),
                                                   "skipped": len(out.sms_skipped),
                                                   "broadcast_id": broadcast_id})
    return out


def in_list(column, values, item_type=Integer):
    """``column IN values``; on PostgreSQL ``= ANY(array)``: one parameter, so psycopg need not parse a
    thousand-placeholder query (it dominated the time to queue a 1,000-person broadcast)."""
    values = list(values)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == func.any(bindparam(None, values, type_=ARRAY(item_type)))
    return column.in_(values)


def _by_keys(model, keys: list[str], *columns) -> list:
    """Rows of ``model`` whose idempotency key is one of ``keys`` (through the unique index, in chunks)."""
    rows: list = []
    for i in range(0, len(keys), 5000):
        rows.extend(db.session.execute(select(*columns).where(in_list(model.idempotency_key, keys[i:i + 5000],
                                                                      String))))
    return rows


def _existing_keys(model, keys: list[str]) -> set[str]:
    return {key for (key,) in _by_keys(model, keys, model.idempotency_key)}


BULK = 50  # from this many recipients, in-app rows go in with one executemany, not as ORM objects


def _queue_in_app(ids, kind, text, link, team_id, idempotency_key, out: Queued) -> None:
    bulk = len(ids) >= BULK
    batch = idempotency_key or (f"bulk-{uuid.uuid4().hex}" if bulk else None)
    keys = {uid: f"{batch}:{uid}" for uid in ids} if batch else {}
    existing = _existing_keys(Notification, list(keys.values())) if idempotency_key else set()
    todo = [uid for uid in ids if not (keys and keys[uid] in existing)]
    if not todo:
        return
    now = now_utc()
    if not bulk:
        rows = [Notification(user_id=uid, team_id=team_id, kind=kind, text=text, link=link,
                             idempotency_key=keys.get(uid), created_at=now) for uid in todo]
        db.session.add_all(rows)
        db.session.flush()
        out.notifications.update({n.user_id: n for n in rows})
        realtime.publish(db.session, [event_for(n) for n in rows])
        return
    # One executemany (psycopg pipelines it), then the ids by their keys through the unique index: faster than
    # INSERT … RETURNING here, and unlike a LIKE on the key prefix it does not scan the whole table.
    db.session.execute(Notification.__table__.insert(), [
        {"user_id": uid, "team_id": team_id, "kind": kind, "text": text, "link": link, "idempotency_key": keys[uid],
         "created_at": now} for uid in todo])
    by_key = {keys[uid]: uid for uid in todo}
    events = []
    for nid, key in _by_keys(Notification, list(by_key), Notification.id, Notification.idempotency_key):
        uid = by_key[key]
        out.notification_ids[uid] = nid
        events.append({"id": nid, "user_id": uid, "kind": kind, "text": text, "link": link,
                       "created_at": now.isoformat()})
    realtime.publish(db.session, events)


def _zone(team_id: int | None) -> ZoneInfo:
    name = None
    if team_id:
        name = db.session.scalar(select(Team.timezone).where(Team.id == team_id))
    return timeutil.zone(name or current_app.config.get("DEFAULT_TIMEZONE", timeutil.DEFAULT_ZONE))


def _hhmm(value: str) -> time:
    h, m = value.split(":")
    return time(int(h), int(m))


def quiet_until(pref: NotificationPreference | None, at: datetime, zone: ZoneInfo) -> datetime | None:
    """If ``at`` falls in the person's quiet hours, the UTC instant they end; else None."""
    start = _hhmm(pref.quiet_start if pref else limits.QUIET_START_DEFAULT)
    end = _hhmm(pref.quiet_end if pref else limits.QUIET_END_DEFAULT)
    if start == end:
        return None
    local = at.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    inside = (t >= start or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    # fold/gap: build the wall time in the zone, then normalise through UTC (07:00 always exists in UK zones).
    return datetime.combine(day, end, tzinfo=zone).astimezone(at.tzinfo)


def preferences_for(ids: list[int]) -> dict[int, NotificationPreference]:
    return {p.user_id: p for p in db.session.scalars(
        select(NotificationPreference).where(in_list(NotificationPreference.user_id, ids)))}


def _queue_sms(ids, kind, text, link, team_id, idempotency_key, urgent, broadcast_id, suffixes, daily_cap,
               out: Queued) -> None:
    if not sms.sms_enabled():
        out.sms_skipped.update({uid: "sms off" for uid in ids})
        return
    users = {u.id: u for u in db.session.execute(
        select(User.id, User.mobile, User.active).where(in_list(User.id, ids))).all()}
    prefs = preferences_for(ids)
    numbers = [u.mobile for u in users.values() if u.mobile]
    opted_out = set(db.session.scalars(select(SmsOptOut.number).where(in_list(SmsOptOut.number, numbers, String)))) \
        if numbers else set()
    sent_today: dict[int, int] = {}
    if daily_cap:
        since = now_utc() - timedelta(hours=24)
        sent_today = dict(db.session.execute(
            select(OutboxMessage.user_id, func.count()).where(
                in_list(OutboxMessage.user_id, ids), OutboxMessage.channel == SMS,
                OutboxMessage.broadcast_id.is_not(None), OutboxMessage.created_at >= since,
                OutboxMessage.state != OutboxState.superseded,  # a safety net the push made unnecessary
            ).group_by(OutboxMessage.user_id)).all())
    keys = {uid: f"{idempotency_key}:sms:{uid}" for uid in ids} if idempotency_key else {}
    existing = _existing_keys(OutboxMessage, list(keys.values())) if keys else set()
    now = now_utc()
    zone = _zone(team_id)
    default_cap = int(current_app.config.get("NOTIFICATIONS_DAILY_SMS_CAP", 10))
    rows = []
    for uid in ids:
        user, pref = users.get(uid), prefs.get(uid)
        reason = None
        if user is None or not user.active:
            reason = "inactive"
        elif not user.mobile:
            reason = "no mobile"
        elif pref is not None and not pref.sms_enabled:
            reason = "sms turned off"
        elif user.mobile in opted_out:
            reason = "opted out"
        elif daily_cap and sent_today.get(uid, 0) >= (pref.daily_sms_cap if pref else default_cap):
            reason = "daily cap"
        elif keys and keys[uid] in existing:
            continue
        if reason:
            out.sms_skipped[uid] = reason
            continue
        due = now if urgent else (quiet_until(pref, now, zone) or now)
        fallback_of = None
        if uid in out.pushed:  # push first: this text is its safety net, sent only if the push goes unanswered
            fallback_of, pushed_due = out.pushed[uid]
            due = max(due, push.fallback_due(team_id, urgent, pushed_due))
        msg = dict(user_id=uid, channel=SMS, kind=kind, text=text, link=link, suffix=suffixes.get(uid),
                   to_number=user.mobile, idempotency_key=keys.get(uid), urgent=urgent, team_id=team_id,
                   broadcast_id=broadcast_id, state=OutboxState.pending, attempts=0, next_attempt_at=due,
                   created_at=now, updated_at=now, fallback_of_id=fallback_of)
        rows.append(msg)
        out.outbox[uid] = msg
    if rows:
        db.session.flush()
        db.session.execute(OutboxMessage.__table__.insert(), rows)  # executemany: the worker needs no ids from here


def _with_devices(ids: list[int]) -> set[int]:
    if not ids or not push.push_enabled():
        return set()
    return set(db.session.scalars(select(PushSubscription.user_id).where(in_list(PushSubscription.user_id, ids))
                                  .distinct()))


def _queue_push(ids: list[int], *, kind: str, text: str, link: str | None, team_id: int | None,
               idempotency_key: str | None, urgent: bool, broadcast_id: int | None) -> dict[int, tuple[int, datetime]]:
    """Push first (notifications/push.py): one push outbox row per person who has a device, after their quiet hours
    unless urgent; returns user id -> (outbox id, when it is due)."""
    have = _with_devices(ids)
    targets = [uid for uid in ids if uid in have]
    active = set(db.session.scalars(select(User.id).where(in_list(User.id, targets), User.active.is_(True)))) \
        if targets else set()
    targets = [uid for uid in targets if uid in active]
    if not targets:
        return {}
    batch = idempotency_key or f"push-{uuid.uuid4().hex}"
    keys = {uid: f"{batch}:push:{uid}" for uid in targets}
    existing = _existing_keys(OutboxMessage, list(keys.values())) if idempotency_key else set()
    targets = [uid for uid in targets if keys[uid] not in existing]
    if not targets:
        return {}
    now = now_utc()
    prefs, zone = preferences_for(targets), _zone(team_id)
    due = {uid: now if urgent else (quiet_until(prefs.get(uid), now, zone) or now) for uid in targets}
    db.session.flush()
    db.session.execute(OutboxMessage.__table__.insert(), [
        dict(user_id=uid, channel=PUSH, kind=kind, text=text, link=link, suffix=None, to_number=None,
             idempotency_key=keys[uid], urgent=urgent, team_id=team_id, broadcast_id=broadcast_id,
             state=OutboxState.pending, attempts=0, next_attempt_at=due[uid], created_at=now, updated_at=now)
        for uid in targets])
    by_key = {keys[uid]: uid for uid in targets}
    rows = db.session.execute(select(OutboxMessage.id, OutboxMessage.idempotency_key).where(
        in_list(OutboxMessage.idempotency_key, list(by_key), String))).all()
    return {by_key[key]: (oid, due[by_key[key]]) for oid, key in rows}


# ------------------------------------------------------------------------------------------ notification centre


def unread_count(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


@cache
def _badge_query():
    return select(func.count(case((Notification.read_at.is_(None), 1))), func.max(Notification.id)).where(
        Notification.user_id == bindparam("user_id"))


def badge(user_id: int) -> tuple[int, int]:
    """(unread count, newest notification id) for the badge every page shows: one query, not two, built once."""
    unread, last = core_rows(_badge_query(), {"user_id": user_id}).one()
    return unread or 0, last or 0


def list_for(user_id: int, *, unread_only: bool = False):
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return stmt.order_by(Notification.id.desc())


def since(user_id: int, last_id: int, limit: int = 200) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user_id,
                                                              Notification.id > last_id)
                                   .order_by(Notification.id).limit(limit)))


def mark_read(user, notification_id: int) -> Notification:
    n = get_by_id(Notification, notification_id)
    if n is None or n.user_id != user.id:
        raise NotFound("No such notification.")
    if n.read_at is None:
        n.read_at = now_utc()
        audit.record("notification.read", actor=user, entity=n)
    return n


def mark_all_read(user) -> int:
    count = db.session.execute(update(Notification).where(Notification.user_id == user.id,
                                                          Notification.read_at.is_(None))
                               .values(read_at=now_utc())).rowcount
    if count:
        audit.record("notification.read_all", actor=user, entity_type="notification", summary={"count": count})
    return count


def get_preferences(user) -> NotificationPreference:
    pref = db.session.get(NotificationPreference, user.id)
    if pref is None:
        pref = NotificationPreference(user_id=user.id, sms_enabled=True, quiet_start=limits.QUIET_START_DEFAULT,
                                      quiet_end=limits.QUIET_END_DEFAULT,
                                      daily_sms_cap=int(current_app.config.get("NOTIFICATIONS_DAILY_SMS_CAP", 10)),
                                      updated_at=now_utc())
    return pref


def set_preferences(user, *, actor=None, **changes) -> NotificationPreference:
    pref = get_preferences(user)
    if pref not in db.session:
        db.session.add(pref)
    for key, value in changes.items():
        setattr(pref, key, value)
    pref.updated_at = now_utc()
    db.session.flush()
    audit.record("notification.preferences", actor=actor or user, entity_type="notification_preference",
                 entity_id=user.id, summary={k: v for k, v in changes.items()})
    return pref


def sms_opted_out(user) -> bool:
    return bool(user.mobile and db.session.get(SmsOptOut, user.mobile))
