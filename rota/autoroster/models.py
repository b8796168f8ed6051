"""Auto-roster jobs: one row per run of the solver for a rota period (``docs/auto-roster.md``, "Jobs").

A job is queued by the page or the API, claimed by an auto-roster worker (``flask autoroster worker``), which writes
its progress (solutions found, best objective, places filled, elapsed, a heartbeat) while the solver searches, and
finishes ``done`` (with the report in ``result``), ``failed`` (``error``) or ``cancelled`` (a cancelled run still
saves and reports what it had found). At most one job per period is queued or running (a partial unique index).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import User
from core.db import UTCDateTime, db, now_utc, str_enum
from rota.models import RotaPeriod


class JobState(enum.Enum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


ACTIVE = (JobState.queued, JobState.running)


class AutoRosterJob(db.Model):
    __tablename__ = "autoroster_jobs"
    __table_args__ = (
        CheckConstraint("time_limit >= 1 AND time_limit <= 120", name="time_limit_range"),
        # one queued or running job per period: a second start loses the race here and answers 409
        Index("uq_autoroster_jobs_active_period", "period_id", unique=True,
              postgresql_where=text("state IN ('queued', 'running')"),
              sqlite_where=text("state IN ('queued', 'running')")),
        Index("ix_autoroster_jobs_state_created", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("rota_periods.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    seed: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    time_limit: Mapped[float] = mapped_column(Float, nullable=False, default=30.0)
    state: Mapped[JobState] = mapped_column(str_enum(JobState, "autoroster_job_state"), nullable=False,
                                            default=JobState.queued)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    runner: Mapped[str | None] = mapped_column(String(80), nullable=True)  # the worker that claimed it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # progress, written by the runner at most about once a second
    solutions: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    best_objective: Mapped[float | None] = mapped_column(Float, nullable=True)
    places: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # requirement places in the period
    filled: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # of them, filled by the best draft
    elapsed_seconds: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # the report (api.AutoRosterSchema's fields)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    period: Mapped[RotaPeriod] = relationship()
    requested_by: Mapped[User | None] = relationship()

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def gaps_left(self) -> int:
        return max(self.places - self.filled, 0)
