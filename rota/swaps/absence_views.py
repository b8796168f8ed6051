"""Pages: "I can't make this shift", one-tap "Ask for cover" from the coordinator's home, the team's absence
setting. Thin: validate, call ``rota.swaps.absence`` / ``rota.swaps.home``, render."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, RadioField
from wtforms.validators import DataRequired, InputRequired, NumberRange

from core.api import MAX_ID
from core.db import db, get_by_id
from core.errors import Conflict, DomainError, Forbidden, RuleViolation, ValidationFailed
from core.pages import CsrfForm, team_for_page
from core.web import as_choices
from rota import services
from rota.models import StaffingRequirement
from rota.swaps import absence, home
from rota.swaps.absence_models import AbsenceHandling
from rota.swaps.eligibility import describe_shift
from rota.views import shift_or_404

bp = Blueprint("absence", __name__)
USER_ERRORS = (Conflict, RuleViolation, ValidationFailed)


class GapForm(FlaskForm):
    requirement_id = IntegerField(validators=[InputRequired(), NumberRange(1, MAX_ID)])
    day = DateField(validators=[DataRequired()])


class HandlingForm(FlaskForm):
    handling = RadioField("When someone can't make a shift at short notice",
                          choices=as_choices([(h.value, words) for h, words in absence.HANDLING_WORDS.items()]),
                          validators=[InputRequired("Choose what happens to the shift.")])


@bp.route("/shifts/<int:shift_id>/cant-make-it", methods=["GET", "POST"])
@login_required
def cant_make_it(shift_id: int):
    shift = shift_or_404(shift_id)
    form = CsrfForm()
    error = None
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            reported = absence.report(shift, actor=current_user, reason=request.form.get("reason", ""))
            db.session.commit()
        except Forbidden:
            db.session.rollback()
            abort(403)
        except USER_ERRORS as exc:
            db.session.rollback()
            shift = shift_or_404(shift_id)
            error = exc.detail
        else:
            then = ("It is now an open shift and your coordinator has been told." if reported.handling ==
                    AbsenceHandling.open_shift else "Your coordinator has been told and will arrange cover.")
            flash(f"Done: you are off {describe_shift(shift)}. {then} Get well soon."
                  if reported.reason.value == "sick" else f"Done: you are off {describe_shift(shift)}. {then}",
                  "success")
            return redirect(url_for("rota.my_shifts"))
    elif not absence.can_report(shift, current_user) and not shift.team.can_manage(current_user):
        flash("You are not working this shift (or it has ended), so there is nothing to report.", "error")
        return redirect(url_for("rota.my_shifts"))
    return render_template("rota/swaps/cant_make_it.html", shift=shift, form=form, reasons=absence.REASONS,
                           error=error, describe=describe_shift(shift),
                           page_title="I can't make this shift"), (422 if error else 200)


def _ask_cover(ask):
    """Run one "ask for cover" service call in its own transaction; refusals go back to Home as a message."""
    try:
        b = ask()
        db.session.commit()
    except Forbidden:
        db.session.rollback()
        abort(403)
    except (*USER_ERRORS, DomainError) as exc:
        db.session.rollback()
        flash(exc.detail, "error")
        return redirect(url_for("web.home"))
    return _after_cover(b)


def _after_cover(b):
    flash(f"Asked {len(b.recipients)} eligible colleague(s) for cover. You will see who takes it here and on Home.",
          "success")
    return redirect(url_for("notifications.broadcast_report", broadcast_id=b.id))


@bp.post("/shifts/<int:shift_id>/ask-cover")
@login_required
def ask_cover(shift_id: int):
    shift = shift_or_404(shift_id)
    if not CsrfForm().validate_on_submit():
        abort(400)
    return _ask_cover(lambda: home.ask_cover(shift, actor=current_user))


@bp.post("/teams/<int:team_id>/gaps/ask-cover")
@login_required
def ask_cover_for_gap(team_id: int):
    team = team_for_page(team_id)
    form = GapForm()
    if not form.validate_on_submit():
        flash("That gap could not be read: reload Home and try again.", "error")
        return redirect(url_for("web.home"))
    req = get_by_id(StaffingRequirement, form.requirement_id.data)
    if req is None or req.team_id != team.id:
        abort(404)
    return _ask_cover(lambda: home.ask_cover_for_gap(team, requirement=req, day=form.day.data, actor=current_user))


class OpenAllForm(FlaskForm):
    first = DateField(validators=[DataRequired()])
    last = DateField(validators=[DataRequired()])
    days = IntegerField(validators=[NumberRange(7, 28)], default=7)


def _grid_url(team, form: OpenAllForm):
    first = form.first.data or services.now_utc().date()
    return url_for("rota.grid", team_id=team.id, start=(first - timedelta(days=first.weekday())).isoformat(),
                   days=form.days.data if form.days.data in (7, 14, 28) else 7)


@bp.route("/teams/<int:team_id>/gaps/open-all", methods=["GET", "POST"])
@login_required
def open_all_gaps(team_id: int):
    """A day's or a week's gaps: GET shows what will be opened and asks to confirm; POST opens them and sends one
    message (a second tap is told there is nothing left to open)."""
    team = team_for_page(team_id, manage=True)
    if request.method == "GET":
        form = OpenAllForm(formdata=request.args, meta={"csrf": False})
        if not form.validate() or form.last.data < form.first.data or (form.last.data - form.first.data).days > 6:
            flash("Those days could not be read: open all gaps from the rota grid.", "error")
            return redirect(url_for("rota.grid", team_id=team.id))
        gaps = home.gaps_to_open(team, form.first.data, form.last.data)
        return render_template("rota/swaps/open_all_gaps.html", team=team, gaps=gaps, form=OpenAllForm(
            first=form.first.data, last=form.last.data, days=form.days.data), first=form.first.data,
            last=form.last.data, places=sum(g.missing for g in gaps), back=_grid_url(team, form),
            label=services.requirement_label, page_title="Open all gaps")
    form = OpenAllForm()
    if not form.validate_on_submit():
        flash("That request could not be read: open all gaps again from the rota grid.", "error")
        return redirect(url_for("rota.grid", team_id=team.id))
    try:
        opened = home.open_all_gaps(team, form.first.data, form.last.data, actor=current_user)
        db.session.commit()
    except Forbidden:
        db.session.rollback()
        abort(403)
    except USER_ERRORS as exc:
        db.session.rollback()
        flash(exc.detail, "error")
        return redirect(_grid_url(team, form))
    n = len(opened.shifts)
    asked = (f" and asked {len(opened.broadcast.recipients)} eligible colleague(s) in one message"
             if opened.broadcast is not None else "; nobody on the team could take them, so no message was sent")
    flash(f"Opened {n} shift{'s' if n != 1 else ''}{asked}.", "success")
    return redirect(_grid_url(team, form))


@bp.get("/home/cover-status")
@login_required
def cover_status():
    """Live counts of the broadcasts on the coordinator's Home (polled by static/js/home.js)."""
    return jsonify({"broadcasts": home.in_flight_status(current_user)})


@bp.route("/teams/<int:team_id>/absence-settings", methods=["GET", "POST"])
@login_required
def settings(team_id: int):
    team = team_for_page(team_id, manage=True)
    form = HandlingForm(data={"handling": absence.settings_for(team.id).value} if request.method == "GET" else None)
    if form.validate_on_submit():
        absence.set_handling(team, form.handling.data, actor=current_user)
        db.session.commit()
        flash("Saved: " + absence.HANDLING_WORDS[AbsenceHandling(form.handling.data)].lower() + ".", "success")
        return redirect(url_for(".settings", team_id=team.id))
    return render_template("rota/swaps/absence_settings.html", team=team, form=form,
                           page_title="Short-notice absence"), (422 if form.errors else 200)
