"""People, teams and roles: users, API tokens, team membership, and revoking every credential of a person.
Server-side sessions are in ``core.sessions``; passwords, sign-in and reset links in ``core.passwords``.

Teams and memberships live here rather than in ``rota`` because roles are a platform concern: every package's
permission checks (``team.can_manage(user)``) need them, and ``core`` must not import ``rota``.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from sqlalchemy import JSON, Boolean, Enum, ForeignKey, String, UniqueConstraint, bindparam, false, select, update
from sqlalchemy.orm import Mapped, contains_eager, joinedload, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from core import audit
from core.db import UTCDateTime, db, now_utc
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.timeutil import DEFAULT_ZONE

_DEFAULT_HASHER = PasswordHasher()
# Test suites create hundreds of accounts; they may ask for cheap parameters (never used outside tests).
_FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _hasher() -> PasswordHasher:

    fast = has_app_context() and current_app.config.get("TESTING") and current_app.config.get("FAST_PASSWORD_HASH")
    return _FAST_HASHER if fast else _DEFAULT_HASHER


_STAND_IN_HASHES: dict[int, str] = {}


def stand_in_hash() -> str:
    """A hash of a random password, made with the hasher in use: checked when an email has no account, so a wrong
    email costs the same Argon2 work as a wrong password and timing does not reveal who has an account."""
    hasher = _hasher()
    if id(hasher) not in _STAND_IN_HASHES:
        _STAND_IN_HASHES[id(hasher)] = hasher.hash(secrets.token_urlsafe(24))
    return _STAND_IN_HASHES[id(hasher)]


def verify_hash(password_hash: str, password: str) -> bool:
    """Only ``User.check_password`` and ``core.passwords.verify_password`` (throttled, audited) call this
    (tests/core/test_sign_in_throttle.py)."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class StaffGroup(enum.Enum):
    nursing = "nursing"  # registered nurses and midwives (Agenda for Change)
    support = "support"  # healthcare assistants / support workers (AfC bands 2-4)
    medical = "medical"  # doctors
    ahp = "ahp"  # allied health professionals
    admin = "admin"  # non-clinical


# Ordered lists so a requirement such as "Band 6+" or "ST3+" can compare grades within a staff group.
AFC_BANDS = ["Band 2", "Band 3", "Band 4", "Band 5", "Band 6", "Band 7", "Band 8a", "Band 8b", "Band 8c", "Band 9"]
MEDICAL_GRADES = ["FY1", "FY2", "CT1", "CT2", "CT3", "ST1", "ST2", "ST3", "ST4", "ST5", "ST6", "ST7", "ST8",
                  "SAS", "Consultant"]
DOCTORS_IN_TRAINING = set(MEDICAL_GRADES[:13])


def doctor_in_training(staff_group, grade) -> bool:
    """Whether the 2016 terms for doctors in training apply (``User.is_doctor_in_training``, and a row read as plain
    columns: the grid's ``GridPerson``)."""
    return staff_group == StaffGroup.medical and grade in DOCTORS_IN_TRAINING
GRADES = AFC_BANDS + MEDICAL_GRADES


def grade_rank(grade: str | None) -> int:
    """Position of a grade within its ladder (-1 for none/unknown)."""
    if grade in AFC_BANDS:
        return AFC_BANDS.index(grade)
    if grade in MEDICAL_GRADES:
        return MEDICAL_GRADES.index(grade)
    return -1


def grade_meets(user_grade: str | None, required: str | None) -> bool:
    """``user_grade`` is ``required`` or above on the same ladder (Agenda for Change bands, medical grades): the one
    grade comparison (rota cover and eligibility through ``rota.skillmix``, broadcast groups)."""
    if not required:
        return True
    for ladder in (AFC_BANDS, MEDICAL_GRADES):
        if required in ladder:
            return user_grade in ladder and ladder.index(user_grade) >= ladder.index(required)
    return grade_rank(user_grade) >= grade_rank(required)


def missing_skills(user_skills, required) -> list[str]:
    """The ``required`` skills a person is not recorded as having, compared without regard to letter case ("iv-trained"
    is IV-trained): the one skill comparison."""
    have = {s.casefold() for s in (user_skills or [])}
    return [s for s in (required or []) if s.casefold() not in have]


