"""Swaps, offers and open shifts: the pages (phone-first) and the ``flask swaps`` CLI group.

Thin views: load (404), check access, validate with a WTForm, call one service in :mod:`rota.swaps`, commit,
redirect. A rule the person broke comes back as a message on the page they were on; nothing is changed.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import IntegerField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField, widgets
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from core import limits
from core.accounts import Team, User
from core.db import db, get_by_id, now_utc
from core.errors import Conflict, RuleViolation, ValidationFailed
from core.pages import CsrfForm, team_for_page
from core.web import as_choices
from rota import cover
from rota.models import Shift, ShiftState
from rota.swaps import absence, decisions, eligibility, open_shifts, shared
from rota.swaps import requests as swap_requests
from rota.swaps.eligibility import describe_shift
from rota.swaps.models import (
    PENDING_STATES,
    ApprovalPolicy,
    OpenShiftPolicy,
    OpenShiftVolunteer,
    SwapKind,
    SwapRequest,
    SwapShiftLock,
    SwapState,
    VolunteerState,
)

bp = Blueprint("swaps", __name__)
USER_ERRORS = (Conflict, RuleViolation, ValidationFailed)


# ------------------------------------------------------------------------------------------------------ forms


class ReasonForm(FlaskForm):
    reason = TextAreaField("Reason (shown to the people affected)", validators=[
        DataRequired("Give a reason."), Length(max=200, message="Keep it under 200 characters.")])


class ApproveForm(FlaskForm):
    note = StringField("Reason for approving despite warnings (if any)", validators=[
        Optional(), Length(max=200, message="Keep it under 200 characters.")])


class SwapForm(FlaskForm):
    counterpart_shift_id = RadioField("Which shift do you want in exchange?", coerce=int,
                                      validators=[InputRequired("Choose a shift to swap with.")])
    note = StringField("Note for your colleague (optional, no patient details)",
                       validators=[Optional(), Length(max=200)])


class MultiCheckbox(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class OfferForm(FlaskForm):
    to = RadioField("Who do you want to offer it to?", choices=as_choices([("everyone", "Everyone who is eligible"),
                                                                  ("chosen", "Only the people I tick below")]),
                    default="everyone", validators=[InputRequired("Choose who to offer it to.")])
    user_ids = MultiCheckbox("Colleagues who could take it", coerce=int, validators=[Optional()])
    note = StringField("Note (optional, no patient details)", validators=[Optional(), Length(max=200)])


class AssignForm(FlaskForm):
    user_id = IntegerField(validators=[DataRequired(), NumberRange(min=1, max=2**31 - 1)])
    override_reason = StringField("Reason to assign despite warnings", validators=[Optional(), Length(max=200)])


class SettingsForm(FlaskForm):
    approval_policy = SelectField("Approval", choices=as_choices([
        (ApprovalPolicy.always.value, "A coordinator approves every swap and give-away"),
        (ApprovalPolicy.auto_when_clean.value, "Automatic when like-for-like with no warnings; otherwise a "
                                               "coordinator")]))
    open_shift_policy = SelectField("Open shifts", choices=as_choices([
        (OpenShiftPolicy.first_claim_wins.value, "The first valid claim wins"),
        (OpenShiftPolicy.coordinator_chooses.value, "The coordinator chooses among volunteers")]))
    cutoff_hours = IntegerField("No staff requests within this many hours of the start",
                                validators=[InputRequired(), NumberRange(*limits.SWAP_CUTOFF_HOURS)])
    expiry_hours = IntegerField("Requests expire after (hours)", validators=[InputRequired(),
                                                                             NumberRange(*limits.SWAP_EXPIRY_HOURS)])


# ---------------------------------------------------------------------------------------------------- helpers


def _shift_or_404(shift_id: int) -> Shift:
    shift = get_by_id(Shift, shift_id)
    if shift is None or not eligibility.may_see_shift(current_user, shift):
        abort(404)
    return shift


def _request_or_404(request_id: int) -> SwapRequest:
    req = get_by_id(SwapRequest, request_id)
    if req is None or not swap_requests.can_view(req, current_user):
        abort(404)
    return req


def _run(action, success: str, back: str):
    """Call one service; commit and say so, or show the person why not (nothing changed)."""
    try:
        action()
        db.session.commit()
        flash(success, "success")
    except USER_ERRORS as exc:
        db.session.rollback()
        flash(exc.detail, "error")
    return redirect(back)


def pending_request_for(shift) -> SwapRequest | None:
    """The pending request that involves this shift, if any (for ``my_shift_actions``). A page lists
    one person's shifts: the first call loads the pending requests of all that person's coming shifts in one query
    (kept for the request), so the page's queries do not grow with its shifts."""
    if shift.assignee_id is None or shift.ends_at <= now_utc():
        request_id = db.session.scalar(select(SwapShiftLock.request_id).where(SwapShiftLock.shift_id == shift.id))
        return db.session.get(SwapRequest, request_id) if request_id else None
    loaded = g.setdefault("pending_swaps_by_holder", {})
    if shift.assignee_id not in loaded:
        loaded[shift.assignee_id] = {shift_id: req for shift_id, req in db.session.execute(
            select(SwapShiftLock.shift_id, SwapRequest).join(SwapRequest, SwapRequest.id == SwapShiftLock.request_id)
            .join(Shift, Shift.id == SwapShiftLock.shift_id)
            .where(Shift.assignee_id == shift.assignee_id, Shift.ends_at > now_utc()))}
    return loaded[shift.assignee_id].get(shift.id)


