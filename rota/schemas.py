"""API schemas for the rota, in pairs: ``XSchema`` dumps, ``XCreateSchema`` / ``XPatchSchema`` load."""

from __future__ import annotations

from datetime import date

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core import limits, timeutil
from core.accounts import GRADES, StaffGroup, TeamRole
from core.api import Id, PageArgs, QueryId, Text
from core.timeutil import DEFAULT_ZONE
from rota.models import LeaveKind, ShiftKind, ShiftState

DAY_RANGE = validate.Range(min=date(timeutil.MIN_YEAR, 1, 1), max=date(timeutil.MAX_YEAR, 12, 31),
                           error=f"Use a date between {timeutil.MIN_YEAR} and {timeutil.MAX_YEAR}.")


def Day(**kw) -> fields.Date:
    return fields.Date(validate=DAY_RANGE, **kw)


def _days_in_order(data, first="first_day", last="last_day"):
    if data.get(first) and data.get(last) and data[last] < data[first]:
        raise ValidationError({last: ["Must be on or after the first day."]})


# --------------------------------------------------------------------------------------------------- teams


class TeamSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    site = fields.String(allow_none=True)
    timezone = fields.String()


class MemberSchema(Schema):
    user_id = fields.Integer()
    display_name = fields.Function(lambda m: m.user.display_name)
    role = fields.Function(lambda m: m.role.value)
    grade = fields.Function(lambda m: m.user.grade, allow_none=True)
    staff_group = fields.Function(lambda m: m.user.staff_group.value)
    skills = fields.Function(lambda m: list(m.user.skills or []))
    staff_number = fields.Function(lambda m: m.user.staff_number, allow_none=True)


class TeamDetailSchema(TeamSchema):
    members = fields.Function(lambda t: MemberSchema(many=True).dump(sorted(t.memberships, key=lambda m: m.user_id)))


class TeamCreateSchema(Schema):
    name = Text(required=True, min_len=1, max_len=120)
    site = Text(max_len=120, allow_none=True, load_default=None)
    timezone = Text(max_len=64, load_default=DEFAULT_ZONE)


class MemberAddSchema(Schema):
    user_id = Id(required=True)
    role = fields.String(load_default="staff", validate=validate.OneOf([r.value for r in TeamRole]))


# --------------------------------------------------------------------------------------------- shift types


class ShiftTypeSchema(Schema):
    id = fields.Integer()
    team_id = fields.Integer()
    code = fields.String()
    name = fields.String()
    start_local = fields.Function(lambda st: st.start_local.strftime("%H:%M"))
    duration_minutes = fields.Integer()
    kind = fields.Function(lambda st: st.kind.value)
    colour = fields.String()
    active = fields.Boolean()


class ShiftTypeCreateSchema(Schema):
    code = Text(required=True, min_len=1, max_len=8, validate=validate.Regexp(r"^[A-Za-z0-9]{1,8}$"))
    name = Text(required=True, min_len=1, max_len=60)
    start_local = fields.Time(required=True, metadata={"description": "Local wall-clock start, HH:MM"})
    duration_minutes = fields.Integer(required=True, strict=True,
                                      validate=validate.Range(min=1, max=limits.MAX_SHIFT_MINUTES))
    kind = fields.String(load_default="day", validate=validate.OneOf([k.value for k in ShiftKind]))
    colour = Text(max_len=7, load_default="#005eb8", validate=validate.Regexp(r"^#[0-9a-fA-F]{6}$"))


# -------------------------------------------------------------------------------------------- requirements


class RequirementSchema(Schema):
    id = fields.Integer()
    team_id = fields.Integer()
    shift_type_id = fields.Integer()
    weekday = fields.Integer(allow_none=True)
    staff_group = fields.String(allow_none=True)
    min_grade = fields.String(allow_none=True)
    skill = fields.String(allow_none=True)
    min_count = fields.Integer()
    description = fields.String(allow_none=True)


