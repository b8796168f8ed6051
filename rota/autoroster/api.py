"""Auto-roster JSON API: ``POST /api/v1/rota-periods/{id}/auto-roster`` builds a draft for a draft period.
Errors are application/problem+json (core.handlers)."""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields, validate

from core.api import Blueprint, login_required_api
from core.db import db
from rota import services
from rota.autoroster import service

blp = Blueprint("autoroster_api", __name__, url_prefix="/api/v1",
                description="Auto-roster: a draft rota for a period built by a solver and judged by the rules engine")


class AutoRosterArgs(Schema):
    seed = fields.Integer(load_default=1, validate=validate.Range(min=1, max=2**31 - 1),
                          metadata={"description": "the solver's random seed: the same seed and data give the same "
                                                   "rota"})
    time_limit = fields.Float(load_default=30.0, allow_nan=False, validate=validate.Range(min=1, max=120),
                              metadata={"description": "seconds the solver may take at most"})


class AutoRosterGapSchema(Schema):
    requirement_id = fields.Integer(allow_none=True)
    day = fields.Date()
    type_id = fields.Integer(data_key="shift_type_id")
    shift_type = fields.String()
    missing = fields.Integer()
    why = fields.String()


class AutoRosterRefusedSchema(Schema):
    user_id = fields.Integer()
    person = fields.String()
    day = fields.Date()
    kind = fields.String()
    type_id = fields.Integer(allow_none=True, data_key="shift_type_id")
    priority = fields.Integer()
    why = fields.String()


class AutoRosterCreatedSchema(Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    day = fields.Date()
    shift_type = fields.String()


class AutoRosterPersonSchema(Schema):
    user_id = fields.Integer()
    name = fields.String()
    contracted_minutes = fields.Integer()
    rostered_minutes = fields.Integer()
    nights = fields.Integer()
    weekend_shifts = fields.Integer()


class AutoRosterSchema(Schema):
    period_id = fields.Integer()
    status = fields.String(metadata={"description": "optimal | feasible | infeasible | unknown"})
    seed = fields.Integer()
    created = fields.List(fields.Nested(AutoRosterCreatedSchema))
    pinned = fields.Integer(metadata={"description": "shifts already in the period, kept as they were"})
    gaps = fields.List(fields.Nested(AutoRosterGapSchema))
    refused_requests = fields.List(fields.Nested(AutoRosterRefusedSchema))
    requests_honoured = fields.Integer()
    engine_refused = fields.Integer()
    people = fields.List(fields.Nested(AutoRosterPersonSchema))


@blp.post("/rota-periods/<int:period_id>/auto-roster")
@blp.arguments(AutoRosterArgs, required=False)
@blp.response(201, AutoRosterSchema)
@login_required_api
def auto_roster(data, period_id):
    """Coordinators: build a draft for a draft period around the shifts already in it (kept as they are). Each
    unfilled requirement and each refused request says why. 409 ``period_published`` on a published period."""
    period = services.get_period(period_id)
    services.require_view(period.team, current_user)
    report = service.auto_roster(period, actor=current_user, seed=(data or {}).get("seed", 1),
                                 time_limit=(data or {}).get("time_limit", 30.0))
    db.session.commit()
    return report
