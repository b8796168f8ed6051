"""My shifts' cards as HTML, written in one Python pass per shift rather than by a template loop with an include per
card (issue #22).

Each card names the shift (type, local day and times, team) and the colleagues on at the same time; below it come
the buttons of whichever package registered a writer in ``MY_SHIFT_ACTIONS`` (the swaps package: Swap, Offer,
"I can't make this shift"; the rota core does not import it). A writer is called once per page with every shift
shown and returns ``{shift id: Markup}``, so it can read what it needs in one query and build its links once; the
shift's own page shows the same (``actions([shift])``), so the rule of who sees which button lives in one writer. The
markup is what ``templates/rota/my_shifts.html`` and ``rota/swaps/_shift_actions.html`` (now gone) wrote before
(``tests/rota/test_my_shifts_html.py`` renders the old templates over a seeded rota and compares).
"""

from __future__ import annotations

from collections.abc import Callable

from markupsafe import Markup, escape

from core import timeutil

# fn(shifts) -> {shift id: Markup}: what goes below a shift's card on My shifts (registered by sub-packages).
MY_SHIFT_ACTIONS: list[Callable] = []


def _card(item, actions: str, names: dict) -> str:
    s = item.shift
    start, end = timeutil.to_local(s.starts_at, s.timezone), timeutil.to_local(s.ends_at, s.timezone)
    code, cls, name = ((escape(s.type_code), f" sb-st-{s.shift_type_id}", escape(s.type_name))
                       if s.type_code is not None else ("—", "", "Shift"))
    next_day = " (next day)" if end.date() != start.date() else ""
    if item.colleagues:
        with_ = ", ".join(names.get(u[1]) or names.setdefault(u[1], str(escape(u[2])))  # (shift, id, name)
                          for u in item.colleagues)
        who = f'<p class="nhsuk-body-s" data-testid="colleagues">With: {with_}</p>'
    else:
        who = '<p class="nhsuk-body-s">No colleagues rostered with you yet.</p>'
    return (f'<li class="nhsuk-card sb-my-shift" data-testid="my-shift" data-shift-id="{s.id}">\n'
            f'<div class="nhsuk-card__content">\n<h2 class="nhsuk-card__heading nhsuk-heading-s">\n'
            f'<span class="sb-code{cls}">{code}</span>\n'
            f'{start:%a %d %b} · {start:%H:%M}–{end:%H:%M}{next_day}\n</h2>\n'
            f'<p class="nhsuk-body-s">{name} · {escape(s.team_name)}</p>\n{who}\n{actions}</div>\n</li>\n')


def actions(shifts) -> dict[int, Markup]:
    """What the registered writers put below each of ``shifts`` (My shifts' cards and one shift's page)."""
    out: dict = {}
    for writer in MY_SHIFT_ACTIONS:
        for shift_id, html in writer(shifts).items():
            out[shift_id] = out.get(shift_id, Markup("")) + html
    return out


def cards(items) -> Markup:
    """The ``<li>`` cards of My shifts for ``items`` (``rota.services.MyShift``, plain rows), in order."""
    actions_of = actions([i.shift for i in items])
    names: dict = {}
    return Markup("".join(_card(i, actions_of.get(i.shift.id, ""), names) for i in items))
