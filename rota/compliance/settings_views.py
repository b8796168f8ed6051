"""Working-time rules pages: a team's "Working-time rules" screen for coordinators, and the "Working time" section
of a person's profile (which rules apply; record or withdraw the WTR opt-out).

Thin views: load (404), check access (403), validate a WTForm, call one service in :mod:`rota.compliance_settings`,
commit, redirect. A refused change comes back as errors in the form it came from; nothing is changed.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, DateField, IntegerField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from core import registry
from core.accounts import Membership, User
from core.auth import render_profile
from core.db import db, get_by_id
from core.errors import ValidationFailed
from core.pages import CsrfForm, form_errors, team_for_page
from core.web import as_choices
from rota.compliance import rules, settings
from rota.compliance import settings_api as compliance_settings_api

bp = Blueprint("compliance_settings", __name__)

RULE_SET_CHOICES = [SelectChoice("", "By staff group (doctors in training: TCS 2016 + WTR; everyone else: WTR)"),
                    SelectChoice("WTR", "Working Time Regulations only"),
                    SelectChoice("TCS2016,WTR", "TCS 2016 (as amended 2019) + WTR"),
                    SelectChoice("TCS2016v1,WTR", "TCS 2016 original (v1) thresholds + WTR")]
PERSON_RULE_SET_CHOICES = [SelectChoice("", "The team's rules"), *RULE_SET_CHOICES[1:]]
SEVERITY_LABELS = [SelectChoice(rules.BLOCK, "Block (not allowed)"), SelectChoice(rules.WARN, "Warn"),
                   SelectChoice(settings.OFF, "Off")]


# ------------------------------------------------------------------------------------------------------ forms


class TeamRulesForm(FlaskForm):
    """The team's settings; one severity select per listed rule is added per request (:func:`_team_form`)."""

    rule_sets = SelectField("Rule sets for this team", choices=as_choices(RULE_SET_CHOICES), validators=[Optional()])
    weekly_rest_fortnightly = BooleanField("Weekly rest by the fortnight (2 × 24 h or 48 h in 14 days)")
    rota_cycle_weeks = IntegerField("Rota cycle (weeks)", validators=[
        Optional(), NumberRange(*settings.CYCLE_WEEKS, message="Give a number of weeks from 1 to 52.")])
    break_minutes = IntegerField("Rostered break on shifts over 6 hours (minutes)", validators=[
        Optional(), NumberRange(*settings.BREAK_MINUTES, message="Give a number of minutes from 0 to 240.")])


class LocalRuleForm(FlaskForm):
    kind = SelectField("Kind of rule", choices=[SelectChoice(k.key, k.label) for k in settings.LOCAL_KINDS.values()],
                       validators=[InputRequired("Choose a kind of rule.")])
    value = IntegerField("N (the number in the rule)", validators=[InputRequired("Give a number."),
                                          NumberRange(1, 168, message="Give a number from 1 to 168.")])
    severity = SelectField("If broken", choices=as_choices(SEVERITY_LABELS[:2]), default=rules.WARN)


class PersonRulesForm(FlaskForm):
    rule_sets = SelectField("Rules", choices=as_choices(PERSON_RULE_SET_CHOICES), validators=[Optional()])
    wtr_opt_out = RadioField("48-hour week opt-out (WTR)", default="no", validators=[InputRequired("Choose one.")],
                             choices=as_choices([SelectChoice("no", "Not opted out"),
                                      SelectChoice("yes", "Opted out (signed agreement)")]))
    opted_out_at = DateField("Date the opt-out was signed", validators=[Optional()])
    note = StringField("Note (optional, never patient details)", validators=[
        Optional(), Length(max=settings.NOTE_MAX, message="Keep it under 200 characters.")])


class OptOutForm(FlaskForm):
    opted_out_at = DateField("Date you signed the opt-out", validators=[Optional()])
    confirm = BooleanField("I understand", validators=[DataRequired("Tick the box to confirm.")])


# ---------------------------------------------------------------------------------------------------- helpers


