"""Handover tables: a team's patient list, handover sessions, versioned SBAR / I-PASS entries and images.

One ``HandoverEntry`` row is one *version* of one patient's entry in one handover. Both shapes live in the same
row (SBAR: situation, background, assessment, recommendation; I-PASS: illness severity, patient summary = background,
action list, situation awareness = situation + contingency, synthesis by receiver). Once a version is accepted it
is frozen: the ORM refuses to flush a change to its clinical columns (see ``_refuse_changes_to_accepted``), and
an amendment becomes version n + 1.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core.accounts import Team, User
from core.db import UTCDateTime, db, now_utc, str_enum


class Severity(enum.Enum):
    stable = "stable"
    watcher = "watcher"
    unstable = "unstable"


class HandoverStyle(enum.Enum):
    sbar = "sbar"
    ipass = "ipass"


class HandoverState(enum.Enum):
    open = "open"  # the outgoing clinician is writing it
    ready = "ready"  # handed over: waiting for the incoming clinician to accept
    accepted = "accepted"  # every entry accepted


class HandoverSettings(db.Model):
    """Per-team choice of SBAR or I-PASS and how long a handover may wait for acceptance before coordinators hear."""

    __tablename__ = "handover_settings"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    style: Mapped[HandoverStyle] = mapped_column(str_enum(HandoverStyle, "handover_style"), nullable=False,
                                                 default=HandoverStyle.sbar)
    ack_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=60)

    def __repr__(self) -> str:
        return f"<HandoverSettings team={self.team_id} {self.style.value} ack={self.ack_minutes}m>"


class Patient(db.Model):
    __tablename__ = "handover_patients"
    __table_args__ = (
        CheckConstraint("nhs_number IS NOT NULL OR hospital_number IS NOT NULL OR purged_at IS NOT NULL",
                        name="has_identifier"),
        Index("ix_handover_patients_team_active", "team_id", "discharged_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True)
    nhs_number: Mapped[str | None] = mapped_column(String(10), nullable=True)  # 10 digits, check digit verified
    hospital_number: Mapped[str | None] = mapped_column(String(32), nullable=True)  # local MRN
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    date_of_birth: Mapped[date | None] = mapped_column(Date, nullable=True)
    location: Mapped[str] = mapped_column(String(60), nullable=False, default="")  # bed / bay / side room
    admitted_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    discharged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    team: Mapped[Team] = relationship()

    @property
    def nhs_number_display(self) -> str:
        n = self.nhs_number
        return f"{n[:3]} {n[3:6]} {n[6:]}" if n else ""

    @property
    def active(self) -> bool:
        return self.discharged_at is None

    def __repr__(self) -> str:  # no name or identifiers: reprs end up in logs
        return f"<Patient {self.id} team={self.team_id}>"


class Handover(db.Model):
    __tablename__ = "handovers"
    __table_args__ = (Index("ix_handovers_team_ready", "team_id", "ready_at"),)  # insights: a period's handovers

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True)
    label: Mapped[str] = mapped_column(String(80), nullable=False)  # "Night → Early"
    style: Mapped[HandoverStyle] = mapped_column(str_enum(HandoverStyle, "handover_style"), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # the shift change
    state: Mapped[HandoverState] = mapped_column(str_enum(HandoverState, "handover_state"), nullable=False,
                                                 default=HandoverState.open)
    outgoing_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    incoming_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=True)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("handovers.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=True)
    readback_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the acceptor had no shift on this team's rota overlapping the next 2 hours, and confirmed taking over anyway
    accepted_off_rota: Mapped[bool] = mapped_column(nullable=False, default=False)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # coordinators told: overdue

    team: Mapped[Team] = relationship()
    outgoing: Mapped[User] = relationship(foreign_keys=[outgoing_id])
    incoming: Mapped[User | None] = relationship(foreign_keys=[incoming_id])
    accepted_by: Mapped[User | None] = relationship(foreign_keys=[accepted_by_id])
    entries: Mapped[list[HandoverEntry]] = relationship(back_populates="handover", cascade="all, delete-orphan",
                                                        order_by="HandoverEntry.id")

    def __repr__(self) -> str:
        return f"<Handover {self.id} team={self.team_id} {self.state.value}>"


CLINICAL_COLUMNS = ("severity", "situation", "background", "assessment", "recommendation", "contingency",
                    "synthesis", "actions", "reviewed_at")


class HandoverEntry(db.Model):
    __tablename__ = "handover_entries"
    __table_args__ = (
        UniqueConstraint("handover_id", "patient_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    handover_id: Mapped[int] = mapped_column(ForeignKey("handovers.id", ondelete="CASCADE"), nullable=False,
                                             index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("handover_patients.id", ondelete="CASCADE"), nullable=False,
                                            index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    current: Mapped[bool] = mapped_column(nullable=False, default=True)
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("handover_entries.id", ondelete="SET NULL"),
                                                        nullable=True)
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, "handover_severity"), nullable=False,
                                               default=Severity.stable)
    situation: Mapped[str] = mapped_column(Text, nullable=False, default="")
    background: Mapped[str] = mapped_column(Text, nullable=False, default="")  # I-PASS "patient summary"
    assessment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    recommendation: Mapped[str] = mapped_column(Text, nullable=False, default="")
    contingency: Mapped[str] = mapped_column(Text, nullable=False, default="")
    synthesis: Mapped[str] = mapped_column(Text, nullable=False, default="")  # receiver's synthesis / read-back
    # [{"text", "owner", "due_at" (ISO UTC or null)}] — frozen with the rest once accepted
    actions: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    # {"<index>": {"done_at": ISO, "done_by_id": int, "done_by": name}} — ticking an action off is work being done,
    # not a change to what was handed over, so it stays writable after acceptance
    action_status: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # outgoing confirmed it
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    readback_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    accepted_off_rota: Mapped[bool] = mapped_column(nullable=False, default=False)
    # Optimistic lock on the row: an edit and an acceptance racing each other cannot both win (StaleDataError → 409)
    row_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    handover: Mapped[Handover] = relationship(back_populates="entries")
    patient: Mapped[Patient] = relationship()
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    accepted_by: Mapped[User | None] = relationship(foreign_keys=[accepted_by_id])

    __mapper_args__ = {"version_id_col": row_version}

    # set by services.save_entry on the version it returns: the version it replaced had been accepted (not stored)
    replaced_accepted = False

    @property
    def accepted(self) -> bool:
        return self.accepted_at is not None

    def __repr__(self) -> str:
        return f"<HandoverEntry {self.id} handover={self.handover_id} patient={self.patient_id} v{self.version}>"


class HandoverImage(db.Model):
    """A re-encoded, metadata-free photo. The file lives under HANDOVER_UPLOAD_DIR, named by a random key only."""

    __tablename__ = "handover_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    handover_id: Mapped[int] = mapped_column(ForeignKey("handovers.id", ondelete="CASCADE"), nullable=False,
                                             index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("handover_patients.id", ondelete="CASCADE"), nullable=False,
                                            index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    original_format: Mapped[str] = mapped_column(String(8), nullable=False)  # JPEG / PNG / HEIF
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    def __repr__(self) -> str:
        return f"<HandoverImage {self.id} handover={self.handover_id} patient={self.patient_id}>"


class ImmutableEntry(Exception):
    """Raised at flush when code tries to change an accepted entry version in place (a programming error)."""


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_accepted(session, flush_context, instances):
    for obj in session.dirty:
        if not isinstance(obj, HandoverEntry) or getattr(obj, "_purging", False):
            continue
        state = inspect(obj)
        history = state.attrs.accepted_at.history
        if history.has_changes():
            was_accepted = any(v is not None for v in history.deleted)
        else:
            was_accepted = obj.accepted_at is not None
        if not was_accepted:
            continue
        changed = [c for c in CLINICAL_COLUMNS if state.attrs[c].history.has_changes()]
        if changed or history.has_changes():
            raise ImmutableEntry(f"entry {obj.id} v{obj.version} was accepted and cannot be changed in place")
