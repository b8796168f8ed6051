"""Working-time settings API (``/api/v1``): the rule catalogue, and a team's and a person's settings. Thin views over
:mod:`rota.compliance_settings` (which validates, checks permissions and audits)."""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields, validate

from core.api import Blueprint, Text, login_required_api
from core.db import db
from rota import services
from rota.compliance import rules, settings

blp = Blueprint("compliance_settings_api", __name__, url_prefix="/api/v1",
                description="Working-time settings: which rules apply to a team and a person")

_SEVERITY = validate.OneOf(list(rules.SEVERITIES))
_RULE_SET = validate.OneOf(list(settings.RULE_SET_NAMES))


# ------------------------------------------------------------------------------------------------- schemas


class LocalRuleSchema(Schema):
    """A local rule. ``check`` decides which thresholds apply (see ``GET /compliance/rules``, ``local_checks``)."""

    id = Text(max_len=40, required=True, metadata={"description": "Starts with LOCAL-, e.g. LOCAL-long3"})
    check = fields.String(validate=validate.OneOf(list(settings.LOCAL_CHECKS)),
                          metadata={"description": "Default: the template's check for a known id"})
    severity = fields.String(validate=_SEVERITY)
    title = Text(max_len=settings.TITLE_MAX, allow_none=True)
    filter = fields.String(validate=validate.OneOf(["any", "long", "night"]))
    max_run = fields.Integer()
    long_over_hours = fields.Float(allow_nan=False)
    rest_after_hours = fields.Float(allow_nan=False, allow_none=True)
    max_hours = fields.Float(allow_nan=False)
    min_rest_hours = fields.Float(allow_nan=False)
    window_hours = fields.Integer()


class EffectiveRuleSchema(Schema):
    rule_id = fields.String(required=True)
    rule_set = fields.String(required=True)
    title = fields.String(required=True)
    source = fields.String(required=True)
    severity = fields.String(required=True, metadata={"enum": list(settings.SEVERITY_CHOICES)})
    default_severity = fields.String(metadata={"enum": list(rules.SEVERITIES)})
    trust_off = fields.Boolean(metadata={"description": "Switched off trust-wide (configuration)"})


class TeamSettingsSchema(Schema):
    team_id = fields.Integer(required=True)
    rule_sets = fields.List(fields.String(), allow_none=True, required=True,
                            metadata={"description": "null: by staff group (doctors in training TCS2016 + WTR, "
                                                     "everyone else WTR)"})
    by_staff_group = fields.Boolean(required=True)
    severities = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    disabled_rules = fields.List(fields.String(), required=True)
    extra_rules = fields.List(fields.Nested(LocalRuleSchema), required=True)
    weekly_rest_fortnightly = fields.Boolean(required=True)
    rota_cycle_weeks = fields.Integer(allow_none=True, required=True)
    break_minutes = fields.Integer(allow_none=True, required=True)
    updated_at = fields.DateTime(allow_none=True, required=True)
    rules = fields.List(fields.Nested(EffectiveRuleSchema), required=True,
                        metadata={"description": "Every rule of the team's sets with the team's severity"})


class TeamSettingsUpdateSchema(Schema):
    """Only the keys given change; the rest stay as they are."""

    rule_sets = fields.List(fields.String(validate=_RULE_SET), allow_none=True, validate=validate.Length(min=1, max=3),
                            metadata={"description": "null: by staff group"})
    severities = fields.Dict(keys=Text(max_len=40), values=fields.String(validate=_SEVERITY),
                             metadata={"description": "{rule id: block|warn}; rules not named keep the default"})
    disabled_rules = fields.List(Text(max_len=40), validate=validate.Length(max=60))
    extra_rules = fields.List(fields.Nested(LocalRuleSchema), validate=validate.Length(max=settings.MAX_LOCAL_RULES))
    weekly_rest_fortnightly = fields.Boolean()
    rota_cycle_weeks = fields.Integer(allow_none=True, validate=validate.Range(*settings.CYCLE_WEEKS))
    break_minutes = fields.Integer(allow_none=True, validate=validate.Range(*settings.BREAK_MINUTES))


class AppliedRuleSchema(Schema):
    rule_id = fields.String(required=True)
    rule_set = fields.String(required=True)
    title = fields.String(required=True)
    source = fields.String(required=True)
    severity = fields.String(required=True, metadata={"enum": list(rules.SEVERITIES)})


class AppliesSchema(Schema):
    rule_sets = fields.List(fields.String(), required=True)
    opted_out = fields.Boolean(required=True)
    rules = fields.List(fields.Nested(AppliedRuleSchema), required=True)


class PersonSettingsSchema(Schema):
    user_id = fields.Integer(required=True)
    wtr_opt_out = fields.Boolean(required=True)
    opted_out_at = fields.Date(allow_none=True, required=True, metadata={"description": "Day the opt-out was signed"})
    rule_sets = fields.List(fields.String(), allow_none=True, required=True)
    extra_rules = fields.List(fields.Nested(LocalRuleSchema), required=True)
    note = fields.String(allow_none=True, required=True)
    updated_at = fields.DateTime(allow_none=True, required=True)
    default_rule_sets = fields.List(fields.String(), required=True)
    applies = fields.Nested(AppliesSchema, required=True)


