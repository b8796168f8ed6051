"""My shifts' cards are written by ``rota.my_shift_cards`` and their buttons by the swaps package's writer (issue #22:
one Python pass per shift instead of a template include with four ``url_for`` per card). What a nurse sees must not
change: over two teams in different zones (a night across the next clock change, a shift of no type, one in
progress, one inside the team's cut-off, a pending offer, colleagues whose names need escaping) the page's list
equals the one the templates wrote before (``tests/rota/fixtures/my_shifts_before_22.html``)."""

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from flask import render_template_string
from sqlalchemy import select

from core import accounts, timeutil
from core.accounts import TeamRole, User
from core.db import db
from rota import services
from rota.models import Shift, ShiftState
from rota.swaps import absence
from rota.swaps import requests as swap_requests
from rota.swaps import views as swap_views
from rota.swaps.models import SwapKind
from tests.conftest import login
from tests.factories import ward
from tests.rota.swaps import factories as data

BEFORE = (Path(__file__).parent / "fixtures" / "my_shifts_before_22.html").read_text()


def _requests_closed(shift) -> str | None:
    """The Jinja helper the old templates called (gone with them): why Swap and Offer are closed, if they are."""
    return absence.requests_closed(shift, hours=absence.cutoff_hours(shift.team_id))

LONDON = ZoneInfo("Europe/London")


def _list(html: str) -> str:
    """The list, with whitespace as a browser shows it (runs collapsed, none between tags)."""
    body = html[html.index('<ul class="nhsuk-list sb-my-shifts"'):]
    body = body[:body.index("</ul>") + 5]
    return re.sub(r">\s+", ">", re.sub(r"\s+<", "<", re.sub(r"\s+", " ", body)))


def _next_spring_change() -> date:
    year = datetime.now(UTC).year + 1
    d = date(year, 3, 31)
    return d - timedelta(days=(d.weekday() + 1) % 7)


def _seed(make):
    home = ward(make, people=[{"display_name": "Nia Nurse"}, {"display_name": "Ann O'Neil <b>&"},
                              {"display_name": "Zoë Adams"}, {"display_name": "émile Brun"}],
                tz="Europe/London")
    nurse, *mates = home.staff
    other = ward(make, 1, name="Ward NY", tz="America/New_York")
    accounts.add_member(other.team, nurse, TeamRole.staff)
    data.settings(other.team, cutoff_hours=48)
    mine = []
    for d in range(6):  # the nurse and (some of) her colleagues on E, L, N in turn
        st = home.types["ELN"[d % 3]]
        start = timeutil.shift_instants(datetime.now(LONDON).date() + timedelta(days=3 + 2 * d), st.start_local,
                                        st.duration_minutes, home.team.timezone)[0]
        mine.append(data.shift(home.team, starts_at=start, hours=st.duration_minutes / 60, stype=st,
                               assignee=nurse, commit=False))
        for k, mate in enumerate(mates):
            if (d + k) % 3:
                data.shift(home.team, starts_at=start + timedelta(minutes=30 * k), hours=4, stype=st, assignee=mate,
                           commit=False)
    eve = mine[0].starts_at.astimezone(LONDON).date() - timedelta(days=1)  # a colleague's night into mine
    night = home.types["N"]
    data.shift(home.team, starts_at=timeutil.shift_instants(eve, night.start_local, night.duration_minutes,
                                                            home.team.timezone)[0],
               hours=12.5, stype=night, assignee=mates[0], commit=False)
    now = datetime.now(UTC).replace(microsecond=0)
    in_progress = data.shift(home.team, starts_at=now - timedelta(hours=1), assignee=nurse, commit=False)
    data.shift(home.team, starts_at=now - timedelta(hours=2), assignee=mates[0], commit=False)
    data.shift(home.team, starts_at=now + timedelta(hours=10), hours=3, assignee=nurse, commit=False)  # in cut-off
    noon = datetime.combine(date.today() + timedelta(days=10), time(12), tzinfo=UTC)
    db.session.add(Shift(team_id=home.team.id, shift_type_id=None, starts_at=noon,
                         ends_at=noon + timedelta(hours=4), assignee_id=nurse.id, state=ShiftState.scheduled))
    night = home.types["N"]
    eve = _next_spring_change() - timedelta(days=1)
    data.shift(home.team, starts_at=timeutil.shift_instants(eve, night.start_local, night.duration_minutes,
                                                            home.team.timezone)[0],
               hours=11.5, stype=night, assignee=nurse, commit=False)
    ny_early = other.types["E"]
    data.shift(other.team, starts_at=now + timedelta(hours=30), stype=ny_early, assignee=nurse, commit=False)
    data.shift(other.team, starts_at=datetime.combine(date.today() + timedelta(days=12), time(4), tzinfo=UTC),
               stype=ny_early, assignee=nurse, commit=False)
    db.session.commit()
    swap_requests.propose(actor=nurse, shift=mine[1], kind=SwapKind.offer, to_users=[mates[2]])
    db.session.commit()
    assert in_progress.id
    return nurse


def test_my_shifts_list_is_what_the_templates_wrote_before(app, make):
    nurse = _seed(make)
    client = app.test_client()
    login(client, nurse)
    page = client.get("/my/shifts")
    assert page.status_code == 200
    with app.test_request_context():
        items = services.next_shifts(nurse, limit=28)
        # the old templates read ORM shifts (team and type as relationships); the page reads plain rows now
        entities = [SimpleNamespace(shift=db.session.get(Shift, i.shift.id), colleagues=i.colleagues) for i in items]
        before = render_template_string(BEFORE, items=entities, tz_local=timeutil.to_local, current_user=nurse,
                                        swap_request_for_shift=swap_views.pending_request_for,
                                        swap_requests_closed=_requests_closed)
    now = _list(page.get_data(as_text=True))
    assert now == _list(before)
    others = db.session.scalars(select(Shift).where(Shift.state == ShiftState.scheduled,
                                                    Shift.assignee_id != nurse.id)).all()
    for item in items:  # colleagues: everyone else on the same team's rota at an overlapping time
        s = item.shift
        want = sorted({o.assignee_id: db.session.get(User, o.assignee_id).display_name for o in others
                       if o.team_id == s.team_id and o.starts_at < s.ends_at and o.ends_at > s.starts_at}.values())
        assert [c.display_name for c in item.colleagues] == want
    assert sum(bool(i.colleagues) for i in items) >= 6
    assert "Offer pending" in now and 'data-testid="swaps-closed-' in now and "(next day)" in now
    assert "Ann O&#39;Neil &lt;b&gt;&amp;" in now and ">—</span>" in now and "Ward NY" in now


def _line_before_22(s: Shift) -> str:
    """``rota.services.shift_line`` as it was before issue #22, over an ORM shift (team and type as relationships)."""
    start, end = timeutil.to_local(s.starts_at, s.team.timezone), timeutil.to_local(s.ends_at, s.team.timezone)
    code = s.shift_type.code + " " if s.shift_type else ""
    return f"{start:%a %d %b} {code}{start:%H:%M}–{end:%H:%M} · {s.team.name}"


def test_home_page_next_shift_lines_are_what_they_were(app, make):
    nurse = _seed(make)
    with app.test_request_context():
        items = services.next_shifts(nurse, limit=28)
        lines = [services.shift_line(i.shift) for i in items]
        assert lines == [_line_before_22(db.session.get(Shift, i.shift.id)) for i in items]
    assert any(" · Ward NY" in line for line in lines) and any(re.match(r"\w{3} \d\d \w{3} \d", line) for line in lines)