class RequirementCreateSchema(Schema):
    shift_type_id = Id(required=True)
    weekday = fields.Integer(strict=True, allow_none=True, load_default=None, validate=validate.Range(min=0, max=6),
                             metadata={"description": "0 = Monday … 6 = Sunday; null for every day"})
    staff_group = fields.String(allow_none=True, load_default=None,
                                validate=validate.OneOf([g.value for g in StaffGroup]))
    min_grade = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(GRADES))
    skill = Text(max_len=64, allow_none=True, load_default=None)
    min_count = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100))
    description = Text(max_len=500, allow_none=True, load_default=None)


# ---------------------------------------------------------------------------------------------------- gaps


class RangeArgs(Schema):
    from_ = Day(required=True, data_key="from", metadata={"description": "first local day (YYYY-MM-DD)"})
    to = Day(required=True, metadata={"description": "last local day, inclusive"})

    @validates_schema
    def _order(self, data, **kw):
        _days_in_order(data, "from_", "to")
        if data.get("from_") and data.get("to") and (data["to"] - data["from_"]).days > 7 * 60:
            raise ValidationError({"to": ["At most 60 weeks after 'from'."]})


class GapSchema(Schema):
    date = fields.Function(lambda g: g.day.isoformat())
    shift_type_id = fields.Function(lambda g: g.shift_type.id)
    shift_code = fields.Function(lambda g: g.shift_type.code)
    requirement_id = fields.Function(lambda g: g.requirement.id)
    label = fields.String()
    required = fields.Function(lambda g: g.requirement.min_count)
    have = fields.Integer()
    open = fields.Integer(attribute="open_count")
    missing = fields.Integer()


class GapOpenSchema(Schema):
    requirement_id = Id(required=True)
    date = Day(required=True)


# -------------------------------------------------------------------------------------------------- shifts


def _local(attr):
    def get(shift):
        return timeutil.to_local(getattr(shift, attr), shift.team.timezone).isoformat()
    return get


