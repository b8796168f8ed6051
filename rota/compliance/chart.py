"""Geometry of the small "hours per week" chart on the working-time page: bars and limit lines in SVG units, worked
out here (the template only draws them). The hours themselves come from ``rules.position``."""

from __future__ import annotations

from dataclasses import dataclass

from rota.compliance.rules import Position

WIDTH, HEIGHT = 320, 160
LEFT, RIGHT, TOP, BOTTOM = 34, 6, 8, 22  # room for the hour labels (left) and the week labels (below)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the week's Monday, "20 Oct"
    hours: float
    over: bool  # above the average-week limit (drawn in a darker colour, and said in the table)


@dataclass(frozen=True)
class Line:
    y: float
    hours: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    lines: tuple[Line, ...]
    ticks: tuple[Line, ...]
    baseline: float
    left: int


def week_chart(position: Position) -> Chart:
    weeks = position.weeks
    limits = [h for h in (position.weekly_limit, position.peak_limit) if h is not None]
    top = max([*(w.hours for w in weeks), *limits, 10.0])
    top = (int(top) // 12 + 1) * 12  # a round scale just above the highest bar or limit
    plot_h = HEIGHT - TOP - BOTTOM
    plot_w = WIDTH - LEFT - RIGHT

    def y(hours: float) -> float:
        return round(TOP + plot_h * (1 - hours / top), 1)

    slot = plot_w / max(len(weeks), 1)
    bar_w = round(min(slot * 0.7, 36), 1)
    bars = tuple(Bar(round(LEFT + i * slot + (slot - bar_w) / 2, 1), y(w.hours), bar_w,
                     round(TOP + plot_h - y(w.hours), 1), f"{w.monday.day} {w.monday:%b}", w.hours,
                     position.weekly_limit is not None and w.hours > position.weekly_limit)
                 for i, w in enumerate(weeks))
    lines = []
    if position.weekly_limit is not None:
        lines.append(Line(y(position.weekly_limit), position.weekly_limit,
                          f"{position.weekly_limit} h average-week limit"))
    if position.peak_limit is not None:
        lines.append(Line(y(position.peak_limit), position.peak_limit, f"{position.peak_limit} h in any 7 days"))
    ticks = tuple(Line(y(h), h, f"{h:g}") for h in range(0, top + 1, top // 4 or 1))
    return Chart(WIDTH, HEIGHT, bars, tuple(lines), ticks, y(0), LEFT)
