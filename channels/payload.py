"""What a viewer sees of a post (JSON for the API, the same dict for the page templates)."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from channels import attachments, cards, reading, services
from channels.models import Channel, Post
from core.accounts import Team
from core.db import db
from core.links import is_local_path


def post_dict(p: Post, pg: services.Page, viewer, *, card_states: dict | None = None,
              can_moderate: bool = False) -> dict:
    hidden = p.hidden_at is not None
    d = {
        "id": p.id, "channel_id": p.channel_id, "parent_id": p.parent_id, "kind": p.kind,
        "author": {"id": p.author_id, "display_name": pg.authors.get(p.author_id, "Shiftbridge")}
        if p.author_id else None,
        "text": "" if (hidden and not can_moderate) or p.deleted_at else p.text,
        "created_at": p.created_at, "edited_at": p.edited_at, "version": p.version,
        "deleted": p.deleted_at is not None, "deleted_at": p.deleted_at,
        "deleted_by": pg.authors.get(p.deleted_by_id) if p.deleted_by_id else None,
        "hidden": hidden, "hidden_reason": p.hidden_reason if hidden else None,
        "pinned": p.pinned_at is not None, "reply_count": p.reply_count,
        "reached": [{"mention": r["mention"], "people": [pg.authors.get(u, "?") for u in r["user_ids"]],
                     **({"why": r["why"]} if r.get("why") else {})}
                    for r in (p.reached or [])],
        "seen_count": pg.seen.get(p.id, 0), "member_count": pg.members,
        "seen_of": reading.seen_denominator(p, pg.member_ids),
        "reactions": [{"emoji": e, **v} for e, v in pg.reactions.get(p.id, {}).items()],
        "mine": p.author_id == viewer.id,
        "attachments": [] if (hidden and not can_moderate) or p.deleted_at else
        [attachments.as_dict(a) for a in pg.attachments.get(p.id, [])],
    }
    if p.kind == "urgent":
        acked, total = services.acknowledgements(p)
        d["acknowledged"], d["recipients"] = acked, total
    if p.kind == "card":
        d["card"] = {"type": p.card_type, "ref": p.card_ref, "text": p.card_text,
                     **(card_states if card_states is not None else cards.states([p], viewer)).get(p.id, {})}
    return d


def page_dicts(channel: Channel, pg: services.Page, viewer) -> list[dict]:

    states = cards.states([p for p in pg.posts if p.kind == "card"], viewer)
    moderate = db.session.get(Team, channel.team_id).can_manage(viewer)
    return [post_dict(p, pg, viewer, card_states=states, can_moderate=moderate) for p in pg.posts]


_LINKISH = re.compile(r"(?<![^\s(])(?:(/[A-Za-z0-9][A-Za-z0-9/_.#?=&-]*)|(https?://[^\s<>\"']+))")
_PREVIEWS = ((re.compile(r"^/open-shifts"), "Open shifts"), (re.compile(r"^/swaps/\d+"), "Swap request"),
             (re.compile(r"^/my/shifts"), "My shifts"), (re.compile(r"^/channels/\d+"), "Channel post"),
             (re.compile(r"^/handover"), "Handover"), (re.compile(r"^/rota"), "Rota"))


def linkify(text: str, base_url: str | None = None) -> Markup:
    """Post text as HTML: same-site links (a path, or a URL on this site's address) become links with a short
    label saying what they open; links elsewhere stay plain text — nothing is fetched, so no preview can leak who
    reads what to another site."""
    out, last = [], 0
    for m in _LINKISH.finditer(text or ""):
        raw = m.group(0).rstrip(".,;:!?)")  # "see /open-shifts." ends the sentence, not the link
        path = raw
        if raw.startswith("http"):
            path = raw[len(base_url.rstrip("/")):] if base_url and raw.startswith(base_url.rstrip("/") + "/") else ""
        if not path or not is_local_path(path):
            continue
        label = next((name for pattern, name in _PREVIEWS if pattern.search(path)), "Shiftbridge")
        out.append(escape(text[last:m.start()]))
        out.append(Markup('<a href="{}" class="sb-post__link">{}</a> <span class="sb-link-preview">({})</span>')
                   .format(path, raw, label))
        last = m.start() + len(raw)
    out.append(escape(text[last:]))
    return Markup("").join(out)
