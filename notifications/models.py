"""In-app notifications, the outbox (SMS), preferences and consent, broadcasts and escalation."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import limits
from core.db import UTCDateTime, db, now_utc


class Notification(db.Model):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    team_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(48), nullable=False)  # e.g. "swap.accepted", "rota.published"
    text: Mapped[str] = mapped_column(String(320), nullable=False)  # never patient-identifiable
    link: Mapped[str | None] = mapped_column(String(300), nullable=True)  # path inside the app, e.g. /swaps/12
    idempotency_key: Mapped[str | None] = mapped_column(String(120), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<Notification {self.id} user={self.user_id} {self.kind}>"


# ----------------------------------------------------------------------------------------------------- outbox


class OutboxState(enum.Enum):
    pending = "pending"  # waiting for a worker (or for next_attempt_at: retry backoff, quiet hours)
    sending = "sending"  # claimed by a worker until locked_until; a dead worker's rows come back after the lease
    sent = "sent"  # the provider accepted it (provider_id set)
    delivered = "delivered"
    failed = "failed"  # permanent error, or retries exhausted (error_code says which)
    undeliverable = "undeliverable"  # the carrier could not deliver (status callback "undelivered")
    superseded = "superseded"  # an SMS safety net not needed: the push was opened (or answered) in time


# Delivery states only move forward: a late or repeated callback never moves a message backwards.
STATE_RANK = {OutboxState.pending: 0, OutboxState.sending: 1, OutboxState.sent: 2, OutboxState.delivered: 3,
              OutboxState.failed: 3, OutboxState.undeliverable: 3, OutboxState.superseded: 3}


class OutboxMessage(db.Model):
    """One message for one person on one channel, written in the caller's transaction and sent after commit."""

    __tablename__ = "notification_outbox"
    __table_args__ = (Index("ix_notification_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False, default="sms")
    kind: Mapped[str] = mapped_column(String(48), nullable=False)
    text: Mapped[str] = mapped_column(String(320), nullable=False)  # never patient-identifiable
    link: Mapped[str | None] = mapped_column(String(300), nullable=True)
    suffix: Mapped[str | None] = mapped_column(String(40), nullable=True)  # e.g. "Reply YES 4821"
    to_number: Mapped[str | None] = mapped_column(String(20), nullable=True)  # E.164, taken when queued
    idempotency_key: Mapped[str | None] = mapped_column(String(120), nullable=True, unique=True)
    urgent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    team_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="SET NULL"), nullable=True, index=True)
    state: Mapped[OutboxState] = mapped_column(
        Enum(OutboxState, name="outbox_state", native_enum=False, length=16), nullable=False,
        default=OutboxState.pending)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    locked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    provider_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_message: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    # Push (notifications/push.py): the push this SMS is the safety net for; when the device showed / opened it.
    fallback_of_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.channel} user={self.user_id} {self.state.value}>"


# ------------------------------------------------------------------------------------------ preferences, consent


