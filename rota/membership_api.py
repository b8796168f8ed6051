"""Team invitations API (``/api/v1``): coordinators invite, the invited person accepts or declines. Thin views over
:mod:`rota.membership` (which checks permissions, audits and notifies). Adding someone without an invitation stays
``POST /teams/{id}/members`` and answers 403 (``code: consent_required``) where the consent rule refuses it."""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from core.accounts import TeamRole
from core.api import Blueprint, Id, Text, login_required_api
from core.db import db
from rota import membership, services

blp = Blueprint("membership_api", __name__, url_prefix="/api/v1",
                description="Team invitations: joining a team needs the person's consent")


class InvitationSchema(Schema):
    id = fields.Integer(required=True)
    team_id = fields.Integer(required=True)
    team_name = fields.Function(lambda inv: inv.team.name, required=True)
    user_id = fields.Integer(required=True)
    display_name = fields.Function(lambda inv: inv.user.display_name, required=True)
    role = fields.Function(lambda inv: inv.role.value, required=True)
    state = fields.Function(lambda inv: inv.state.value, required=True,
                            metadata={"enum": ["pending", "accepted", "declined", "withdrawn"]})
    invited_by = fields.Function(lambda inv: inv.invited_by.display_name if inv.invited_by else None,
                                 allow_none=True)
    created_at = fields.DateTime(required=True)
    decided_at = fields.DateTime(allow_none=True)


class InvitationCreateSchema(Schema):
    user_id = Id(metadata={"description": "The person's id; or give their email"})
    email = Text(max_len=254, metadata={"description": "The email address of the person's account"})
    role = fields.String(load_default="staff", validate=validate.OneOf([r.value for r in TeamRole]))

    @validates_schema
    def _one_person(self, data, **kw):
        if ("user_id" in data) == ("email" in data):
            raise ValidationError("Give the person's user_id or their email, not both.", "email")


def register(app, api) -> None:
    api.register_blueprint(blp)


@blp.get("/teams/<int:team_id>/invitations")
@blp.response(200, InvitationSchema(many=True))
@login_required_api
def list_team_invitations(team_id):
    """The team's invitations still waiting for an answer (coordinators)."""
    return membership.team_invitations(services.get_team(team_id), actor=current_user)


@blp.post("/teams/<int:team_id>/invitations")
@blp.arguments(InvitationCreateSchema)
@blp.response(201, InvitationSchema)
@login_required_api
def invite(data, team_id):
    """Invite a person to the team; they join when they accept (``POST /invitations/{id}/accept``)."""
    team = services.get_team(team_id)
    services.require_manage(team, current_user)
    person = services.get_user(data["user_id"]) if "user_id" in data else membership.person_by_email(data["email"])
    inv = membership.invite(team, person, data["role"], actor=current_user)
    db.session.commit()
    return inv


@blp.get("/me/invitations")
@blp.response(200, InvitationSchema(many=True))
@login_required_api
def my_invitations():
    """Invitations waiting for my answer."""
    return membership.pending_for(current_user)


def _answer(invitation_id: int, accept: bool):
    inv = membership.respond(membership.get_invitation(invitation_id), accept=accept, actor=current_user)
    db.session.commit()
    return inv


@blp.post("/invitations/<int:invitation_id>/accept")
@blp.response(200, InvitationSchema)
@login_required_api
def accept(invitation_id):
    """Accept an invitation addressed to me: I join the team with the invited role. 409 if already answered."""
    return _answer(invitation_id, True)


@blp.post("/invitations/<int:invitation_id>/decline")
@blp.response(200, InvitationSchema)
@login_required_api
def decline(invitation_id):
    """Decline an invitation addressed to me. 409 if already answered."""
    return _answer(invitation_id, False)


@blp.post("/invitations/<int:invitation_id>/withdraw")
@blp.response(200, InvitationSchema)
@login_required_api
def withdraw(invitation_id):
    """Withdraw a pending invitation (the team's coordinators)."""
    inv = membership.withdraw(membership.get_invitation(invitation_id), actor=current_user)
    db.session.commit()
    return inv
