"""The team grid's cells as HTML, written once per row in Python rather than by a template loop per cell (issue #22).

A 4-week grid has 28 cells per person; written by Jinja each cell cost a dozen template calls and escapes. Here
each distinct piece (a day's attributes, a shift type's class, a shift's times, a marker) is escaped once per page
and the row is joined in one go. The markup is exactly what ``templates/rota/grid.html`` wrote before
(``tests/rota/test_grid_html.py`` renders both over a seeded ward and compares them).
"""

from __future__ import annotations

from markupsafe import Markup, escape

from core import timeutil


class GridCells:
    """Writes the person rows and the open-shifts row of one grid page.

    ``manage``: a coordinator sees each shift as a link to it with its times as a title and the leave's kind; others
    see the code and "Off". ``shift_href``, ``person_href``: the shift's and the person's working-time page's address
    without the id (built once by the view, not once per row or cell)."""

    def __init__(self, grid, *, tz_name: str, manage: bool, shift_href: str, leave_codes: dict,
                 person_href: str = ""):
        self.manage = manage
        self.href = str(escape(shift_href))
        self.person_href = Markup(escape(person_href))
        self.leave_codes = leave_codes
        self.tz_name = tz_name
        self._times: dict = {}
        self._markers: dict = {}
        self._days = {d: f'<td class="sb-cell{" sb-weekend" if d.weekday() >= 5 else ""}" data-day="{d.isoformat()}">'
                      for d in grid.days}
        self._open_days = {d: f'<td class="sb-cell" data-day="{d.isoformat()}">' for d in grid.days}
        self._types = {st.id: (f" sb-st-{st.id}", str(escape(st.code))) for st in grid.types}

    def times(self, s) -> str:
        """"07:00–15:30" in the team's zone; shifts starting and ending together share the work."""
        key = (s.starts_at, s.ends_at)
        text = self._times.get(key)
        if text is None:
            text = self._times[key] = (f"{timeutil.to_local(s.starts_at, self.tz_name):%H:%M}–"
                                       f"{timeutil.to_local(s.ends_at, self.tz_name):%H:%M}")
        return text

    def _type(self, s) -> tuple[str, str | None]:
        st = s.shift_type
        if st is None:
            return "", None
        known = self._types.get(st.id)
        if known is None:
            known = self._types[st.id] = (f" sb-st-{st.id}", str(escape(st.code)))
        return known

    def _marker(self, m) -> str:
        html = self._markers.get(m)
        if html is None:
            html = self._markers[m] = f'<span class="sb-marker">{escape(m)}</span>'
        return html

    def row(self, row) -> Markup:
        """One person's cells."""
        out = []
        for cell in row.cells:
            parts = [self._days[cell.day]]
            for s in cell.shifts:
                cls, code = self._type(s)
                times = self.times(s)
                label = code if code is not None else times[:5]
                if self.manage:
                    parts.append(f'<a href="{self.href}{s.id}" class="sb-code{cls}" title="{times}">{label}</a>')
                else:
                    parts.append(f'<span class="sb-code{cls}">{label}</span>')
            if cell.leave is not None:
                kind = escape(self.leave_codes[cell.leave.kind]) if self.manage else "Off"
                parts.append(f'<span class="sb-leave" data-testid="leave">{kind}</span>')
            parts.append("".join(self._marker(m) for m in cell.markers))
            out.append(" ".join(parts) + " </td>")
        return Markup("\n".join(out))

    def open_row(self, row) -> Markup:
        """The open shifts, each a link to claim or fill it, with the grade it needs."""
        out = []
        for cell in row.cells:
            parts = [self._open_days[cell.day]]
            for s in cell.shifts:
                _cls, code = self._type(s)
                grade = f" {escape(s.required_grade)}+" if s.required_grade else ""
                parts.append(f'<a href="{self.href}{s.id}" class="sb-code sb-code--open" data-testid="open-shift">'
                             f'{code if code is not None else "Open"}{grade}</a>')
            parts.append("".join(self._marker(m) for m in cell.markers))
            out.append(" ".join(parts) + " </td>")
        return Markup("\n".join(out))
