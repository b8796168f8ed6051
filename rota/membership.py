"""Team membership with consent: invitations, accepting and declining them, and direct adds where allowed.

Joining a team hands its coordinators power over a person (their rota, leave and working-time settings), so a
coordinator cannot simply enrol any account. The rule (``core.accounts.may_add_directly``): an administrator, or a
coordinator of the team who also coordinates a team the person already belongs to, may add them directly; anyone
else is *invited* and the person joins only when they accept. Inviting, accepting, declining and withdrawing are
each audited and the other side is told in the app. Services never commit.
"""

from __future__ import annotations

from sqlalchemy import select, update

from core import accounts, audit
from core.accounts import Membership, Team, TeamRole, User
from core.db import db, now_utc
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from notifications.service import notify
from rota.models import InvitationState, TeamInvitation

INVITATIONS_LINK = "/my/invitations"


def _require_manage(team: Team, actor) -> None:
    if not team.can_manage(actor):
        raise Forbidden("Only this team's coordinators can invite people to it.")


def _role(role) -> TeamRole:
    try:
        return TeamRole(role)
    except ValueError:
        raise ValidationFailed("Unknown role.", errors={"role": ["Choose staff or coordinator."]})


def person_by_email(email: str) -> User:
    """The active account behind ``email``, or a form error (coordinators invite existing accounts only)."""
    email = (email or "").strip()
    if not email:
        raise ValidationFailed("Enter an email address.", errors={"email": ["Enter the person's email address."]})
    user = accounts.user_by_email(email)
    if user is None or not user.active:
        raise ValidationFailed("No active account uses that email address.",
                               errors={"email": ["No active account uses that email address. Ask an administrator "
                                                 "to create the account first."]})
    return user


def get_invitation(invitation_id: int) -> TeamInvitation:
    inv = db.session.get(TeamInvitation, invitation_id) if 1 <= invitation_id <= 2**31 - 1 else None
    if inv is None:
        raise NotFound(f"No invitation with id {invitation_id}.")
    return inv


def _role_word(role: TeamRole) -> str:
    return "a coordinator" if role == TeamRole.coordinator else "a member of staff"


def invite(team: Team, user: User, role: TeamRole | str = TeamRole.staff, *, actor) -> TeamInvitation:
    """Invite ``user`` to ``team``; they are told in the app and join only if they accept."""

    _require_manage(team, actor)
    role = _role(role)
    if not user.active:
        raise ValidationFailed("That account is deactivated.", errors={"email": ["That account is deactivated."]})
    if user.role_in(team) is not None:
        raise Conflict(f"{user.display_name} is already a member of {team.name}.",
                       errors={"email": [f"{user.display_name} is already a member of this team."]},
                       extra={"code": "already_member"})
    inv = db.session.scalar(select(TeamInvitation).where(TeamInvitation.team_id == team.id,
                                                         TeamInvitation.user_id == user.id))
    if inv is not None and inv.state == InvitationState.pending:
        raise Conflict(f"{user.display_name} already has an invitation to {team.name} waiting for an answer.",
                       errors={"email": ["Already invited; waiting for their answer."]},
                       extra={"code": "already_invited", "invitation_id": inv.id})
    if inv is None:
        inv = TeamInvitation(team_id=team.id, user_id=user.id, role=role)
        db.session.add(inv)
    inv.role, inv.state, inv.invited_by_id = role, InvitationState.pending, actor.id
    inv.created_at, inv.decided_at = now_utc(), None
    db.session.flush()
    audit.record("membership.invited", actor=actor, entity=inv, team_id=team.id,
                 summary={"user_id": user.id, "role": role.value})
    notify([user.id], kind="team.invitation", team_id=team.id, link=INVITATIONS_LINK,
           text=f"{actor.display_name} invited you to join {team.name} as {_role_word(role)}. "
                "Accept or decline it in Shiftbridge.",
           idempotency_key=f"team.invitation:{inv.id}:{inv.created_at:%Y%m%d%H%M%S%f}")
    return inv


def add_or_invite(team: Team, user: User, role: TeamRole | str = TeamRole.staff, *,
                  actor) -> tuple[str, Membership | TeamInvitation]:
    """The coordinator's one form: add directly when the consent rule allows it, otherwise send an invitation.
    Returns ``("added", membership)`` or ``("invited", invitation)``."""
    _require_manage(team, actor)
    role = _role(role)
    if accounts.may_add_directly(team, user, actor):
        return "added", accounts.add_member(team, user, role, actor=actor)
    return "invited", invite(team, user, role, actor=actor)


def _decide(inv: TeamInvitation, state: InvitationState) -> None:
    """Move a pending invitation to ``state`` with a conditional update: of two answers racing, one wins and the
    other is told the invitation was already answered."""
    won = db.session.execute(update(TeamInvitation)
                             .where(TeamInvitation.id == inv.id, TeamInvitation.state == InvitationState.pending)
                             .values(state=state, decided_at=now_utc())
                             .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(inv)
    if not won:
        raise Conflict(f"This invitation was already {inv.state.value}.", extra={"code": inv.state.value})


def respond(inv: TeamInvitation, *, accept: bool, actor) -> TeamInvitation:
    """The invited person accepts (joins the team with the invited role) or declines. Only they can answer."""

    if actor is None or getattr(actor, "id", None) != inv.user_id:
        raise NotFound(f"No invitation with id {inv.id}.")  # someone else's invitation does not exist for you
    _decide(inv, InvitationState.accepted if accept else InvitationState.declined)
    team, user = inv.team, inv.user
    if accept:
        accounts.add_member(team, user, inv.role, actor=actor, invitation_id=inv.id)
    audit.record("membership.invitation_accepted" if accept else "membership.invitation_declined", actor=actor,
                 entity=inv, team_id=team.id, summary={"user_id": user.id, "role": inv.role.value})
    if inv.invited_by_id:
        notify([inv.invited_by_id], kind="team.invitation_answered", team_id=team.id,
               link=f"/teams/{team.id}/members",
               text=f"{user.display_name} {'accepted' if accept else 'declined'} your invitation to join {team.name}.",
               idempotency_key=f"team.invitation_answered:{inv.id}:{inv.decided_at:%Y%m%d%H%M%S%f}")
    return inv


def withdraw(inv: TeamInvitation, *, actor) -> TeamInvitation:
    """A coordinator of the team takes back a pending invitation."""
    if not inv.team.can_manage(actor):
        raise Forbidden("Only this team's coordinators can withdraw its invitations.")
    _decide(inv, InvitationState.withdrawn)
    audit.record("membership.invitation_withdrawn", actor=actor, entity=inv, team_id=inv.team_id,
                 summary={"user_id": inv.user_id})
    return inv


def pending_for(user: User) -> list[TeamInvitation]:
    """Invitations waiting for ``user``'s answer, newest first."""
    return list(db.session.scalars(select(TeamInvitation).where(TeamInvitation.user_id == user.id,
                                                                TeamInvitation.state == InvitationState.pending)
                                   .order_by(TeamInvitation.created_at.desc(), TeamInvitation.id.desc())))


def team_invitations(team: Team, *, actor) -> list[TeamInvitation]:
    """The team's invitations still waiting for an answer (coordinators)."""
    _require_manage(team, actor)
    return list(db.session.scalars(select(TeamInvitation).where(TeamInvitation.team_id == team.id,
                                                                TeamInvitation.state == InvitationState.pending)
                                   .order_by(TeamInvitation.created_at, TeamInvitation.id)))
