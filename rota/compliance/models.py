"""Per-team and per-person working-time settings: severities, switched-off rules, local rules, the WTR opt-out.

Trust-wide defaults come from configuration (``COMPLIANCE_SEVERITIES``, ``COMPLIANCE_DISABLED_RULES``); a team's
row overrides them, and a person's row overrides the team (opt-out, rule sets, extra local rules).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.accounts import Team, User
from core.db import UTCDateTime, db, now_utc


class TeamComplianceSettings(db.Model):
    __tablename__ = "team_compliance_settings"
    __table_args__ = (
        CheckConstraint("rota_cycle_weeks IS NULL OR (rota_cycle_weeks >= 1 AND rota_cycle_weeks <= 52)",
                        name="cycle_range"),
        CheckConstraint("break_minutes IS NULL OR (break_minutes >= 0 AND break_minutes <= 240)",
                        name="break_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, unique=True)
    severities: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)  # {"WTR-rest11": "block"}
    disabled_rules: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    extra_rules: Mapped[list] = mapped_column(JSON, nullable=False, default=list)  # [{"id": "LOCAL-long3", ...}]
    # Rule sets for everyone in the team (None: by staff group — doctors in training TCS2016 + WTR, others WTR).
    rule_sets: Mapped[list | None] = mapped_column(JSON, nullable=True)
    weekly_rest_fortnightly: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rota_cycle_weeks: Mapped[int | None] = mapped_column(Integer, nullable=True)
    break_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)  # rostered break on shifts > 6 h
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc, onupdate=now_utc)

    team: Mapped[Team] = relationship()

    def __repr__(self) -> str:
        return f"<TeamComplianceSettings team={self.team_id}>"


class PersonComplianceSettings(db.Model):
    __tablename__ = "person_compliance_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True)
    wtr_opt_out: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rule_sets: Mapped[list | None] = mapped_column(JSON, nullable=True)  # e.g. ["WTR", "TCS2016v1"]
    extra_rules: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)  # never patient data
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc, onupdate=now_utc)

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<PersonComplianceSettings user={self.user_id} opt_out={self.wtr_opt_out}>"
