"""Short-notice absence data: "I can't make this shift" reports and each team's choice of what happens next.

A report keeps only a reason *category* (sick, family, other): never clinical details. The leave or sickness
record it creates lives in ``leave`` like any other (so availability checks, feeds and the grid see it); this row
remembers which shift it was about, for the coordinator's home page and the audit trail.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import Team, User
from core.db import UTCDateTime, db, now_utc, str_enum
from rota.models import Leave, Shift


class AbsenceReason(enum.Enum):
    sick = "sick"
    family = "family"
    other = "other"


class AbsenceHandling(enum.Enum):
    open_shift = "open_shift"  # the shift becomes an open shift at once: anyone eligible may take it
    coordinator = "coordinator"  # the shift is left with the coordinator, who decides (asks for cover, assigns)


class ShiftAbsence(db.Model):
    __tablename__ = "shift_absences"
    __table_args__ = (UniqueConstraint("shift_id", "user_id"), Index("ix_shift_absences_team_reported",
                                                                       "team_id", "reported_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False)
    reason: Mapped[AbsenceReason] = mapped_column(str_enum(AbsenceReason, "absence_reason"), nullable=False)
    handling: Mapped[AbsenceHandling] = mapped_column(str_enum(AbsenceHandling, "absence_handling"), nullable=False)
    leave_id: Mapped[int | None] = mapped_column(ForeignKey("leave.id", ondelete="SET NULL"), nullable=True)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    # When a shift left with the coordinator is released for cover (asked for, or given to someone).
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    shift: Mapped[Shift] = relationship()
    user: Mapped[User] = relationship()
    leave: Mapped[Leave | None] = relationship()

    def __repr__(self) -> str:
        return f"<ShiftAbsence shift={self.shift_id} user={self.user_id} {self.reason.value}>"


class TeamAbsenceSettings(db.Model):
    __tablename__ = "team_absence_settings"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    handling: Mapped[AbsenceHandling] = mapped_column(str_enum(AbsenceHandling, "absence_handling"), nullable=False,
                                                      default=AbsenceHandling.open_shift)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc, onupdate=now_utc)

    team: Mapped[Team] = relationship()


def held_shift_ids():
    """Ids of open shifts left with the coordinator (not claimable, not on the board), as a subquery."""
    return select(ShiftAbsence.shift_id).where(ShiftAbsence.handling == AbsenceHandling.coordinator,
                                               ShiftAbsence.released_at.is_(None))