class PersonSettingsUpdateSchema(Schema):
    """Only the keys given change. A person may change only ``wtr_opt_out`` and ``opted_out_at`` (their own)."""

    wtr_opt_out = fields.Boolean(metadata={"description": "The WTR 48-hour opt-out (WTR-avg48 off; night limits and "
                                                          "TCS rules still apply)"})
    opted_out_at = fields.Date(allow_none=True, metadata={"description": "Day it was signed (default today)"})
    rule_sets = fields.List(fields.String(validate=_RULE_SET), allow_none=True, validate=validate.Length(min=1, max=3))
    extra_rules = fields.List(fields.Nested(LocalRuleSchema), validate=validate.Length(max=settings.MAX_LOCAL_RULES))
    note = Text(max_len=settings.NOTE_MAX, allow_none=True, metadata={"description": "Short, never patient data"})


class CatalogueRuleSchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    default_severity = fields.String(required=True, metadata={"enum": list(rules.SEVERITIES)})
    source = fields.String(required=True)
    check = fields.String(required=True)
    params = fields.Dict(required=True)


class CatalogueSetSchema(Schema):
    name = fields.String(required=True)
    title = fields.String(required=True)
    rules = fields.List(fields.Nested(CatalogueRuleSchema), required=True)


class LocalParamSchema(Schema):
    name = fields.String(required=True)
    label = fields.String(required=True)
    required = fields.Boolean(required=True)
    nullable = fields.Boolean(required=True)
    choices = fields.List(fields.String(), required=True)
    minimum = fields.Float(allow_none=True, required=True)
    maximum = fields.Float(allow_none=True, required=True)
    integer = fields.Boolean(required=True)


class LocalCheckSchema(Schema):
    check = fields.String(required=True)
    params = fields.List(fields.Nested(LocalParamSchema), required=True)


class LocalTemplateSchema(Schema):
    id = fields.String(required=True)
    check = fields.String(required=True)
    title = fields.String(required=True)
    default_severity = fields.String(required=True)
    params = fields.Dict(required=True)


class CatalogueSchema(Schema):
    rule_sets = fields.List(fields.Nested(CatalogueSetSchema), required=True)
    severities = fields.List(fields.String(), required=True)
    local_checks = fields.List(fields.Nested(LocalCheckSchema), required=True)
    local_templates = fields.List(fields.Nested(LocalTemplateSchema), required=True)


# -------------------------------------------------------------------------------------------------- lookups


get_team, get_person = services.get_team, services.get_user


def _me():
    return current_user._get_current_object()


# ------------------------------------------------------------------------------------------------------ API


@blp.get("/compliance/rules")
@blp.response(200, CatalogueSchema)
@login_required_api
def rule_catalogue():
    """Every rule set and rule (id, title, default severity, source, thresholds), the severities a team may choose
    (``off`` switches a rule off), and the checks and thresholds a local rule may use."""
    return settings.catalogue()


@blp.get("/teams/<int:team_id>/compliance-settings")
@blp.response(200, TeamSettingsSchema)
@login_required_api
def get_team_settings(team_id):
    """A team's working-time settings and every rule of its sets with the severity it has in this team.
    Team members, its coordinators and administrators may read them."""
    team = get_team(team_id)
    settings.require_team_view(team, _me())
    return settings.team_settings(team)


@blp.put("/teams/<int:team_id>/compliance-settings")
@blp.arguments(TeamSettingsUpdateSchema)
@blp.response(200, TeamSettingsSchema)
@login_required_api
def put_team_settings(data, team_id):
    """Change a team's settings (coordinators and administrators). Only the keys given change. Unknown rule ids or
    sets, bad severities or out-of-range numbers: 422 with per-field errors, and nothing changes. Audited."""
    team = get_team(team_id)
    result = settings.update_team_settings(team, actor=_me(), changes=data)
    db.session.commit()
    return result


@blp.get("/users/<int:user_id>/compliance-settings")
@blp.response(200, PersonSettingsSchema)
@login_required_api
def get_person_settings(user_id):
    """A person's settings and the rules that apply to them. The person, their coordinators and administrators."""
    person = get_person(user_id)
    settings.require_person_view(person, _me())
    return settings.person_settings(person)


@blp.put("/users/<int:user_id>/compliance-settings")
@blp.arguments(PersonSettingsUpdateSchema)
@blp.response(200, PersonSettingsSchema)
@login_required_api
def put_person_settings(data, user_id):
    """Change a person's settings. The person may record (``wtr_opt_out: true``, ``opted_out_at``: the day they
    signed) or withdraw their own WTR opt-out; their coordinators and administrators may change everything.
    Only the keys given change. Audited."""
    person = get_person(user_id)
    result = settings.update_person_settings(person, actor=_me(), changes=data)
    db.session.commit()
    return result


def register(app, api) -> None:
    api.register_blueprint(blp)
