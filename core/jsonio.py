"""The app's JSON writer: Flask's own (``DefaultJSONProvider``) with the compact case written by orjson.

A ward's four weeks of shifts is 200 items and 97 kB of JSON; Python's ``json`` module took 0.66 ms to write it and
orjson takes 0.06 ms (``docs/performance.md``). What is written means the same as before: keys sorted, dates and
times, decimals, UUIDs and dataclasses through Flask's own ``default`` (so a ``datetime`` is still an HTTP date).
Two things differ, both still valid JSON: text outside ASCII is written as UTF-8 rather than ``\\uXXXX`` escapes,
and a float that is not a number is written ``null`` rather than the invalid ``NaN``. Anything orjson refuses (an
integer past 64 bits, a type Flask's ``default`` turns down) is handed to Flask's writer, which writes it or raises
as it always did; so does an indented dump (``app.debug``) or one asked for with other arguments.
"""

from __future__ import annotations

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_DATACLASS)
_COMPACT = (",", ":")


class JSONProvider(DefaultJSONProvider):
    def dumps(self, obj, **kwargs) -> str:
        if not kwargs or kwargs == {"separators": _COMPACT}:
            try:
                return orjson.dumps(obj, default=self.default, option=_OPTIONS).decode()
            except orjson.JSONEncodeError:
                pass  # Flask's writer decides: it writes what orjson cannot, or raises its own error
        return super().dumps(obj, **kwargs)
