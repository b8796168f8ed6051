"""Handover pages: my teams' handovers, patient list, the sheet, the per-patient edit screen, print and images.

Every URL checks team membership (403, audited by core.errors otherwise) and every page that shows clinical content
writes an audit entry (who, what, when: never the content). The forms and the actions text box are in
``handover.forms``.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from core import audit
from core.accounts import Team
from core.db import db, get_by_id, now_utc
from core.errors import DomainError, NotFound
from core.pages import CsrfForm, form_errors, get_or_404
from core.security import no_store
from core.web import as_choices
from handover import acceptance, access, images, patient_records, retention, services
from handover.forms import (
    AcceptForm,
    EntryForm,
    ImageForm,
    MoveForm,
    PatientForm,
    SettingsForm,
    StartForm,
    actions_text,
    field_labels,
    new_accept_form,
    parse_actions,
)
from handover.models import Handover, HandoverImage, HandoverState, Patient
from handover.payload import actions_of, load_sheet

bp = no_store(Blueprint("handover", __name__, url_prefix="/handover"))  # every page may show patient data


# ---------------------------------------------------------------------------------------------------- helpers


def _team(team_id: int) -> Team:
    team = get_or_404(Team, team_id)
    access.require_view(team, current_user)
    return team


def _handover(handover_id: int):
    handover = services.get_handover(handover_id)
    access.require_view(handover.team, current_user)
    return handover


def _patient(handover, patient_id: int) -> Patient:
    patient = get_by_id(Patient, patient_id)
    if patient is None or patient.team_id != handover.team_id or patient.purged_at is not None:
        raise NotFound("That patient is not on this team's list.")
    return patient


# ------------------------------------------------------------------------------------------------------ pages


@bp.get("/")
@login_required
def index():
    teams = db.session.scalars(select(Team).order_by(Team.name)).all()
    teams = [t for t in teams if t.id in current_user.team_ids or current_user.is_admin]
    cards = []
    for team in teams:
        form = StartForm(prefix=f"t{team.id}")
        form.incoming_id.choices = as_choices([(0, "Anyone on the team")] + [
            (u.id, u.display_name) for u in services.memberships_of(team) if u.id != current_user.id])
        now_local = now_utc().astimezone(access.team_zone(team)).replace(tzinfo=None, second=0, microsecond=0)
        form.starts_at.data = form.starts_at.data or now_local
        form.label.data = form.label.data or services.default_label(now_utc(), team)
        cards.append({"team": team, "handovers": services.list_handovers(team, limit=5), "form": form,
                      "settings": access.settings_for(team)})
    return render_template("handover/index.html", cards=cards)


@bp.post("/teams/<int:team_id>/start")
@login_required
def start(team_id):
    team = _team(team_id)
    form = StartForm(prefix=f"t{team.id}")
    form.incoming_id.choices = as_choices([(0, "Anyone on the team")] + [(u.id, u.display_name)
                                                             for u in services.memberships_of(team)])
    if form.validate():
        try:
            starts_at = access.local_to_utc(form.starts_at.data, access.team_zone(team))
            handover = services.start_handover(team, current_user, label=form.label.data, starts_at=starts_at,
                                               incoming_id=form.incoming_id.data or None)
        except DomainError as exc:
            if exc.status == 403:
                raise
            form_errors(form, exc, flash_detail=True)
        else:
            db.session.commit()
            return redirect(url_for(".sheet", handover_id=handover.id))
    cards = [{"team": team, "handovers": services.list_handovers(team, limit=5), "form": form,
              "settings": access.settings_for(team)}]
    return render_template("handover/index.html", cards=cards), 422


@bp.post("/teams/<int:team_id>/settings")
@login_required
def settings(team_id):
    team = _team(team_id)
    form = SettingsForm()
    if form.validate():
        access.update_settings(team, current_user, style=form.style.data, ack_minutes=form.ack_minutes.data)
        db.session.commit()
        flash("Handover settings saved.")
    else:
        flash("Settings not saved: " + "; ".join(e for errs in form.errors.values() for e in errs))
    return redirect(url_for(".patients", team_id=team.id))


@bp.route("/teams/<int:team_id>/patients", methods=["GET", "POST"])
@login_required
def patients(team_id):
    team = _team(team_id)
    form = PatientForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                patient_records.add_patient(team, current_user, name=form.name.data, nhs_number=form.nhs_number.data,
                                     hospital_number=form.hospital_number.data,
                                     date_of_birth=form.date_of_birth.data, location=form.location.data or "",
                                     admitted_on=form.admitted_on.data)
            except DomainError as exc:
                if exc.status == 403:
                    raise
                db.session.rollback()
                form_errors(form, exc, flash_detail=True)
                status = exc.status
            else:
                db.session.commit()
                flash("Patient added to the list.")
                return redirect(url_for(".patients", team_id=team.id))
        else:
            status = 422
    rows = patient_records.list_patients(team)
    audit.record("handover.patients_listed", actor=current_user, entity_type="team", entity_id=team.id,
                 team_id=team.id, summary={"patient_ids": [p.id for p in rows]})
    db.session.commit()
    sform = SettingsForm(obj=access.settings_for(team))
    sform.style.data = access.settings_for(team).style.value
    return render_template("handover/patients.html", team=team, patients=rows, form=form, move_form=MoveForm(),
                           button=CsrfForm(), settings_form=sform), status


@bp.post("/patients/<int:patient_id>/move")
@login_required
def move(patient_id):
    patient = patient_records.get_patient(patient_id)
    access.require_view(patient.team, current_user)
    form = MoveForm()
    if form.validate():
        patient_records.update_patient(patient, current_user, location=form.location.data)
        db.session.commit()
        flash(f"Moved to {patient.location}.")
    else:
        flash("Enter the new bed or location.")
    return redirect(url_for(".patients", team_id=patient.team_id))


@bp.post("/patients/<int:patient_id>/discharge")
@login_required
def discharge(patient_id):
    patient = patient_records.get_patient(patient_id)
    access.require_view(patient.team, current_user)
    if CsrfForm().validate():
        patient_records.update_patient(patient, current_user, discharged=True)
        db.session.commit()
        flash("Patient discharged from the list; they will not appear in the next handover.")
    return redirect(url_for(".patients", team_id=patient.team_id))


@bp.get("/patients/<int:patient_id>/access")
@login_required
def access_report(patient_id):
    patient = patient_records.get_patient(patient_id)
    access.require_manage(patient.team, current_user)
    rows = retention.access_report(patient)
    audit.record("handover.access_report_viewed", actor=current_user, entity_type="handover_patient",
                 entity_id=patient.id, team_id=patient.team_id, summary={"rows": len(rows)})
    db.session.commit()
    return render_template("handover/access.html", patient=patient, rows=rows)


def _off_rota(handover) -> str | None:
    """What the accept form states when the reader may accept but has no shift on the rota in the next 2 hours."""
    if not acceptance.can_accept(handover, current_user):
        return None
    return acceptance.off_rota_notice(handover.team, current_user)


@bp.get("/<int:handover_id>")
@login_required
def sheet(handover_id):
    return _render_sheet(_handover(handover_id), new_accept_form())


def _render_sheet(handover, accept_form, status=200):
    data = load_sheet(handover)
    services.record_view(handover, current_user, [e.patient_id for e in data.entries])
    # rendered before the commit (which expires the loaded rows); shown only once the audit entry is committed
    html = render_template("handover/sheet.html", sheet=data, h=handover, labels=field_labels(handover.style),
                           accept_form=accept_form, button=CsrfForm(), off_rota=_off_rota(handover),
                           can_accept=acceptance.can_accept(handover, current_user), actions_of=actions_of)
    db.session.commit()
    return html, status


@bp.get("/<int:handover_id>/print")
@login_required
def print_sheet(handover_id):
    handover = _handover(handover_id)
    data = load_sheet(handover)
    services.record_view(handover, current_user, [e.patient_id for e in data.entries], what="handover.printed")
    html = render_template("handover/print.html", sheet=data, h=handover, labels=field_labels(handover.style),
                           actions_of=actions_of, now=now_utc())
    db.session.commit()
    return html


@bp.post("/<int:handover_id>/ready")
@login_required
def ready(handover_id):
    handover = _handover(handover_id)
    if CsrfForm().validate():
        try:
            acceptance.mark_ready(handover, current_user)
        except DomainError as exc:
            if exc.status == 403:
                raise
            db.session.rollback()
            flash(exc.detail)
        else:
            db.session.commit()
            flash("Handed over: the incoming clinician has been told.")
    return redirect(url_for(".sheet", handover_id=handover.id))


@bp.post("/<int:handover_id>/accept")
@bp.post("/<int:handover_id>/patients/<int:patient_id>/accept")
@login_required
def accept(handover_id, patient_id=None):
    """Accept the whole handover (the sheet's form) or one patient. A refusal shows the page again with the read-back
    note as typed and the reason (e.g. the confirmation needed from someone not on the rota)."""
    handover = _handover(handover_id)
    form = AcceptForm()
    if form.validate():
        refused = _accept(handover, form, [patient_id] if patient_id else None)
        if refused is not None and not patient_id:
            return _render_sheet(handover, _refused_accept_form(refused), refused.status)
        if refused is not None:
            flash(refused.detail)
    if patient_id:
        return redirect(url_for(".entry", handover_id=handover.id, patient_id=patient_id))
    return redirect(url_for(".sheet", handover_id=handover.id))


def _accept(handover, form: AcceptForm, patient_ids) -> DomainError | None:
    """Accept and commit (flashing how many); the refusal if refused (nothing is changed then)."""
    try:
        done = acceptance.accept(handover, current_user, patient_ids=patient_ids,
                               readback_note=form.readback_note.data or "", seen_at=form.seen(),
                               confirm_off_rota=form.confirm_off_rota.data)
    except DomainError as exc:
        if exc.status == 403:
            raise
        db.session.rollback()
        return exc
    db.session.commit()
    flash(f"You accepted responsibility for {len(done)} patient{'s' if len(done) != 1 else ''}.")
    return None


def _refused_accept_form(exc: DomainError) -> AcceptForm:
    """The accept form shown again after a refusal: the read-back as typed, the reason beside the field it concerns
    (or as a message)."""
    form = new_accept_form(request.form)
    form_errors(form, exc, flash_detail=True)
    return form


TEXT_FIELDS = services.TEXT_FIELDS


def _typed_changes(entry, team) -> dict[str, str]:
    """Fields of the submitted form whose text differs from ``entry`` (None: an empty entry): field -> the entry's.
    The rule is the service's (``services.changed_fields``); the view only supplies the actions as the form shows
    them."""
    saved = services.saved_fields(entry, actions_text(entry, team) if entry else "")
    return services.changed_fields(request.form, saved)


@bp.route("/<int:handover_id>/patients/<int:patient_id>", methods=["GET", "POST"])
@login_required
def entry(handover_id, patient_id):
    """The edit screen. Every button on it submits its one form, so nothing typed is lost: *Save* writes a new
    version, or, if someone saved since the page was opened, shows her text and theirs side by side to merge;
    *Attach photo*, ticking an action off and *Accept* do their job and, while typed text is unsaved, show the page
    again with it."""
    handover = _handover(handover_id)
    patient = _patient(handover, patient_id)
    if request.method == "GET":
        return _render_entry(handover, patient)
    form = EntryForm()
    intent = request.form.get("intent", "save")
    if not CsrfForm().validate():
        flash("Nothing was done: the page had expired. Your text is kept below; press the button again.")
        return _render_entry(handover, patient, form, status=400)
    photo = ImageForm().photo.data
    status, anchor, accept_form = (_attach_photo(handover, patient, photo) if photo else 200), "#photos", None
    if intent == "save":
        return _save(handover, patient, form, status)
    if intent.startswith("action-") and intent[7:].isdigit():
        status, anchor = _toggle(handover, patient, int(intent[7:])), "#actions"
    elif intent == "accept":
        refused = _accept(handover, AcceptForm(), [patient.id])
        if refused is not None:
            status, accept_form = refused.status, _refused_accept_form(refused)
    base = next((v for v in services.entry_versions(handover, patient.id)
                 if str(v.version) == form.base_version.data), None)
    if status == 200 and not _typed_changes(base, handover.team):
        return redirect(url_for(".entry", handover_id=handover.id, patient_id=patient.id) + anchor)
    flash("Your changes below are not saved yet: press Save to keep them.")
    return _render_entry(handover, patient, form, accept_form=accept_form, status=status)


def _toggle(handover, patient, index: int) -> int:
    """Tick an action off (or undo it) and commit. The HTTP status to answer with."""
    current = next((v for v in services.entry_versions(handover, patient.id) if v.current), None)
    try:
        if current is None:
            raise NotFound("This patient has no entry yet.")
        services.set_action_done(current, index, current_user, str(index) not in (current.action_status or {}))
    except DomainError as exc:
        if exc.status == 403:
            raise
        db.session.rollback()
        flash(exc.detail)
        return exc.status
    db.session.commit()
    return 200


def _attach_photo(handover, patient, storage) -> int:
    """Attach an uploaded photo and commit; flash the outcome. The HTTP status to answer with."""
    data = storage.stream.read(images.max_bytes() + 1)
    try:
        images.attach(handover, patient, current_user, data)
    except DomainError as exc:
        if exc.status == 403:
            raise
        db.session.rollback()
        flash("Photo not attached: " + exc.detail)
        return exc.status
    db.session.commit()
    flash("Photo attached (location and camera details removed).")
    return 200


def _save(handover, patient, form: EntryForm, status: int):
    if not form.validate():
        return _render_entry(handover, patient, form, status=422)
    current = next((v for v in services.entry_versions(handover, patient.id) if v.current), None)
    try:
        data = {k: getattr(form, k).data or "" for k in ("severity", *TEXT_FIELDS)}
        if current is None or "actions" in _typed_changes(current, handover.team):
            data["actions"] = parse_actions(form.actions.data, handover)
        base = int(form.base_version.data) if (form.base_version.data or "").isdigit() else None
        saved = services.save_entry(handover, patient, current_user, data, base_version=base)
    except services.StaleEntry as exc:
        db.session.rollback()
        form.base_version.data = str(exc.current.version)  # saving again means: I have merged theirs
        return _render_entry(handover, patient, form, conflict=exc, status=409)
    except services.HandoverClosed as exc:
        db.session.rollback()
        form.base_version.data = str(services.carry_base(handover, exc.later, patient, form.base_version.data))
        return _render_entry(handover, patient, form, closed_save=exc, status=409)
    except DomainError as exc:
        if exc.status == 403:
            raise
        db.session.rollback()
        form_errors(form, exc, flash_detail=True)
        return _render_entry(handover, patient, form, status=exc.status)
    db.session.commit()
    flash(f"Saved (version {saved.version})." + (" It needs accepting again." if saved.replaced_accepted else ""))
    if status != 200:  # the photo chosen with it was refused (and said why): stay on the page
        return redirect(url_for(".entry", handover_id=handover.id, patient_id=patient.id) + "#photos")
    return redirect(url_for(".sheet", handover_id=handover.id) + f"#patient-{patient.id}")


def _render_entry(handover, patient, form: EntryForm | None = None, *, conflict=None, closed_save=None,
                  accept_form=None, status=200):
    versions = services.entry_versions(handover, patient.id)
    current = next((v for v in versions if v.current), None)
    if form is None:
        form = EntryForm(obj=current, formdata=None)
        form.base_version.data = str(current.version) if current else "0"
        form.severity.data = current.severity.value if current else "stable"
        form.actions.data = actions_text(current, handover.team) if current else ""
    theirs = {}
    if conflict is not None:
        theirs = _typed_changes(conflict.current, handover.team)
    previous = services.previous_entry(handover, patient.id)
    pictures = list(db.session.scalars(select(HandoverImage).where(HandoverImage.handover_id == handover.id,
                                                                   HandoverImage.patient_id == patient.id)))
    labels = field_labels(handover.style)
    for key in TEXT_FIELDS:
        form[key].label.text = labels[key]
    services.record_view(handover, current_user, [patient.id], what="handover.entry_viewed")
    db.session.commit()
    return render_template("handover/entry.html", h=handover, patient=patient, form=form, current=current,
                           versions=versions, previous=previous, images=pictures, image_form=ImageForm(),
                           accept_form=accept_form or new_accept_form(), labels=labels, off_rota=_off_rota(handover),
                           conflict=conflict, theirs=theirs, closed=services.is_closed(handover),
                           closed_save=closed_save,
                           can_accept=acceptance.can_accept(handover, current_user), actions_of=actions_of,
                           zone=access.team_zone(handover.team), max_mb=images.max_bytes() // 1048576,
                           heic=images.HEIC_SUPPORTED), status


@bp.post("/<int:handover_id>/patients/<int:patient_id>/actions/<int:index>")
@login_required
def toggle_action(handover_id, patient_id, index):
    handover = _handover(handover_id)
    patient = _patient(handover, patient_id)
    if CsrfForm().validate():
        _toggle(handover, patient, index)
    return redirect(url_for(".entry", handover_id=handover.id, patient_id=patient.id) + "#actions")


@bp.post("/<int:handover_id>/patients/<int:patient_id>/images")
@login_required
def upload(handover_id, patient_id):
    handover = _handover(handover_id)
    patient = _patient(handover, patient_id)
    form = ImageForm()
    if form.validate() and form.photo.data:
        _attach_photo(handover, patient, form.photo.data)
    else:
        flash("Photo not attached: choose a photo first.")
    return redirect(url_for(".entry", handover_id=handover.id, patient_id=patient.id) + "#photos")


@bp.get("/images/<int:image_id>")
@login_required
def image(image_id):
    picture = get_or_404(HandoverImage, image_id)
    team = db.session.get(Team, picture.team_id)
    access.require_view(team, current_user)
    thumb = request.args.get("size") == "thumb"
    path = images.path_for(picture.storage_key, thumb=thumb)
    if not path.exists():
        abort(404)
    audit.record("handover.image_viewed", actor=current_user, entity_type="handover_image", entity_id=picture.id,
                 team_id=picture.team_id, summary={"patient_ids": [picture.patient_id], "thumb": thumb})
    db.session.commit()
    resp = send_file(path, mimetype="image/jpeg", max_age=0, conditional=False, etag=False)  # no-store: see bp
    resp.headers["Content-Disposition"] = "inline"
    return resp


# ------------------------------------------------------------------------------------------------ registration


def handovers_panel(user):
    """Home card: handovers waiting for this person to accept."""

    if not user.team_ids:
        return None
    waiting = db.session.scalars(select(Handover).where(Handover.team_id.in_(user.team_ids),
                                                        Handover.state == HandoverState.ready)
                                 .order_by(Handover.id.desc()).limit(5)).all()
    waiting = [h for h in waiting if acceptance.can_accept(h, user)]
    # A coordinator also sees their teams' handovers handed over but not yet accepted by anyone (issue #15).
    managed = user.managed_team_ids
    unaccepted = db.session.scalars(select(Handover).where(Handover.team_id.in_(managed),
                                                           Handover.state == HandoverState.ready,
                                                           Handover.id.not_in([h.id for h in waiting] or [0]))
                                    .order_by(Handover.starts_at).limit(5)).all() if managed else []
    return {"title": "Handovers waiting for you", "template": "handover/_home_panel.html", "handovers": waiting,
            "unaccepted": unaccepted}


@bp.app_template_filter("handover_local")
def handover_local(value, team, fmt="%a %d %b %H:%M"):
    """An instant shown in the team's zone, e.g. 'Tue 25 Nov 07:30'."""
    return value.astimezone(access.team_zone(team)).strftime(fmt) if value else ""


@bp.app_template_filter("handover_iso_local")
def handover_iso_local(value, team):
    return handover_local(datetime.fromisoformat(value), team, "%H:%M") if value else ""
