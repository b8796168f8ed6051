"""Working-time compliance: the JSON API (``/api/v1``) and the per-person compliance page. Thin views over
:mod:`rota.compliance`."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from types import SimpleNamespace

from flask import Blueprint as FlaskBlueprint
from flask import abort, render_template, request
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select
from wtforms import DateField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from core import timeutil
from core.accounts import Team, User
from core.api import Blueprint, DateTime, Id, Text, login_required_api
from core.db import db, get_by_id
from core.errors import Forbidden, NotFound, ValidationFailed
from core.limits import FIRST_YEAR, LAST_YEAR
from core.timeutil import DEFAULT_ZONE
from rota import services
from rota.compliance import chart, rules
from rota.compliance.position import position_between, verdicts_between
from rota.compliance.profiles import home_team, may_see_person, today_for
from rota.compliance.team_report import team_working_time
from rota.compliance.verdicts import check_change
from rota.models import Shift, ShiftType

blp = Blueprint("compliance_api", __name__, url_prefix="/api/v1", description="Working-time compliance")
web = FlaskBlueprint("compliance_web", __name__)

MAX_DAYS = 366
RULE_SET_NAMES = list(rules.RULE_SETS)


def _year_ok(value) -> None:
    if not (FIRST_YEAR <= value.year <= LAST_YEAR):
        raise ValidationError(f"Give a date between {FIRST_YEAR} and {LAST_YEAR}.")


# ------------------------------------------------------------------------------------------------- schemas


class ComplianceVerdictSchema(Schema):
    rule_id = fields.String(required=True)
    rule_set = fields.String(required=True)
    severity = fields.String(required=True, metadata={"enum": ["block", "warn"]})
    observed = fields.String(required=True)
    limit = fields.String(required=True)
    message = fields.String(required=True)
    shift_ids = fields.List(fields.Integer(), required=True)
    kind = fields.String(metadata={"enum": ["maximum", "minimum"]})
    source = fields.String()
    observed_value = fields.Float(allow_none=True)
    limit_value = fields.Float(allow_none=True)
    unit = fields.String()
    starts_at = fields.DateTime(allow_none=True)


class ComplianceArgs(Schema):
    from_ = fields.Date(data_key="from", validate=_year_ok, metadata={"description": "First local day (default today)"})
    to = fields.Date(validate=_year_ok, metadata={"description": "Last local day, inclusive (default from + 27 days)"})
    rule_sets = fields.List(fields.String(validate=validate.OneOf(RULE_SET_NAMES)), validate=validate.Length(max=3))

    @validates_schema
    def in_order(self, data, **kwargs):
        lo, hi = data.get("from_"), data.get("to")
        if lo and hi:
            if hi < lo:
                raise ValidationError("'to' must not be before 'from'.", field_name="to")
            if (hi - lo).days >= MAX_DAYS:
                raise ValidationError(f"Ask for at most {MAX_DAYS} days at a time.", field_name="to")


class ComplianceReportSchema(Schema):
    user_id = fields.Integer(required=True)
    from_ = fields.Date(data_key="from", required=True)
    to = fields.Date(required=True)
    rule_sets = fields.List(fields.String(), required=True)
    opted_out = fields.Boolean(required=True)
    blocking = fields.Integer(required=True)
    warnings = fields.Integer(required=True)
    verdicts = fields.List(fields.Nested(ComplianceVerdictSchema), required=True)


class ComplianceShiftLikeSchema(Schema):
    starts_at = DateTime(required=True, metadata={
        "description": "ISO 8601; without an offset it is read in the team's zone (refused if it does not exist or "
                       "is ambiguous there)"})
    ends_at = DateTime(required=True)
    team_id = Id()
    shift_type_id = Id()
    kind = fields.String(validate=validate.OneOf(["day", "night", "on_call"]))
    name = Text(max_len=60)


class ComplianceCheckSchema(Schema):
    user_id = Id(required=True)
    add = fields.List(fields.Nested(ComplianceShiftLikeSchema), required=True, validate=validate.Length(min=1, max=20))
    remove = fields.List(Id(), load_default=list, validate=validate.Length(max=200))
    rule_sets = fields.List(fields.String(validate=validate.OneOf(RULE_SET_NAMES)), validate=validate.Length(max=3))


class ComplianceCheckResultSchema(Schema):
    user_id = fields.Integer(required=True)
    rule_sets = fields.List(fields.String(), required=True)
    blocking = fields.Boolean(required=True)
    verdicts = fields.List(fields.Nested(ComplianceVerdictSchema), required=True)


# -------------------------------------------------------------------------------------------------- access


may_see = may_see_person


def _person(user_id: int) -> User:
    person = get_by_id(User, user_id)
    if person is None:
        raise NotFound(f"No person with id {user_id}.")
    if not may_see(current_user, person):
        raise Forbidden("You can see your own working-time checks, and coordinators those of their team members.")
    return person



def report(person: User, first: date | None, last: date | None, rule_sets=None) -> dict:
    first = first or today_for(person)
    last = last or first + timedelta(days=27)
    prof, verdicts = verdicts_between(person, first, last, rule_sets=rule_sets)
    position = position_between(person, first, last, rule_sets=rule_sets)
    return {"user_id": person.id, "from_": first, "to": last, "rule_sets": prof.names, "opted_out": prof.opted_out,
            "blocking": sum(v.blocking for v in verdicts), "warnings": sum(not v.blocking for v in verdicts),
            "verdicts": [v.as_dict() for v in verdicts], "_verdicts": verdicts, "_profile": prof,
            "_position": position, "_chart": chart.week_chart(position)}


def _shift_like(person: User, item: dict, index: int):

    team = None
    shift_type = None
    if item.get("shift_type_id"):
        shift_type = db.session.get(ShiftType, item["shift_type_id"])
        if shift_type is None:
            raise ValidationFailed("Unknown shift type.",
                                   errors={f"add.{index}.shift_type_id": ["No such shift type."]})
        team = shift_type.team
    if item.get("team_id"):
        team = db.session.get(Team, item["team_id"])
        if team is None:
            raise ValidationFailed("Unknown team.", errors={f"add.{index}.team_id": ["No such team."]})
        if shift_type is not None and shift_type.team_id != team.id:
            raise ValidationFailed("That shift type belongs to another team.",
                                   errors={f"add.{index}.shift_type_id": ["Not a shift type of this team."]})
    team = team or home_team(person)
    tz = team.timezone if team is not None else DEFAULT_ZONE
    starts = timeutil.localize(item["starts_at"], tz, field=f"add.{index}.starts_at")
    ends = timeutil.localize(item["ends_at"], tz, field=f"add.{index}.ends_at")
    services.check_shift_times(starts, ends, field=f"add.{index}.ends_at")  # the rota's own rule, not a copy
    kind = item.get("kind") or (shift_type.kind.value if shift_type is not None else "day")
    name = item.get("name") or (shift_type.name if shift_type is not None else "new shift")
    return SimpleNamespace(id=None, starts_at=starts, ends_at=ends, team=team, shift_type=None, kind=kind, name=name)


def what_if(person: User, data: dict) -> dict:


    add = [_shift_like(person, item, i) for i, item in enumerate(data["add"])]
    remove = list(dict.fromkeys(data.get("remove") or []))
    if remove:
        held = set(db.session.scalars(select(Shift.id).where(Shift.id.in_(remove), Shift.assignee_id == person.id)))
        missing = [i for i in remove if i not in held]
        if missing:
            raise ValidationFailed("You can only remove shifts this person holds.",
                                   errors={"remove": [f"Not a shift of this person: {', '.join(map(str, missing))}."]})
    names = data.get("rule_sets") or None
    prof, verdicts = check_change(person, add=add, remove=remove, rule_sets=names)
    return {"user_id": person.id, "rule_sets": prof.names, "blocking": any(v.blocking for v in verdicts),
            "verdicts": [v.as_dict() for v in verdicts]}


# ------------------------------------------------------------------------------------------------------ API


@blp.get("/users/<int:user_id>/compliance")
@blp.arguments(ComplianceArgs, location="query")
@blp.response(200, ComplianceReportSchema)
@login_required_api
def user_compliance(args, user_id):
    """Working-time verdicts over a person's real shifts that start between two local days (inclusive).

    A person sees their own; coordinators see their team members'; administrators everyone's. ``rule_sets``
    evaluates against named sets instead of the person's own (e.g. ``TCS2016v1``)."""
    person = _person(user_id)
    return report(person, args.get("from_"), args.get("to"), args.get("rule_sets") or None)


