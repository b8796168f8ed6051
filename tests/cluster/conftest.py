"""The cluster's workers send texts to the notifications tests' fake Twilio."""

from tests.notifications.conftest import _twilio_server, fake_twilio  # noqa: F401  (fixtures)
