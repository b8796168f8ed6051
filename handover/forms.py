"""The handover pages' forms, their field labels (SBAR or I-PASS), and the conversion between the actions text box
(one action a line: ``text | owner | HH:MM``) and stored actions."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.db import now_utc
from core.errors import ValidationFailed
from core.web import as_choices, in_calendar
from handover import access
from handover.models import HandoverStyle, Severity


class PatientForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Enter the patient's name."), Length(max=120)])
    nhs_number = StringField("NHS number", validators=[Optional(), Length(max=20)])
    hospital_number = StringField("Hospital number (MRN)", validators=[Optional(), Length(max=32)])
    date_of_birth = DateField("Date of birth", validators=[Optional()])
    location = StringField("Bed or location", validators=[Optional(), Length(max=60)])
    admitted_on = DateField("Admitted", validators=[Optional()])


class MoveForm(FlaskForm):
    location = StringField("New bed or location", validators=[DataRequired("Enter the new bed."), Length(max=60)])


class StartForm(FlaskForm):
    label = StringField("Shift change", validators=[DataRequired("Name the shift change."), Length(max=80)])
    starts_at = DateTimeLocalField("Handover time", format="%Y-%m-%dT%H:%M",
                                   validators=[DataRequired("Enter the handover time."), in_calendar])
    incoming_id = SelectField("Incoming clinician", coerce=int, validators=[Optional()])


class SettingsForm(FlaskForm):
    style = SelectField("Handover format", choices=as_choices([("sbar", "SBAR"), ("ipass", "I-PASS")]))
    ack_minutes = IntegerField("Tell coordinators if not accepted after (minutes)",
                               validators=[DataRequired(), NumberRange(min=5, max=24 * 60)])


class EntryForm(FlaskForm):
    base_version = HiddenField()
    severity = RadioField("Illness severity", choices=as_choices([(s.value, s.value.capitalize()) for s in Severity]),
                          validators=[DataRequired("Choose the illness severity.")])
    situation = TextAreaField("Situation", validators=[Length(max=4000)])
    background = TextAreaField("Background", validators=[Length(max=4000)])
    assessment = TextAreaField("Assessment", validators=[Length(max=4000)])
    recommendation = TextAreaField("Recommendation", validators=[Length(max=4000)])
    actions = TextAreaField("Actions", validators=[Length(max=8000)])
    contingency = TextAreaField("Contingency: if … then …", validators=[Length(max=4000)])
    synthesis = TextAreaField("Receiver's synthesis / read-back", validators=[Length(max=4000)])


class AcceptForm(FlaskForm):
    readback_note = TextAreaField("Read-back note", validators=[Length(max=2000)])
    seen_at = HiddenField()  # when the page was rendered: an entry changed after that must be re-read
    confirm_off_rota = BooleanField("I am taking responsibility for these patients although I am not on the rota")

    def seen(self) -> datetime | None:
        try:
            value = datetime.fromisoformat(self.seen_at.data or "")
        except ValueError:
            return None
        return value if value.tzinfo else None


def new_accept_form(formdata=None) -> AcceptForm:
    """The accept form as rendered: ``seen_at`` is now (what the page shows is what the reader sees); on a page shown
    again after a POST, what was typed (the read-back, the confirmation) is kept."""
    form = AcceptForm(formdata=formdata)
    form.seen_at.data = now_utc().isoformat()
    return form


class ImageForm(FlaskForm):
    photo = FileField("Add a photo")


IPASS_LABELS = {"situation": "Situation awareness", "background": "Patient summary",
                "synthesis": "Synthesis by receiver"}


def field_labels(style: HandoverStyle) -> dict:
    labels = {"severity": "Illness severity", "situation": "Situation", "background": "Background",
              "assessment": "Assessment", "recommendation": "Recommendation",
              "contingency": "Contingency (if … then …)", "synthesis": "Receiver's synthesis / read-back",
              "actions": "Actions"}
    if style == HandoverStyle.ipass:
        labels.update(IPASS_LABELS)
    return labels


def actions_text(entry, team) -> str:
    zone = access.team_zone(team)
    lines = []
    for a in entry.actions or []:
        due = datetime.fromisoformat(a["due_at"]).astimezone(zone).strftime("%H:%M") if a.get("due_at") else ""
        lines.append(" | ".join([a["text"], a.get("owner") or "", due]).rstrip(" |"))
    return "\n".join(lines)


def parse_actions(text: str, handover) -> list[dict]:
    zone = access.team_zone(handover.team)
    start_local = handover.starts_at.astimezone(zone).replace(tzinfo=None)
    actions = []
    for n, line in enumerate(filter(None, (raw.strip() for raw in (text or "").splitlines())), start=1):
        parts = [p.strip() for p in line.split("|")]
        item = {"text": parts[0], "owner": parts[1] if len(parts) > 1 else None, "due_at": None}
        if len(parts) > 2 and parts[2]:
            try:
                hh, mm = (int(x) for x in parts[2].replace(".", ":").split(":"))
                due = start_local.replace(hour=hh, minute=mm, second=0, microsecond=0)
            except ValueError:
                raise ValidationFailed("Action times are HH:MM.",
                                       errors={"actions": [f"Line {n}: give the due time as HH:MM."]})
            if due < start_local - timedelta(hours=1):
                due += timedelta(days=1)
            item["due_at"] = due
        actions.append(item)
    return actions
