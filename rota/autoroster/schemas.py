"""Marshmallow schemas of the auto-roster: the request to start a run, the report it gives, and a job.
The report is stored on the job row as this schema dumps it (``jobs.finish``), so the API and the pages read one
shape."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.api import AwareDateTime


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


class AutoRosterJobSchema(Schema):
    id = fields.Integer()
    period_id = fields.Integer()
    state = fields.Function(lambda j: j.state.value,
                            metadata={"description": "queued | running | done | failed | cancelled"})
    requested_by_id = fields.Integer(allow_none=True)
    seed = fields.Integer()
    time_limit = fields.Float()
    cancel_requested = fields.Boolean()
    created_at = AwareDateTime()
    started_at = AwareDateTime(allow_none=True)
    finished_at = AwareDateTime(allow_none=True)
    solutions = fields.Integer(metadata={"description": "drafts found so far, each better than the last"})
    best_objective = fields.Float(allow_none=True, metadata={"description": "the best draft's cost (lower is better)"})
    places = fields.Integer(metadata={"description": "requirement places in the period"})
    filled = fields.Integer(metadata={"description": "places the best draft so far fills"})
    gaps_left = fields.Integer()
    elapsed_seconds = fields.Float()
    result = fields.Dict(allow_none=True,
                         metadata={"description": "the report, once the job is done (or cancelled after a draft was "
                                                  "found): period_id, status, seed, created, pinned, gaps, "
                                                  "refused_requests, requests_honoured, engine_refused, people, as "
                                                  "the AutoRoster schema"})
    error = fields.String(allow_none=True)
