"""Shifts -> iCalendar bytes (RFC 5545 + RFC 7986). Pure: no Flask, no database; same input, same bytes.

Decisions, each checked by the cross-parser tests (``tests/rota/test_ical*.py``: icalendar, vobject and Mozilla's
ical.js must report the instants the database holds):

* Instants are written in UTC (``…Z``) with no ``VTIMEZONE``. The VTIMEZONE that icalendar's
  ``add_missing_timezones()`` writes (comma-separated RDATE lists) is misread by ical.js, vobject and Outlook
  (Europe/London comes out as UTC+1 all year); UTC instants are read the same by every client, which then shows them
  in the viewer's own zone. Local wall-clock times appear only as text in the description.
* ``X-PUBLISHED-TTL`` is written as the string ``PT1H`` (icalendar writes a ``timedelta`` there as ``1:00:00``) and
  ``REFRESH-INTERVAL`` carries ``VALUE=DURATION``.
* Nothing is invented per render: no calendar UID, ``DTSTAMP`` comes from the data (the last change), events are
  sorted. So the bytes — and the ETag — change only when the rota does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, vDDDTypes, vDuration, vInt, vText, vUri

PRODID = "-//Shiftbridge//Calendar feeds 1.0//EN"
TTL = "PT1H"


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One VEVENT, already decided: which text, which status. Instants are timezone-aware UTC."""

    uid: str
    starts_at: datetime
    ends_at: datetime
    summary: str
    description: str
    sequence: int
    last_modified: datetime
    location: str | None = None
    url: str | None = None
    cancelled: bool = False
    busy: bool = True
    reminder_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class FeedCalendar:
    name: str
    description: str
    events: tuple[FeedEvent, ...]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime in a feed: instants must be timezone-aware")
    return value.astimezone(UTC).replace(microsecond=0)


def render(calendar: FeedCalendar, pieces: dict | None = None) -> bytes:
    """The feed's bytes: exactly what ``build(calendar).to_ical()`` gives (``tests/rota/test_ical_writer.py``), written
    by the lean writer below. ``pieces`` (optional) maps ``FeedEvent`` -> its VEVENT bytes: events found there are not
    written again, and every event written is added, so a caller keeping it between builds rebuilds only the events
    that changed."""
    head = _head(calendar)
    known = {} if pieces is None else pieces
    out = [head[:-len(_END)]]
    for event in sorted(calendar.events, key=sort_key):
        body = known.get(event)
        if body is None:
            body = known[event] = vevent_bytes(event)
        out.append(body)
    out.append(_END)
    return b"".join(out)


_END = b"END:VCALENDAR\r\n"


def sort_key(event: FeedEvent) -> tuple:
    """Where ``event`` goes in a feed (``render``'s order)."""
    return event.starts_at, event.uid


def render_written(calendar: FeedCalendar, vevents) -> bytes:
    """``render``'s bytes for a calendar whose events are given as their VEVENT bytes (``vevent_bytes``), already in
    ``sort_key`` order; ``calendar.events`` is not read. For a caller that keeps each event's bytes between builds."""
    head = _head(calendar)
    return b"".join((head[:-len(_END)], *vevents, _END))


def _head(calendar: FeedCalendar) -> bytes:
    return _calendar(calendar).to_ical()


def build(calendar: FeedCalendar) -> Calendar:
    """The icalendar object for ``calendar`` (the reference ``render`` must match byte for byte)."""
    cal = _calendar(calendar)
    shared: dict[str, vText] = {}  # repeated values (status, location, "Night · Ward 7B") share one property object
    for event in sorted(calendar.events, key=lambda e: (e.starts_at, e.uid)):
        cal.add_component(_vevent(event, shared))
    return cal


def _calendar(calendar: FeedCalendar) -> Calendar:
    """The VCALENDAR with its properties and no events."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", calendar.name)
    cal.add("x-wr-calname", calendar.name)
    cal.add("x-wr-caldesc", calendar.description)
    cal.add("refresh-interval", vDuration(timedelta(hours=1)), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", TTL)  # a string on purpose: see the module docstring
    return cal


# ------------------------------------------------------------------------------------------- lean writer
# icalendar's serialiser costs ~250 µs an event (a 1,000-person team feed over 3 months is 65,000 events). These
# functions write the same content lines directly: properties in icalendar's order (Event.canonical_order first,
# then alphabetical), TEXT escaped as icalendar escapes it, lines folded at 75 octets as icalendar folds them.


def _escape(value: str) -> str:
    """RFC 5545 TEXT escaping, in icalendar's order (``\\N`` and line breaks become ``\\n``)."""
    if not any(c in value for c in "\\;,\r\n"):
        return value
    value = value.replace(r"\N", "\n").replace("\\", "\\\\").replace(";", r"\;").replace(",", r"\,")
    return value.replace("\r\n", r"\n").replace("\n", r"\n").replace("\r", r"\n")


