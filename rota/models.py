"""Rota data model: shift types, rota periods, shifts, releases (who held a shift before), leave, requirements, gap
openings (which requirement an open shift was created for, so its gap stops being reported while the shift waits to
be claimed) and team invitations (membership needs the person's consent).

Times are UTC instants (``core.db.UTCDateTime``); a shift type's start is a *local* wall-clock time in the team's
zone. Invariants the database can hold, it holds: end after start, one person never on two overlapping shifts
(PostgreSQL: a GiST exclusion constraint; SQLite: triggers, see the migration), unique codes per team.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import limits
from core.accounts import Team, TeamRole, User
from core.db import UTCDateTime, db, now_utc, str_enum


class ShiftKind(enum.Enum):
    day = "day"
    night = "night"
    on_call = "on_call"


class ShiftType(db.Model):
    __tablename__ = "shift_types"
    __table_args__ = (
        UniqueConstraint("team_id", "code"),
        CheckConstraint(f"duration_minutes > 0 AND duration_minutes <= {limits.MAX_SHIFT_MINUTES}",
                        name="duration_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True)
    code: Mapped[str] = mapped_column(String(8), nullable=False)  # E, L, LD, N, OC …
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    start_local: Mapped[time] = mapped_column(Time, nullable=False)  # wall-clock time in the team's zone
    duration_minutes: Mapped[int] = mapped_column(Integer, nullable=False)  # nominal, for a day with no clock change
    kind: Mapped[ShiftKind] = mapped_column(str_enum(ShiftKind, "shift_kind"), nullable=False, default=ShiftKind.day)
    colour: Mapped[str] = mapped_column(String(7), nullable=False, default="#005eb8")
    active: Mapped[bool] = mapped_column(nullable=False, default=True)

    team: Mapped[Team] = relationship()

    def __repr__(self) -> str:
        return f"<ShiftType {self.id} {self.code} team={self.team_id}>"


class PeriodState(enum.Enum):
    draft = "draft"
    published = "published"


class RotaPeriod(db.Model):
    __tablename__ = "rota_periods"
    __table_args__ = (CheckConstraint("last_day >= first_day", name="days_in_order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True)
    first_day: Mapped[date] = mapped_column(Date, nullable=False)
    last_day: Mapped[date] = mapped_column(Date, nullable=False)
    state: Mapped[PeriodState] = mapped_column(str_enum(PeriodState, "period_state"), nullable=False,
                                               default=PeriodState.draft)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    team: Mapped[Team] = relationship()

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<RotaPeriod {self.id} team={self.team_id} {self.first_day}..{self.last_day} {self.state.value}>"


class ShiftState(enum.Enum):
    scheduled = "scheduled"  # has an assignee
    open = "open"  # a gap anyone eligible may claim
    cancelled = "cancelled"


class Shift(db.Model):
    __tablename__ = "shifts"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("(state = 'scheduled') = (assignee_id IS NOT NULL) OR state = 'cancelled'",
                        name="assignee_matches_state"),
        Index("ix_shifts_team_starts", "team_id", "starts_at"),
        # covers the team feed's validator (count, latest change, id sum of a team's shifts in a window): 304s read
        # only this index
        Index("ix_shifts_team_window", "team_id", "starts_at", "ends_at", "updated_at", "rota_period_id"),
        Index("ix_shifts_assignee_starts", "assignee_id", "starts_at"),
        # open-shift lists: a team's gaps without reading its scheduled shifts (the statement names the state as a
        # literal, so that a prepared statement's generic plan can use the index too)
        Index("ix_shifts_open_team_starts", "team_id", "starts_at", postgresql_where=text("state = 'open'"),
              sqlite_where=text("state = 'open'")),
        # One person, one place at a time. Half-open ranges let back-to-back shifts touch. Needs btree_gist.
        ExcludeConstraint(
            (text("assignee_id"), "="),
            (func.tstzrange(text("starts_at"), text("ends_at"), text("'[)'")), "&&"),
            name="no_overlap_per_person",
            using="gist",
            where=text("assignee_id IS NOT NULL AND state <> 'cancelled'"),
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False)
    shift_type_id: Mapped[int | None] = mapped_column(ForeignKey("shift_types.id", ondelete="SET NULL"), nullable=True)
    rota_period_id: Mapped[int | None] = mapped_column(ForeignKey("rota_periods.id", ondelete="SET NULL"),
                                                      nullable=True, index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    state: Mapped[ShiftState] = mapped_column(str_enum(ShiftState, "shift_state"), nullable=False,
                                              default=ShiftState.open)
    required_grade: Mapped[str | None] = mapped_column(String(32), nullable=True)  # minimum grade, e.g. "Band 5"
    required_skills: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    cancel_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)  # never patient data
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc, onupdate=now_utc)
    # Bumped by every UPDATE (optimistic locking: a stale write raises StaleDataError -> 409); also iCal SEQUENCE.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    team: Mapped[Team] = relationship()
    shift_type: Mapped[ShiftType | None] = relationship()
    assignee: Mapped[User | None] = relationship()
    rota_period: Mapped[RotaPeriod | None] = relationship()

    __mapper_args__ = {"version_id_col": version}

    @property
    def duration(self):
        return self.ends_at - self.starts_at

    def __repr__(self) -> str:
        return f"<Shift {self.id} team={self.team_id} {self.starts_at:%Y-%m-%d %H:%M}Z {self.state.value}>"


class ReleaseKind(enum.Enum):
    swapped = "swapped"
    given_away = "given_away"
    unassigned = "unassigned"
    cancelled = "cancelled"
    leave = "leave"


class ShiftRelease(db.Model):
    """A person stopped holding a shift. Calendar feeds keep it as CANCELLED for 14 days; audit keeps it forever."""

    __tablename__ = "shift_releases"

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"), nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[ReleaseKind] = mapped_column(str_enum(ReleaseKind, "release_kind"), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)  # e.g. "Swapped to Sam Patel"
    released_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    shift: Mapped[Shift] = relationship()

    def __repr__(self) -> str:
        return f"<ShiftRelease shift={self.shift_id} user={self.user_id} {self.kind.value}>"


class LeaveKind(enum.Enum):
    annual = "annual"
    study = "study"
    sickness = "sickness"
    other = "other"


class Leave(db.Model):
    __tablename__ = "leave"
    __table_args__ = (CheckConstraint("last_day >= first_day", name="days_in_order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=True)
    kind: Mapped[LeaveKind] = mapped_column(str_enum(LeaveKind, "leave_kind"), nullable=False)
    first_day: Mapped[date] = mapped_column(Date, nullable=False)  # local dates, inclusive
    last_day: Mapped[date] = mapped_column(Date, nullable=False)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    def __repr__(self) -> str:
        return f"<Leave {self.id} user={self.user_id} {self.kind.value} {self.first_day}..{self.last_day}>"


class StaffingRequirement(db.Model):
    """Minimum staffing for a team's shift type: e.g. Night -> 3 nursing, of whom 1 Band 6+; 2 support.

    One row per clause; ``weekday`` None means every day (0 = Monday, as ``date.weekday()``).
    """

    __tablename__ = "staffing_requirements"
    __table_args__ = (
        CheckConstraint("min_count >= 1 AND min_count <= 100", name="count_range"),
        CheckConstraint("weekday IS NULL OR (weekday >= 0 AND weekday <= 6)", name="weekday_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True)
    shift_type_id: Mapped[int] = mapped_column(ForeignKey("shift_types.id", ondelete="CASCADE"), nullable=False)
    weekday: Mapped[int | None] = mapped_column(Integer, nullable=True)
    staff_group: Mapped[str | None] = mapped_column(String(16), nullable=True)
    min_grade: Mapped[str | None] = mapped_column(String(32), nullable=True)
    skill: Mapped[str | None] = mapped_column(String(64), nullable=True)
    min_count: Mapped[int] = mapped_column(Integer, nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)

    shift_type: Mapped[ShiftType] = relationship()

    def __repr__(self) -> str:
        return f"<StaffingRequirement {self.id} type={self.shift_type_id} ≥{self.min_count}>"


class ShiftInCharge(db.Model):
    """Who is the nurse in charge of a team's shift slot: the team's shifts starting at ``starts_at`` (a coordinator
    marks one of the people rostered on it; one per team per start time). ``@in-charge`` in the channels reaches
    this person while they are on that shift."""

    __tablename__ = "shift_in_charge"
    __table_args__ = (UniqueConstraint("team_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)


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
