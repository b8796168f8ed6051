"""Rota-management additions to the data model (kept apart from ``rota.models`` so that file stays shared).

``GapOpening`` remembers which staffing requirement an open shift was created for, so the gap it fills stops being
reported as a gap while the shift waits to be claimed (and starts counting as covered once someone claims it).
``TeamInvitation`` is a person's pending (or answered) invitation to join a team: membership needs their consent.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import Team, TeamRole, User
from core.db import UTCDateTime, db, now_utc, str_enum


class GapOpening(db.Model):
    __tablename__ = "rota_gap_openings"

    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"), primary_key=True)
    requirement_id: Mapped[int] = mapped_column(ForeignKey("staffing_requirements.id", ondelete="CASCADE"),
                                                nullable=False, index=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)  # the local day of the gap
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    def __repr__(self) -> str:
        return f"<GapOpening shift={self.shift_id} requirement={self.requirement_id} {self.day}>"


class InvitationState(enum.Enum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"
    withdrawn = "withdrawn"


class TeamInvitation(db.Model):
    """A coordinator's invitation for a person to join a team; the person joins only by accepting it.

    One row per team and person: inviting again after a decline or a withdrawal reopens the same row (so there is
    never more than one pending invitation to answer, even when two coordinators invite at the same moment)."""

    __tablename__ = "team_invitations"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    role: Mapped[TeamRole] = mapped_column(str_enum(TeamRole, "invitation_role"), nullable=False)
    state: Mapped[InvitationState] = mapped_column(str_enum(InvitationState, "invitation_state"), nullable=False,
                                                   default=InvitationState.pending)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    team: Mapped[Team] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    def __repr__(self) -> str:
        return f"<TeamInvitation {self.id} team={self.team_id} user={self.user_id} {self.state.value}>"