def _url_around(endpoint: str, key: str) -> tuple[str, str]:
    """An endpoint's address before and after its id (escaped for an attribute), built once per page."""
    marker = "987654321"
    head, tail = url_for(endpoint, **{key: int(marker)}).split(marker)
    return str(escape(head)), str(escape(tail))


def my_shift_actions(shifts) -> dict[int, Markup]:
    """``rota.my_shift_cards.MY_SHIFT_ACTIONS`` writer: what My shifts and the shift's page show below each of the
    signed-in person's own coming shifts (Swap and Offer, or the pending request, or why they are closed; and "I
    can't make this shift"), for a whole page at once: pending requests in one query, each team's cut-off in one,
    links built once."""
    if not current_user.is_authenticated:
        return {}
    now = now_utc()
    own = [s for s in shifts if s.assignee_id == current_user.id and s.state == ShiftState.scheduled
           and s.ends_at > now]
    hours = {tid: row.cutoff_hours for tid, row in eligibility.settings_for_teams(s.team_id for s in own).items()}
    detail_url, swap_url, offer_url, cant_url = (
        _url_around("swaps.detail", "request_id"), _url_around("swaps.swap_wizard", "shift_id"),
        _url_around("swaps.offer_wizard", "shift_id"), _url_around("absence.cant_make_it", "shift_id"))
    out = {}
    for s in own:
        pending = pending_request_for(s) if s.starts_at > now else None
        closed = absence.requests_closed(s, now=now, hours=hours[s.team_id])
        if pending:
            kind = "Swap" if pending.kind == SwapKind.swap else "Offer"
            links = (f'<a class="nhsuk-link" href="{detail_url[0]}{pending.id}{detail_url[1]}" '
                     f'data-testid="pending-request-{s.id}">{kind} pending – view</a>\n')
        elif not closed:
            links = (f'<a class="nhsuk-button nhsuk-button--secondary nhsuk-button--small" '
                     f'href="{swap_url[0]}{s.id}{swap_url[1]}" data-testid="swap-{s.id}">Swap</a>\n'
                     f'<a class="nhsuk-button nhsuk-button--secondary nhsuk-button--small" '
                     f'href="{offer_url[0]}{s.id}{offer_url[1]}" data-testid="offer-{s.id}">Offer</a>\n')
        else:
            links = ""
        why = (f'<p class="nhsuk-body-s" data-testid="swaps-closed-{s.id}">{escape(closed)}</p>\n'
               if closed and not pending else "")
        out[s.id] = Markup(
            f'<div class="sb-swap-actions" data-testid="shift-actions-{s.id}">\n{links}'
            f'<a class="nhsuk-button nhsuk-button--warning nhsuk-button--small" '
            f'href="{cant_url[0]}{s.id}{cant_url[1]}" data-testid="cant-make-it-{s.id}">'
            f'I can\'t make this shift</a>\n{why}</div>\n')
    return out


def local_time(instant, team) -> str:
    return eligibility.to_local(instant, team.timezone).strftime("%a %d %b %H:%M")


STATE_WORDS = {SwapState.proposed: "Waiting for an answer",
               SwapState.awaiting_approval: "Accepted – waiting for the coordinator",
               SwapState.approved: "Approved – the rota is updated",
               SwapState.declined: "Declined", SwapState.refused: "Refused by the coordinator",
               SwapState.cancelled: "Cancelled", SwapState.expired: "Expired – nobody acted in time"}


def teams_of(user) -> str:
    """"Ward 12 Cardiology" (every team the person is in), to tell two people of the same name apart."""
    return ", ".join(sorted(m.team.name for m in user.memberships))