class TeamRole(enum.Enum):
    coordinator = "coordinator"
    staff = "staff"


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(120), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    mobile: Mapped[str | None] = mapped_column(String(20), nullable=True)  # E.164
    staff_number: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    staff_group: Mapped[StaffGroup] = mapped_column(
        Enum(StaffGroup, name="staff_group", native_enum=False, length=16), nullable=False, default=StaffGroup.nursing
    )
    grade: Mapped[str | None] = mapped_column(String(32), nullable=True)
    skills: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    is_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Signs in with the trust's account only (core.sso); PASSWORD_SIGN_IN=off does the same for everyone but the
    # break-glass administrators.
    password_sign_in_disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                                            server_default=false())

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", cascade="all, delete-orphan")

    # Flask-Login protocol. ``session_key`` is set by the loader/login so get_id names the server-side session;
    # ``session_row`` is that session (its times feed the sign-out warning without another query).
    session_key = None
    session_row = None

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str | None:
        return self.session_key

    def check_password(self, password: str) -> bool:
        """Unthrottled and unaudited: application code calls ``verify_password`` instead."""
        return verify_hash(self.password_hash, password)

    def set_password(self, password: str) -> None:
        self.password_hash = _hasher().hash(password)

    def role_in(self, team: Team) -> TeamRole | None:
        for m in self.memberships:
            if m.team_id == team.id:
                return m.role
        return None

    @property
    def managed_team_ids(self) -> set[int]:
        return {m.team_id for m in self.memberships if m.role == TeamRole.coordinator}

    @property
    def team_ids(self) -> set[int]:
        return {m.team_id for m in self.memberships}

    @property
    def is_coordinator(self) -> bool:
        return bool(self.managed_team_ids)

    @property
    def is_doctor_in_training(self) -> bool:
        return doctor_in_training(self.staff_group, self.grade)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.display_name!r}>"


