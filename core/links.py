"""The one test for a user-supplied link: is it a path on this site?

Every place that takes a link from a person (``next`` after sign-in, a broadcast's link, a notification's link
before redirecting) asks :func:`local_path`. Browsers read URLs the WHATWG way, which is looser than a naive
``startswith("/")``: they treat ``\\`` as ``/``, drop tab, CR and LF anywhere, and fold full-width and other
compatibility characters in host names; so ``/\\evil.example``, ``/\t/evil.example`` and ``/%09/evil.example``
(decoded to a tab by the query-string parser) all lead off-site, and a CR/LF in a ``Location`` header is a 500.
The rule here is strict and simple: an ASCII-safe absolute path with no authority, whatever decoding is applied.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

from flask import current_app, has_request_context, request

MAX_LINK = 2000
LINK_HELP = "Give a path inside Shiftbridge, starting with a single /, for example /rota/shifts/12."


def _plain_path(text: str) -> bool:
    if not text.startswith("/") or text[1:2] in ("/", "\\"):
        return False
    if "\\" in text or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text):
        return False
    parts = urlsplit(text)
    return not parts.scheme and not parts.netloc and "@" not in parts.path


def local_path(value: object) -> str | None:
    """``value`` if it is a safe path on this site (``/…``), else None.

    Refused: anything not starting with exactly one ``/``; backslashes; control characters (tab, CR, LF, NUL, DEL,
    C1); a scheme or host; ``@`` in the path (userinfo look-alikes); and any of these once percent-decoded (twice)
    or folded by Unicode NFKC (full-width solidus, ideographic dots).
    """
    if not isinstance(value, str) or not value or len(value) > MAX_LINK:
        return None
    once = unquote(value)
    forms = {value, once, unquote(once)}
    forms |= {unicodedata.normalize("NFKC", f) for f in list(forms)}
    return value if all(_plain_path(f) for f in forms) else None


def is_local_path(value: object) -> bool:
    return local_path(value) is not None


# Where links point when PUBLIC_BASE_URL is not set and no request says where the person is (the worker's texts).
FALLBACK_BASE_URL = "http://127.0.0.1:5000"


def public_base_url() -> str:
    """The address people reach Shiftbridge on, without a trailing slash: ``PUBLIC_BASE_URL`` when it is set;
    otherwise the address this request came in on (so ``make run PORT=5300`` hands out :5300 calendar links, and a
    proxy's host counts when ``PROXY_FIX`` trusts it); otherwise, outside a request, ``FALLBACK_BASE_URL``."""
    configured = (current_app.config.get("PUBLIC_BASE_URL") or "").strip()
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return FALLBACK_BASE_URL
