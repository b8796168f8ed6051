"""Words about a person for someone else to read (issue #15).

The rules engine and the eligibility checks speak to the person concerned ("Only 5 h rest between your Late …",
"You are Band 3 …"). When the reader is someone else — a colleague choosing whom to offer a shift to, a coordinator
approving — the same words must name the person ("Only 5 h rest between Owen's Late …", "Owen is Band 3 …"), never
"your". :func:`about` rewrites the second person of those messages; pure (no Flask, no database).
"""

from __future__ import annotations

import re

# (pattern, replacement): the verbs and openings the engine and the eligibility checks use, then any "your" left.
_RULES = [
    (r"\bYou would\b", "{name} would"),
    (r"\bYou are not\b", "{name} is not"),
    (r"\bYou are\b", "{name} is"),
    (r"\bYou have no\b", "{name} has no"),
    (r"\bYou already work\b", "{name} already works"),
    (r"\byou have opted out\b", "{name} has opted out"),
    (r"\bYou\b", "{name}"),
]


def about(message: str, person, reader=None) -> str:
    """``message`` (written to ``person``) as ``reader`` should read it: unchanged when the reader is the person."""
    if not message or person is None or (reader is not None and getattr(reader, "id", None) == person.id):
        return message
    name = person.display_name.split(" ")[0] if " " in person.display_name else person.display_name
    name = person.display_name if _ambiguous(name) else name
    out = message
    for pattern, repl in _RULES:
        out = re.sub(pattern, repl.format(name=name), out)
    # The first "your" names them; later ones in the same sentence say "their".
    seen = {"n": 0}

    def whose(m: re.Match) -> str:
        seen["n"] += 1
        first = seen["n"] == 1
        if m.group(0)[0] == "Y":
            return f"{name}'s" if first else "Their"
        return f"{name}'s" if first else "their"

    return re.sub(r"\b[Yy]our\b", whose, out)


def _ambiguous(first_name: str) -> bool:
    """A first name that is a title ("Dr", "Nurse") is no name: use the whole display name."""
    return first_name.rstrip(".").lower() in {"dr", "mr", "mrs", "ms", "miss", "nurse", "sister", "prof"}
