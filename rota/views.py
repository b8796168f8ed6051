"""Rota pages: My shifts, team rota grid, coordinator editing screens, leave, CSV import/export."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FileField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
    widgets,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

from core import limits, timeutil
from core.accounts import GRADES, StaffGroup
from core.db import db, get_by_id
from core.errors import Conflict, DomainError, RuleViolation
from core.pages import CsrfForm, form_errors, get_or_404, team_for_page
from core.web import as_choices
from rota import csv_io, my_shift_cards, services
from rota.grid_cells import GridCells
from rota.models import LeaveKind, PeriodState, Shift, ShiftKind, StaffingRequirement

bp = Blueprint("rota", __name__)


def next_shifts_panel(user):
    """Home-page card: the person's next three published shifts."""
    items = services.next_shifts(user, limit=3)
    return {"title": "Your next shifts", "template": "rota/_next_shifts_panel.html",
            "shifts": [services.shift_line(i.shift) for i in items], "ids": [i.shift.id for i in items]}


# ------------------------------------------------------------------------------------------------------ forms


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def date_in_range(form, fld):
    if fld.data and not date(timeutil.MIN_YEAR, 1, 1) <= fld.data <= date(timeutil.MAX_YEAR, 12, 31):
        raise ValidationError(f"Use a date between {timeutil.MIN_YEAR} and {timeutil.MAX_YEAR}.")


class PatternForm(FlaskForm):
    first_day = DateField("First day", validators=[DataRequired("Enter the first day."), date_in_range])
    weeks = IntegerField("Number of weeks", default=1,
                         validators=[DataRequired("Enter the number of weeks."), NumberRange(1, 26, "1 to 26 weeks.")])
    cycle = StringField("Pattern", validators=[DataRequired("Enter the pattern."), Length(max=2000)])
    people = MultiCheckboxField("People, in line order", coerce=int,
                                validators=[DataRequired("Choose at least one person.")])
    make_period = BooleanField("Start a draft rota period for these weeks (if there is none)", default=True)


class CopyWeekForm(FlaskForm):
    source_week = DateField("Copy the week starting (Monday)",
                            validators=[DataRequired("Enter a Monday."), date_in_range])
    target_week = DateField("To the week starting (Monday)",
                            validators=[DataRequired("Enter a Monday."), date_in_range])


class PeriodForm(FlaskForm):
    first_day = DateField("First day", validators=[DataRequired("Enter the first day."), date_in_range])
    last_day = DateField("Last day", validators=[DataRequired("Enter the last day."), date_in_range])


class LeaveForm(FlaskForm):
    user = SelectField("Person", coerce=int, validators=[DataRequired("Choose a person.")])
    kind = SelectField("Kind", choices=as_choices([(k.value, k.value.capitalize()) for k in LeaveKind]))
    first_day = DateField("First day", validators=[DataRequired("Enter the first day."), date_in_range])
    last_day = DateField("Last day", validators=[DataRequired("Enter the last day."), date_in_range])
    note = StringField("Note (optional)", validators=[Optional(), Length(max=200)])


class ImportForm(FlaskForm):
    file = FileField("CSV file")
    text = TextAreaField("…or paste CSV", validators=[Optional(), Length(max=1_000_000)])


class ShiftTypeForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired("Enter a code."), Regexp(r"^[A-Za-z0-9]{1,8}$",
                                                                               message="1–8 letters or digits.")])
    name = StringField("Name", validators=[DataRequired("Enter a name."), Length(max=60)])
    start_local = TimeField("Starts (local time)", validators=[DataRequired("Enter a start time.")])
    duration_minutes = IntegerField("Length in minutes", validators=[
        DataRequired("Enter the length."), NumberRange(1, limits.MAX_SHIFT_MINUTES, "1 to %(max)s minutes.")])
    kind = SelectField("Kind", choices=as_choices([(k.value, k.value.replace("_", "-")) for k in ShiftKind]))
    colour = StringField("Colour", default="#005eb8", validators=[Regexp(r"^#[0-9a-fA-F]{6}$",
                                                                         message="A colour such as #005eb8.")])


