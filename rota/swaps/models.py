"""Swap, give-away and open-shift data: requests, their recipients, shift locks, volunteers, team swap settings.

Invariants the database holds: one pending request per shift (``swap_shift_locks`` has the shift as its primary
key and a row exists only while a request that involves the shift is pending), one recipient row per person per
request, one volunteer row per person per open shift. Request rows carry a ``version`` so state transitions are
conditional updates (``UPDATE … WHERE state = :expected``): when two people race, exactly one wins.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import limits
from core.accounts import Team, User
from core.db import UTCDateTime, db, now_utc
from rota.models import Shift


def _enum(cls, name: str):
    return Enum(cls, name=name, native_enum=False, length=24, validate_strings=True)


class SwapKind(enum.Enum):
    swap = "swap"  # A and B exchange shifts
    offer = "offer"  # A gives a shift away (to one, several, or everyone eligible)


class SwapState(enum.Enum):
    proposed = "proposed"  # waiting for the colleague(s) to accept
    awaiting_approval = "awaiting_approval"  # accepted; waiting for a coordinator
    approved = "approved"  # done: the rota changed
    declined = "declined"  # the colleague (or every colleague asked) said no
    refused = "refused"  # a coordinator said no
    cancelled = "cancelled"  # the requester withdrew it, or the rota changed underneath it
    expired = "expired"  # nobody acted before the shift started or the request timed out


PENDING_STATES = (SwapState.proposed, SwapState.awaiting_approval)


class ApprovalPolicy(enum.Enum):
    always = "always"  # a coordinator approves every swap and give-away
    auto_when_clean = "auto_when_clean"  # like-for-like, both eligible, no verdicts -> approved by the rule


class OpenShiftPolicy(enum.Enum):
    first_claim_wins = "first_claim_wins"
    coordinator_chooses = "coordinator_chooses"


class TeamSwapSettings(db.Model):
    __tablename__ = "team_swap_settings"
    __table_args__ = (
        CheckConstraint("cutoff_hours >= {} AND cutoff_hours <= {}".format(*limits.SWAP_CUTOFF_HOURS),
                        name="cutoff_range"),
        CheckConstraint("expiry_hours >= {} AND expiry_hours <= {}".format(*limits.SWAP_EXPIRY_HOURS),
                        name="expiry_range"),
    )

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    approval_policy: Mapped[ApprovalPolicy] = mapped_column(_enum(ApprovalPolicy, "approval_policy"), nullable=False,
                                                            default=ApprovalPolicy.always)
    open_shift_policy: Mapped[OpenShiftPolicy] = mapped_column(_enum(OpenShiftPolicy, "open_shift_policy"),
                                                               nullable=False,
                                                               default=OpenShiftPolicy.first_claim_wins)
    # No swap or give-away requested by staff within this many hours of the start (a coordinator can still assign).
    cutoff_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=limits.SWAP_CUTOFF_DEFAULT)
    # A request nobody acts on expires after this long (and always when its shift starts).
    expiry_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=limits.SWAP_EXPIRY_DEFAULT)
    # Members of these teams may also take this team's shifts (e.g. the trust's bank pool).
    pool_team_ids: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc, onupdate=now_utc)

    team: Mapped[Team] = relationship()

    def __repr__(self) -> str:
        return f"<TeamSwapSettings team={self.team_id} {self.approval_policy.value} {self.open_shift_policy.value}>"


class SwapRequest(db.Model):
    __tablename__ = "swap_requests"
    __table_args__ = (
        CheckConstraint("kind <> 'swap' OR counterpart_shift_id IS NOT NULL", name="swap_has_counterpart"),
        Index("ix_swap_requests_team_state", "team_id", "state"),
        Index("ix_swap_requests_requester_state", "requester_id", "state"),
        Index("ix_swap_requests_team_created", "team_id", "created_at"),  # insights: a period's requests
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[SwapKind] = mapped_column(_enum(SwapKind, "swap_kind"), nullable=False)
    state: Mapped[SwapState] = mapped_column(_enum(SwapState, "swap_state"), nullable=False,
                                             default=SwapState.proposed)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"), nullable=False, index=True)
    shift_version: Mapped[int] = mapped_column(Integer, nullable=False)  # the shift as it was when proposed
    counterpart_shift_id: Mapped[int | None] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"),
                                                             nullable=True, index=True)
    counterpart_shift_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_everyone: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    auto_approved: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)  # never patient data
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)  # why declined/refused/cancelled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # approved/refused/ended
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    team: Mapped[Team] = relationship()
    requester: Mapped[User] = relationship(foreign_keys=[requester_id])
    accepted_by: Mapped[User | None] = relationship(foreign_keys=[accepted_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    shift: Mapped[Shift] = relationship(foreign_keys=[shift_id])
    counterpart_shift: Mapped[Shift | None] = relationship(foreign_keys=[counterpart_shift_id])
    recipients: Mapped[list[SwapRecipient]] = relationship(back_populates="request", cascade="all, delete-orphan",
                                                           order_by="SwapRecipient.id")

    __mapper_args__ = {"version_id_col": version}

    @property
    def pending(self) -> bool:
        return self.state in PENDING_STATES

    def __repr__(self) -> str:
        return f"<SwapRequest {self.id} {self.kind.value} shift={self.shift_id} {self.state.value}>"


class RecipientState(enum.Enum):
    asked = "asked"
    accepted = "accepted"
    declined = "declined"


class SwapRecipient(db.Model):
    """A colleague a request was put to (the counterpart of a swap, or each person an offer went to)."""

    __tablename__ = "swap_recipients"
    __table_args__ = (UniqueConstraint("request_id", "user_id"), Index("ix_swap_recipients_user", "user_id", "state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("swap_requests.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    state: Mapped[RecipientState] = mapped_column(_enum(RecipientState, "recipient_state"), nullable=False,
                                                  default=RecipientState.asked)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    request: Mapped[SwapRequest] = relationship(back_populates="recipients")
    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<SwapRecipient request={self.request_id} user={self.user_id} {self.state.value}>"


class SwapShiftLock(db.Model):
    """Exists while a pending request involves the shift: the primary key makes "one pending request per shift" a
    database invariant, so two people proposing at once cannot both succeed."""

    __tablename__ = "swap_shift_locks"

    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"), primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("swap_requests.id", ondelete="CASCADE"), nullable=False,
                                            index=True)

    def __repr__(self) -> str:
        return f"<SwapShiftLock shift={self.shift_id} request={self.request_id}>"


class VolunteerState(enum.Enum):
    waiting = "waiting"
    chosen = "chosen"
    not_chosen = "not_chosen"
    withdrawn = "withdrawn"


class OpenShiftVolunteer(db.Model):
    """Someone said "I'll take it" for an open shift in a team where the coordinator chooses."""

    __tablename__ = "open_shift_volunteers"
    __table_args__ = (UniqueConstraint("shift_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"), nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    state: Mapped[VolunteerState] = mapped_column(_enum(VolunteerState, "volunteer_state"), nullable=False,
                                                  default=VolunteerState.waiting)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    shift: Mapped[Shift] = relationship()
    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<OpenShiftVolunteer shift={self.shift_id} user={self.user_id} {self.state.value}>"
