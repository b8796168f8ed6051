"""rota.ical: the pure renderer. Bytes, determinism, and the VTIMEZONE trap that decided "UTC instants"."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from rota.feeds import ical
from tests.rota.feeds.helpers import parse_icalendar, parse_icaljs, parse_vobject

LONDON = ZoneInfo("Europe/London")


def _night(uid, start_local, end_local, **kw):
    starts, ends = start_local.replace(tzinfo=LONDON), end_local.replace(tzinfo=LONDON)
    defaults = dict(uid=uid, starts_at=starts.astimezone(UTC), ends_at=ends.astimezone(UTC),
                    summary="Night · Ward 7B", description="Night (N), Ward 7B", sequence=1,
                    last_modified=datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
    return ical.FeedEvent(**(defaults | kw))


NIGHTS = [
    _night("spring@test", datetime(2026, 3, 28, 21), datetime(2026, 3, 29, 9)),  # clocks go forward: 11 h
    _night("autumn@test", datetime(2026, 10, 24, 21), datetime(2026, 10, 25, 9)),  # clocks go back: 13 h
    _night("winter@test", datetime(2026, 1, 10, 21), datetime(2026, 1, 11, 9)),  # 12 h
]


def test_calendar_header_is_what_clients_need_in_the_bytes():
    data = ical.render(ical.FeedCalendar("Shiftbridge: my shifts", "Every shift you work.", tuple(NIGHTS)))
    lines = data.decode().split("\r\n")
    for expected in ["VERSION:2.0", "PRODID:-//Shiftbridge//Calendar feeds 1.0//EN", "CALSCALE:GREGORIAN",
                     "METHOD:PUBLISH", "NAME:Shiftbridge: my shifts", "X-WR-CALNAME:Shiftbridge: my shifts",
                     "REFRESH-INTERVAL;VALUE=DURATION:PT1H", "X-PUBLISHED-TTL:PT1H"]:
        assert expected in lines, f"{expected!r} missing from the calendar"
    assert b"1:00:00" not in data  # the invalid TTL icalendar writes for a timedelta
    assert b"VTIMEZONE" not in data and b"TZID" not in data
    assert b"DTSTART:20260328T210000Z" in data and b"DTEND:20260329T080000Z" in data


def test_same_data_gives_the_same_bytes_whatever_the_order():
    one = ical.render(ical.FeedCalendar("c", "d", tuple(NIGHTS)))
    two = ical.render(ical.FeedCalendar("c", "d", tuple(reversed(NIGHTS))))
    assert one == two
    assert b"DTSTAMP:20260105T093000Z" in one  # from the data, not the clock
    assert one.count(b"BEGIN:VEVENT") == 3


def test_every_parser_reads_true_durations_across_the_clock_changes():
    data = ical.render(ical.FeedCalendar("c", "d", tuple(NIGHTS)))
    js = parse_icaljs(data)[0]
    for view in (parse_icalendar(data), parse_vobject(data), js):
        assert view["spring@test"]["end"] - view["spring@test"]["start"] == timedelta(hours=11)
        assert view["autumn@test"]["end"] - view["autumn@test"]["start"] == timedelta(hours=13)
        assert view["winter@test"]["start"] == datetime(2026, 1, 10, 21, tzinfo=UTC)
        assert view["spring@test"]["start"] == datetime(2026, 3, 28, 21, tzinfo=UTC)  # still GMT that evening
        assert view["autumn@test"]["start"] == datetime(2026, 10, 24, 20, tzinfo=UTC)  # BST that evening
    assert js["__calendar__"]["ttl"] == "PT1H" and js["__calendar__"]["refresh"] == "PT1H"


def test_the_vtimezone_trap_is_real_and_the_cross_check_catches_it():
    """Control: the same nights written with TZID + icalendar's add_missing_timezones() are misread by vobject and
    ical.js (UTC+1 all year). This is why the feeds use UTC instants, and proves the cross-check can fail."""
    cal = Calendar()
    cal.add("prodid", "-//test//EN")
    cal.add("version", "2.0")
    for night in NIGHTS:
        ev = Event()
        ev.add("uid", night.uid)
        ev.add("dtstamp", night.last_modified)
        ev.add("dtstart", night.starts_at.astimezone(LONDON))
        ev.add("dtend", night.ends_at.astimezone(LONDON))
        cal.add_component(ev)
    cal.add_missing_timezones()
    data = cal.to_ical()
    truth = datetime(2026, 1, 10, 21, tzinfo=UTC)
    assert parse_icalendar(data)["winter@test"]["start"] == truth  # icalendar maps TZID to zoneinfo: looks fine
    assert parse_vobject(data)["winter@test"]["start"] != truth
    assert parse_icaljs(data)[0]["winter@test"]["start"] != truth


def test_reminder_only_on_live_shifts_and_cancelled_shifts_are_marked():
    live = NIGHTS[0].__class__(**{**_asdict(NIGHTS[0]), "reminder_minutes": 60})
    gone = NIGHTS[1].__class__(**{**_asdict(NIGHTS[1]), "reminder_minutes": 60, "cancelled": True})
    data = ical.render(ical.FeedCalendar("c", "d", (live, gone)))
    js = parse_icaljs(data)[0]
    assert js["spring@test"]["alarms"] == ["-PT1H"] and js["spring@test"]["status"] == "CONFIRMED"
    assert js["autumn@test"]["alarms"] == [] and js["autumn@test"]["status"] == "CANCELLED"
    assert data.count(b"TRANSP:TRANSPARENT") == 1


def test_wording_uses_true_hours_and_the_team_zone():
    starts, ends = NIGHTS[1].starts_at, NIGHTS[1].ends_at
    assert ical.local_span(starts, ends, "Europe/London") == \
        "Sat 24 Oct 2026 21:00 – Sun 25 Oct 09:00 (Europe/London), 13 h"
    assert ical.shift_summary("Night", "Ward 7B") == "Night · Ward 7B"
    assert ical.released_on("Swapped to Sam Patel", datetime(2026, 11, 3, 23, 30, tzinfo=UTC),
                            "Europe/London") == "Swapped to Sam Patel on 3 Nov"


def _asdict(event):
    return {name: getattr(event, name) for name in event.__slots__}