class UserSession(db.Model):
    """A signed-in browser. The cookie holds only a random key; revoking this row signs the browser out."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Last use by a person (navigations and form posts, not background polling), kept to the minute.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Why it ended: idle / absolute (timeouts: a form posted afterwards keeps its text), logout, revoked.
    ended_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # "Remember this device": a personal phone stays signed in until then (no idle or 12-hour limit), revocable.
    remembered_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<UserSession {self.id} user={self.user_id} revoked={self.revoked_at is not None}>"


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(12), nullable=False)  # shown so people can tell tokens apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} {self.prefix}… user={self.user_id}>"


class Team(db.Model):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    site: Mapped[str | None] = mapped_column(String(120), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default=DEFAULT_ZONE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    memberships: Mapped[list[Membership]] = relationship(back_populates="team", cascade="all, delete-orphan")

    def can_manage(self, user) -> bool:
        return bool(user and user.is_authenticated and (user.is_admin or user.role_in(self) == TeamRole.coordinator))

    def can_view(self, user) -> bool:
        return bool(user and user.is_authenticated and (user.is_admin or user.role_in(self) is not None))

    def __repr__(self) -> str:
        return f"<Team {self.id} {self.name!r}>"


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    role: Mapped[TeamRole] = mapped_column(
        Enum(TeamRole, name="team_role", native_enum=False, length=16), nullable=False, default=TeamRole.staff
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now_utc)

    team: Mapped[Team] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")

    def __repr__(self) -> str:
        return f"<Membership team={self.team_id} user={self.user_id} {self.role.value}>"


# --------------------------------------------------------------------------------------------------- services

MIN_PASSWORD = 10
OFCOM_DRAMA_MOBILE_PREFIX = "+447700900"  # 07700 900000-900999, Ofcom's range for drama and testing


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_mobile(raw: str | None) -> str | None:
    """UK-first mobile parsing to E.164; raises ValidationFailed with a message a person understands."""
    if raw is None or not raw.strip():
        return None
    try:
        num = phonenumbers.parse(raw, "GB")
    except phonenumbers.NumberParseException:
        raise ValidationFailed("That is not a phone number.",
                               errors={"mobile": ["Enter a mobile number such as 07700 900123."]})
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    if e164.startswith(OFCOM_DRAMA_MOBILE_PREFIX) and len(e164) == 13:
        return e164  # reserved for fiction: what demo data and tests use
    mobile_types = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if not phonenumbers.is_valid_number(num) or phonenumbers.number_type(num) not in mobile_types:
        raise ValidationFailed("That is not a valid mobile number.",
                               errors={"mobile": ["Enter a mobile number such as 07700 900123."]})
    return e164


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            "Password too short.", errors={"password": [f"Use at least {MIN_PASSWORD} characters."]}
        )


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"No person with id {user_id}.")
    return user


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def create_user(*, email: str, display_name: str, password: str, actor=None, mobile: str | None = None,
                staff_group: StaffGroup | str = StaffGroup.nursing, grade: str | None = None,
                skills: list[str] | None = None, is_admin: bool = False, staff_number: str | None = None) -> User:
    email = normalise_email(email)
    if user_by_email(email) is not None:
        raise Conflict("Someone already has an account with that email address.",
                       errors={"email": ["This email address is already in use."]})
    if staff_number and db.session.scalar(select(User.id).where(User.staff_number == staff_number)):
        raise Conflict("That staff number is already in use.", errors={"staff_number": ["Already in use."]})
    if grade is not None and grade not in GRADES:
        raise ValidationFailed("Unknown grade.", errors={"grade": [f"Choose one of: {', '.join(GRADES)}."]})
    check_password_strength(password)
    user = User(email=email, display_name=display_name.strip(), mobile=normalise_mobile(mobile),
                staff_group=StaffGroup(staff_group), grade=grade, skills=sorted(set(skills or [])),
                is_admin=is_admin, staff_number=staff_number or None)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("user.created", actor=actor, entity=user, summary={"is_admin": is_admin})
    return user


def revoke_all_credentials(user: User, *, actor, keep_session_key: str | None = None) -> None:
    """Every credential of ``user`` dies: sessions (but the one kept), API tokens, and what other packages issued
    (calendar-feed links) through ``app.extensions["credential_revokers"]``."""

    now = now_utc()
    keep = secret_digest(keep_session_key) if keep_session_key else None
    for row in db.session.scalars(select(UserSession).where(UserSession.user_id == user.id,
                                                            UserSession.revoked_at.is_(None))):
        if row.key_hash != keep:
            row.revoked_at, row.ended_reason = now, "revoked"
    for token in db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):
        token.revoked_at = now
    for revoke_more in current_app.extensions.get("credential_revokers", []):
        revoke_more(user, actor=actor)


def set_active(user: User, active: bool, *, actor: User) -> None:
    if not actor.is_admin:
        raise Forbidden("Only an administrator can deactivate accounts.")
    if user.id == actor.id and not active:
        raise Conflict("You cannot deactivate your own account.")
    user.active = active
    user.deactivated_at = None if active else now_utc()
    if not active:
        revoke_all_credentials(user, actor=actor)
    audit.record("user.deactivated" if not active else "user.reactivated", actor=actor, entity=user)


def create_token(user: User, name: str, *, actor=None) -> tuple[ApiToken, str]:
    secret = "sb_" + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name.strip()[:80] or "token", token_hash=secret_digest(secret),
                     prefix=secret[:10])
    db.session.add(token)
    db.session.flush()
    audit.record("token.created", actor=actor or user, entity=token, summary={"user_id": user.id})
    return token, secret


def revoke_token(user: User, token_id: int, *, actor) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = now_utc()
        audit.record("token.revoked", actor=actor, entity=token)
    return token


TOKEN_USE_GRANULARITY = timedelta(minutes=1)


def load_membership_teams(user: User) -> None:
    """The person's memberships with their teams, in one query, for pages that name every team of theirs (the
    menu): otherwise each membership's team is read on its own, one query per team. Nothing is read when the teams
    are at hand already."""
    session = db.session
    if "memberships" in user.__dict__ and all(
            "team" in m.__dict__ or session.identity_map.get(session.identity_key(Team, m.team_id)) is not None
            for m in user.memberships):
        return
    member_teams(user)


def member_teams(user: User) -> list[Team]:
    """The person's teams in name order, read with their memberships in one query (which the person's
    ``memberships`` then hold, each with its team: what the menu names)."""
    memberships = list(db.session.scalars(_memberships_with_teams(), {"user_id": user.id}))
    set_committed_value(user, "memberships", memberships)
    return [m.team for m in memberships]


@cache
def _memberships_with_teams():
    """Built once: the menu of every signed-in page reads it."""
    return (select(Membership).join(Membership.team).options(contains_eager(Membership.team))
            .where(Membership.user_id == bindparam("user_id")).order_by(Team.name, Team.id))


@cache
def _token_by_digest():
    """Built once: every API request with a token runs it (building it cost as much as running it)."""
    return (select(ApiToken).options(joinedload(ApiToken.user))
            .where(ApiToken.token_hash == bindparam("token_hash")))


def user_for_token(secret: str) -> User | None:
    """The active owner of a live token, or None. The token's last-used time is kept to the minute: it is written
    (committed in its own short transaction) only when the stored time is older than that, so a client calling many
    times a second does not turn every read into a database write."""
    token = db.session.scalar(_token_by_digest(), {"token_hash": secret_digest(secret)})
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    now = now_utc()
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_USE_GRANULARITY:
        db.session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
                           .execution_options(synchronize_session=False))
        db.session.commit()
    return token.user


def may_add_directly(team: Team, user: User, actor) -> bool:
    """May ``actor`` put ``user`` in ``team`` (or change their role there) without the person's agreement?

    Joining a team gives its coordinators power over a person (their rota, leave, working-time settings), so it
    needs consent: the person accepts an invitation. Without one, only an administrator, or a coordinator of
    ``team`` who also coordinates a team the person already belongs to (someone already responsible for them),
    may add them. ``actor=None`` is never a person: see :func:`add_member`."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    if actor.is_admin:
        return True
    return team.can_manage(actor) and bool(actor.managed_team_ids & user.team_ids)


