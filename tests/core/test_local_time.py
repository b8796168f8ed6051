"""Times on pages are the team's wall-clock time with the zone named, right across the clock changes."""

import re
from datetime import UTC, datetime

from flask import render_template_string

from core import timeutil
from tests.conftest import login


def test_format_local_names_the_zone_either_side_of_the_october_change():
    # 25 Oct 2026: 01:30 happens twice in London, first in BST (00:30 UTC) then in GMT (01:30 UTC).
    assert timeutil.format_local(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "Europe/London", "%H:%M") == "01:30 BST"
    assert timeutil.format_local(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "Europe/London", "%H:%M") == "01:30 GMT"
    assert timeutil.format_local(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "Europe/London", "%H:%M") == "02:00 BST"
    assert timeutil.format_local(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "Europe/London", "%H:%M",
                                 name_zone=False) == "13:00"


def test_local_time_filter_uses_the_team_zone_else_the_readers(app, make):
    team = make.team("Ward Auckland", timezone="Pacific/Auckland")
    instant = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    with app.test_request_context():
        assert render_template_string("{{ t|local_time(team, fmt='%a %H:%M') }}", t=instant, team=team) \
            == "Mon 09:00 NZDT"
        assert render_template_string("{{ t|local_time(fmt='%H:%M') }}", t=instant) == "20:00 GMT"
        assert render_template_string("{{ t|local_time('Europe/London', fmt='%H:%M', name_zone=False) }}",
                                      t=instant) == "20:00"
        assert render_template_string("{{ none|local_time }}") == ""


def test_audit_log_shows_local_time_with_the_zone_named(client, make):
    admin = make.admin()
    login(client, admin)
    page = client.get("/audit").get_data(as_text=True)
    assert "When (UTC)" not in page
    assert re.search(r"\d\d:\d\d:\d\d (GMT|BST)<", page), page[page.find("<tbody"):][:600]
