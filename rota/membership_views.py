"""Pages for team membership with consent: a team's members and invitations (coordinators), and *Invitations*
(the invited person accepts or declines). Thin: forms in, :mod:`rota.membership` services, commit, redirect."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from core import registry
from core.db import db
from core.errors import DomainError
from core.pages import CsrfForm, form_errors
from core.web import as_choices
from rota import membership, membership_api, services

bp = Blueprint("membership", __name__)

ROLE_CHOICES = [("staff", "Staff"), ("coordinator", "Coordinator")]


class InviteForm(FlaskForm):
    email = StringField("Email address of their Shiftbridge account",
                        validators=[DataRequired("Enter the person's email address."), Length(max=254)])
    role = SelectField("Role in this team", choices=as_choices(ROLE_CHOICES))


def _members_page(team, form, status=200):
    members = sorted(team.memberships, key=lambda m: (m.role.value, m.user.display_name))
    return render_template("rota/members.html", team=team, form=form, members=members, button=CsrfForm(),
                           invitations=membership.team_invitations(team, actor=current_user)), status


@bp.route("/teams/<int:team_id>/members", methods=["GET", "POST"])
@login_required
def members(team_id: int):
    team = services.get_team(team_id)
    services.require_manage(team, current_user)
    form = InviteForm()
    if not form.validate_on_submit():
        return _members_page(team, form, 422 if form.is_submitted() else 200)
    try:
        person = membership.person_by_email(form.email.data)
        outcome, _ = membership.add_or_invite(team, person, form.role.data, actor=current_user)
    except DomainError as exc:
        db.session.rollback()
        form_errors(form, exc, "email")
        return _members_page(team, form, 422)
    db.session.commit()
    if outcome == "added":
        flash(f"{person.display_name} added to {team.name}.")
    else:
        flash(f"Invitation sent to {person.display_name}. They join {team.name} when they accept it.")
    return redirect(url_for("membership.members", team_id=team.id))


@bp.post("/teams/<int:team_id>/invitations/<int:invitation_id>/withdraw")
@login_required
def withdraw(team_id: int, invitation_id: int):
    inv = membership.get_invitation(invitation_id)
    if inv.team_id != team_id or not CsrfForm().validate_on_submit():
        return redirect(url_for("membership.members", team_id=team_id))
    membership.withdraw(inv, actor=current_user)
    db.session.commit()
    flash(f"Invitation to {inv.user.display_name} withdrawn.")
    return redirect(url_for("membership.members", team_id=team_id))


@bp.get("/my/invitations")
@login_required
def mine():
    return render_template("rota/invitations.html", invitations=membership.pending_for(current_user),
                           button=CsrfForm())


def _answer(invitation_id: int, accept: bool):
    inv = membership.get_invitation(invitation_id)
    if not CsrfForm().validate_on_submit():
        return redirect(url_for("membership.mine"))
    try:
        membership.respond(inv, accept=accept, actor=current_user)
    except DomainError as exc:
        if exc.status != 409:
            raise
        db.session.rollback()
        flash(exc.detail)
        return redirect(url_for("membership.mine"))
    db.session.commit()
    if accept:
        flash(f"You joined {inv.team.name}.")
        return redirect(url_for("rota.grid", team_id=inv.team_id))
    flash(f"You declined the invitation to {inv.team.name}.")
    return redirect(url_for("membership.mine"))


@bp.post("/my/invitations/<int:invitation_id>/accept")
@login_required
def accept(invitation_id: int):
    return _answer(invitation_id, True)


@bp.post("/my/invitations/<int:invitation_id>/decline")
@login_required
def decline(invitation_id: int):
    return _answer(invitation_id, False)


def profile_section(user) -> dict:
    """What ``rota/invitations_profile.html`` shows on the profile page."""
    return {"invitations": membership.pending_for(user)}


def register(app, api) -> None:

    membership_api.register(app, api)
    app.register_blueprint(bp)
    registry.register_profile_section(app, "rota/invitations_profile.html")
    app.jinja_env.globals["invitations_section"] = profile_section
