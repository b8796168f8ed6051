"""Rota-management additions to the data model (kept apart from ``rota.models`` so that file stays shared).

``GapOpening`` remembers which staffing requirement an open shift was created for, so the gap it fills stops being
reported as a gap while the shift waits to be claimed (and starts counting as covered once someone claims it).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, db, now_utc


class GapOpening(db.Model):
    __tablename__ = "rota_gap_openings"

    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"), primary_key=True)
    requirement_id: Mapped[int] = mapped_column(ForeignKey("staffing_requirements.id", ondelete="CASCADE"),
                                                nullable=False, index=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)  # the local day of the gap
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    def __repr__(self) -> str:
        return f"<GapOpening shift={self.shift_id} requirement={self.requirement_id} {self.day}>"