class ShiftSchema(Schema):
    id = fields.Integer()
    team_id = fields.Integer()
    shift_type_id = fields.Integer(allow_none=True)
    shift_code = fields.Function(lambda s: s.shift_type.code if s.shift_type else None, allow_none=True)
    rota_period_id = fields.Integer(allow_none=True)
    starts_at = fields.DateTime(metadata={"description": "UTC instant"})
    ends_at = fields.DateTime(metadata={"description": "UTC instant"})
    starts_local = fields.Function(_local("starts_at"), metadata={"description": "team-local time with offset"})
    ends_local = fields.Function(_local("ends_at"))
    timezone = fields.Function(lambda s: s.team.timezone)
    duration_minutes = fields.Function(lambda s: int((s.ends_at - s.starts_at).total_seconds() // 60))
    assignee_id = fields.Integer(allow_none=True)
    assignee_name = fields.Function(lambda s: s.assignee.display_name if s.assignee else None, allow_none=True)
    state = fields.Function(lambda s: s.state.value)
    required_grade = fields.String(allow_none=True)
    required_skills = fields.List(fields.String())
    cancel_reason = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    version = fields.Integer()


def shift_items(rows) -> list[dict]:
    """``ShiftSchema(many=True).dump`` of ``rota.services.shift_item_rows``' rows, written directly: the same values
    (so the same JSON, ``tests/rota/test_api_shift_items.py``) at a fraction of marshmallow's cost per field. A field
    added to ``ShiftSchema`` must be added here (and to ``rota.services.shifts._item_page``); the test
    fails until it is."""
    items = []
    written: dict = {}  # (instant, zone) -> (UTC, local) text: a ward's shifts start and end at a few dozen instants

    def both(instant, tz):
        out = written.get((instant, tz))
        if out is None:
            out = written[(instant, tz)] = (instant.isoformat(), timeutil.to_local(instant, tz).isoformat())
        return out

    for (sid, team_id, type_id, code, period_id, starts, ends, tz, assignee_id, name, state, grade, skills, reason,
         note, version) in rows:
        (starts_at, starts_local), (ends_at, ends_local) = both(starts, tz), both(ends, tz)
        items.append({
            "id": sid, "team_id": team_id, "shift_type_id": type_id, "shift_code": code, "rota_period_id": period_id,
            "starts_at": starts_at, "ends_at": ends_at, "starts_local": starts_local, "ends_local": ends_local,
            "timezone": tz,
            "duration_minutes": int((ends - starts).total_seconds() // 60), "assignee_id": assignee_id,
            "assignee_name": name, "state": state.value, "required_grade": grade,
            "required_skills": None if skills is None else [str(x) for x in skills], "cancel_reason": reason,
            "note": note, "version": version})
    return items


class ShiftArgs(PageArgs):
    team_id = QueryId()
    person_id = QueryId()
    from_ = Day(data_key="from", metadata={"description": "shifts ending after this local day starts"})
    to = Day(metadata={"description": "shifts starting before the end of this local day"})
    state = fields.String(validate=validate.OneOf([s.value for s in ShiftState]))

    @validates_schema
    def _order(self, data, **kw):
        _days_in_order(data, "from_", "to")


_TIME_HELP = ("ISO 8601; with an offset the instant is used as given, without one it is read in the team's time "
              "zone and refused if that local time does not exist or is ambiguous (clock changes)")


class ShiftCreateSchema(Schema):
    team_id = Id(required=True)
    shift_type_id = Id(allow_none=True, load_default=None)
    date = Day(allow_none=True, load_default=None, metadata={"description": "local day, with shift_type_id"})
    starts_at = Text(max_len=40, allow_none=True, load_default=None, metadata={"description": _TIME_HELP})
    ends_at = Text(max_len=40, allow_none=True, load_default=None, metadata={"description": _TIME_HELP})
    assignee_id = Id(allow_none=True, load_default=None)
    required_grade = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(GRADES))
    required_skills = fields.List(Text(min_len=1, max_len=64), load_default=list, validate=validate.Length(max=20))
    note = Text(max_len=200, allow_none=True, load_default=None)
    override_reason = Text(max_len=200, allow_none=True, load_default=None)

    @validates_schema
    def _shape(self, data, **kw):
        if not data.get("starts_at") and not (data.get("shift_type_id") and data.get("date")):
            raise ValidationError({"starts_at": ["Give starts_at (and ends_at), or shift_type_id and date."]})


class ShiftPatchSchema(Schema):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1),
                             metadata={"description": "the version you last saw; 409 if it changed meanwhile"})
    shift_type_id = Id()
    starts_at = Text(max_len=40, metadata={"description": _TIME_HELP})
    ends_at = Text(max_len=40, metadata={"description": _TIME_HELP})
    assignee_id = Id(allow_none=True, metadata={"description": "null opens the shift"})
    required_grade = fields.String(allow_none=True, validate=validate.OneOf(GRADES))
    required_skills = fields.List(Text(min_len=1, max_len=64), validate=validate.Length(max=20))
    note = Text(max_len=200, allow_none=True)
    override_reason = Text(max_len=200, allow_none=True)


class CancelSchema(Schema):
    reason = Text(required=True, min_len=1, max_len=200)


class InChargeSetSchema(Schema):
    user_id = Id(required=True, metadata={"description": "someone rostered on a shift of this team starting at the "
                                                        "same time"})


class InChargeSchema(Schema):
    team_id = fields.Integer()
    starts_at = fields.DateTime(metadata={"description": "UTC instant: the slot is the team's shifts starting then"})
    user_id = fields.Integer(allow_none=True, metadata={"description": "the nurse in charge; null if none is marked"})
    name = fields.String(allow_none=True)


# ---------------------------------------------------------------------------------------- patterns, copy


class PatternRuleSchema(Schema):
    code = Text(required=True, min_len=1, max_len=8)
    freq = fields.String(load_default="weekly", validate=validate.OneOf(["daily", "weekly", "monthly"]))
    interval = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=52))
    weekdays = fields.List(fields.String(validate=validate.OneOf(["MO", "TU", "WE", "TH", "FR", "SA", "SU"])),
                           load_default=list, validate=validate.Length(max=7))
    count = fields.Integer(allow_none=True, load_default=None, strict=True, validate=validate.Range(min=1, max=500))
    person_id = Id(allow_none=True, load_default=None)


