"""Cells of CSV files people open in a spreadsheet: a text cell that a spreadsheet would run as a formula is defused
with a leading apostrophe (spreadsheet formula injection), a plain number such as "-2" or "+8.3" is left a number."""

from __future__ import annotations

import re

_RISKY_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?%?")


def safe_cell(value):
    # A display name such as "=HYPERLINK(...)" or a client's X-Request-ID such as "-2-3-cmd" must not run in Excel.
    # Every text cell goes through here, not just the ones we thought of.
    if isinstance(value, str) and value[:1] in _RISKY_START and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value
