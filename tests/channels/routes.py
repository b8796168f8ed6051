"""The channel routes, read from the application's URL map (for tests that must reach every one of them)."""

from __future__ import annotations

import re

IDS = ("channel_id", "post_id", "team_id", "attachment_id")
MULTIPART = object()  # a photo upload: the caller builds it its own way
FORM = {"text": "x", "emoji": "👍", "reason": "x", "level": "all", "name": "Outsiders", "kind": "list"}


def channel_routes(app) -> list[tuple[str, str, dict]]:
    """(method, url rule, converter choices) for every channel page and API route with an id in its path."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(("channels.", "channels_api.")) or not set(IDS) & set(rule.arguments):
            continue
        choices = {name: sorted(conv.items) for name, conv in rule._converters.items() if hasattr(conv, "items")}
        out.extend((method, rule.rule, choices) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return out


def urls(app, ids: dict) -> list[tuple[str, str]]:
    """Every (method, concrete URL) of the channel routes, each ``any(...)`` choice spelled out."""
    out = []
    for method, pattern, choices in channel_routes(app):
        variants = [dict(ids)]
        for name, values in choices.items():
            variants = [{**v, name: value} for v in variants for value in values]
        out.extend((method, re.sub(r"<(?:[^>]*:)?(\w+)>", lambda m, v=v: str(v[m.group(1)]), pattern))
                   for v in variants)
    return out


def api_body(method: str, url: str):
    """A well-formed body for an API call (``MULTIPART`` for an upload, ``None`` for none), so that a refusal is
    the access check's, not the schema's."""
    if method not in ("POST", "PUT", "PATCH"):
        return None
    if url.endswith("/attachments"):
        return MULTIPART
    tail = url.rsplit("/", 1)[-1]
    known = {"channels": {"name": "Outsiders", "kind": "list"}, "notifications": {"level": "all"},
             "reactions": {"emoji": "👍"}, "hide": {"reason": "x"}, "report": {"reason": "x"}, "read": {},
             "posts": {"text": "x"}, "replies": {"text": "x"}}
    return {"text": "x"} if method == "PATCH" else known.get(tail)
