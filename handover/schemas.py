"""API schemas in pairs: ``XSchema`` dumps, ``XCreateSchema`` / ``XUpdateSchema`` load."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.api import AwareDateTime, DateTime, Id, Text
from handover.models import Severity

MAX_TEXT = 4000
SEVERITIES = [s.value for s in Severity]


class PersonSchema(Schema):
    id = fields.Integer(required=True)
    display_name = fields.String(required=True)


class PatientSchema(Schema):
    id = fields.Integer(required=True)
    team_id = fields.Integer(required=True)
    name = fields.String(required=True)
    nhs_number = fields.String(allow_none=True, metadata={"description": "10 digits, check digit verified"})
    nhs_number_display = fields.String(metadata={"description": "Shown 3-3-4, e.g. 999 000 0019"})
    hospital_number = fields.String(allow_none=True)
    date_of_birth = fields.Date(allow_none=True)
    location = fields.String()
    admitted_on = fields.Date(allow_none=True)
    discharged_at = fields.DateTime(allow_none=True)
    active = fields.Boolean()


class PatientCreateSchema(Schema):
    name = Text(required=True, min_len=1, max_len=120)
    nhs_number = Text(max_len=20, allow_none=True, metadata={"description": "10 digits; spaces or dashes allowed"})
    hospital_number = Text(max_len=32, allow_none=True)
    date_of_birth = fields.Date(allow_none=True)
    location = Text(max_len=60, load_default="")
    admitted_on = fields.Date(allow_none=True)


class PatientUpdateSchema(Schema):
    name = Text(min_len=1, max_len=120)
    nhs_number = Text(max_len=20, allow_none=True)
    hospital_number = Text(max_len=32, allow_none=True)
    date_of_birth = fields.Date(allow_none=True)
    location = Text(max_len=60)
    admitted_on = fields.Date(allow_none=True)
    discharged = fields.Boolean(metadata={"description": "true discharges the patient from the team's list"})


class PatientListArgs(Schema):
    include_discharged = fields.Boolean(load_default=False)


class ActionSchema(Schema):
    index = fields.Integer(required=True)
    text = fields.String(required=True)
    owner = fields.String(allow_none=True)
    due_at = fields.String(allow_none=True, metadata={"description": "ISO 8601 UTC"})
    done_at = fields.String(allow_none=True)
    done_by = fields.String(allow_none=True)


class ActionInSchema(Schema):
    text = Text(required=True, min_len=1, max_len=300)
    owner = Text(max_len=120, allow_none=True)
    due_at = DateTime(allow_none=True,
                      metadata={"description": "With an offset, or local to the team (refused if it does "
                                               "not exist or is ambiguous)"})


class ImageSchema(Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True)
    thumb_url = fields.String(required=True)
    width = fields.Integer()
    height = fields.Integer()
    created_at = fields.DateTime()


class PatientBriefSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String()
    nhs_number_display = fields.String()
    hospital_number = fields.String(allow_none=True)
    date_of_birth = fields.Date(allow_none=True)
    location = fields.String()
    active = fields.Boolean()


class EntrySchema(Schema):
    id = fields.Integer(required=True)
    patient = fields.Nested(PatientBriefSchema, required=True)
    version = fields.Integer(required=True)
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    situation = fields.String()
    background = fields.String(metadata={"description": "SBAR background; I-PASS patient summary"})
    assessment = fields.String()
    recommendation = fields.String()
    contingency = fields.String(metadata={"description": "I-PASS situation awareness: if ... then ..."})
    synthesis = fields.String(metadata={"description": "Receiver's synthesis / read-back"})
    actions = fields.List(fields.Nested(ActionSchema))
    carried_from_id = fields.Integer(allow_none=True)
    author = fields.Nested(PersonSchema, allow_none=True)
    updated_at = fields.DateTime()
    reviewed_at = fields.DateTime(allow_none=True)
    accepted_at = fields.DateTime(allow_none=True)
    accepted_by = fields.Nested(PersonSchema, allow_none=True)
    readback_note = fields.String(allow_none=True)
    accepted_off_rota = fields.Boolean(metadata={"description": "Accepted by someone not on the rota, who confirmed"})
    images = fields.List(fields.Nested(ImageSchema))


class HandoverSchema(Schema):
    id = fields.Integer(required=True)
    team_id = fields.Integer(required=True)
    label = fields.String()
    style = fields.String(validate=validate.OneOf(["sbar", "ipass"]))
    state = fields.String(validate=validate.OneOf(["open", "ready", "accepted"]))
    starts_at = fields.DateTime()
    outgoing = fields.Nested(PersonSchema)
    incoming = fields.Nested(PersonSchema, allow_none=True)
    previous_id = fields.Integer(allow_none=True)
    ready_at = fields.DateTime(allow_none=True)
    accepted_at = fields.DateTime(allow_none=True)
    accepted_by = fields.Nested(PersonSchema, allow_none=True)
    readback_note = fields.String(allow_none=True)
    accepted_off_rota = fields.Boolean()
    flagged_at = fields.DateTime(allow_none=True)
    closed = fields.Boolean()
    entries = fields.List(fields.Nested(EntrySchema))


class HandoverCreateSchema(Schema):
    label = Text(required=True, min_len=1, max_len=80, metadata={"description": "e.g. Night → Early"})
    starts_at = DateTime(required=True,
                         metadata={"description": "The shift change; a time without an offset is read in the "
                                                  "team's zone"})
    outgoing_id = Id(allow_none=True)
    incoming_id = Id(allow_none=True)


class EntryUpdateSchema(Schema):
    base_version = fields.Integer(required=True, validate=validate.Range(min=0, max=1_000_000),
                                  error_messages={"required": "Send the version you edited (0 if the patient has no "
                                                              "entry yet)."},
                                  metadata={"description": "The version you edited (0 if the patient has no entry "
                                                           "yet). 409 if anyone saved since, with current_version, "
                                                           "saved_by and saved_at: merge and send again."})
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    situation = Text(max_len=MAX_TEXT)
    background = Text(max_len=MAX_TEXT)
    assessment = Text(max_len=MAX_TEXT)
    recommendation = Text(max_len=MAX_TEXT)
    contingency = Text(max_len=MAX_TEXT)
    synthesis = Text(max_len=MAX_TEXT)
    actions = fields.List(fields.Nested(ActionInSchema), validate=validate.Length(max=30))


class AcceptSchema(Schema):
    patient_ids = fields.List(Id(), validate=validate.Length(min=1, max=500),
                              metadata={"description": "Accept these patients' entries; omit to accept the whole "
                                                       "handover"})
    readback_note = Text(max_len=2000, load_default="")
    seen_at = AwareDateTime(metadata={"description": "When you read the entries; 409 if one changed since"})
    confirm_off_rota = fields.Boolean(load_default=False,
                                      metadata={"description": "You take responsibility although you have no shift on "
                                                               "the team's rota in the next 2 hours (422 without it)"})

    @validates_schema
    def unique(self, data, **kwargs):
        ids = data.get("patient_ids") or []
        if len(set(ids)) != len(ids):
            raise ValidationError({"patient_ids": ["List each patient once."]})


class ImageUploadSchema(Schema):
    file = Upload(required=True, metadata={"description": "JPEG, PNG or HEIC photo"})


class FhirBundleSchema(Schema):
    resourceType = fields.String(required=True)
    type = fields.String(required=True)
    entry = fields.List(fields.Dict())

    class Meta:
        unknown = "include"