@bp.app_context_processor
def _helpers():
    return {"describe_shift": describe_shift, "now_utc": now_utc,
            "local_time": local_time, "staff_label": cover.staff_label, "swap_state_words": STATE_WORDS,
            "teams_of": teams_of}


# ----------------------------------------------------------------------------------------------- requests


@bp.get("/swaps")
@login_required
def requests_page():
    swap_requests.expire_due()
    db.session.commit()
    requests_for = swap_requests.requests_for
    incoming = db.session.scalars(requests_for(current_user, mine="incoming",  # accepted ones stay until decided
                                               states=PENDING_STATES)).all()
    outgoing = db.session.scalars(requests_for(current_user, mine="outgoing", states=PENDING_STATES)).all()
    history = db.session.scalars(
        requests_for(current_user, mine="all").where(SwapRequest.state.not_in(PENDING_STATES)).limit(30)).all()
    mine_asked = {r.request_id: r for req in incoming for r in req.recipients if r.user_id == current_user.id}
    return render_template("rota/swaps/requests.html", incoming=incoming, outgoing=outgoing, history=history,
                           mine_asked=mine_asked, page_title="Swap and offer requests")


@bp.get("/swaps/<int:request_id>")
@login_required
def detail(request_id: int):
    req = _request_or_404(request_id)
    me = next((r for r in req.recipients if r.user_id == current_user.id), None)
    checks = decisions.approval_view(req, taker=current_user if me is not None else None) if req.pending else []
    return render_template("rota/swaps/detail.html", req=req, checks=checks, me=me, action=CsrfForm(),
                           reason_form=ReasonForm(), approve_form=ApproveForm(),
                           can_manage=req.team.can_manage(current_user), page_title="Request")


@bp.post("/swaps/<int:request_id>/accept")
@login_required
def accept(request_id: int):
    req = _request_or_404(request_id)
    form = CsrfForm()
    if not form.validate_on_submit():
        abort(400)
    return _run(lambda: decisions.accept(req, actor=current_user), "Accepted.", url_for(".detail", request_id=req.id))


