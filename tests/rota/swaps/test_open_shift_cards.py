"""The open-shifts board's cards are written by ``rota.swaps.views.open_shift_cards`` in one Python pass per gap
(issue #22: the claim and withdraw addresses and the CSRF field built once per page instead of per card). What people
see must not change: for a nurse and for a coordinator (who also gets "Ask for cover"), over gaps that are open to
them with and without warnings, refused for grade, skills, leave and overlap, of a team whose coordinator chooses
(one already volunteered for, one not) and names that need escaping, the page's list is byte for byte what the
template's loop wrote before this change (kept below as ``BEFORE``)."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template_string
from sqlalchemy import select

from core.db import db
from core.pages import CsrfForm
from rota.models import Leave, LeaveKind
from rota.swaps import eligibility, open_shifts
from rota.swaps.models import OpenShiftPolicy, OpenShiftVolunteer, VolunteerState
from tests.conftest import login
from tests.factories import ward
from tests.rota.swaps import factories as data

# templates/rota/swaps/open_shifts.html's list before the cards were written in Python.
BEFORE = """<ul class="nhsuk-list sb-open-shifts">
{% for r in results %}
  <li class="nhsuk-card sb-open-shift" id="open-shift-{{ r.shift.id }}" data-testid="open-shift-{{ r.shift.id }}">
    <div class="nhsuk-card__content">
      <h2 class="nhsuk-card__heading nhsuk-heading-s">{{ describe_shift(r.shift) }}</h2>
      <p class="nhsuk-body-s">{{ r.shift.team.name }}{% if r.shift.required_grade %} · {{ r.shift.required_grade }}+{% endif %}{% for s in r.shift.required_skills %} · {{ s }}{% endfor %}</p>
      {% if r.ok %}
        {% for v in r.warnings %}<p class="nhsuk-body-s sb-warning">Warning: {{ v.message }}</p>{% endfor %}
        {% if r.shift.id in volunteered %}
        <p class="nhsuk-body-s"><strong>You have volunteered.</strong> The coordinator will choose.</p>
        <form method="post" action="{{ url_for('swaps.withdraw', shift_id=r.shift.id) }}">{{ form.hidden_tag() }}<button class="nhsuk-button nhsuk-button--secondary nhsuk-button--small" type="submit">Withdraw</button></form>
        {% else %}
        <form method="post" action="{{ url_for('swaps.claim', shift_id=r.shift.id) }}">{{ form.hidden_tag() }}
          <button class="nhsuk-button nhsuk-button--small" type="submit" data-testid="claim-{{ r.shift.id }}">{{ "I'll take it" if policies[r.shift.team_id].value == 'first_claim_wins' else "Volunteer" }}</button></form>
        {% endif %}
      {% else %}
        <p class="nhsuk-body-s sb-not-eligible">You cannot take this: {{ r.explain() }}</p>
      {% endif %}
      {% if r.shift.id in cover %}<p class="nhsuk-body-s"><a href="{{ cover[r.shift.id] }}" data-testid="ask-cover-{{ r.shift.id }}">Ask for cover (broadcast to everyone eligible)</a></p>{% endif %}
    </div>
  </li>
{% endfor %}
</ul>"""  # noqa: E501


def _seed(make):
    home = ward(make, 2, name="Ward 7B <Acute> & 'Short Stay'", tz="Europe/London")
    other = ward(make, 1, name='Ward "NY"', tz="America/New_York")
    nurse = home.staff[0]
    data.settings(other.team, pool_team_ids=[home.team.id], open_shift_policy=OpenShiftPolicy.coordinator_chooses)
    early, night = home.types["E"], home.types["N"]
    mine = data.shift(home.team, starts_at=data.soon(4, hour=7), stype=early, assignee=nurse, commit=False)
    data.shift(home.team, starts_at=mine.starts_at + timedelta(hours=2), stype=early, commit=False)  # overlaps
    data.shift(home.team, starts_at=mine.ends_at + timedelta(hours=3), stype=night, commit=False)  # short rest
    data.shift(home.team, starts_at=data.soon(6), stype=early, required_grade="Band 7", commit=False)
    data.shift(home.team, starts_at=data.soon(7), stype=early, skills=["Chemo & <IV>"], commit=False)
    data.shift(home.team, starts_at=data.soon(9), stype=early, commit=False)  # on leave
    data.shift(home.team, starts_at=data.soon(12), stype=early, required_grade="Band 5", skills=["IV-trained"],
               commit=False)
    asked = data.shift(other.team, starts_at=data.soon(13, hour=12), stype=other.types["E"], commit=False)
    data.shift(other.team, starts_at=data.soon(15, hour=12), stype=other.types["L"], commit=False)
    db.session.add(Leave(user_id=nurse.id, team_id=home.team.id, kind=LeaveKind.annual,
                         first_day=data.soon(9).date(), last_day=data.soon(9).date()))
    db.session.add(OpenShiftVolunteer(shift_id=asked.id, user_id=nurse.id, state=VolunteerState.waiting))
    db.session.commit()
    return nurse, home.coordinator


def _before(app, viewer) -> str:
    """The list as the old view and template wrote it for ``viewer``."""
    with app.test_request_context("/open-shifts"):
        user = db.session.get(type(viewer), viewer.id)
        settings = eligibility.all_settings()
        results = eligibility.eligible_open_shifts(user, include_ineligible=True, settings=settings)
        volunteered = set(db.session.scalars(select(OpenShiftVolunteer.shift_id).where(
            OpenShiftVolunteer.user_id == user.id, OpenShiftVolunteer.state == VolunteerState.waiting)))
        policies = {r.shift.team_id: eligibility.settings_from(settings, r.shift.team_id).open_shift_policy
                    for r in results}
        cover = {r.shift.id: open_shifts.cover_request_url(r.shift) for r in results if r.shift.team.can_manage(user)}
        return render_template_string(BEFORE, results=results, volunteered=volunteered, policies=policies,
                                      cover=cover, form=CsrfForm(), describe_shift=eligibility.describe_shift)


def _now(client) -> str:
    html = client.get("/open-shifts").get_data(as_text=True)
    body = html[html.index('<ul class="nhsuk-list sb-open-shifts">'):]
    return body[:body.index("</ul>") + 5]


def test_the_cards_are_what_the_template_wrote(app, make):
    nurse, coordinator = _seed(make)
    for viewer in (nurse, coordinator):
        client = app.test_client()
        login(client, viewer)
        now, before = _now(client), _before(app, viewer)
        assert now == before, viewer.display_name
    # The board exercised every branch: warnings, refusals, volunteered, the coordinator's choice, cover links.
    nurse_html, coord_html = _before(app, nurse), _before(app, coordinator)
    for needle in ("sb-warning", "You cannot take this:", "Withdraw", ">Volunteer<", "I&#39;ll take it",
                   "&amp;", "&lt;"):
        assert needle in nurse_html, needle
    assert "ask-cover-" in coord_html and "ask-cover-" not in nurse_html
