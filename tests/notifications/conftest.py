"""Notifications tests: a fake Twilio server shared by the session, SMS configured to use it."""

from __future__ import annotations

import functools

import pytest

from core import registry as core_registry
from tests.notifications.fake_twilio import FakeTwilio

SID = "AC" + "1" * 32
TOKEN = "test-twilio-auth-token"


@pytest.fixture(scope="session")
def _twilio_server():
    server = FakeTwilio(SID, TOKEN)
    yield server
    server.close()


@pytest.fixture
def fake_twilio(_twilio_server):
    _twilio_server.reset()
    yield _twilio_server
    _twilio_server.wait_for_callbacks()
    _twilio_server.reset()


def twilio_config(server) -> dict:
    return {
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_MESSAGING_SERVICE_SID": "MG" + "2" * 32,
        "TWILIO_API_BASE_URL": server.url,
        # Generous: under CI's load an answer took over 0.5 s, which the worker must treat as "may have gone out"
        # and send again (at-least-once), so a test counting texts saw one twice. Tests of timeouts set their own.
        "TWILIO_TIMEOUT_SECONDS": 5,
        "NOTIFICATIONS_RETRY_BASE_SECONDS": 0,
        "NOTIFICATIONS_FANOUT": "auto",
    }


@pytest.fixture
def app_config(database_url, _twilio_server):
    return twilio_config(_twilio_server)


class StandIns:
    """Registers a test's audience or reply handler in place of a real one of the same name."""

    register_audience = staticmethod(functools.partial(core_registry.register_audience, replace=True))
    register_reply_handler = staticmethod(functools.partial(core_registry.register_reply_handler, replace=True))


@pytest.fixture
def fake_registry():
    """Register a fake audience and claim handler for the test; restore the real ones afterwards."""
    saved = core_registry.snapshot()
    yield StandIns
    core_registry.restore(saved)


@pytest.fixture(autouse=True)
def daytime_for_live_sends(monkeypatch):
    """Texts sent 'now' in these tests must not depend on when the suite runs (22:00-07:00 is quiet hours by
    default). Quiet hours a test sets itself, or at an explicit instant, are still computed for real."""
    from datetime import timedelta

    from core.db import now_utc
    from notifications import service

    real = service.quiet_until

    def quiet_until(pref, at, zone):
        default = pref is None or (pref.quiet_start, pref.quiet_end) == ("22:00", "07:00")
        return None if default and abs(at - now_utc()) < timedelta(minutes=5) else real(pref, at, zone)

    monkeypatch.setattr(service, "quiet_until", quiet_until)
