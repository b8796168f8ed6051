"""Request data: leave entitlement settings (trust-wide and per person), leave-year adjustments (carry-over), leave
requests, each team's "at most N off" rule, request windows, rota requests, and standing preferences / flexible-working
agreements.

Durations are whole **minutes** (no floating point in balances). Days are local calendar dates of the team.
A rota builder reads: ``RequestWindow`` (the period and its limit), ``RotaRequest`` (person, day, shift type or the
whole day, wanted or not, priority 1 = most important) and ``StaffPreference`` (person, kind, shift type / weekday;
``agreement`` True = a flexible-working agreement, a hard constraint; False = a soft preference).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import Team, User
from core.db import UTCDateTime, db, now_utc, str_enum
from rota.models import Leave, RotaPeriod, ShiftType


class TrustLeaveSettings(db.Model):
    """The trust's leave rules: one row (id 1); absent means the NHS Agenda for Change defaults."""

    __tablename__ = "trust_leave_settings"
    __table_args__ = (
        CheckConstraint("year_start_month >= 1 AND year_start_month <= 12", name="month_range"),
        CheckConstraint("year_start_day >= 1 AND year_start_day <= 28", name="day_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    year_start_month: Mapped[int] = mapped_column(Integer, nullable=False, default=4)
    year_start_day: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    day_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=450)  # a full-time day: 7.5 h
    days_under_5: Mapped[int] = mapped_column(Integer, nullable=False, default=27)
    days_5_to_10: Mapped[int] = mapped_column(Integer, nullable=False, default=29)
    days_over_10: Mapped[int] = mapped_column(Integer, nullable=False, default=33)
    bank_holidays: Mapped[int] = mapped_column(Integer, nullable=False, default=8)
    max_carry_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=2250)  # 5 full-time days
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc, onupdate=now_utc)


class StaffLeaveProfile(db.Model):
    """What a person's entitlement depends on: NHS service start (length of service), FTE, and optionally their
    own number of days (a contract that differs from the trust's table)."""

    __tablename__ = "staff_leave_profiles"
    __table_args__ = (CheckConstraint("fte_thousandths >= 1 AND fte_thousandths <= 1000", name="fte_range"),
                      CheckConstraint("days_override IS NULL OR (days_override >= 0 AND days_override <= 60)",
                                      name="days_range"))

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    service_start: Mapped[date | None] = mapped_column(Date, nullable=True)  # continuous NHS service from
    fte_thousandths: Mapped[int] = mapped_column(Integer, nullable=False, default=1000)  # 0.6 FTE = 600
    days_override: Mapped[int | None] = mapped_column(Integer, nullable=True)  # annual days before bank holidays
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc, onupdate=now_utc)

    user: Mapped[User] = relationship()


class LeaveAdjustment(db.Model):
    """Hours added to (or taken from) one leave year of a person: carry-over from the year before, or a correction."""

    __tablename__ = "leave_adjustments"
    __table_args__ = (UniqueConstraint("user_id", "leave_year", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    leave_year: Mapped[int] = mapped_column(Integer, nullable=False)  # the calendar year the leave year starts in
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # "carry_over" | "correction"
    minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)


class RequestState(enum.Enum):
    pending = "pending"
    approved = "approved"
    refused = "refused"
    cancelled = "cancelled"


class LeaveRequest(db.Model):
    __tablename__ = "leave_requests"
    __table_args__ = (CheckConstraint("last_day >= first_day", name="days_in_order"),
                      CheckConstraint("minutes >= 0", name="minutes_positive"),
                      Index("ix_leave_requests_team_state", "team_id", "state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="annual")  # a LeaveKind value, not sickness
    first_day: Mapped[date] = mapped_column(Date, nullable=False)
    last_day: Mapped[date] = mapped_column(Date, nullable=False)
    minutes: Mapped[int] = mapped_column(Integer, nullable=False)  # taken from the balance (annual leave only)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    state: Mapped[RequestState] = mapped_column(str_enum(RequestState, "request_state"), nullable=False,
                                                default=RequestState.pending)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    leave_id: Mapped[int | None] = mapped_column(ForeignKey("leave.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    team: Mapped[Team] = relationship()
    leave: Mapped[Leave | None] = relationship()

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


class TeamLeaveRules(db.Model):
    """A team's "at most N off on any day" rule (approved leave of any kind counts)."""

    __tablename__ = "team_leave_rules"
    __table_args__ = (CheckConstraint("max_off IS NULL OR (max_off >= 0 AND max_off <= 500)", name="max_off_range"),)

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    max_off: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc, onupdate=now_utc)


class RequestWindow(db.Model):
    """Staff may ask for shifts / days off in ``period`` from ``opens_on`` to ``closes_on`` (local days)."""

    __tablename__ = "request_windows"
    __table_args__ = (CheckConstraint("closes_on >= opens_on", name="days_in_order"),
                      CheckConstraint("max_per_person >= 1 AND max_per_person <= 50", name="limit_range"),
                      UniqueConstraint("period_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("rota_periods.id", ondelete="CASCADE"), nullable=False)
    opens_on: Mapped[date] = mapped_column(Date, nullable=False)
    closes_on: Mapped[date] = mapped_column(Date, nullable=False)
    max_per_person: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    team: Mapped[Team] = relationship()
    period: Mapped[RotaPeriod] = relationship()


class RotaRequestKind(enum.Enum):
    want = "want"  # "I'd like to work this shift"
    avoid = "avoid"  # "Please not this shift / not this day"


class RotaRequest(db.Model):
    __tablename__ = "rota_requests"
    __table_args__ = (CheckConstraint("priority >= 1 AND priority <= 3", name="priority_range"),
                      UniqueConstraint("window_id", "user_id", "day", "kind", "shift_type_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("request_windows.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    kind: Mapped[RotaRequestKind] = mapped_column(str_enum(RotaRequestKind, "rota_request_kind"), nullable=False)
    shift_type_id: Mapped[int | None] = mapped_column(ForeignKey("shift_types.id", ondelete="CASCADE"),
                                                      nullable=True)  # None with "avoid": the whole day off
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=2)  # 1 most important .. 3 least
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    window: Mapped[RequestWindow] = relationship()
    user: Mapped[User] = relationship()
    shift_type: Mapped[ShiftType | None] = relationship()


class PreferenceKind(enum.Enum):
    prefers_shift = "prefers_shift"  # e.g. prefers Lates
    avoids_shift = "avoids_shift"
    fixed_day_off = "fixed_day_off"  # weekday
    no_nights = "no_nights"


class StaffPreference(db.Model):
    """A standing preference (soft) or a flexible-working agreement (``agreement``: hard), recorded by a coordinator."""

    __tablename__ = "staff_preferences"
    __table_args__ = (CheckConstraint("weekday IS NULL OR (weekday >= 0 AND weekday <= 6)", name="weekday_range"),
                      Index("ix_staff_preferences_team_user", "team_id", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[PreferenceKind] = mapped_column(str_enum(PreferenceKind, "preference_kind"), nullable=False)
    shift_type_id: Mapped[int | None] = mapped_column(ForeignKey("shift_types.id", ondelete="CASCADE"),
                                                      nullable=True)
    weekday: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 0 = Monday
    agreement: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    shift_type: Mapped[ShiftType | None] = relationship()
