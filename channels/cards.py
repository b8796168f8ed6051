"""Rota cards: open shifts, cover requests, swaps offered to everyone and publications, posted into the team channel
when rota announces them (``core.events``), claimable from the card through rota's own services and checks, and
updated on every open page when the shift changes hands."""

from __future__ import annotations

from sqlalchemy import select

from channels import services
from channels.models import Post
from core import audit
from core.db import db, now_utc
from core.errors import Conflict
from rota.models import Shift, ShiftState
from rota.swaps import open_shifts
from rota.swaps.eligibility import describe_shift, shift_id_from_reference
from rota.swaps.models import SwapRequest

CARD_CLAIM = "channel.card_claimed"  # audit action of a claim from a card (insights counts fills by it)
CARD_WORDS = {"shift": "An open shift", "swap": "A swap offered to everyone", "period": "A rota publication"}


def _card(team, card_type: str, ref: int, text: str, exclude: set[int] = frozenset()) -> Post | None:

    channel = services.team_channel(team)
    if db.session.scalar(select(Post.id).where(Post.channel_id == channel.id, Post.card_type == card_type,
                                               Post.card_ref == ref)):
        return None  # one card per shift / request / period: later news updates it
    p = Post(channel_id=channel.id, kind="card", card_type=card_type, card_ref=ref, card_text=text[:200], text="",
             reached=[], created_at=now_utc())
    db.session.add(p)
    db.session.flush()
    services.publish_post(channel.id, "post", p)
    # pushed like any post to those who chose "every post": what kind of card and where, never the card's words
    services.notify_level_all(channel, team, p, services.member_ids(channel),
                              f"{CARD_WORDS[card_type]} in {team.name} › {channel.name}.", exclude=exclude)
    return p


def _refresh(card_type: str, ref: int) -> None:

    for p in db.session.scalars(select(Post).where(Post.card_type == card_type, Post.card_ref == ref)):
        services.publish_post(p.channel_id, "update", p)


def on_shift_opened(name, shift: Shift, **_) -> None:
    if shift.state == ShiftState.open and shift.starts_at > now_utc():
        _card(shift.team, "shift", shift.id, f"{describe_shift(shift)} needs cover")


def on_shift_changed_hands(name, shift: Shift, user=None, **_) -> None:
    if user is None:
        on_shift_opened(name, shift)
    _refresh("shift", shift.id)
    for req_id in db.session.scalars(select(SwapRequest.id).where(SwapRequest.shift_id == shift.id)):
        _refresh("swap", req_id)


def on_swap_offered(name, request: SwapRequest, **_) -> None:
    if request.to_everyone:
        _card(request.shift.team, "swap", request.id,
              f"{request.requester.display_name} is offering {describe_shift(request.shift)}",
              exclude={request.requester_id})


def on_rota_published(name, period, **_) -> None:
    _card(period.team, "period", period.id,
          f"The rota for {period.first_day:%a %d %b}–{period.last_day:%a %d %b %Y} is published")


def on_broadcast_sent(name, broadcast, **_) -> None:
    """A coordinator's cover request (a gap broadcast, reference "shift:<id>") puts the shift's card up."""

    shift_id = shift_id_from_reference(broadcast.reference) if broadcast.kind == "open_shift" else None
    shift = db.session.get(Shift, shift_id) if shift_id is not None else None
    if shift is not None:
        on_shift_opened(name, shift)


HANDLERS = {"broadcast.sent": on_broadcast_sent, "shift.opened": on_shift_opened,
            "shift.changed_hands": on_shift_changed_hands,
            "swap.offered": on_swap_offered, "rota.published": on_rota_published}


def states(posts: list[Post], viewer) -> dict[int, dict]:
    """What each card on a page shows now: ``{"state": "open"|"taken"|..., "action": "claim"|"view"|None,
    "holder": name}`` (one query per card type on the page)."""
    out: dict[int, dict] = {}
    shifts = {p.card_ref for p in posts if p.card_type == "shift"}
    swaps = {p.card_ref for p in posts if p.card_type == "swap"}
    shift_rows = {s.id: s for s in db.session.scalars(select(Shift).where(Shift.id.in_(shifts)))} if shifts else {}
    swap_rows = {r.id: r for r in db.session.scalars(select(SwapRequest).where(SwapRequest.id.in_(swaps)))} \
        if swaps else {}
    for p in posts:
        if p.card_type == "shift":
            s = shift_rows.get(p.card_ref)
            if s is None or s.state == ShiftState.cancelled:
                out[p.id] = {"state": "cancelled", "action": None, "holder": None, "link": None}
            elif s.state == ShiftState.open:
                out[p.id] = {"state": "open", "action": "claim", "holder": None,
                             "link": f"/open-shifts#open-shift-{s.id}"}
            else:
                out[p.id] = {"state": "taken", "action": None,
                             "holder": s.assignee.display_name if s.assignee else None, "link": None}
        elif p.card_type == "swap":
            r = swap_rows.get(p.card_ref)
            state = r.state.value if r is not None else "gone"
            out[p.id] = {"state": state, "action": "view" if state == "proposed" else None, "holder": None,
                         "link": f"/swaps/{r.id}" if r is not None else None}
        elif p.card_type == "period":
            out[p.id] = {"state": "published", "action": "view", "holder": None, "link": "/my/shifts"}
    return out


def claim(p: Post, actor) -> dict:
    """"I'll take it" on a shift card: rota's claim (eligibility, cover, working time, first-wins) decides."""

    if p.card_type != "shift":
        raise Conflict("Only open-shift cards can be claimed here.", extra={"code": "not_claimable"})
    shift = db.session.get(Shift, p.card_ref)
    if shift is None:
        raise Conflict("This shift no longer exists.", extra={"code": "gone"})
    outcome = open_shifts.claim(shift, actor=actor)
    # The claim itself is rota's (shift.assigned or open_shift.volunteered); this entry, in the same request, says it
    # came from the card, so insights can count claims by route.
    audit.record(CARD_CLAIM, actor=actor, entity=p, team_id=shift.team_id,
                 summary={"shift_id": shift.id, "outcome": outcome.outcome})
    _refresh("shift", shift.id)
    return {"outcome": outcome.outcome, "shift_id": shift.id}
