"""Server-rendered SVG bar charts: readable without JavaScript, scale to any width, print on A4.

A small helper rather than a charting library: the maintained Python ones (e.g. leather) draw fixed-size SVG with no
title, description or text alternative, and pygal's interactive SVG loads a script from a CDN, which our
Content-Security-Policy forbids. Each chart here is ``role="img"`` with a ``<title>`` and ``<desc>``; the page puts
its text summary beside it and its data table behind ``<details>``. Colours are NHS identity colours that stay
distinguishable with the common colour-vision deficiencies (blue vs warm yellow), and every bar carries its value
as text, so colour is never the only cue.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

NHS_BLUE = "#005eb8"  # this period
NHS_WARM_YELLOW = "#ffb81c"  # previous period (with a dark outline: yellow on white is faint)
NHS_DARK_GREY = "#425563"
TEXT = "#212b32"
BAR_H = 16
GAP = 6
LABEL_W = 210
PLOT_W = 300
VALUE_W = 60


@dataclass
class Series:
    name: str
    values: list[float | None]


def bars(title: str, labels: list[str], series: list[Series], *, unit: str = "", max_value: float | None = None,
         desc: str = "") -> Markup:
    """Horizontal bars, one group per label and one bar per series (at most two: this and the previous period)."""
    colours = [(NHS_BLUE, NHS_BLUE), (NHS_WARM_YELLOW, NHS_DARK_GREY)]
    top = max([v for s in series for v in s.values if v is not None] + [0])
    scale_max = max_value or (top if top > 0 else 1)
    group_h = len(series) * (BAR_H + 2) + GAP * 2
    legend_h = 22 if len(series) > 1 else 0
    height = legend_h + group_h * len(labels) + 4
    width = LABEL_W + PLOT_W + VALUE_W
    out = [f'<svg class="sb-chart" viewBox="0 0 {width} {height}" role="img" '
           f'aria-labelledby="{_id(title)}-t {_id(title)}-d" xmlns="http://www.w3.org/2000/svg" '
           f'preserveAspectRatio="xMinYMin meet">',
           f'<title id="{_id(title)}-t">{escape(title)}</title>',
           f'<desc id="{_id(title)}-d">{escape(desc or title)}</desc>']
    if len(series) > 1:
        x = LABEL_W
        for (fill, stroke), s in zip(colours, series, strict=False):
            out.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{fill}" stroke="{stroke}"/>'
                       f'<text x="{x + 16}" y="14" font-size="12" fill="{TEXT}">{escape(s.name)}</text>')
            x += 140
    for i, label in enumerate(labels):
        y0 = legend_h + i * group_h + GAP
        out.append(f'<text x="{LABEL_W - 6}" y="{y0 + group_h / 2 - GAP + 4:.0f}" font-size="12" text-anchor="end" '
                   f'fill="{TEXT}">{escape(_short(label))}</text>')
        for j, ((fill, stroke), s) in enumerate(zip(colours, series, strict=False)):
            v = s.values[i]
            y = y0 + j * (BAR_H + 2)
            w = 0 if v is None else max(1.0, PLOT_W * float(v) / scale_max) if v else 0
            out.append(f'<rect x="{LABEL_W}" y="{y}" width="{w:.1f}" height="{BAR_H}" fill="{fill}" '
                       f'stroke="{stroke}" stroke-width="1"/>')
            text = "—" if v is None else f"{v:g}{unit}"
            out.append(f'<text x="{LABEL_W + w + 4:.1f}" y="{y + BAR_H - 4}" font-size="11" '
                       f'fill="{TEXT}">{escape(text)}</text>')
    out.append(f'<line x1="{LABEL_W}" y1="{legend_h}" x2="{LABEL_W}" y2="{height - 2}" stroke="{NHS_DARK_GREY}"/>')
    out.append("</svg>")
    return Markup("".join(out))


def _short(label: str, n: int = 34) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def _id(title: str) -> str:
    return "chart-" + "".join(c if c.isalnum() else "-" for c in title.lower())[:40]