class NotificationPreference(db.Model):
    """A person's choices. Absent row = defaults (SMS on, quiet 22:00-07:00, cap from config)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    sms_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    quiet_start: Mapped[str] = mapped_column(String(5), nullable=False, default=limits.QUIET_START_DEFAULT)
    quiet_end: Mapped[str] = mapped_column(String(5), nullable=False, default=limits.QUIET_END_DEFAULT)
    daily_sms_cap: Mapped[int] = mapped_column(Integer, nullable=False, default=10)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    def __repr__(self) -> str:
        return f"<NotificationPreference user={self.user_id} sms={self.sms_enabled}>"


class SmsOptOut(db.Model):
    """A number that texted STOP (or that Twilio reported as opted out, 21610). START removes it."""

    __tablename__ = "sms_opt_outs"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # "STOP" | "21610"
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    def __repr__(self) -> str:
        return f"<SmsOptOut user={self.user_id} {self.source}>"


# ------------------------------------------------------------------------------------------------ broadcasts


class Broadcast(db.Model):
    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_team_created", "team_id", "created_at"),)  # insights: a period's

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="message")  # message | open_shift
    audience: Mapped[str] = mapped_column(String(48), nullable=False)
    audience_params: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    text: Mapped[str] = mapped_column(String(320), nullable=False)
    link: Mapped[str | None] = mapped_column(String(300), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)  # e.g. "shift:12"
    channels: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    requires_ack: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    urgent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="open")  # open | claimed | closed
    escalation_step: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    recipients: Mapped[list[BroadcastRecipient]] = relationship(back_populates="broadcast",
                                                                cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<Broadcast {self.id} team={self.team_id} {self.audience} {self.state}>"


class BroadcastRecipient(db.Model):
    __tablename__ = "broadcast_recipients"
    __table_args__ = (UniqueConstraint("broadcast_id", "user_id"), Index("ix_broadcast_recipients_code", "user_id",
                                                                        "code"))

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    code: Mapped[str] = mapped_column(String(8), nullable=False)  # per-recipient reply code ("YES 4821")
    step: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # escalation step that added them
    notification_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outbox_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sms_skipped: Mapped[str | None] = mapped_column(String(32), nullable=True)  # why no SMS: opted out, cap, ...
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    muted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # "don't ask me again"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    broadcast: Mapped[Broadcast] = relationship(back_populates="recipients")

    def __repr__(self) -> str:
        return f"<BroadcastRecipient broadcast={self.broadcast_id} user={self.user_id}>"


class BroadcastMute(db.Model):
    """ "Don't ask me again for this shift": no further broadcasts with this reference reach this person."""

    __tablename__ = "broadcast_mutes"
    __table_args__ = (UniqueConstraint("user_id", "reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    reference: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    def __repr__(self) -> str:
        return f"<BroadcastMute user={self.user_id} {self.reference}>"


class EscalationPolicy(db.Model):
    """A team's ladder: ``steps`` = [{"after_minutes": 30, "audience": "staff_bank", "params": {}}, ...].

    The special audience ``coordinators`` tells the team's coordinators that nobody has answered.
    """

    __tablename__ = "escalation_policies"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    steps: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    def __repr__(self) -> str:
        return f"<EscalationPolicy team={self.team_id} steps={len(self.steps)}>"


class EscalationStep(db.Model):
    """A step of the ladder that was taken for one broadcast (who was added, when)."""

    __tablename__ = "broadcast_escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), nullable=False,
                                              index=True)
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    audience: Mapped[str] = mapped_column(String(48), nullable=False)
    added: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    def __repr__(self) -> str:
        return f"<EscalationStep broadcast={self.broadcast_id} step={self.step} {self.audience}>"


# ------------------------------------------------------------------------------------------ worker, webhooks


class WorkerHeartbeat(db.Model):
    """A worker process says it is alive (written every ``NOTIFICATIONS_HEARTBEAT_SECONDS`` while it runs); /healthz
    reads the newest. Rows of workers gone for a week are pruned by the worker."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc, index=True)

    def __repr__(self) -> str:
        return f"<WorkerHeartbeat {self.worker_id} {self.beat_at:%H:%M:%S}>"


class WebhookReceipt(db.Model):
    """A signed Twilio request that was applied, by digest of its URL and parameters (what the signature covers),
    written in the same transaction as its effect: the same request again is a replay and changes nothing."""

    __tablename__ = "webhook_receipts"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc, index=True)

    def __repr__(self) -> str:
        return f"<WebhookReceipt {self.digest[:12]}>"


# ------------------------------------------------------------------------------------------------- web push


class PushSubscription(db.Model):
    """One browser (a phone's home-screen app, a work PC) that receives Web Push for one person.

    Deleted when the push service answers 404/410, when that browser signs out (``session_id``), and when the person
    changes their password or is deactivated."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), nullable=False, unique=True)
    p256dh: Mapped[str] = mapped_column(String(120), nullable=False)  # the browser's public key (base64url)
    auth: Mapped[str] = mapped_column(String(40), nullable=False)  # the browser's auth secret (base64url)
    name: Mapped[str] = mapped_column(String(60), nullable=False)  # "This phone", "Work PC"
    user_agent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("user_sessions.id", ondelete="SET NULL"), nullable=True,
                                                   index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # last push it accepted

    def __repr__(self) -> str:
        return f"<PushSubscription {self.id} user={self.user_id} {self.name!r}>"


class PushPolicy(db.Model):
    """A team's push-first rule: an SMS goes only if the push was not opened within ``sms_after_minutes``
    (urgent messages: ``urgent_sms_after_minutes``), or at once when the person has no push device."""

    __tablename__ = "push_policies"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    sms_after_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=15)
    urgent_sms_after_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=5)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    def __repr__(self) -> str:
        return f"<PushPolicy team={self.team_id} {self.sms_after_minutes}m>"