class RequirementForm(FlaskForm):
    shift_type = SelectField("Shift type", coerce=int, validators=[DataRequired("Choose a shift type.")])
    weekday = SelectField("Day", choices=as_choices([("", "Every day")] + [(str(i), d) for i, d in enumerate(
        ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"])]))
    min_count = IntegerField("At least", validators=[DataRequired("Enter a number."), NumberRange(1, 100)])
    staff_group = SelectField("Staff group",
                              choices=as_choices([("", "Any")] + [(g.value, g.value) for g in StaffGroup]))
    min_grade = SelectField("Minimum grade", choices=as_choices([("", "Any")] + [(g, g) for g in GRADES]))
    skill = StringField("Skill", validators=[Optional(), Length(max=64)])


# ---------------------------------------------------------------------------------------------------- helpers


def shift_or_404(shift_id: int, *, manage: bool = False) -> Shift:
    """The shift a page is about: 404 unless it exists and the signed-in person may see it (drafts only for the
    team's coordinators); 403 when the page changes it and they do not manage its team."""
    shift = get_or_404(Shift, shift_id)
    if not services.is_visible(shift, current_user):
        abort(404)
    if manage and not shift.team.can_manage(current_user):
        abort(403)
    return shift


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def team_today(team) -> date:
    return timeutil.local_date(services.now_utc(), team.timezone)


def arg_day(name: str, default: date) -> date:
    raw = request.args.get(name, "")
    try:
        value = date.fromisoformat(raw) if raw else default
    except ValueError:
        return default
    return value if date(timeutil.MIN_YEAR, 1, 1) <= value <= date(timeutil.MAX_YEAR, 12, 31) else default


def people_choices(team):
    members = sorted(team.memberships, key=lambda m: (m.user.staff_group.value, -services.grade_rank(m.user.grade),
                                                      m.user.display_name))
    return [(m.user.id, f"{m.user.display_name} ({m.user.grade or m.user.staff_group.value})") for m in members]


# ------------------------------------------------------------------------------------------------- my shifts


@bp.get("/my/shifts")
@login_required
def my_shifts():
    items = services.next_shifts(current_user, limit=28)
    return render_template("rota/my_shifts.html", items=items, cards=my_shift_cards.cards(items))


# ---------------------------------------------------------------------------------------------------- teams


@bp.get("/teams")
@login_required
def teams():
    return render_template("rota/teams.html", teams=services.visible_teams(current_user))


@bp.get("/teams/<int:team_id>/rota")
@login_required
def grid(team_id: int):
    team = team_for_page(team_id)
    days = request.args.get("days", "7")
    days = int(days) if days in ("7", "14", "28") else 7
    start = monday_of(arg_day("start", team_today(team)))
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and len(page) < 6 else 1
    grid = services.team_grid(team, start, days, viewer=current_user, page=page)
    manage = team.can_manage(current_user)
    cells = GridCells(grid, tz_name=team.timezone, manage=manage, leave_codes=services.LEAVE_CODES,
                      shift_href=url_for("rota.shift_detail", shift_id=0)[:-1],
                      person_href=url_for("compliance_web.person", user_id=0)[:-1])
    return render_template("rota/grid.html", team=team, grid=grid, days=days, start=start, manage=manage,
                           button_form=CsrfForm(), prev=start - timedelta(days=days), next=start + timedelta(days=days),
                           cells=cells)


@bp.get("/teams/<int:team_id>/rota/colours.css")
@login_required
def colours(team_id: int):
    team = team_for_page(team_id)
    css = "".join(f".sb-st-{st.id}{{background:{st.colour};}}\n" for st in services.shift_types(team)
                  if services.COLOUR_RE.match(st.colour))
    return Response(css, mimetype="text/css", headers={"Cache-Control": "private, max-age=60"})


@bp.get("/teams/<int:team_id>/rota.csv")
@login_required
def export_csv(team_id: int):
    team = team_for_page(team_id)
    first = arg_day("from", monday_of(team_today(team)))
    last = arg_day("to", first + timedelta(days=27))
    if last < first or (last - first).days > 7 * 60:
        abort(422, description="Choose 'to' on or after 'from', at most 60 weeks apart.")
    lo, hi = timeutil.day_bounds(first, last, team.timezone)
    stmt = services.shifts_query(current_user, team_id=team.id).where(services.Shift.starts_at >= lo,
                                                                      services.Shift.starts_at < hi)
    body = csv_io.export_rows(db.session.scalars(stmt).all(), team.timezone)
    name = f"rota-{team.id}-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f"attachment; filename={name}",
                                                        "Cache-Control": "no-store"})


# ------------------------------------------------------------------------------------------ building the rota


def _build_forms(team, pattern=None, copy=None, period=None):
    pattern = pattern or PatternForm(prefix="p")
    pattern.people.choices = as_choices(people_choices(team))
    if not pattern.first_day.data:
        pattern.first_day.data = monday_of(team_today(team)) + timedelta(days=7)
    copy = copy or CopyWeekForm(prefix="c")
    period = period or PeriodForm(prefix="r")
    return {"pattern_form": pattern, "copy_form": copy, "period_form": period}


def _render_build(team, status=200, **forms):
    return render_template("rota/build.html", team=team, types=services.shift_types(team, active_only=True),
                           periods=services.periods(team), button_form=CsrfForm(),
                           **_build_forms(team, **forms)), status


@bp.get("/teams/<int:team_id>/rota/build")
@login_required
def build(team_id: int):
    return _render_build(team_for_page(team_id, manage=True))


@bp.post("/teams/<int:team_id>/rota/pattern")
@login_required
def run_pattern(team_id: int):
    team = team_for_page(team_id, manage=True)
    form = PatternForm(prefix="p")
    form.people.choices = as_choices(people_choices(team))
    if not form.validate():
        return _render_build(team, 422, pattern=form)
    first = form.first_day.data
    last = first + timedelta(days=7 * form.weeks.data - 1)
    try:
        if form.make_period.data and not any(p.first_day <= last and p.last_day >= first
                                             for p in services.periods(team)):
            services.create_period(team, first_day=first, last_day=last, actor=current_user)
        report = services.generate_from_pattern(team, pattern={"cycle": form.cycle.data,
                                                               "person_ids": form.people.data},
                                                first_day=first, last_day=last, actor=current_user)
    except DomainError as exc:
        db.session.rollback()
        form_errors(form, exc, "cycle")
        return _render_build(team, 422, pattern=form)
    db.session.commit()
    flash(f"{len(report.created)} shifts created ({report.open_count} open)."
          + (f" {len(report.problems)} could not be given to the person in the pattern: "
             + "; ".join(f"{d:%a %d %b} {c} {p}: {m}" for d, c, p, m in report.problems[:5]) if report.problems
             else ""))
    return redirect(url_for("rota.grid", team_id=team.id, start=first.isoformat(),
                            days=7 if form.weeks.data == 1 else 28))


@bp.post("/teams/<int:team_id>/rota/copy-week")
@login_required
def copy_week(team_id: int):
    team = team_for_page(team_id, manage=True)
    form = CopyWeekForm(prefix="c")
    if not form.validate():
        return _render_build(team, 422, copy=form)
    try:
        report = services.copy_week(team, source_monday=form.source_week.data, target_monday=form.target_week.data,
                                    actor=current_user)
    except DomainError as exc:
        db.session.rollback()
        form_errors(form, exc, "target_week")
        return _render_build(team, 422, copy=form)
    db.session.commit()
    flash(f"{len(report.created)} shifts copied ({report.open_count} open).")
    return redirect(url_for("rota.grid", team_id=team.id, start=form.target_week.data.isoformat()))


@bp.post("/teams/<int:team_id>/rota/periods")
@login_required
def create_period(team_id: int):
    team = team_for_page(team_id, manage=True)
    form = PeriodForm(prefix="r")
    if not form.validate():
        return _render_build(team, 422, period=form)
    try:
        period = services.create_period(team, first_day=form.first_day.data, last_day=form.last_day.data,
                                        actor=current_user)
    except DomainError as exc:
        db.session.rollback()
        form_errors(form, exc, "first_day")
        return _render_build(team, 422, period=form)
    db.session.commit()
    flash(f"Draft rota period {period.first_day:%d %b}–{period.last_day:%d %b %Y} started.")
    return redirect(url_for("rota.grid", team_id=team.id, start=period.first_day.isoformat()))


@bp.post("/teams/<int:team_id>/gaps/open")
@login_required
def open_gap(team_id: int):
    team = team_for_page(team_id, manage=True)
    if not CsrfForm().validate():
        abort(400)
    req = get_by_id(StaffingRequirement, request.form.get("requirement_id", type=int) or 0)
    day = _arg_day_form("day")
    if req is None or req.team_id != team.id or day is None:
        abort(404)
    try:
        services.open_gap(team, requirement=req, day=day, actor=current_user)
    except (Conflict, RuleViolation) as exc:
        db.session.rollback()
        flash(exc.detail, "error")
    else:
        db.session.commit()
        flash(f"1 open {req.shift_type.name} for {services.one_person_label(req)} on {day:%a %d %b}.")
    return redirect(url_for("rota.grid", team_id=team.id, start=monday_of(day).isoformat(),
                            days=request.form.get("days", "7")))


def _arg_day_form(name):
    try:
        value = date.fromisoformat(request.form.get(name, ""))
    except ValueError:
        return None
    return value if date(timeutil.MIN_YEAR, 1, 1) <= value <= date(timeutil.MAX_YEAR, 12, 31) else None


# ---------------------------------------------------------------------------------------------------- leave


@bp.route("/teams/<int:team_id>/leave", methods=["GET", "POST"])
@login_required
def leave(team_id: int):
    team = team_for_page(team_id, manage=True)
    form = LeaveForm()
    form.user.choices = as_choices(people_choices(team))
    if form.validate_on_submit():
        try:
            _, opened = services.record_leave(services.get_user(form.user.data), kind=form.kind.data,
                                              first_day=form.first_day.data, last_day=form.last_day.data,
                                              note=form.note.data or None, team=team, actor=current_user)
        except DomainError as exc:
            db.session.rollback()
            form_errors(form, exc, "first_day")
        else:
            db.session.commit()
            flash(f"Leave recorded. {len(opened)} shift(s) are now open and need cover." if opened
                  else "Leave recorded.")
            return redirect(url_for("rota.grid", team_id=team.id, start=monday_of(form.first_day.data).isoformat()))
    rows = db.session.scalars(services.leave_query(current_user, team_id=team.id,
                                                   start=team_today(team) - timedelta(days=30))).all()
    status = 422 if request.method == "POST" else 200
    return render_template("rota/leave.html", team=team, form=form, rows=rows), status


# --------------------------------------------------------------------------------------------------- import


@bp.route("/teams/<int:team_id>/import", methods=["GET", "POST"])
@login_required
def import_csv(team_id: int):
    team = team_for_page(team_id, manage=True)
    form = ImportForm()
    result, failed = None, None
    if form.validate_on_submit():
        upload = request.files.get(form.file.name)
        raw = upload.read(csv_io.MAX_BYTES + 1) if upload and upload.filename else None
        text = raw.decode("utf-8-sig", errors="replace") if raw else (form.text.data or "")
        try:
            result = services.import_assignments(team, text, actor=current_user)
        except services.ImportFailed as exc:
            db.session.rollback()
            failed = exc
        except DomainError as exc:
            db.session.rollback()
            form_errors(form, exc, "text")
        else:
            db.session.commit()
    status = 422 if (failed or form.errors) and request.method == "POST" else 200
    return render_template("rota/import.html", team=team, form=form, result=result, failed=failed), status


# -------------------------------------------------------------------------------------------- team settings


def _settings(team, st_form=None, req_form=None, status=200):
    st_form = st_form or ShiftTypeForm(prefix="t")
    req_form = req_form or RequirementForm(prefix="q")
    types = services.shift_types(team)
    req_form.shift_type.choices = as_choices([(st.id, f"{st.code} – {st.name}") for st in types])
    return render_template("rota/settings.html", team=team, types=types, reqs=services.requirements(team),
                           st_form=st_form, req_form=req_form, label=services.requirement_label,
                           days=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]), status


@bp.get("/teams/<int:team_id>/settings")
@login_required
def settings(team_id: int):
    return _settings(team_for_page(team_id, manage=True))


@bp.post("/teams/<int:team_id>/settings/shift-types")
@login_required
def add_shift_type(team_id: int):
    team = team_for_page(team_id, manage=True)
    form = ShiftTypeForm(prefix="t")
    if form.validate():
        try:
            services.create_shift_type(team, code=form.code.data, name=form.name.data,
                                       start_local=form.start_local.data, duration_minutes=form.duration_minutes.data,
                                       kind=form.kind.data, colour=form.colour.data, actor=current_user)
        except DomainError as exc:
            db.session.rollback()
            form_errors(form, exc, "code")
        else:
            db.session.commit()
            flash(f"Shift type {form.code.data.upper()} added.")
            return redirect(url_for("rota.settings", team_id=team.id))
    return _settings(team, st_form=form, status=422)


@bp.post("/teams/<int:team_id>/settings/requirements")
@login_required
def add_requirement(team_id: int):
    team = team_for_page(team_id, manage=True)
    form = RequirementForm(prefix="q")
    form.shift_type.choices = as_choices([(st.id, st.code) for st in services.shift_types(team)])
    if form.validate():
        try:
            services.create_requirement(team, shift_type=services.type_of(team, form.shift_type.data),
                                        min_count=form.min_count.data,
                                        weekday=int(form.weekday.data) if form.weekday.data else None,
                                        staff_group=form.staff_group.data or None,
                                        min_grade=form.min_grade.data or None, skill=form.skill.data or None,
                                        actor=current_user)
        except DomainError as exc:
            db.session.rollback()
            form_errors(form, exc, "min_count")
        else:
            db.session.commit()
            flash("Requirement added.")
            return redirect(url_for("rota.settings", team_id=team.id))
    return _settings(team, req_form=form, status=422)


__all__ = ["bp", "next_shifts_panel", "PeriodState"]
