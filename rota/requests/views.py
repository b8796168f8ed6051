"""Pages: my leave (balance before and after, request, cancel), a request with its effect on cover (approve /
refuse), leave approvals, the team leave calendar, a team's leave rules, rota requests in a request window, and
preferences / flexible-working agreements. Thin: form -> a service of ``rota.requests`` -> render."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, DecimalField, IntegerField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from core.db import db
from core.errors import DomainError, Forbidden, NotFound
from core.pages import CsrfForm, form_errors, get_or_404, team_for_page
from core.web import as_choices
from rota import services
from rota.models import PeriodState, RotaPeriod, ShiftType
from rota.requests import balance, leave_calendar, rota_requests, service, settings
from rota.requests import entitlement as ent
from rota.requests.models import PreferenceKind, RequestState, RotaRequest, StaffPreference

bp = Blueprint("requests", __name__)


class LeaveRequestForm(FlaskForm):
    kind = SelectField("Kind of leave", choices=as_choices(list(service.REQUESTABLE.items())), default="annual")
    first_day = DateField("First day", validators=[DataRequired("Give the first day of your leave.")])
    last_day = DateField("Last day", validators=[DataRequired("Give the last day of your leave.")])
    hours = DecimalField("Hours (optional)", places=2, validators=[Optional(), NumberRange(0, 24 * service.MAX_DAYS)])
    note = StringField("Note for your coordinator (optional)", validators=[Optional(), Length(max=200)])


class DecisionForm(FlaskForm):
    reason = StringField("Reason (needed to refuse)", validators=[Optional(), Length(max=200)])


class MaxOffForm(FlaskForm):
    max_off = IntegerField("At most this many off on any day (empty: no limit)",
                           validators=[Optional(), NumberRange(0, 500)])


class ProfileForm(FlaskForm):
    user = SelectField("Person", coerce=int)
    service_start = DateField("Continuous NHS service since", validators=[Optional()])
    fte = DecimalField("FTE (1 full time, 0.6 for three days a week)", places=3, default=1,
                       validators=[InputRequired("Give the FTE."), NumberRange(0.001, 1)])
    days_override = IntegerField("Their own annual days, if not the trust's table (optional)",
                                 validators=[Optional(), NumberRange(0, 60)])
    carry_hours = DecimalField("Hours carried over into this leave year (optional)", places=2,
                               validators=[Optional(), NumberRange(0, 720)])


def _month_name(month: int) -> str:
    return date(2001, month, 1).strftime("%B")


class TrustRulesForm(FlaskForm):
    year_start_day = IntegerField("Day", validators=[InputRequired("Give the day the leave year starts."),
                                                     NumberRange(1, 31, "Give a day from 1 to 31.")])
    year_start_month = SelectField("Month", coerce=int, choices=as_choices(
        [(m, _month_name(m)) for m in range(1, 13)]))
    day_hours = DecimalField("Hours in a full-time day", places=2, validators=[
        InputRequired("Give the hours in a full-time day."), NumberRange(1, 12, "A day of 1 to 12 hours.")])
    days_under_5 = IntegerField("Days a year, under 5 years of NHS service", validators=[
        InputRequired("Give the days for under 5 years."), NumberRange(0, settings.MAX_TABLE_DAYS)])
    days_5_to_10 = IntegerField("Days a year, 5 to 10 years", validators=[
        InputRequired("Give the days for 5 to 10 years."), NumberRange(0, settings.MAX_TABLE_DAYS)])
    days_over_10 = IntegerField("Days a year, over 10 years", validators=[
        InputRequired("Give the days for over 10 years."), NumberRange(0, settings.MAX_TABLE_DAYS)])
    bank_holidays = IntegerField("Bank holidays added to each", validators=[
        InputRequired("Give the number of bank holidays."), NumberRange(0, settings.MAX_BANK_HOLIDAYS)])
    carry_hours = DecimalField("Most hours a full-timer may carry over", places=2, validators=[
        InputRequired("Give the carry-over limit in hours (0 for none)."), NumberRange(0, settings.MAX_CARRY_HOURS)])


class WindowForm(FlaskForm):
    period = SelectField("Rota period", coerce=int)
    opens_on = DateField("Requests open", validators=[DataRequired("Give the day requests open.")])
    closes_on = DateField("Requests close", validators=[DataRequired("Give the day requests close.")])
    max_per_person = IntegerField("Requests per person", default=3,
                                  validators=[InputRequired("Give a number."), NumberRange(1, 50)])


class RotaRequestForm(FlaskForm):
    day = DateField("Day", validators=[DataRequired("Choose a day.")])
    what = SelectField("What would you like?")
    priority = RadioField("How much does it matter?", coerce=int, default=2,
                          choices=as_choices(list(rota_requests.PRIORITIES.items())))
    note = StringField("Note (optional)", validators=[Optional(), Length(max=200)])


class PreferenceForm(FlaskForm):
    user = SelectField("Person", coerce=int)
    kind = SelectField("Preference", choices=as_choices([(k.value, w) for k, w in (
        (PreferenceKind.prefers_shift, "Prefers a shift"), (PreferenceKind.avoids_shift, "Rather not a shift"),
        (PreferenceKind.fixed_day_off, "A fixed day off"), (PreferenceKind.no_nights, "No nights"))]))
    shift_type = SelectField("Shift (for prefers / rather not)", coerce=int)
    weekday = SelectField("Day of the week (for a fixed day off)", coerce=int,
                          choices=as_choices(list(enumerate(rota_requests.WEEKDAYS))))
    agreement = BooleanField("Flexible-working agreement (must be kept), not just a preference")
    note = StringField("Note (optional)", validators=[Optional(), Length(max=200)])


def _people(team):
    return as_choices([(m.user.id, m.user.display_name) for m in sorted(team.memberships,
                                                                         key=lambda m: m.user.display_name)])


def _shift_types(team):
    return list(db.session.scalars(db.select(ShiftType).where(ShiftType.team_id == team.id)
                                   .order_by(ShiftType.start_local)))


# ----------------------------------------------------------------------------------------------------- leave


@bp.route("/leave", methods=["GET", "POST"])
@login_required
def my_leave():
    form = LeaveRequestForm()
    q = None
    today = balance.today_for(current_user)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            hours = float(form.hours.data) if form.hours.data is not None else None
            try:
                if request.form.get("action") == "send":
                    service.request_leave(current_user, actor=current_user, kind=form.kind.data,
                                          first_day=form.first_day.data, last_day=form.last_day.data,
                                          hours=hours, note=form.note.data or None)
                    db.session.commit()
                    flash("Request sent: your coordinator has been told.", "success")
                    return redirect(url_for("requests.my_leave"))
                q = service.quote(current_user, kind=form.kind.data, first_day=form.first_day.data,
                                  last_day=form.last_day.data, hours=hours)
            except DomainError as exc:
                db.session.rollback()
                form_errors(form, exc, "first_day")
                status = 422
        else:
            status = 422
    year = balance.leave_year_of(today)
    balances = [balance.balance(current_user, y) for y in (year, year + 1)]
    return render_template("rota/requests/my_leave.html", form=form, quote=q, balances=balances,
                           rows=service.my_requests(current_user), hours=ent.hours_words, today=today,
                           cancel_form=CsrfForm(), page_title="My leave"), status


def _request(request_id: int):
    try:
        return service.get_request(request_id, current_user)
    except (NotFound, DomainError):
        abort(404)


@bp.route("/leave/requests/<int:request_id>")
@login_required
def leave_request(request_id: int):
    req = _request(request_id)
    manage = req.team.can_manage(current_user)
    year = balance.leave_year_of(req.first_day)
    cover = leave_calendar.cover_effect(req) if manage and req.state == RequestState.pending else []
    return render_template("rota/requests/leave_request.html", req=req, manage=manage, cover=cover,
                           balance=balance.balance(req.user, year), hours=ent.hours_words, form=DecisionForm(),
                           kinds=service.REQUESTABLE, today=balance.today_for(req.user), page_title="Leave request")


@bp.route("/leave/requests/<int:request_id>/<any(approve, refuse, cancel):action>", methods=["POST"])
@login_required
def decide(request_id: int, action: str):
    req = _request(request_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        flash("Keep the reason to 200 characters.", "error")
        return redirect(url_for("requests.leave_request", request_id=req.id))
    try:
        if action == "approve":
            service.approve(req, actor=current_user, reason=form.reason.data)
            message = f"Approved: {req.user.display_name}'s leave is on the rota."
        elif action == "refuse":
            service.refuse(req, actor=current_user, reason=form.reason.data)
            message = f"Refused: {req.user.display_name} has been told why."
        else:
            service.cancel(req, actor=current_user, reason=form.reason.data)
            message = "Cancelled."
        db.session.commit()
    except Forbidden:
        db.session.rollback()
        abort(403)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.detail, "error")
        return redirect(url_for("requests.leave_request", request_id=request_id)), 303
    flash(message, "success")
    if req.team.can_manage(current_user):
        return redirect(url_for("requests.approvals"))
    return redirect(url_for("requests.my_leave"))


@bp.route("/leave/approvals")
@login_required
def approvals():
    if not (current_user.is_coordinator or current_user.is_admin):
        abort(403)
    return render_template("rota/requests/approvals.html", rows=service.waiting_for(current_user),
                           hours=ent.hours_words, kinds=service.REQUESTABLE, page_title="Leave approvals")


def _month(value: str | None, today: date) -> tuple[int, int]:
    try:
        year, month = (int(x) for x in (value or "").split("-"))
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            return year, month
    except ValueError:
        pass
    return today.year, today.month


@bp.route("/leave/calendar")
@login_required
def calendar():
    teams = services.visible_teams(current_user)
    if not teams:
        return render_template("rota/requests/calendar.html", team=None, teams=[], weeks=[],
                               page_title="Leave calendar")
    team_id = request.args.get("team", type=int)
    team = next((t for t in teams if t.id == team_id), teams[0])
    today = balance.today_for(current_user)
    year, month = _month(request.args.get("month"), today)
    first = date(year, month, 1)
    prev = (first - timedelta(days=1)).strftime("%Y-%m")
    nxt = (first + timedelta(days=32)).strftime("%Y-%m")
    return render_template("rota/requests/calendar.html", team=team, teams=teams, first=first, prev=prev, nxt=nxt,
                           weeks=leave_calendar.month_calendar(team, current_user, year, month), today=today,
                           max_off=settings.max_off(team), page_title="Leave calendar")


@bp.route("/teams/<int:team_id>/leave-rules", methods=["GET", "POST"])
@login_required
def leave_rules(team_id: int):
    team = team_for_page(team_id, manage=True)
    limit_form = MaxOffForm(prefix="limit")
    form = ProfileForm(prefix="person")
    form.user.choices = _people(team)
    year = balance.leave_year_of(balance.today_for(current_user))
    status = 200
    if request.method == "POST":
        try:
            if "limit-max_off" in request.form:
                if not limit_form.validate_on_submit():
                    raise _Invalid
                settings.set_max_off(team, limit_form.max_off.data, actor=current_user)
                flash("Saved the team's limit.", "success")
            else:
                if not form.validate_on_submit():
                    raise _Invalid
                user = services.get_user(form.user.data)
                if user.role_in(team) is None:
                    abort(404)
                settings.set_profile(user, actor=current_user, service_start=form.service_start.data,
                                    fte_thousandths=round(float(form.fte.data) * 1000),
                                    days_override=form.days_override.data)
                carry = form.carry_hours.data
                settings.set_carry_over(user, year=year, actor=current_user,
                                       minutes=None if carry is None else round(float(carry) * 60))
                flash(f"Saved {user.display_name}'s entitlement.", "success")
            db.session.commit()
            return redirect(url_for("requests.leave_rules", team_id=team.id))
        except _Invalid:
            status = 422
        except DomainError as exc:
            db.session.rollback()
            form_errors(form, exc, "fte")
            status = 422
    elif request.method == "GET":
        limit_form.max_off.data = settings.max_off(team)
    people = sorted((m.user for m in team.memberships), key=lambda u: u.display_name)
    rows = [(u, settings.person_of(u), balance.balance(u, year)) for u in people]
    return render_template("rota/requests/leave_rules.html", team=team, limit_form=limit_form, form=form, rows=rows,
                           year=year, hours=ent.hours_words, trust=settings.rules(),
                           month_name=_month_name,
                           page_title=f"Leave rules – {team.name}"), status


_IN_HOURS = {"day_minutes": "day_hours", "max_carry_minutes": "carry_hours"}  # the service's names -> the form's


@bp.route("/admin/leave-rules", methods=["GET", "POST"])
@login_required
def trust_leave_rules():
    if not current_user.is_admin:
        abort(403, description="Only administrators can change the trust's leave rules.")
    form = TrustRulesForm()
    status = 200
    if request.method == "GET":
        current = settings.rules()
        form.process(data={**current.__dict__, "day_hours": current.day_minutes / 60,
                           "carry_hours": current.max_carry_minutes / 60})
    elif form.validate_on_submit():
        values = {k: form[k].data for k in ("year_start_month", "year_start_day", "days_under_5", "days_5_to_10",
                                             "days_over_10", "bank_holidays")}
        try:
            settings.set_trust_rules(actor=current_user, day_minutes=round(float(form.day_hours.data) * 60),
                                    max_carry_minutes=round(float(form.carry_hours.data) * 60), **values)
            db.session.commit()
            flash("Saved the trust's leave rules. Every balance now uses them.", "success")
            return redirect(url_for("requests.trust_leave_rules"))
        except DomainError as exc:
            db.session.rollback()
            exc.errors = {_IN_HOURS.get(k, k): v for k, v in (exc.errors or {}).items()}
            form_errors(form, exc, "year_start_day")
            status = 422
    else:
        status = 422
    return render_template("rota/requests/trust_rules.html", form=form, hours=ent.hours_words,
                           page_title="Trust leave rules"), status


class _Invalid(Exception):
    """A form that failed its own validation: shown again with its errors."""


# ---------------------------------------------------------------------------------------------- rota requests


@bp.route("/rota-requests")
@login_required
def rota_requests_page():
    windows = rota_requests.windows_for(current_user)
    managed = [t for t in services.visible_teams(current_user) if t.can_manage(current_user)]
    return render_template("rota/requests/rota_requests.html", windows=windows, managed=managed,
                           is_open=lambda w: rota_requests.is_open(w, current_user), page_title="Rota requests")


@bp.route("/rota-requests/windows/<int:window_id>", methods=["GET", "POST"])
@login_required
def window_page(window_id: int):
    try:
        window = rota_requests.get_window(window_id, current_user)
    except (NotFound, DomainError):
        abort(404)
    team = window.team
    types = _shift_types(team)
    form = RotaRequestForm()
    form.what.choices = as_choices([("avoid:0", "A day off (no shift that day)")]
                                   + [(f"want:{t.id}", f"Work a {t.name}") for t in types]
                                   + [(f"avoid:{t.id}", f"Not a {t.name}") for t in types])
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            kind, _, stype = form.what.data.partition(":")
            try:
                rota_requests.add_request(window, actor=current_user, day=form.day.data, kind=kind,
                                          shift_type_id=int(stype) or None, priority=form.priority.data,
                                          note=form.note.data or None)
                db.session.commit()
                flash("Request added.", "success")
                return redirect(url_for("requests.window_page", window_id=window.id))
            except Forbidden:
                db.session.rollback()
                abort(403)
            except DomainError as exc:
                db.session.rollback()
                form_errors(form, exc, "day")
        status = 422
    manage = team.can_manage(current_user)
    rows = db.session.scalars(rota_requests.request_query(current_user, window_id=window.id)
                              .where(RotaRequest.user_id == current_user.id) if not manage else
                              rota_requests.request_query(current_user, window_id=window.id)).all()
    return render_template("rota/requests/window.html", window=window, form=form, rows=rows, manage=manage,
                           member=current_user.role_in(team) is not None,
                           open=rota_requests.is_open(window, current_user), describe=rota_requests.describe,
                           priorities=rota_requests.PRIORITIES, remove_form=CsrfForm(),
                           page_title=f"Rota requests – {team.name}"), status


@bp.route("/rota-requests/<int:request_id>/remove", methods=["POST"])
@login_required
def remove_rota_request(request_id: int):
    if not CsrfForm().validate_on_submit():
        abort(400)
    try:
        req = rota_requests.get_request(request_id, current_user)
        window_id = req.window_id
        rota_requests.remove_request(req, actor=current_user)
        db.session.commit()
    except NotFound:
        abort(404)
    except Forbidden:
        db.session.rollback()
        abort(403)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.detail, "error")
        return redirect(url_for("requests.rota_requests_page"))
    flash("Request removed.", "success")
    return redirect(url_for("requests.window_page", window_id=window_id))


@bp.route("/teams/<int:team_id>/request-windows/new", methods=["GET", "POST"])
@login_required
def new_window(team_id: int):
    team = team_for_page(team_id, manage=True)
    periods = list(db.session.scalars(db.select(RotaPeriod).where(RotaPeriod.team_id == team.id,
                                                                  RotaPeriod.state == PeriodState.draft)
                                      .order_by(RotaPeriod.first_day)))
    form = WindowForm()
    form.period.choices = as_choices([(p.id, f"{p.first_day:%d %b} – {p.last_day:%d %b %Y}") for p in periods])
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                window = rota_requests.open_window(get_or_404(RotaPeriod, form.period.data), actor=current_user,
                                                   opens_on=form.opens_on.data, closes_on=form.closes_on.data,
                                                   max_per_person=form.max_per_person.data)
                db.session.commit()
                flash("Request window opened: the team has been told.", "success")
                return redirect(url_for("requests.window_page", window_id=window.id))
            except Forbidden:
                db.session.rollback()
                abort(403)
            except DomainError as exc:
                db.session.rollback()
                form_errors(form, exc, "closes_on")
        status = 422
    return render_template("rota/requests/new_window.html", team=team, form=form, periods=periods,
                           page_title=f"Open a request window – {team.name}"), status


@bp.route("/teams/<int:team_id>/preferences", methods=["GET", "POST"])
@login_required
def preferences(team_id: int):
    team = team_for_page(team_id, manage=True)
    form = PreferenceForm()
    form.user.choices = _people(team)
    form.shift_type.choices = as_choices([(0, "—")] + [(t.id, t.name) for t in _shift_types(team)])
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                rota_requests.add_preference(team, services.get_user(form.user.data), actor=current_user,
                                             kind=form.kind.data, shift_type_id=form.shift_type.data or None,
                                             weekday=form.weekday.data, agreement=form.agreement.data,
                                             note=form.note.data or None)
                db.session.commit()
                flash("Recorded.", "success")
                return redirect(url_for("requests.preferences", team_id=team.id))
            except DomainError as exc:
                db.session.rollback()
                form_errors(form, exc, "kind")
        status = 422
    return render_template("rota/requests/preferences.html", team=team, form=form,
                           rows=rota_requests.preferences_of(team), describe=rota_requests.describe_preference,
                           remove_form=CsrfForm(), page_title=f"Preferences – {team.name}"), status


@bp.route("/teams/<int:team_id>/preferences/<int:pref_id>/remove", methods=["POST"])
@login_required
def remove_preference(team_id: int, pref_id: int):
    team = team_for_page(team_id, manage=True)
    if not CsrfForm().validate_on_submit():
        abort(400)
    pref = get_or_404(StaffPreference, pref_id)
    if pref.team_id != team.id:
        abort(404)
    rota_requests.remove_preference(pref, actor=current_user)
    db.session.commit()
    flash("Removed.", "success")
    return redirect(url_for("requests.preferences", team_id=team.id))