def _with_reason(request_id: int, service, success: str, **kw):
    req = _request_or_404(request_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
        return redirect(url_for(".detail", request_id=req.id))
    return _run(lambda: service(req, actor=current_user, reason=form.reason.data), success,
                url_for(".detail", request_id=req.id))


@bp.post("/swaps/<int:request_id>/decline")
@login_required
def decline(request_id: int):
    return _with_reason(request_id, decisions.decline, "Declined. They have been told why.")


@bp.post("/swaps/<int:request_id>/cancel")
@login_required
def cancel(request_id: int):
    return _with_reason(request_id, decisions.cancel, "Cancelled.")


@bp.post("/swaps/<int:request_id>/refuse")
@login_required
def refuse(request_id: int):
    req = _request_or_404(request_id)
    if not req.team.can_manage(current_user):
        abort(403)
    return _with_reason(request_id, decisions.refuse, "Refused. Both people have been told why.")


@bp.post("/swaps/<int:request_id>/approve")
@login_required
def approve(request_id: int):
    req = _request_or_404(request_id)
    if not req.team.can_manage(current_user):
        abort(403)
    form = ApproveForm()
    if not form.validate_on_submit():
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
        return redirect(url_for(".detail", request_id=req.id))
    return _run(lambda: decisions.approve(req, actor=current_user, note=form.note.data),
                "Approved: the rota is updated.", url_for(".detail", request_id=req.id))


# ------------------------------------------------------------------------------------------------- wizards


def _own_future_shift(shift_id: int) -> Shift:
    shift = _shift_or_404(shift_id)
    if shift.assignee_id != current_user.id:
        abort(403)
    return shift


@bp.route("/shifts/<int:shift_id>/swap", methods=["GET", "POST"])
@login_required
def swap_wizard(shift_id: int):
    shift = _own_future_shift(shift_id)
    candidates = swap_requests.swap_candidates(shift)
    form = SwapForm()
    form.counterpart_shift_id.choices = as_choices([(other.id, describe_shift(other)) for other, _ in candidates])
    error = None
    if form.validate_on_submit():
        try:
            req = swap_requests.propose(actor=current_user, shift=shift, kind=SwapKind.swap,
                                        counterpart_shift=db.session.get(Shift, form.counterpart_shift_id.data),
                                        note=form.note.data)
            db.session.commit()
            flash("Swap proposed. We will tell you when they answer.", "success")
            return redirect(url_for(".detail", request_id=req.id))
        except USER_ERRORS as exc:
            db.session.rollback()
            error = exc.detail
    return render_template("rota/swaps/swap_wizard.html", shift=shift, candidates=candidates, form=form,
                           error=error, page_title="Swap a shift"), (422 if error or form.errors else 200)


@bp.route("/shifts/<int:shift_id>/offer", methods=["GET", "POST"])
@login_required
def offer_wizard(shift_id: int):
    shift = _own_future_shift(shift_id)
    results = eligibility.eligible(shift)
    form = OfferForm()
    form.user_ids.choices = as_choices([(r.user.id, r.user.display_name) for r in results])
    error = None
    if form.validate_on_submit():
        chosen = form.user_ids.data if form.to.data == "chosen" else []
        if form.to.data == "chosen" and not chosen:
            error = "Tick at least one colleague, or choose everyone eligible."
        else:
            try:
                to_users = [db.session.get(User, uid) for uid in chosen] or None
                req = swap_requests.propose(actor=current_user, shift=shift, kind=SwapKind.offer, to_users=to_users,
                                            note=form.note.data)
                db.session.commit()
                flash(f"Offered to {len(req.recipients)} colleague(s). We will tell you when someone accepts.",
                      "success")
                return redirect(url_for(".detail", request_id=req.id))
            except USER_ERRORS as exc:
                db.session.rollback()
                error = exc.detail
    return render_template("rota/swaps/offer_wizard.html", shift=shift, results=results, form=form, error=error,
                           page_title="Offer a shift"), (422 if error or form.errors else 200)


# --------------------------------------------------------------------------------------------- open shifts


@bp.get("/open-shifts")
@login_required
def open_shifts_page():
    settings = eligibility.all_settings()  # which pools the person is in, and each gap's team's claim policy
    results = eligibility.eligible_open_shifts(current_user, include_ineligible=True, settings=settings)
    return render_template("rota/swaps/open_shifts.html", results=results,
                           cards=open_shift_cards(results, settings), page_title="Open shifts")


def open_shift_cards(results, settings) -> Markup:
    """The open-shifts board's ``<li>`` cards, written in one Python pass per gap (the claim and withdraw addresses
    and the CSRF field built once per page, not per card): the markup the template's loop wrote
    (``tests/rota/swaps/test_open_shift_cards.py`` renders that loop and compares)."""
    teams = {r.shift.team_id: r.shift.team for r in results}
    first_claim = {tid for tid in teams
                   if eligibility.settings_from(settings, tid).open_shift_policy == OpenShiftPolicy.first_claim_wins}
    managed = {tid for tid, team in teams.items() if team.can_manage(current_user)}
    hidden = CsrfForm().hidden_tag()
    claim_url, withdraw_url = _url_around("swaps.claim", "shift_id"), _url_around("swaps.withdraw", "shift_id")
    names = {tid: escape(team.name) for tid, team in teams.items()}
    out = []
    for r in results:
        s, sid = r.shift, r.shift.id
        need = "".join([f" · {escape(s.required_grade)}+" if s.required_grade else "",
                        *(f" · {escape(k)}" for k in s.required_skills or ())])
        out.append(f'\n  <li class="nhsuk-card sb-open-shift" id="open-shift-{sid}" data-testid="open-shift-{sid}">\n'
                   f'    <div class="nhsuk-card__content">\n'
                   f'      <h2 class="nhsuk-card__heading nhsuk-heading-s">{escape(describe_shift(s))}</h2>\n'
                   f'      <p class="nhsuk-body-s">{names[s.team_id]}{need}</p>\n      ')
        if r.ok:
            warned = "".join(f'<p class="nhsuk-body-s sb-warning">Warning: {escape(v.message)}</p>'
                             for v in r.warnings)
            out.append(f"\n        {warned}\n        ")
            if r.volunteered:
                out.append('\n        <p class="nhsuk-body-s"><strong>You have volunteered.</strong> The coordinator '
                           f'will choose.</p>\n        <form method="post" action="{withdraw_url[0]}{sid}'
                           f'{withdraw_url[1]}">{hidden}<button class="nhsuk-button nhsuk-button--secondary '
                           'nhsuk-button--small" type="submit">Withdraw</button></form>\n        ')
            else:
                label = "I&#39;ll take it" if s.team_id in first_claim else "Volunteer"
                out.append(f'\n        <form method="post" action="{claim_url[0]}{sid}{claim_url[1]}">{hidden}\n'
                           f'          <button class="nhsuk-button nhsuk-button--small" type="submit" '
                           f'data-testid="claim-{sid}">{label}</button></form>\n        ')
            out.append("\n      ")
        else:
            out.append(f'\n        <p class="nhsuk-body-s sb-not-eligible">You cannot take this: {escape(r.explain())}'
                       '</p>\n      ')
        ask = (f'<p class="nhsuk-body-s"><a href="{escape(open_shifts.cover_request_url(s))}" '
               f'data-testid="ask-cover-{sid}">Ask for cover (broadcast to everyone eligible)</a></p>'
               if s.team_id in managed else "")
        out.append(f"\n      {ask}\n    </div>\n  </li>\n")
    return Markup("".join(out))


@bp.post("/shifts/<int:shift_id>/claim")
@login_required
def claim(shift_id: int):
    shift = _shift_or_404(shift_id)
    form = CsrfForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        outcome = open_shifts.claim(shift, actor=current_user)
        db.session.commit()
        if outcome.outcome == "claimed":
            flash(f"It's yours: you now work {describe_shift(shift)}.", "success")
        else:
            flash(f"Thank you: you have volunteered for {describe_shift(shift)}. The coordinator will choose.",
                  "success")
    except USER_ERRORS as exc:
        db.session.rollback()
        flash(exc.detail, "error")
    return redirect(url_for(".open_shifts_page"))


@bp.post("/shifts/<int:shift_id>/withdraw")
@login_required
def withdraw(shift_id: int):
    shift = _shift_or_404(shift_id)
    if not CsrfForm().validate_on_submit():
        abort(400)
    return _run(lambda: open_shifts.withdraw(shift, actor=current_user), "You have withdrawn.",
                url_for(".open_shifts_page"))


@bp.post("/shifts/<int:shift_id>/assign")
@login_required
def assign(shift_id: int):
    shift = _shift_or_404(shift_id)
    if not shift.team.can_manage(current_user):
        abort(403)
    form = AssignForm()
    if not form.validate_on_submit():
        flash("Choose someone to give the shift to.", "error")
        return redirect(url_for(".approvals_page"))
    user = db.session.get(User, form.user_id.data)
    if user is None:
        abort(404)
    return _run(lambda: open_shifts.assign(shift, user, actor=current_user, override_reason=form.override_reason.data),
                f"{describe_shift(shift)} given to {user.display_name}.", url_for(".approvals_page"))


# ------------------------------------------------------------------------------------------------ approvals


@bp.get("/approvals")
@login_required
def approvals_page():
    if not (current_user.is_coordinator or current_user.is_admin):
        abort(403)
    swap_requests.expire_due()
    db.session.commit()
    queue = db.session.scalars(swap_requests.requests_for(current_user, mine="approvals")).all()
    items = [(req, decisions.approval_view(req)) for req in queue]
    team_ids = list(current_user.managed_team_ids) if not current_user.is_admin else \
        list(db.session.scalars(select(Team.id)))
    with_volunteers = db.session.scalars(
        select(Shift).where(Shift.team_id.in_(team_ids), Shift.state == ShiftState.open, Shift.starts_at > now_utc(),
                            Shift.id.in_(select(OpenShiftVolunteer.shift_id).where(
                                OpenShiftVolunteer.state == VolunteerState.waiting)))
        .order_by(Shift.starts_at)).all()
    volunteers = [(s, open_shifts.ranked_volunteers(s)) for s in with_volunteers]
    return render_template("rota/swaps/approvals.html", items=items, volunteers=volunteers,
                           approve_form=ApproveForm(), reason_form=ReasonForm(), assign_form=AssignForm(),
                           page_title="Approvals")


@bp.route("/teams/<int:team_id>/swap-settings", methods=["GET", "POST"])
@login_required
def settings_page(team_id: int):
    team = team_for_page(team_id, manage=True)
    current = shared.settings_for(team.id)
    form = SettingsForm(data={"approval_policy": current.approval_policy.value,
                              "open_shift_policy": current.open_shift_policy.value,
                              "cutoff_hours": current.cutoff_hours, "expiry_hours": current.expiry_hours}
                        if request.method == "GET" else None)
    if form.validate_on_submit():
        shared.update_settings(team, actor=current_user, approval_policy=ApprovalPolicy(form.approval_policy.data),
                               open_shift_policy=OpenShiftPolicy(form.open_shift_policy.data),
                               cutoff_hours=form.cutoff_hours.data, expiry_hours=form.expiry_hours.data)
        db.session.commit()
        flash("Swap settings saved.", "success")
        return redirect(url_for(".settings_page", team_id=team.id))
    return render_template("rota/swaps/settings.html", team=team, form=form, page_title="Swap settings"), \
        (422 if form.errors else 200)

