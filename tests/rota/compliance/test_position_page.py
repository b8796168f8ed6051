"""The working-time page shows a doctor's position: the engine's numbers beside their limits, a server-drawn SVG chart
of hours per week with its numbers in a table behind <details>; a coordinator sees the same for a team member."""

from __future__ import annotations

import re
from datetime import date, time

from core.db import db
from rota.compliance.rules import local_datetime
from rota.models import Shift, ShiftKind, ShiftState, ShiftType
from tests.conftest import login

TZ = "Europe/London"


def _fortnight(make):
    """The October 2025 clock-change fortnight of tests/rota/compliance/test_position.py, on a real rota."""
    coord = make.user(display_name="Cora Coordinator", grade="Band 7")
    doctor = make.user(display_name="Dev Doctor", staff_group="medical", grade="ST3")
    team = make.team("Ward 7B", coordinators=[coord], staff=[doctor], timezone=TZ)
    day = ShiftType(team_id=team.id, code="LD", name="Long day", start_local=time(8), duration_minutes=750)
    night = ShiftType(team_id=team.id, code="N", name="Night", start_local=time(20), duration_minutes=720,
                      kind=ShiftKind.night)
    db.session.add_all([day, night])
    db.session.flush()

    def add(st, d, hh, mm, d2, hh2, mm2=0):
        db.session.add(Shift(team_id=team.id, shift_type_id=st.id, assignee_id=doctor.id, state=ShiftState.scheduled,
                             starts_at=local_datetime(d, time(hh, mm), TZ),
                             ends_at=local_datetime(d2, time(hh2, mm2), TZ)))

    for d in (20, 21, 22, 23):
        add(day, date(2025, 10, d), 8, 0, date(2025, 10, d), 20, 30)
    add(night, date(2025, 10, 25), 20, 0, date(2025, 10, 26), 8)
    add(night, date(2025, 10, 26), 20, 0, date(2025, 10, 27), 8)
    add(day, date(2025, 10, 29), 9, 0, date(2025, 10, 29), 17)
    add(day, date(2025, 10, 30), 9, 0, date(2025, 10, 30), 17)
    add(day, date(2025, 11, 1), 7, 0, date(2025, 11, 1), 19, 30)
    db.session.commit()
    return coord, doctor


def _row(html, rule_id):
    m = re.search(rf'data-rule="{rule_id}"[^>]*>\s*<th scope="row">([^<]+)</th>\s*<td>(.*?)</td>\s*<td>(.*?)</td>',
                  html, re.S)
    assert m, rule_id
    return m.group(1), re.sub(r"<[^>]+>", "", m.group(2)).strip(), m.group(3).strip()


def test_the_doctor_sees_numbers_beside_limits_and_a_chart(client, make):
    coord, doctor = _fortnight(make)
    login(client, doctor)
    html = client.get("/compliance?from=2025-10-20&to=2025-11-02").get_data(as_text=True)
    assert _row(html, "TCS-avg48") == ("Average week", "51 h 45 min a week over",
                                       "at most 48 h a week (average over 26 weeks)")
    assert _row(html, "TCS-72in168") == ("Most hours in any 168 hours", "74 h over", "at most 72 h")
    assert _row(html, "TCS-nights4") == ("Nights in a row", "2", "at most 4")
    assert _row(html, "TCS-weekend") == ("Weekends worked", "2 in 26 weeks", "at most 9 in 26 weeks (1 in 3)")
    assert _row(html, "TCS-rest11") == ("Shortest rest between shifts", "11 h 30 min", "at least 11 h")
    # Hours worked in the dates, as a number (4 x 12.5 + 13 + 12 + 8 + 8 + 12.5 = 103.5 h), not only as bars.
    assert re.search(r'data-testid="hours-worked">\s*103 h 30 min\s*<', html)
    chart = html.index('<svg viewBox="0 0 320 160"')
    svg = html[chart:html.index("</svg>", chart)]
    assert 'role="img"' in svg and "Week of 20 Oct: 67.0 hours. Week of 27 Oct: 36.5 hours." in svg
    assert svg.count("<rect") == 2 and "sb-chart__bar--over" in svg  # 67 h is over the 48-h line
    assert "Line: 48 h average-week limit." in svg and "Line: 72 h in any 7 days." in svg
    data = html[html.index('data-testid="position-data"'):]
    assert "<th scope=\"row\">20 Oct</th><td>67.0 (over the average-week limit)</td>" in data


def test_a_coordinator_sees_a_team_member_s_position(client, make):
    coord, doctor = _fortnight(make)
    login(client, coord)
    html = client.get(f"/compliance/{doctor.id}?from=2025-10-20&to=2025-11-02").get_data(as_text=True)
    assert "Where Dev Doctor stands" in html and _row(html, "TCS-72in168")[1] == "74 h over"


def test_each_warning_reads_in_plain_words_with_the_rule_id_kept_in_details(client, make):
    """#15: plain words instead of rule ids; the id stays, in a details element."""
    coord, doctor = _fortnight(make)
    login(client, doctor)
    html = client.get("/compliance?from=2025-10-20&to=2025-11-02").get_data(as_text=True)
    cards = re.findall(r'data-testid="verdict" data-rule="([^"]+)">(.*?)</li>', html, re.S)
    assert cards
    for rule_id, card in cards:
        shown, details = card.split("<details", 1)
        assert rule_id not in shown and "TCS2016" not in shown, shown
        assert rule_id in details


def test_an_opted_out_doctor_sees_the_56_hour_average_week(client, make):
    """#15: the average week against 48 h, or 56 h once opted out of the 48-hour week (TCS 2016)."""
    from rota.compliance import settings as cs

    coord, doctor = _fortnight(make)
    cs.update_person_settings(doctor, actor=doctor, changes={"wtr_opt_out": True})
    db.session.commit()
    login(client, doctor)
    html = client.get("/compliance?from=2025-10-20&to=2025-11-02").get_data(as_text=True)
    assert _row(html, "TCS-avg48") == ("Average week", "51 h 45 min a week",
                                       "at most 56 h a week (average over 26 weeks)")
    assert "(opted out of the 48-hour average week)" in html and "Line: 56 h average-week limit." in html