def _field_name(rule_id: str) -> str:
    return "sev_" + rule_id.replace("-", "_")


def _team_form(team, values: dict | None, formdata=None, current: dict | None = None) -> TeamRulesForm:
    current = current or settings.team_settings(team)
    rows = [r for r in current["rules"] if r["rule_set"] != "LOCAL" and not r["trust_off"]]

    class Form(TeamRulesForm):
        pass

    for r in rows:
        setattr(Form, _field_name(r["rule_id"]), SelectField(r["rule_id"], choices=as_choices(SEVERITY_LABELS),
                                                             default=r["severity"],
                                                             validators=[InputRequired("Choose a severity.")]))
    form = Form(formdata=formdata, data=values)
    _keep_choice(form.rule_sets, ",".join(current["rule_sets"] or []))
    form.rule_rows = [(r, form[_field_name(r["rule_id"])]) for r in rows]
    return form


def _members(team) -> list[User]:
    return list(db.session.scalars(select(User).join(Membership, Membership.user_id == User.id)
                                   .where(Membership.team_id == team.id).order_by(User.display_name)))


def _keep_choice(select_field, value: str) -> None:
    """Rule sets chosen through the API that the screen does not offer stay selectable (saving keeps them)."""
    if value and value not in {c.value for c in select_field.choices}:
        select_field.choices = as_choices([*select_field.choices, SelectChoice(value, value.replace(",", " + "))])


def _person_form(person, s: dict | None = None, formdata=None) -> PersonRulesForm:
    s = s or settings.person_settings(person)
    form = PersonRulesForm(formdata=formdata, prefix=f"p{person.id}", data={
        "rule_sets": ",".join(s["rule_sets"] or []), "wtr_opt_out": "yes" if s["wtr_opt_out"] else "no",
        "opted_out_at": s["opted_out_at"], "note": s["note"] or ""})
    _keep_choice(form.rule_sets, ",".join(s["rule_sets"] or []))
    return form


def _render_team(team, *, form=None, rule_form=None, person_forms=None, status=200):
    current = settings.team_settings(team)
    values = {"rule_sets": ",".join(current["rule_sets"] or []),
              "weekly_rest_fortnightly": current["weekly_rest_fortnightly"],
              "rota_cycle_weeks": current["rota_cycle_weeks"], "break_minutes": current["break_minutes"]}
    form = form or _team_form(team, values, current=current)
    people = []
    person_forms = person_forms or {}
    members = _members(team)
    all_settings = settings.people_settings(team, members)
    for m in members:
        s = all_settings[m.id]
        people.append((m, s, person_forms.get(m.id) or _person_form(m, s)))
    forms = [form, rule_form or LocalRuleForm(prefix="local"), *[p[2] for p in people]]
    return render_template("rota/compliance/settings.html", team=team, current=current, form=form,
                           rule_form=forms[1], people=people, button_form=CsrfForm(), all_forms=forms,
                           page_title="Working-time rules – " + team.name), status


def _attempt(team, form, action, message: str, anchor: str = ""):
    """Call one service; commit and go back to the screen, or put its errors on ``form`` (nothing changed) and
    return None."""
    try:
        action()
    except ValidationFailed as exc:
        db.session.rollback()
        form_errors(form, exc)
        return None
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(".team_page", team_id=team.id) + anchor)


# ---------------------------------------------------------------------------------------------- team screen


@bp.get("/teams/<int:team_id>/compliance-settings", endpoint="team_page")
@login_required
def team_page(team_id: int):
    return _render_team(team_for_page(team_id, manage=True))