def add_member(team: Team, user: User, role: TeamRole | str = TeamRole.staff, *, actor=None,
               invitation_id: int | None = None) -> Membership:
    """Put ``user`` in ``team`` with ``role`` (or change their role). A person acting must pass
    :func:`may_add_directly`, unless the person joins by accepting ``invitation_id`` (the caller checked it is
    theirs and pending). ``actor=None`` is the system itself (CLI, tests, fixtures), never a request."""
    role = TeamRole(role)
    if actor is not None and invitation_id is None and not may_add_directly(team, user, actor):
        raise Forbidden(f"{user.display_name} is not in a team you coordinate, so they must agree to join "
                        f"{team.name}: send them an invitation instead.", extra={"code": "consent_required"})
    how = {"via": "invitation", "invitation_id": invitation_id} if invitation_id else {"via": "direct"}
    existing = db.session.scalar(select(Membership).where(Membership.team_id == team.id, Membership.user_id == user.id))
    if existing is not None:
        if existing.role != role:
            existing.role = role
            audit.record("membership.role_changed", actor=actor, entity=existing, team_id=team.id,
                         summary={"user_id": user.id, "role": role.value, **how})
        return existing
    m = Membership(team=team, user=user, role=role)
    db.session.add(m)
    db.session.flush()
    audit.record("membership.added", actor=actor, entity=m, team_id=team.id,
                 summary={"user_id": user.id, "role": role.value, **how})
    return m


def create_team(*, name: str, site: str | None = None, timezone: str = DEFAULT_ZONE, actor=None) -> Team:

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed("Unknown time zone.", errors={"timezone": ["Use an IANA zone such as Europe/London."]})
    if db.session.scalar(select(Team.id).where(Team.name == name.strip())):
        raise Conflict("A team with that name already exists.", errors={"name": ["Already in use."]})
    team = Team(name=name.strip(), site=site, timezone=timezone)
    db.session.add(team)
    db.session.flush()
    audit.record("team.created", actor=actor, entity=team, team_id=team.id)
    return team
