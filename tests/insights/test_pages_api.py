"""Insights pages and API: who sees what, the charts and tables, CSV, bad dates refused clearly."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from core.db import db, now_utc
from tests.conftest import login
from tests.insights.history import log, open_and_fill, shift


@pytest.fixture
def trust(make):
    coord = make.user(display_name="Cora Coordinator")
    nurse, other = make.user(display_name="Nell Nurse"), make.user(display_name="Olly Other")
    admin = make.admin(display_name="Ada Admin")
    good = make.team("Ward Good", coordinators=[coord], staff=[nurse], site="General")
    bad = make.team("Ward Bad", staff=[other], site="General")
    base = now_utc().replace(microsecond=0) - timedelta(days=10)
    # Ward Good: an open shift filled after 30 minutes by the nurse; Ward Bad: a gap never filled
    open_and_fill(good, base + timedelta(days=2), opened=base, filled=base + timedelta(minutes=30), taker=nurse)
    shift(good, base + timedelta(days=3), assignee=nurse, created_at=base - timedelta(days=20))
    s = open_and_fill(bad, base + timedelta(days=2), opened=base)
    log("compliance.overridden", base, shift=s, actor=admin, summary={"reason": "Bed 4 short"})
    db.session.commit()
    return {"coord": coord, "nurse": nurse, "admin": admin, "good": good, "bad": bad}


def test_coordinator_sees_charts_tables_people_and_downloads_csv(client, trust):
    login(client, trust["coord"])
    team = trust["good"]
    home = client.get("/").get_data(as_text=True)
    assert "/insights/" in home  # in the menu

    resp = client.get(f"/insights/teams/{team.id}")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert page.count('<svg class="sb-chart"') >= 5 and 'role="img"' in page and "<details" in page
    assert "1 of 1 open shifts were filled; half within 30 minutes" in page
    assert "Hours, nights and weekends per person" in page and "Nell Nurse" in page

    link = next(part.split('"')[0] for part in page.split('href="')[1:] if "/open-shifts.csv" in part)
    got = client.get(link.replace("&amp;", "&"))
    assert got.status_code == 200 and got.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(got.get_data(as_text=True))))
    assert rows[0] == ["Measure", "This period", "Previous period", "Change"]
    assert ["Time to fill, median (min)", "30", "—", ""] in rows


def test_staff_cannot_open_insights_and_outsiders_do_not_learn_the_team_exists(client, trust):
    login(client, trust["nurse"])
    assert client.get(f"/insights/teams/{trust['good'].id}").status_code == 403
    assert client.get(f"/insights/teams/{trust['bad'].id}").status_code == 404
    assert "/insights/" not in client.get("/").get_data(as_text=True)


def test_bad_dates_show_a_form_error_and_keep_what_was_typed(client, trust):
    login(client, trust["coord"])
    resp = client.get(f"/insights/teams/{trust['good'].id}?from=2026-02-30&to=2026-03-01")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "Enter a date as YYYY-MM-DD" in page and 'value="2026-02-30"' in page
    resp = client.get(f"/insights/teams/{trust['good'].id}?from=2026-03-10&to=2026-03-01")
    assert "on or after the &#39;from&#39; date" in resp.get_data(as_text=True) or "on or after" in resp.get_data(
        as_text=True)


def test_administrator_sees_every_team_worst_first_without_people(client, trust):
    login(client, trust["admin"])
    page = client.get("/insights/site?site=General").get_data(as_text=True)
    assert page.index("Ward Bad") < page.index("Ward Good")  # 0 % filled at start before 100 %
    by_name = client.get("/insights/site?site=General&sort=overrides").get_data(as_text=True)
    table = by_name[by_name.index('data-testid="site-table"'):]
    assert table.index("Ward Bad") < table.index("Ward Good")  # most overrides first
    csv_text = client.get("/insights/site.csv?site=General").get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("Team,Site,Filled at start %")
    team_page = client.get(f"/insights/teams/{trust['good'].id}").get_data(as_text=True)
    assert "Nell Nurse" not in team_page  # per-person rows are for the team's own coordinator


def test_coordinator_cannot_open_the_site_page(client, trust):
    login(client, trust["coord"])
    assert client.get("/insights/site").status_code == 403


def test_api_team_insights_same_numbers_and_people_for_own_coordinator(client, make, trust, bearer):
    token = make.token(trust["coord"])
    resp = client.get(f"/api/v1/teams/{trust['good'].id}/insights", headers=bearer(token))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["current"]["open_shifts"]["time_to_fill_median_min"] == 30.0
    assert body["current"]["open_shifts"]["by_where"] == {"own": 1, "bank": 0, "neighbour": 0}
    assert body["current"]["open_shifts"]["by_how"] == {"app": 1, "card": 0, "sms": 0, "coordinator": 0}
    assert [p["name"] for p in body["people"]] == ["Nell Nurse"]


def test_api_refuses_bad_dates_as_problem_json(client, make, trust, bearer):
    token = make.token(trust["coord"])
    url = f"/api/v1/teams/{trust['good'].id}/insights"
    for query in ("?from=yesterday", "?from=2026-03-10&to=2026-03-01", "?from=2020-01-01&to=2026-01-01",
                  "?to=0001-01-01", "?from=9999-12-31"):
        resp = client.get(url + query, headers=bearer(token))
        assert resp.status_code == 422, query
        assert resp.mimetype == "application/problem+json"


def test_api_access_staff_forbidden_site_for_administrators_only(client, make, trust, bearer):
    staff = make.token(trust["nurse"])
    assert client.get(f"/api/v1/teams/{trust['good'].id}/insights", headers=bearer(staff)).status_code == 403
    assert client.get(f"/api/v1/teams/{trust['bad'].id}/insights", headers=bearer(staff)).status_code == 404
    assert client.get("/api/v1/insights", headers=bearer(make.token(trust["coord"]))).status_code == 403
    body = client.get("/api/v1/insights?site=General", headers=bearer(make.token(trust["admin"]))).get_json()
    assert [t["team"] for t in body["teams"]] == ["Ward Bad", "Ward Good"]
    assert all(t["people"] is None for t in body["teams"])
    assert body["teams"][0]["current"]["working_time"]["override_reasons"] == [["Bed [number removed] short", 1]]


def test_openapi_documents_both_paths(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/teams/{team_id}/insights" in doc["paths"] and "/api/v1/insights" in doc["paths"]


def test_period_across_the_october_clock_change_has_25_hour_day(app):
    from datetime import date

    from insights import service

    p = service.period_for(date(2026, 10, 25), date(2026, 10, 25), "Europe/London")
    assert (p.end - p.start) == timedelta(hours=25)
    assert p.start == datetime(2026, 10, 24, 23, 0, tzinfo=UTC)


def test_sms_cost_is_segments_times_the_price_setting_on_the_page_api_and_csv(app, client, make, trust, bearer):
    from notifications.models import Broadcast, OutboxMessage, OutboxState

    app.config["INSIGHTS_SMS_PRICE_PENCE"] = 5.5
    team = trust["good"]
    bc = Broadcast(team_id=team.id, audience="team", text="Late shift free", channels=["sms"],
                   created_at=now_utc() - timedelta(days=5))
    db.session.add(bc)
    db.session.flush()
    sms = dict(channel="sms", kind="broadcast", team_id=team.id, broadcast_id=bc.id, state=OutboxState.delivered)
    db.session.add_all([OutboxMessage(user_id=trust["nurse"].id, text="x" * 150, suffix="Reply YES 1234", **sms),
                        OutboxMessage(user_id=trust["coord"].id, text="y" * 100, **sms)])  # 165 -> 2, 100 -> 1
    db.session.commit()

    body = client.get(f"/api/v1/teams/{team.id}/insights", headers=bearer(make.token(trust["coord"]))).get_json()
    assert (body["current"]["broadcasts"]["sms_segments"], body["current"]["broadcasts"]["sms_cost_pence"]) == \
        (3, 16.5)
    login(client, trust["coord"])
    rows = list(csv.reader(io.StringIO(client.get(f"/insights/teams/{team.id}/broadcasts.csv").get_data(
        as_text=True))))
    assert ["Estimated SMS cost (pence)", "16.5", "0", "+16.5"] in rows  # a number, not defused text


def test_the_sms_price_is_a_setting_read_from_the_environment(database_url, monkeypatch):
    from app import create_app
    from tests.conftest import base_config

    monkeypatch.setenv("INSIGHTS_SMS_PRICE_PENCE", "3.2")
    assert create_app(base_config(database_url)).config["INSIGHTS_SMS_PRICE_PENCE"] == 3.2
    monkeypatch.delenv("INSIGHTS_SMS_PRICE_PENCE")
    assert create_app(base_config(database_url)).config["INSIGHTS_SMS_PRICE_PENCE"] == 4.0


def test_a_coordinator_sees_only_the_teams_they_coordinate_and_people_only_there(app, client, make, trust, bearer):
    from core.accounts import TeamRole, add_member

    coord, good, bad, admin = trust["coord"], trust["good"], trust["bad"], trust["admin"]
    # Cora coordinates Ward Good; on Ward Bad she is only staff: not its insights, and never its people
    add_member(bad, coord, TeamRole.staff)
    other_ward = make.team("Ward Elsewhere", staff=[make.user()], site="General")
    db.session.commit()
    login(client, coord)
    page = client.get("/insights/").get_data(as_text=True)
    index = page[page.index('data-testid="insights-teams"'):]
    assert "Ward Good" in index and "Ward Bad" not in index and "Ward Elsewhere" not in index
    assert client.get(f"/insights/teams/{bad.id}").status_code == 403
    assert client.get(f"/insights/teams/{other_ward.id}").status_code == 404
    assert client.get(f"/insights/teams/{bad.id}/people.csv").status_code == 403
    assert client.get(f"/insights/teams/{good.id}/people.csv").status_code == 200
    token = bearer(make.token(coord))
    assert client.get(f"/api/v1/teams/{bad.id}/insights", headers=token).status_code == 403
    assert client.get(f"/api/v1/teams/{other_ward.id}/insights", headers=token).status_code == 404

    # An administrator sees every team, and people only on a team they coordinate themselves
    add_member(good, admin, TeamRole.coordinator)
    db.session.commit()
    as_admin = bearer(make.token(admin))
    assert [p["name"] for p in client.get(f"/api/v1/teams/{good.id}/insights", headers=as_admin).get_json()[
        "people"]] == ["Nell Nurse"]
    assert client.get(f"/api/v1/teams/{bad.id}/insights", headers=as_admin).get_json()["people"] is None
    browser = app.test_client()  # signed in afresh as the administrator
    login(browser, admin)
    assert browser.get(f"/insights/teams/{other_ward.id}").status_code == 200
    assert browser.get(f"/insights/teams/{bad.id}/people.csv").status_code == 404  # no per-person table for them
    assert "Olly Other" not in browser.get(f"/insights/teams/{bad.id}").get_data(as_text=True)
    assert "Nell Nurse" in browser.get(f"/insights/teams/{good.id}").get_data(as_text=True)


def test_the_site_comparison_has_every_team_number_of_the_team_page(client, trust):
    from insights import report

    login(client, trust["admin"])
    rows = list(csv.reader(io.StringIO(client.get("/insights/site.csv?site=General").get_data(as_text=True))))
    good = dict(zip(rows[0], next(r for r in rows if r[0] == "Ward Good"), strict=True))
    assert (good["Open shifts created"], good["Time to fill, median (min)"],
            good["Time to fill, 90th percentile (min)"], good["Filled 24 h before %"]) == ("1", "30", "30", "100")
    for label in ("Filled at publication %", "Auto-approved %", "Time to decision, median (min)", "Reached by push",
                  "Reached by SMS", "Acknowledged %", "SMS segments", "Warnings accepted",
                  "Handover acceptance, median (min)", "Handover acceptance, 90th percentile (min)",
                  "Carried forward unreviewed"):
        assert label in rows[0], label
    # every one-per-team number of the team page's tables is a column (the spreads need per-person rows)
    site_keys = {where for _k, _l, where, _b in report.SITE_COLUMNS}
    for group, spec in (("cover", report.COVER), ("open_shifts", report.OPEN), ("swaps", report.SWAPS),
                        ("broadcasts", report.BROADCASTS), ("working_time", report.WORKING),
                        ("handover", report.HANDOVER)):
        missing = {key for _label, key, _u in spec if (group, key) not in site_keys and not key.endswith("spread")}
        assert missing <= {"slots", "filled", "swaps", "offers", "approved", "broadcasts", "recipients",
                           "handed_over", "accepted", "filled_at_publication", "filled_24h_before"}, (group, missing)
    page = client.get("/insights/site?site=General&sort=handover_p90")
    assert page.status_code == 200 and 'data-testid="sort-handover_p90"' in page.get_data(as_text=True)


def test_every_table_of_the_team_page_has_a_csv_download(client, trust):
    login(client, trust["coord"])
    page = client.get(f"/insights/teams/{trust['good'].id}").get_data(as_text=True)
    sections = page.count('class="sb-insight"')
    links = [part.split('"')[0].replace("&amp;", "&") for part in page.split('href="')[1:] if ".csv?" in
             part.split('"')[0]]
    assert sections == len(links) == 12  # 10 team tables and the 2 per-person ones
    for link in links:
        got = client.get(link)
        assert got.status_code == 200 and got.mimetype == "text/csv", link
        assert got.get_data(as_text=True).split(",")[0] in ("Measure", "Route", "Reason", "Rule",
                                                             "Reason (numbers removed)", "Person"), link


def test_csv_numbers_stay_numbers_and_formulas_are_defused(client, make, trust):
    """A spreadsheet reads "-37.5" and "+1" as numbers; a name such as "=HYPERLINK(...)" or "-2+3" stays text."""
    coord, good = trust["coord"], trust["good"]
    sneaky = make.user(display_name="=HYPERLINK(\"http://x\")")
    tricky = make.user(display_name="-2+3")
    from core.accounts import TeamRole, add_member

    add_member(good, sneaky, TeamRole.staff)
    add_member(good, tricky, TeamRole.staff)
    base = now_utc().replace(microsecond=0) - timedelta(days=5)
    shift(good, base, assignee=sneaky, created_at=base - timedelta(days=20))
    shift(good, base + timedelta(days=1), assignee=tricky, created_at=base - timedelta(days=20))
    db.session.commit()
    login(client, coord)
    people = list(csv.reader(io.StringIO(client.get(f"/insights/teams/{good.id}/hours.csv").get_data(as_text=True))))
    names = {r[0] for r in people[1:]}
    assert {"'=HYPERLINK(\"http://x\")", "'-2+3", "Nell Nurse"} <= names, names
    differences = [r[4] for r in people[1:]]
    assert all(d.startswith("-") and float(d) < 0 for d in differences), differences  # fewer hours than contracted
    cover = list(csv.reader(io.StringIO(client.get(f"/insights/teams/{good.id}/open-shifts.csv").get_data(
        as_text=True))))
    assert ["Open shifts created", "1", "0", "+1"] in cover