@bp.post("/teams/<int:team_id>/compliance-settings")
@login_required
def save_team(team_id: int):
    team = team_for_page(team_id, manage=True)
    form = _team_form(team, None, formdata=request.form)
    if form.validate_on_submit():
        changes = settings.set_rule_severity_changes(team, {r["rule_id"]: f.data for r, f in form.rule_rows})
        changes.update(rule_sets=form.rule_sets.data.split(",") if form.rule_sets.data else None,
                       weekly_rest_fortnightly=bool(form.weekly_rest_fortnightly.data),
                       rota_cycle_weeks=form.rota_cycle_weeks.data, break_minutes=form.break_minutes.data)
        done = _attempt(team, form, lambda: settings.update_team_settings(
            team, actor=current_user._get_current_object(), changes=changes), "Working-time rules saved.")
        if done:
            return done
    return _render_team(team, form=form, status=422)


@bp.post("/teams/<int:team_id>/compliance-settings/local-rules")
@login_required
def add_local_rule(team_id: int):
    team = team_for_page(team_id, manage=True)
    form = LocalRuleForm(prefix="local")
    if form.validate_on_submit():
        done = _attempt(team, form, lambda: settings.add_local_rule(
            team, actor=current_user._get_current_object(), kind=form.kind.data, value=form.value.data,
            severity=form.severity.data), "Local rule added.", "#local-rules")
        if done:
            return done
    return _render_team(team, rule_form=form, status=422)


@bp.post("/teams/<int:team_id>/compliance-settings/local-rules/<rule_id>/remove")
@login_required
def remove_local_rule(team_id: int, rule_id: str):
    team = team_for_page(team_id, manage=True)
    if not CsrfForm().validate_on_submit():
        abort(400)
    done = _attempt(team, CsrfForm(), lambda: settings.remove_local_rule(
        team, actor=current_user._get_current_object(), rule_id=rule_id), "Local rule removed.", "#local-rules")
    return done or abort(404)


@bp.post("/teams/<int:team_id>/compliance-settings/people/<int:user_id>")
@login_required
def save_person(team_id: int, user_id: int):
    team = team_for_page(team_id, manage=True)
    person = get_by_id(User, user_id)
    if person is None or team.id not in person.team_ids:
        abort(404)
    form = _person_form(person, formdata=request.form)
    if form.validate_on_submit():
        opted = form.wtr_opt_out.data == "yes"
        changes = {"rule_sets": form.rule_sets.data.split(",") if form.rule_sets.data else None,
                   "wtr_opt_out": opted, "opted_out_at": form.opted_out_at.data if opted else None,
                   "note": form.note.data or None}
        done = _attempt(team, form, lambda: settings.update_person_settings(
            person, actor=current_user._get_current_object(), changes=changes),
            f"Working-time settings for {person.display_name} saved.", f"#person-{person.id}")
        if done:
            return done
    return _render_team(team, person_forms={person.id: form}, status=422)


# ---------------------------------------------------------------------------------------------- profile section


def profile_section(user) -> dict:
    """Everything ``rota/compliance/settings_profile.html`` shows (called from the template)."""
    return {"settings": settings.person_settings(user), "form": g.get("opt_out_form") or OptOutForm(prefix="wt")}


@bp.post("/profile/working-time/opt-out")
@login_required
def opt_out():
    me = current_user._get_current_object()
    form = OptOutForm(prefix="wt")
    record = request.form.get("action") == "record"
    if form.validate_on_submit():
        changes = {"wtr_opt_out": record}
        if record:
            changes["opted_out_at"] = form.opted_out_at.data
        try:
            settings.update_person_settings(me, actor=me, changes=changes)
            db.session.commit()
            flash("Your opt-out from the 48-hour average week is recorded." if record
                  else "Your opt-out is withdrawn: the 48-hour average week applies to you again.", "success")
            return redirect(url_for("auth.profile") + "#working-time")
        except ValidationFailed as exc:  # the person changes only their own opt-out: never Forbidden
            db.session.rollback()
            form_errors(form, exc)

    g.opt_out_form = form
    return render_profile(), 422


def register(app, api) -> None:
    compliance_settings_api.register(app, api)
    app.register_blueprint(bp)
    registry.register_profile_section(app, "rota/compliance/settings_profile.html")
    app.jinja_env.globals["working_time_section"] = profile_section
    app.jinja_env.globals["can_change_person"] = settings.can_manage_person
