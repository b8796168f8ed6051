"""API schemas for insights: the same numbers as the pages (docs/insights.md defines each)."""

from __future__ import annotations

from marshmallow import Schema, fields

from core.api import Text


def Rate(description: str) -> fields.Float:  # noqa: N802  (used like a field class)
    return fields.Float(allow_none=True, metadata={
        "description": description + " (percent, one decimal; null when there is nothing to divide by)"})


def Minutes(description: str) -> fields.Float:  # noqa: N802
    return fields.Float(allow_none=True, metadata={
        "description": description + " in minutes (nearest-rank percentile; null when there are no values)"})


class PeriodArgs(Schema):
    from_ = fields.Date(data_key="from", metadata={"description": "First local day (YYYY-MM-DD), in the team's zone. "
                                                                  "Default: 28 days before today."})
    to = fields.Date(metadata={"description": "Last local day, inclusive. Default: yesterday."})


class SiteArgs(PeriodArgs):
    site = Text(max_len=120, metadata={"description": "Only teams of this site (Team.site); all teams when absent"})


class InsightsCoverSchema(Schema):
    slots = fields.Integer()
    published_slots = fields.Integer()
    filled_at_publication = fields.Integer()
    filled_at_publication_rate = Rate("Slots filled at publication ÷ slots in a published period")
    filled_24h_before = fields.Integer()
    filled_24h_before_rate = Rate("Slots filled 24 h before their start ÷ slots")
    filled_at_start = fields.Integer()
    filled_at_start_rate = Rate("Slots filled at their start ÷ slots")
    unfilled_at_start = fields.Integer()


class InsightsRoutesHowSchema(Schema):
    app = fields.Integer(metadata={"description": "Claimed by the person in the app or through the API"})
    card = fields.Integer(metadata={"description": "Claimed from the shift's card in a team channel"})
    sms = fields.Integer()
    coordinator = fields.Integer()


class InsightsRoutesWhereSchema(Schema):
    own = fields.Integer()
    bank = fields.Integer()
    neighbour = fields.Integer()


class InsightsOpenShiftsSchema(Schema):
    created = fields.Integer()
    filled = fields.Integer()
    fill_rate = Rate("Filled ÷ created")
    short_notice = fields.Integer(metadata={"description": "Opened less than 24 h before the shift's start"})
    by_how = fields.Nested(InsightsRoutesHowSchema)
    by_where = fields.Nested(InsightsRoutesWhereSchema)
    time_to_fill_median_min = Minutes("Median time to fill")
    time_to_fill_p90_min = Minutes("90th percentile time to fill")


class InsightsSwapsSchema(Schema):
    requests = fields.Integer()
    swaps = fields.Integer()
    offers = fields.Integer()
    approved = fields.Integer()
    auto_approved = fields.Integer()
    auto_approved_share = Rate("Auto-approved ÷ approved")
    refused = fields.Integer()
    decision_median_min = Minutes("Median time from request to decision")
    decision_p90_min = Minutes("90th percentile time from request to decision")
    refusal_reasons = fields.List(fields.Tuple((fields.String(), fields.Integer())))


class InsightsBroadcastsSchema(Schema):
    broadcasts = fields.Integer()
    recipients = fields.Integer()
    in_app = fields.Integer()
    read = fields.Integer()
    read_rate = Rate("Read ÷ reached in the app")
    ack_asked = fields.Integer()
    acknowledged = fields.Integer()
    ack_rate = Rate("Acknowledged ÷ asked to acknowledge")
    push = fields.Integer()
    sms = fields.Integer()
    sms_segments = fields.Integer()
    sms_cost_pence = fields.Float(metadata={"description": "Segments × INSIGHTS_SMS_PRICE_PENCE"})


class InsightsWorkingTimeSchema(Schema):
    warnings_accepted = fields.Integer()
    overrides = fields.Integer()
    override_reasons = fields.List(fields.Tuple((fields.String(), fields.Integer())))
    blocking_avoided = fields.Integer(metadata={"description": "Changes refused by a blocking verdict"})
    blocking_by_rule = fields.List(fields.Tuple((fields.String(), fields.Integer())),
                                   metadata={"description": "[rule code, changes refused], most first"})
    nights_spread = fields.Integer(allow_none=True)
    weekends_spread = fields.Integer(allow_none=True)


class InsightsHandoverSchema(Schema):
    handed_over = fields.Integer()
    accepted = fields.Integer()
    overdue = fields.Integer()
    carried_unreviewed = fields.Integer()
    acceptance_median_min = Minutes("Median time from hand-over to acceptance")
    acceptance_p90_min = Minutes("90th percentile time from hand-over to acceptance")


class InsightsPersonSchema(Schema):
    name = fields.String()
    shifts = fields.Integer()
    hours = fields.Float()
    contracted_hours = fields.Float(allow_none=True, metadata={
        "description": "FTE × the trust's full-time week × days ÷ 7; null for someone not on the team"})
    hours_vs_contracted = fields.Float(allow_none=True, metadata={"description": "hours − contracted_hours"})
    nights = fields.Integer()
    weekends = fields.Integer()


class InsightsMeasuresSchema(Schema):
    cover = fields.Nested(InsightsCoverSchema)
    open_shifts = fields.Nested(InsightsOpenShiftsSchema)
    swaps = fields.Nested(InsightsSwapsSchema)
    broadcasts = fields.Nested(InsightsBroadcastsSchema)
    working_time = fields.Nested(InsightsWorkingTimeSchema)
    handover = fields.Nested(InsightsHandoverSchema)


class TeamInsightsSchema(Schema):
    team_id = fields.Integer(required=True)
    team = fields.String()
    site = fields.String(allow_none=True)
    timezone = fields.String()
    period = fields.Dict(metadata={"description": '{"from": date, "to": date} (local, inclusive)'})
    previous_period = fields.Dict()
    current = fields.Nested(InsightsMeasuresSchema)
    previous = fields.Nested(InsightsMeasuresSchema)
    people = fields.List(fields.Nested(InsightsPersonSchema), allow_none=True,
                         metadata={"description": "Only for a coordinator of this team; null otherwise"})


class SiteInsightsSchema(Schema):
    site = fields.String(allow_none=True)
    period = fields.Dict()
    teams = fields.List(fields.Nested(TeamInsightsSchema))