@blp.post("/compliance/check")
@blp.arguments(ComplianceCheckSchema)
@blp.response(200, ComplianceCheckResultSchema)
@login_required_api
def check(data):
    """What-if: the verdicts a change would cause for a person (adding shift-like objects, removing their shifts).
    Changes nothing. Only verdicts involving an added shift are returned."""
    person = _person(data["user_id"])
    return what_if(person, data)


# ------------------------------------------------------------------------------------------------------ page


class RangeForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    from_ = DateField("From", validators=[Optional()])
    to = DateField("To (inclusive)", validators=[Optional()])
    rule_sets = SelectField("Rules", choices=[SelectChoice("", "This person's own rules")] + [
        SelectChoice(n, rules.RULE_SETS[n].title) for n in RULE_SET_NAMES], validators=[Optional()])


@web.get("/compliance", endpoint="mine")
@web.get("/compliance/<int:user_id>", endpoint="person")
@login_required
def page(user_id: int | None = None):
    person = _person(user_id or current_user.id)
    args = request.args.to_dict()
    if "from" in args:
        args["from_"] = args.pop("from")
    form = RangeForm(formdata=type(request.args)(args) if args else None)
    status, data = 200, None
    if form.validate():
        first, last = form.from_.data, form.to.data
        errors = []
        for f, d in ((form.from_, first), (form.to, last)):
            if d is not None and not (FIRST_YEAR <= d.year <= LAST_YEAR):
                f.errors = [*f.errors, f"Give a date between {FIRST_YEAR} and {LAST_YEAR}."]
                errors.append(f)
        if first and last and last < first:
            form.to.errors = [*form.to.errors, "The end date must not be before the start date."]
            errors.append(form.to)
        elif first and last and (last - first).days >= MAX_DAYS:
            form.to.errors = [*form.to.errors, f"Choose at most {MAX_DAYS} days."]
            errors.append(form.to)
        if not errors:
            data = report(person, first, last, [form.rule_sets.data] if form.rule_sets.data else None)
    if data is None:
        status = 422
    return render_template("rota/compliance/person.html", person=person, form=form, data=data,
                           me=person.id == current_user.id), status


class TeamRangeForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    from_ = DateField("From", validators=[Optional()])
    to = DateField("To (inclusive)", validators=[Optional()])


def _range_errors(form) -> bool:
    """Year bounds, order and length of a from/to form; puts messages on the fields. True if all is well."""
    first, last = form.from_.data, form.to.data
    ok = True
    for f, d in ((form.from_, first), (form.to, last)):
        if d is not None and not (FIRST_YEAR <= d.year <= LAST_YEAR):
            f.errors = [*f.errors, f"Give a date between {FIRST_YEAR} and {LAST_YEAR}."]
            ok = False
    if first and last and last < first:
        form.to.errors = [*form.to.errors, "The end date must not be before the start date."]
        ok = False
    elif first and last and (last - first).days >= MAX_DAYS:
        form.to.errors = [*form.to.errors, f"Choose at most {MAX_DAYS} days."]
        ok = False
    return ok


@web.get("/teams/<int:team_id>/working-time", endpoint="team")
@login_required
def team_page(team_id: int):
    """A coordinator's report: every member's working time over a period, the worst first."""
    team = services.get_team(team_id)
    services.require_manage(team, current_user)
    args = request.args.to_dict()
    if "from" in args:
        args["from_"] = args.pop("from")
    form = TeamRangeForm(formdata=type(request.args)(args) if args else None)
    rows = first = last = None
    if form.validate() and _range_errors(form):
        first = form.from_.data or datetime.now(timeutil.zone(team.timezone or DEFAULT_ZONE)).date()
        last = form.to.data or first + timedelta(days=27)
        if last < first:
            form.to.errors = [*form.to.errors, "The end date must not be before the start date."]
        else:
            rows = team_working_time(team, first, last)
    return render_template("rota/compliance/team.html", team=team, form=form, rows=rows, first=first,
                           last=last), 200 if rows is not None else 422


def register(app, api) -> None:
    api.register_blueprint(blp)
    app.register_blueprint(web)


__all__ = ["blp", "web", "may_see", "report", "what_if", "abort"]
