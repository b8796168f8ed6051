"""CSV in and out of a team rota. Parsing here is structural only (columns, dates); who and which shift code is
checked by ``rota.services.import_assignments`` against the database."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime

from core.errors import ValidationFailed
from core.spreadsheet import safe_cell
from core.timeutil import MAX_YEAR, MIN_YEAR, to_local

MAX_BYTES = 1_000_000
MAX_ROWS = 5000
STAFF_COLUMNS = ("staff", "email", "staff_email", "staff_number", "staff number", "person")
DATE_COLUMNS = ("date", "day")
CODE_COLUMNS = ("shift_code", "shift code", "code", "shift")
EXPORT_COLUMNS = ["date", "weekday", "shift_code", "start_local", "end_local", "hours", "state", "staff_number",
                  "email", "name", "grade"]


@dataclass
class ParsedRow:
    number: int  # line in the file, header is row 1
    staff: str
    raw_date: str
    code: str
    day: date | None = None
    errors: list = field(default_factory=list)


def _parse_day(raw: str) -> date | None:
    raw = raw.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y"):
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    return None


def _column(header: list[str], names) -> int | None:
    for i, h in enumerate(header):
        if h.strip().lower().lstrip("\ufeff") in names:
            return i
    return None


def parse_assignments(text: str) -> tuple[list[ParsedRow], int]:
    """Rows of (staff email or number, date, shift code). A header row is required; structural problems of a row
    are reported on that row; a file that cannot be read at all is refused as a whole."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ValidationFailed("The file is larger than 1 MB.", errors={"csv": ["At most 1 MB."]})
    if "\x00" in text:
        raise ValidationFailed("That is not a CSV text file.", errors={"csv": ["Contains NUL characters."]})
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ValidationFailed(f"The file is not valid CSV: {exc}.", errors={"csv": [str(exc)]})
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ValidationFailed("The file is empty.", errors={"csv": ["No rows."]})
    header = rows[0]
    staff_i, date_i, code_i = (_column(header, STAFF_COLUMNS), _column(header, DATE_COLUMNS),
                               _column(header, CODE_COLUMNS))
    if None in (staff_i, date_i, code_i):
        msg = "The first row must name the columns: staff (email or staff number), date, shift_code."
        raise ValidationFailed(msg, errors={"csv": [msg]})
    if len(rows) - 1 > MAX_ROWS:
        raise ValidationFailed(f"At most {MAX_ROWS} rows at a time.", errors={"csv": [f"At most {MAX_ROWS} rows."]})
    out = []
    width = max(staff_i, date_i, code_i) + 1
    for n, r in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in r] + [""] * max(0, width - len(r))
        row = ParsedRow(n, cells[staff_i][:254], cells[date_i][:40], cells[code_i][:16])
        if not row.staff:
            row.errors.append("No staff email or staff number.")
        if not row.raw_date:
            row.errors.append("No date.")
        else:
            row.day = _parse_day(row.raw_date)
            if row.day is None:
                row.errors.append(f"'{row.raw_date}' is not a date; use 2026-03-02 or 02/03/2026.")
            elif not MIN_YEAR <= row.day.year <= MAX_YEAR:
                row.errors.append(f"{row.raw_date} is not a plausible rota date ({MIN_YEAR}–{MAX_YEAR}).")
                row.day = None
        if not row.code:
            row.errors.append("No shift code.")
        out.append(row)
    return out, len(out)



def export_rows(shifts, tz) -> str:

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(EXPORT_COLUMNS)
    for s in shifts:
        start, end = to_local(s.starts_at, tz), to_local(s.ends_at, tz)
        u = s.assignee
        w.writerow([start.date().isoformat(), f"{start:%a}", s.shift_type.code if s.shift_type else "",
                    start.isoformat(timespec="minutes"), end.isoformat(timespec="minutes"),
                    f"{(s.ends_at - s.starts_at).total_seconds() / 3600:g}", s.state.value,
                    safe_cell(u.staff_number) if u else "", safe_cell(u.email) if u else "",
                    safe_cell(u.display_name) if u else "", u.grade if u else ""])
    return buf.getvalue()
