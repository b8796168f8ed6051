"""Answers kept per process under what they were worked out from (a change stamp): the next request asking the same
thing with the same stamp gets the kept answer; a new stamp is a miss and replaces it. The least recently used
answers go first once ``size`` are kept."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import current_app

_lock = threading.Lock()


def kept(name: str, key: Hashable, stamp, build: Callable, size: int):
    """``build()``'s answer for ``key``, kept in the app's ``extensions[name]`` under ``stamp`` (compared with ==).
    Two threads missing at once both build; the later one's answer is kept."""
    store = current_app.extensions.setdefault(name, OrderedDict())
    with _lock:
        hit = store.get(key)
        if hit is not None and hit[0] == stamp:
            store.move_to_end(key)
            return hit[1]
    value = build()
    with _lock:
        store[key] = (stamp, value)
        store.move_to_end(key)
        while len(store) > size:
            store.popitem(last=False)
    return value
