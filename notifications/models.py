"""In-app notifications. (The outbox, SMS and broadcast models are added by the notifications issue.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

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
