"""Helpers for the calendar-feed tests: rota rows made directly with the models, and the three-parser cross-check.

Every feed a test fetches goes through :func:`check_feed`: it is parsed by ``icalendar``, by ``vobject`` and by
Mozilla's ``ical.js`` under Node (tests/js/parse_ics.mjs), and the UTC instants each reports must equal the
database's. vobject and ical.js read the feed's own time-zone data, so a broken VTIMEZONE cannot hide.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import vobject
from icalendar import Calendar

from core.db import db
from rota.models import Shift, ShiftKind, ShiftState, ShiftType

ROOT = Path(__file__).resolve().parents[3]
PARSER = ROOT / "tests" / "js" / "parse_ics.mjs"


def shift_type(team, code="N", name="Night", start=time(21, 0), minutes=720, kind=ShiftKind.night) -> ShiftType:
    st = ShiftType(team_id=team.id, code=code, name=name, start_local=start, duration_minutes=minutes, kind=kind)
    db.session.add(st)
    db.session.commit()
    return st


def local(team, *args) -> datetime:
    """A wall-clock time in the team's zone as a UTC instant (refuses times that do not exist there)."""
    tz = ZoneInfo(team.timezone)
    naive = datetime(*args)
    aware = naive.replace(tzinfo=tz)
    assert aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive, "local time does not exist"
    return aware.astimezone(UTC)


def shift(team, stype, starts_at, ends_at=None, *, assignee=None, state=None, **kw) -> Shift:
    starts_at = starts_at.replace(second=0, microsecond=0)  # rotas are minute-precise
    ends_at = (ends_at or starts_at + timedelta(minutes=stype.duration_minutes)).replace(second=0, microsecond=0)
    state = state or (ShiftState.scheduled if assignee is not None else ShiftState.open)
    s = Shift(team_id=team.id, shift_type_id=stype.id if stype else None, starts_at=starts_at, ends_at=ends_at,
              assignee_id=assignee.id if assignee else None, state=state, **kw)
    db.session.add(s)
    db.session.commit()
    return s


# ----------------------------------------------------------------------------------------- cross-parser


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the ical.js (Mozilla) cross-check of calendar feeds cannot run")
    if not (ROOT / "node_modules" / "ical.js").exists():
        pytest.skip("node_modules/ical.js is missing: run `npm ci` (make setup) for the ical.js cross-check")
    return node


def _utc(value) -> datetime:
    assert isinstance(value, datetime), f"expected a date-time, got {value!r}"
    assert value.tzinfo is not None, f"floating time {value!r}: clients would read it in their own zone"
    return value.astimezone(UTC)


def parse_icalendar(data: bytes) -> dict:
    cal = Calendar.from_ical(data)
    return {str(e["UID"]): {"start": _utc(e.decoded("DTSTART")), "end": _utc(e.decoded("DTEND")),
                            "status": e.get("STATUS") and str(e.get("STATUS")), "sequence": int(e.get("SEQUENCE", 0)),
                            "summary": str(e.get("SUMMARY")), "description": str(e.get("DESCRIPTION"))}
            for e in cal.walk("VEVENT")}


def parse_vobject(data: bytes) -> dict:
    cal = vobject.readOne(data.decode("utf-8"))
    out = {}
    def value(e, name, default=None):
        prop = getattr(e, name, None)
        return prop.value if prop is not None else default

    for e in getattr(cal, "vevent_list", []):

        out[e.uid.value] = {"start": _utc(e.dtstart.value), "end": _utc(e.dtend.value), "status": value(e, "status"),
                            "sequence": int(value(e, "sequence", 0)), "summary": value(e, "summary"),
                            "description": value(e, "description")}
    return out


def parse_icaljs(*feeds: bytes) -> list[dict]:
    node = node_or_skip()
    with tempfile.TemporaryDirectory(prefix="feeds-ics-") as tmp:
        paths = []
        for i, data in enumerate(feeds):
            p = Path(tmp) / f"feed{i}.ics"
            p.write_bytes(data)
            paths.append(str(p))
        proc = subprocess.run([node, str(PARSER), *paths], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    results = []
    for cal in json.loads(proc.stdout):
        results.append({e["uid"]: {"start": datetime.fromisoformat(e["start"].replace("Z", "+00:00")),
                                   "end": datetime.fromisoformat(e["end"].replace("Z", "+00:00")),
                                   "status": e["status"], "sequence": e["sequence"], "summary": e["summary"],
                                   "description": e["description"], "alarms": e["alarms"]}
                        for e in cal["events"]} | {"__calendar__": cal})
    return results


def shift_id_of(uid: str) -> int:
    return int(uid.split("@")[0].split(".")[0].removeprefix("shift-"))


def check_feed(data: bytes) -> dict:
    """Parse with all three parsers; each must report, for every event, the instants the database holds.

    Returns the ical.js view (uid -> event) for further assertions.
    """
    views = {"icalendar": parse_icalendar(data), "vobject": parse_vobject(data)}
    js = parse_icaljs(data)[0]
    js.pop("__calendar__")
    views["ical.js"] = js
    uids = set(views["icalendar"])
    for name, view in views.items():
        assert set(view) == uids, f"{name} sees different events: {sorted(set(view) ^ uids)}"
    db.session.expire_all()
    for uid in uids:
        row = db.session.get(Shift, shift_id_of(uid))
        assert row is not None, f"event {uid} has no shift in the database"
        for name, view in views.items():
            ev = view[uid]
            assert (ev["start"], ev["end"]) == (row.starts_at, row.ends_at), (
                f"{name} reads {uid} as {ev['start']}–{ev['end']}, database says {row.starts_at}–{row.ends_at}")
            assert ev["sequence"] == row.version, f"{name}: SEQUENCE {ev['sequence']} != version {row.version}"
        statuses = {views[n][uid]["status"] for n in views}
        assert len(statuses) == 1, f"parsers disagree on STATUS of {uid}: {statuses}"
    return js
