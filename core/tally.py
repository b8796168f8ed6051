"""Events counted in this process and logged at most once per interval: an unauthenticated flood (unsigned webhook
calls, refused sign-ins) writes one log line a minute instead of one line or audit entry per request."""

from __future__ import annotations

import logging
import threading
import time


class Tally:
    """Calls counted in this process, logged at most once per ``every`` seconds (a flood writes one line a minute)."""

    def __init__(self, message: str, log: logging.Logger, every: float = 60.0):
        self.message, self.log, self.every = message, log, every
        self.lock = threading.Lock()
        self.total = self.unlogged = 0
        self.logged_at = float("-inf")

    def add(self) -> None:
        with self.lock:
            self.total += 1
            self.unlogged += 1
            if time.monotonic() - self.logged_at < self.every:
                return
            count, self.unlogged, self.logged_at = self.unlogged, 0, time.monotonic()
        self.log.warning(self.message, count, self.every)