def _fold(line: bytes) -> bytes:
    """Split a content line into pieces of at most 74 octets joined by CRLF + space, never inside a UTF-8 character
    and never right after a ``\\`` or ``^`` (icalendar moves that character to the next piece)."""
    if len(line) <= 74:
        return line
    parts, start, size = [], 0, len(line)
    while size - start > 74:
        cut = start + 74
        while line[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte: the character starts earlier
            cut -= 1
        if line[cut - 1] in b"\\^" and cut - 1 > start:
            cut -= 1
        parts.append(line[start:cut])
        start = cut
    parts.append(line[start:])
    return b"\r\n ".join(parts)


def _stamp(value: datetime) -> str:
    d = _utc(value)
    return f"{d.year:04}{d.month:02}{d.day:02}T{d.hour:02}{d.minute:02}{d.second:02}Z"


def _line(name: str, value: str) -> bytes:
    return _fold(f"{name}:{value}".encode()) + b"\r\n"


def vevent_bytes(e: FeedEvent) -> bytes:
    """One VEVENT (with its VALARM), as icalendar serialises ``_vevent(e)``."""
    changed = _stamp(e.last_modified)
    summary = _escape(e.summary)
    lines = [b"BEGIN:VEVENT\r\n", _line("SUMMARY", summary), _line("DTSTART", _stamp(e.starts_at)),
             _line("DTEND", _stamp(e.ends_at)), _line("DTSTAMP", changed), _line("UID", _escape(e.uid)),
             _line("SEQUENCE", str(int(e.sequence))), b"CLASS:PRIVATE\r\n",
             _line("DESCRIPTION", _escape(e.description)), _line("LAST-MODIFIED", changed)]
    if e.location:
        lines.append(_line("LOCATION", _escape(e.location)))
    lines.append(b"STATUS:CANCELLED\r\n" if e.cancelled else b"STATUS:CONFIRMED\r\n")
    lines.append(b"TRANSP:OPAQUE\r\n" if e.busy and not e.cancelled else b"TRANSP:TRANSPARENT\r\n")
    if e.url:
        lines.append(_line("URL", e.url))
    if e.reminder_minutes and not e.cancelled:
        trigger = vDuration(timedelta(minutes=-e.reminder_minutes)).to_ical().decode()
        lines += [b"BEGIN:VALARM\r\nACTION:DISPLAY\r\n", _line("DESCRIPTION", summary), _line("TRIGGER", trigger),
                  b"END:VALARM\r\n"]
    lines.append(b"END:VEVENT\r\n")
    return b"".join(lines)


def _text(value: str, shared: dict[str, vText] | None) -> vText:
    if shared is None:
        return vText(value)
    prop = shared.get(value)
    if prop is None:
        prop = shared[value] = vText(value)
    return prop


def _vevent(e: FeedEvent, shared: dict[str, vText] | None = None) -> Event:
    # Property objects are built directly rather than through ``Event.add`` (which re-derives the type and time-zone
    # parameters of every value): the same bytes, in well under half the time, which matters for a 3,000-shift rota.
    ev = Event()
    changed = vDDDTypes(_utc(e.last_modified))
    ev["UID"] = vText(e.uid)
    ev["DTSTAMP"] = changed
    ev["DTSTART"] = vDDDTypes(_utc(e.starts_at))
    ev["DTEND"] = vDDDTypes(_utc(e.ends_at))
    ev["SUMMARY"] = _text(e.summary, shared)
    ev["DESCRIPTION"] = vText(e.description)
    if e.location:
        ev["LOCATION"] = _text(e.location, shared)
    if e.url:
        ev["URL"] = vUri(e.url)
    ev["SEQUENCE"] = vInt(e.sequence)
    ev["LAST-MODIFIED"] = changed
    ev["STATUS"] = _text("CANCELLED" if e.cancelled else "CONFIRMED", shared)
    ev["TRANSP"] = _text("OPAQUE" if e.busy and not e.cancelled else "TRANSPARENT", shared)
    ev["CLASS"] = _text("PRIVATE", shared)
    if e.reminder_minutes and not e.cancelled:
        alarm = Alarm()
        alarm["ACTION"] = _text("DISPLAY", shared)
        alarm["DESCRIPTION"] = _text(e.summary, shared)
        alarm["TRIGGER"] = vDuration(timedelta(minutes=-e.reminder_minutes))
        ev.add_component(alarm)
    return ev


# ----------------------------------------------------------------------------------------------- wording


def local_span(starts_at: datetime, ends_at: datetime, timezone: str) -> str:
    """"Sun 29 Mar 2026 21:00 – Mon 30 Mar 09:00 (Europe/London), 11 h" — true elapsed hours, not wall-clock."""
    tz = ZoneInfo(timezone)
    start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    hours = (ends_at - starts_at).total_seconds() / 3600
    length = f"{hours:g} h" if hours == int(hours) else f"{hours:.1f} h"
    end_fmt = "%H:%M" if start.date() == end.date() else "%a %d %b %H:%M"
    return f"{start:%a %d %b %Y %H:%M} – {end.strftime(end_fmt)} ({timezone}), {length}"


def shift_summary(type_name: str | None, team_name: str, *, who: str | None = None, prefix: str = "") -> str:
    """"Night · Ward 7B"; in a team feed "Sam Patel: Night · Ward 7B"; "Cancelled: …" / "Open: …" prefixes."""
    text = f"{type_name or 'Shift'} · {team_name}"
    if who:
        text = f"{who}: {text}"
    return prefix + text


def shift_description(*, type_name: str | None, type_code: str | None, team_name: str, timezone: str,
                      starts_at: datetime, ends_at: datetime, link: str | None, extra: Iterable[str] = ()) -> str:
    label = f"{type_name} ({type_code})" if type_name and type_code else (type_name or "Shift")
    lines = [*extra, f"{label}, {team_name}", local_span(starts_at, ends_at, timezone)]
    if link:
        lines.append(f"Open in Shiftbridge: {link}")
    return "\n".join(lines)


def released_on(reason: str, released_at: datetime, timezone: str) -> str:
    """"Swapped to Sam Patel on 3 Nov" (the date in the team's zone)."""
    day = released_at.astimezone(ZoneInfo(timezone))
    return f"{reason} on {day.day} {day:%b}"
