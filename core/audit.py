"""Append-only, hash-chained audit trail.

Services call :func:`record` in the same transaction as the change they make. Each row carries
``hash = HMAC-SHA256(audit key, previous hash + canonical row)``, so :func:`verify` finds the first row that was
altered, deleted or reordered, and an anchor (a hash kept elsewhere, see ``flask audit head``) also catches a
truncated tail. Summaries hold ids and codes only: never a password, token or patient identifier.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from flask import current_app, g, has_request_context, request
from flask_login import current_user
from sqlalchemy import ForeignKey, Index, Integer, String, Text, event, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import UTCDateTime, db, now_utc, take_write_lock

GENESIS = "0" * 64
_NHS_NUMBER_LIKE = re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b")


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"
    # insights: a team's entries of some actions over a period (docs/insights.md, "Queries and figures")
    __table_args__ = (Index("ix_audit_entries_team_action_at", "team_id", "action", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # the chain position
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True)
    actor_label: Mapped[str | None] = mapped_column(String(120), nullable=True)
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    entity_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entity_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    team_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="success")
    summary_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)

    @property
    def summary(self) -> dict:
        return json.loads(self.summary_json)

    def canonical(self) -> str:
        return json.dumps(
            [self.id, self.at.isoformat(), self.actor_id, self.actor_label, self.action, self.entity_type,
             self.entity_id, self.team_id, self.request_id, self.outcome, self.summary_json],
            separators=(",", ":"), ensure_ascii=True,
        )

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.action} {self.entity_type}:{self.entity_id} {self.outcome}>"


def _mac(prev_hash: str, canonical: str) -> str:
    key = current_app.config["AUDIT_KEY"].encode()
    return hmac.new(key, (prev_hash + canonical).encode(), hashlib.sha256).hexdigest()


def _check_summary(summary: dict) -> str:
    for key, value in summary.items():
        if isinstance(value, str) and (len(value) > 200 or _NHS_NUMBER_LIKE.search(value)):
            raise ValueError(f"audit summary field {key!r} looks like free text or an identifier; store ids only")
    return json.dumps(summary, sort_keys=True, separators=(",", ":"), default=str)


def _lock_chain() -> None:
    # Two transactions appending at once would both chain onto the same row. PostgreSQL: a transaction-scoped
    # advisory lock queues them. SQLite: one writer at a time holds the write lock (core.db); a read request that
    # records something takes it here, before reading the tail, so the tail it chains onto is the latest.
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(7346001)"))
    else:
        take_write_lock()


def record(action: str, *, actor=None, entity=None, entity_type: str | None = None, entity_id=None,
           team_id: int | None = None, outcome: str = "success", summary: dict | None = None,
           at: datetime | None = None, request_id: str | None = None) -> AuditEntry:
    """Append one entry to the hash chain. ``at`` and ``request_id`` exist for seeding demo history (the entry is
    still chained after the tail); production code leaves them to the clock and the current request."""
    if entity is not None:
        entity_type = entity_type or type(entity).__tablename__.rstrip("s")
        entity_id = entity_id if entity_id is not None else getattr(entity, "id", None)
        if team_id is None:
            team_id = getattr(entity, "team_id", None)
    _lock_chain()
    last = db.session.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    actor_id = getattr(actor, "id", None) if actor is not None and not getattr(actor, "is_anonymous", False) else None
    entry = AuditEntry(
        id=(last.id + 1) if last else 1,
        at=at or now_utc(),
        actor_id=actor_id,
        actor_label=getattr(actor, "display_name", None) if actor_id else None,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id) if entity_id is not None else None,
        team_id=team_id,
        request_id=request_id or (g.get("request_id") if has_request_context() else None),
        outcome=outcome,
        summary_json=_check_summary(summary or {}),
        prev_hash=last.hash if last else GENESIS,
    )
    entry.hash = _mac(entry.prev_hash, entry.canonical())
    db.session.add(entry)
    db.session.flush()
    return entry


def _record_alone(action: str, **kwargs) -> None:
    """Record in a transaction of its own, after the refused change was rolled back."""
    try:
        record(action, **kwargs)
        db.session.commit()
    except Exception:  # never let auditing a refusal turn a 403 or a 422 into a 500
        db.session.rollback()
        current_app.logger.exception("could not audit a refused request")


def record_refusal(detail: str | None = None) -> None:
    """Audit a refused access attempt in its own transaction (the refused change itself was rolled back)."""

    _record_alone("access.denied", actor=current_user if current_user and current_user.is_authenticated else None,
                  outcome="denied", summary={"endpoint": request.endpoint or "", "method": request.method})


_HELD = "audit_held_refusals"


def hold_refusal(action: str, **kwargs) -> None:
    """An entry about a change a rule refused, kept whatever becomes of the transaction it was refused in (the
    refusal usually rolls it back). It is written at that session's next commit, or at the end of the web request in
    a transaction of its own (:func:`write_held`). Keyword arguments as :func:`record`: ids and codes only."""
    actor, entity = kwargs.pop("actor", None), kwargs.pop("entity", None)
    if actor is not None and not getattr(actor, "is_anonymous", False):  # plain values: the rollback expires rows
        kwargs["actor"] = SimpleNamespace(id=actor.id, display_name=actor.display_name, is_anonymous=False)
    if entity is not None:
        kwargs.setdefault("entity_type", type(entity).__tablename__.rstrip("s"))
        kwargs.setdefault("entity_id", getattr(entity, "id", None))
        kwargs.setdefault("team_id", getattr(entity, "team_id", None))
    db.session.info.setdefault(_HELD, []).append((action, kwargs))


@event.listens_for(Session, "before_commit")
def _write_held_with_commit(session):
    if session.in_nested_transaction() or not session.info.get(_HELD):
        return
    for action, kwargs in session.info.pop(_HELD):
        record(action, **kwargs)


def write_held(response=None):
    """``after_request``: refusals held in a request that committed nothing afterwards, in their own transaction."""
    if db.session.info.get(_HELD):
        try:
            db.session.commit()  # writes them (before_commit): the refused change is gone (rolled back) by now
        except Exception:  # never let auditing a refusal turn a 403 or a 422 into a 500
            db.session.rollback()
            db.session.info.pop(_HELD, None)
            current_app.logger.exception("could not audit a refused change")
    return response


def record_carried(exc) -> None:
    """Keep the audit entry a refusal carries (``DomainError.audit``), once its transaction has been rolled back."""
    if getattr(exc, "audit", None):
        _record_alone(**exc.audit)


@dataclass
class Verification:
    ok: bool
    count: int
    bad_id: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"chain intact, {self.count} entries"
        return f"chain broken at entry {self.bad_id}: {self.reason}" if self.bad_id else f"chain broken: {self.reason}"


def verify(anchor: str | None = None) -> Verification:
    expected_prev, expected_id, count, anchor_seen = GENESIS, 1, 0, anchor is None
    for row in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=1000)):
        if row.id != expected_id:
            return Verification(False, count, row.id, f"entries {expected_id}..{row.id - 1} are missing (deleted)")
        if row.prev_hash != expected_prev:
            return Verification(False, count, row.id, "it does not follow the entry before it (deleted or reordered)")
        if not hmac.compare_digest(row.hash, _mac(row.prev_hash, row.canonical())):
            return Verification(False, count, row.id, "its contents were altered")
        anchor_seen = anchor_seen or row.hash == anchor
        expected_prev, expected_id, count = row.hash, expected_id + 1, count + 1
    if not anchor_seen:
        return Verification(False, count, None,
                            "the anchor hash is not in the chain (entries were removed from the end)")
    return Verification(True, count)


def head() -> AuditEntry | None:
    return db.session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