class PatternRunSchema(Schema):
    first_day = Day(required=True)
    last_day = Day(required=True)
    cycle = Text(max_len=2000, allow_none=True, load_default=None,
                 metadata={"description": "line pattern: one code per day, '-' off, whole weeks, e.g. 'E E L - - N N'"})
    person_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=300),
                             metadata={"description": "person i works the cycle offset by i weeks"})
    anchor = Day(allow_none=True, load_default=None)
    rules = fields.List(fields.Nested(PatternRuleSchema), load_default=list, validate=validate.Length(max=20))

    @validates_schema
    def _order(self, data, **kw):
        _days_in_order(data)
        if data.get("first_day") and data.get("last_day") and (data["last_day"] - data["first_day"]).days > 7 * 60:
            raise ValidationError({"last_day": ["At most 60 weeks."]})


class CopyWeekSchema(Schema):
    source_week = Day(required=True, metadata={"description": "Monday of the week to copy"})
    target_week = Day(required=True, metadata={"description": "Monday of the week to fill"})


class BuildResultSchema(Schema):
    created = fields.Function(lambda r: len(r.created))
    left_open = fields.Function(lambda r: r.open_count)
    shift_ids = fields.Function(lambda r: [s.id for s in r.created])
    problems = fields.Function(lambda r: [{"date": d.isoformat(), "shift_code": c, "person": p, "message": m}
                                          for d, c, p, m in r.problems])


# ------------------------------------------------------------------------------------------------- periods


class PeriodSchema(Schema):
    id = fields.Integer()
    team_id = fields.Integer()
    first_day = fields.Date()
    last_day = fields.Date()
    state = fields.Function(lambda p: p.state.value)
    published_at = fields.DateTime(allow_none=True)
    published_by_id = fields.Integer(allow_none=True)
    version = fields.Integer()


class PeriodCreateSchema(Schema):
    first_day = Day(required=True)
    last_day = Day(required=True)

    @validates_schema
    def _order(self, data, **kw):
        _days_in_order(data)


class PublishSchema(Schema):
    confirm_empty = fields.Boolean(load_default=False, metadata={
        "description": "publish a period with no shifts anyway (otherwise refused with 422, code empty_period)"})


class PublishResultSchema(Schema):
    period = fields.Nested(PeriodSchema)
    reports = fields.Dict(metadata={"description": "per-person reports from publish checks (e.g. rule verdicts)"})


# --------------------------------------------------------------------------------------------------- leave


class LeaveSchema(Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    team_id = fields.Integer(allow_none=True)
    kind = fields.Function(lambda lv: lv.kind.value)
    first_day = fields.Date()
    last_day = fields.Date()
    note = fields.String(allow_none=True)


class LeaveCreateSchema(Schema):
    user_id = Id(required=True)
    team_id = Id(allow_none=True, load_default=None)
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in LeaveKind]))
    first_day = Day(required=True)
    last_day = Day(required=True)
    note = Text(max_len=200, allow_none=True, load_default=None)

    @validates_schema
    def _order(self, data, **kw):
        _days_in_order(data)


class LeaveResultSchema(LeaveSchema):
    opened_shift_ids = fields.List(fields.Integer())


class LeaveArgs(PageArgs):
    user_id = QueryId()
    team_id = QueryId()
    from_ = Day(data_key="from")
    to = Day()


# -------------------------------------------------------------------------------------------------- import


class ImportSchema(Schema):
    csv = Text(required=True, min_len=1, max_len=1_000_000,
               metadata={"description": "CSV text with a header row: staff (email or staff number), date, shift_code"})
    dry_run = fields.Boolean(load_default=False)


class ImportRowSchema(Schema):
    row = fields.Integer()
    staff = fields.String()
    date = fields.String()
    shift_code = fields.String()
    errors = fields.List(fields.String())


class ImportResultSchema(Schema):
    rows = fields.List(fields.Nested(ImportRowSchema))
    total = fields.Integer()
    created = fields.Integer()
    filled = fields.Integer()
    dry_run = fields.Boolean()
