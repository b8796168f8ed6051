"""Rota core pages for one shift: add a shift, view/reassign it, mark the nurse in charge, cancel it.

Registered on the rota blueprint (``rota.views.bp``), so endpoints keep their ``rota.*`` names. Split out of
``rota.views`` to keep each module under ~500 lines (#14).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from core import timeutil
from core.accounts import GRADES
from core.db import db
from core.errors import DomainError
from core.pages import form_errors, team_for_page
from core.web import as_choices
from rota import my_shift_cards, services
from rota.services import in_charge
from rota.views import arg_day, bp, date_in_range, monday_of, people_choices, shift_or_404, team_today

# ------------------------------------------------------------------------------------------------------ forms


class ShiftForm(FlaskForm):
    shift_type = SelectField("Shift type", coerce=int, validators=[DataRequired("Choose a shift type.")])
    day = DateField("Day", validators=[DataRequired("Enter the day."), date_in_range])
    assignee = SelectField("Person", coerce=int, validators=[Optional()])
    required_grade = SelectField("Minimum grade", validators=[Optional()])
    note = StringField("Note (never patient details)", validators=[Optional(), Length(max=200)])


class AssignForm(FlaskForm):
    version = HiddenField(validators=[DataRequired(), Regexp(r"^\d{1,9}$")])
    assignee = SelectField("Person", coerce=int, validators=[Optional()])
    override_reason = StringField("Override reason (if a working-time warning applies)",
                                  validators=[Optional(), Length(max=200)])


class CancelForm(FlaskForm):
    reason = StringField("Reason for cancelling", validators=[DataRequired("Give a reason."), Length(max=200)])


class InChargeForm(FlaskForm):
    clear = HiddenField()


# ------------------------------------------------------------------------------------------------ one shift


def _shift_form(team, form=None):
    form = form or ShiftForm()
    form.shift_type.choices = as_choices([(st.id, f"{st.code} – {st.name} ({st.start_local:%H:%M})")
                               for st in services.shift_types(team, active_only=True)])
    form.assignee.choices = as_choices([(0, "Nobody yet (open shift)")] + people_choices(team))
    form.required_grade.choices = as_choices([("", "Any")] + [(g, g) for g in GRADES])
    return form


@bp.route("/teams/<int:team_id>/shifts/new", methods=["GET", "POST"])
@login_required
def new_shift(team_id: int):
    team = team_for_page(team_id, manage=True)
    form = _shift_form(team)
    if request.method == "GET":
        form.day.data = arg_day("day", team_today(team))
    if form.validate_on_submit():
        try:
            services.add_shift(team, actor=current_user, shift_type=services.type_of(team, form.shift_type.data),
                               day=form.day.data,
                               assignee=services.get_user(form.assignee.data) if form.assignee.data else None,
                               required_grade=form.required_grade.data or None, note=form.note.data or None)
        except DomainError as exc:
            db.session.rollback()
            form_errors(form, exc, "assignee")
        else:
            db.session.commit()
            flash("Shift added.")
            return redirect(url_for("rota.grid", team_id=team.id, start=monday_of(form.day.data).isoformat()))
    status = 422 if request.method == "POST" else 200
    return render_template("rota/shift_new.html", team=team, form=form), status


@bp.route("/shifts/<int:shift_id>", methods=["GET", "POST"])
@login_required
def shift_detail(shift_id: int):
    shift = shift_or_404(shift_id)
    manage = shift.team.can_manage(current_user)
    form = AssignForm(prefix="a")
    form.assignee.choices = as_choices([(0, "Nobody (open shift)")] + people_choices(shift.team))
    cancel = CancelForm(prefix="x")
    if request.method == "POST":
        if not manage:
            abort(403)
        if form.validate_on_submit():
            try:
                services.edit_shift(shift, actor=current_user, version=int(form.version.data),
                                    assignee=services.get_user(form.assignee.data) if form.assignee.data else None,
                                    override_reason=form.override_reason.data or None)
            except DomainError as exc:
                db.session.rollback()
                shift = services.get_shift(shift_id)
                form_errors(form, exc, "assignee")
            else:
                db.session.commit()
                flash("Shift updated.")
                return redirect(url_for("rota.shift_detail", shift_id=shift.id))
    else:
        form.assignee.data = shift.assignee_id or 0
    form.version.data = str(shift.version)
    status = 422 if request.method == "POST" else 200
    return _shift_page(shift, form, cancel, manage, status)


def _shift_page(shift, form, cancel_form, manage: bool, status: int, in_charge_error: str | None = None):
    marked = in_charge.get(shift.team, shift.starts_at)
    ic_form = InChargeForm(prefix="c", formdata=None)
    ic_form.clear.data = "1" if marked and marked.user_id == shift.assignee_id else ""
    return render_template("rota/shift.html", shift=shift, form=form, cancel_form=cancel_form, manage=manage,
                           tz_local=timeutil.to_local, in_charge=services.get_user(marked.user_id) if marked else None,
                           in_charge_form=ic_form, in_charge_error=in_charge_error,
                           actions=my_shift_cards.actions([shift]).get(shift.id, "")), status


@bp.post("/shifts/<int:shift_id>/in-charge")
@login_required
def shift_in_charge(shift_id: int):
    """Mark the shift's holder as the nurse in charge of its slot (or, with ``clear``, nobody)."""
    shift = shift_or_404(shift_id, manage=True)
    form = InChargeForm(prefix="c")
    if form.validate_on_submit():
        try:
            if form.clear.data:
                in_charge.clear_in_charge(shift.team, shift.starts_at, actor=current_user)
            else:
                in_charge.set_in_charge(shift.team, shift.starts_at, shift.assignee_id or 0, actor=current_user)
        except DomainError as exc:
            db.session.rollback()
            error = exc.detail
        else:
            db.session.commit()
            flash("Nobody is marked in charge of this shift now." if form.clear.data
                  else f"{shift.assignee.display_name} is in charge of this shift.")
            return redirect(url_for("rota.shift_detail", shift_id=shift.id))
    else:
        error = "The form expired: try again."
    shift = services.get_shift(shift_id)
    af = AssignForm(prefix="a", formdata=None)
    af.assignee.choices = as_choices([(0, "Nobody (open shift)")] + people_choices(shift.team))
    af.assignee.data, af.version.data = shift.assignee_id or 0, str(shift.version)
    return _shift_page(shift, af, CancelForm(prefix="x", formdata=None), True, 422, in_charge_error=error)


@bp.post("/shifts/<int:shift_id>/cancel")
@login_required
def cancel_shift(shift_id: int):
    shift = shift_or_404(shift_id)
    form = CancelForm(prefix="x")
    if not form.validate_on_submit():
        af = AssignForm(prefix="a", formdata=None)
        af.assignee.choices = as_choices([(0, "Nobody (open shift)")] + people_choices(shift.team))
        af.assignee.data, af.version.data = shift.assignee_id or 0, str(shift.version)
        return _shift_page(shift, af, form, shift.team.can_manage(current_user), 422)
    services.cancel_shift(shift, reason=form.reason.data, actor=current_user)
    db.session.commit()
    flash("Shift cancelled.")
    return redirect(url_for("rota.grid", team_id=shift.team_id,
                            start=monday_of(services.local_day(shift)).isoformat()))
