"""Fixtures for staff requests: a fixed "today" (so hand-computed leave years do not move with the calendar)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rota.requests import balance, service

TODAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday in leave year 2025 (leave years start 1 April)


@pytest.fixture
def today(monkeypatch):
    monkeypatch.setattr(balance, "now_utc", lambda: TODAY)  # "today" of each person
    monkeypatch.setattr(service, "now_utc", lambda: TODAY)  # when a request is decided
    return TODAY.date()
