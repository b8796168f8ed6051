"""Calendar feeds in the JSON API: list, rotate and revoke one's own feed links."""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields

from core.api import Blueprint as ApiBlueprint
from core.api import login_required_api
from core.db import db
from rota.feeds.models import FeedKind
from rota.feeds.service import feeds_overview, parse_kind, revoke, rotate

# -------------------------------------------------------------------------------------------------- JSON API

blp = ApiBlueprint("calendar_feeds_api", __name__, url_prefix="/api/v1",
                   description="Calendar feeds: secret iCalendar subscription links")


class CalendarFeedSchema(Schema):
    kind = fields.String(required=True, metadata={"enum": [k.value for k in FeedKind]})
    title = fields.String(required=True)
    available = fields.Boolean(required=True, metadata={"description": "Whether you may subscribe to this feed."})
    active = fields.Boolean(required=True, metadata={"description": "Whether a live link exists."})
    url = fields.String(allow_none=True, metadata={"description": "https link (a credential: keep it private)."})
    webcal_url = fields.String(allow_none=True)
    created_at = fields.DateTime(allow_none=True)
    rotated_at = fields.DateTime(allow_none=True)
    last_fetched_at = fields.DateTime(allow_none=True, metadata={"description": "When a calendar last fetched it."})
    last_client = fields.String(allow_none=True, metadata={"description": "The calendar client that fetched it."})


class CalendarFeedListSchema(Schema):
    items = fields.List(fields.Nested(CalendarFeedSchema), required=True)


def _one(user, kind: FeedKind) -> dict:
    return next(f for f in feeds_overview(user) if f["kind"] == kind.value)


@blp.get("/me/calendar-feeds")
@blp.response(200, CalendarFeedListSchema)
@login_required_api
def api_list_feeds():
    """Your calendar feeds: each kind, whether you may subscribe, and its link if it is live."""
    return {"items": feeds_overview(current_user._get_current_object())}


@blp.post("/me/calendar-feeds/<kind>/rotate")
@blp.response(200, CalendarFeedSchema)
@blp.alt_response(403, description="You may not subscribe to this feed (team rota).")
@blp.alt_response(404, description="No such feed kind (use mine, team or open).")
@login_required_api
def api_rotate_feed(kind: str):
    """Issue a new link for ``kind`` (mine, team or open). The old link stops working at once (404)."""
    user = current_user._get_current_object()
    feed_kind = parse_kind(kind)
    rotate(user, feed_kind, actor=user)
    db.session.commit()
    return _one(user, feed_kind)


@blp.delete("/me/calendar-feeds/<kind>")
@blp.response(204)
@blp.alt_response(404, description="No such feed kind (use mine, team or open).")
@login_required_api
def api_revoke_feed(kind: str):
    """Revoke the link for ``kind``: calendars subscribed to it get 404 from now on."""
    user = current_user._get_current_object()
    revoke(user, parse_kind(kind), actor=user)
    db.session.commit()
    return None


