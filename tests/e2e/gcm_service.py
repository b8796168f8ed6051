"""A local stand-in for the push service Chromium subscribes with (Google's GCM/FCM), which this machine cannot
reach: the two HTTP calls ``PushManager.subscribe`` makes, pointed here with chromium's own switches
(``--gcm-checkin-url``, ``--gcm-registration-url``). Check-in answers an ``AndroidCheckinResponse`` (protobuf: stats_ok,
android_id, security_token); registration answers ``token=…``, which chromium turns into the subscription's endpoint
``https://<a Google host>/fcm/send/<token>``. Chromium's own code does everything else (the ``applicationServerKey``
check, the p256dh/auth keys, the subscription object); delivering from there to the phone (Google's MCS connection)
is not reproduced: the tests hand payloads to the service worker with ``ServiceWorker.deliverPushMessage``."""

from __future__ import annotations

import secrets
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class GcmStandIn:
    ANDROID_ID, SECURITY_TOKEN = 1234567890123, 987654321987

    def __init__(self):
        self.registrations: list[dict] = []  # form fields of each registration chromium sent, and its token
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/checkin":
                    out, ctype = stand_in._checkin(), "application/x-protobuf"
                elif self.path == "/register":
                    out, ctype = stand_in._register(body, self.headers.get("Authorization", "")), "text/plain"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def chromium_args(self) -> list[str]:
        # MCS (the long-lived delivery connection) goes nowhere: port 9 on this machine refuses.
        return [f"--gcm-checkin-url={self.url}/checkin", f"--gcm-registration-url={self.url}/register",
                "--gcm-mcs-endpoint=https://127.0.0.1:9"]

    def _checkin(self) -> bytes:
        # AndroidCheckinResponse: stats_ok (1, varint) = true, android_id (7, fixed64), security_token (8, fixed64).
        return (b"\x08\x01" + b"\x39" + struct.pack("<Q", self.ANDROID_ID)
                + b"\x41" + struct.pack("<Q", self.SECURITY_TOKEN))

    def _register(self, body: bytes, authorization: str) -> bytes:
        if authorization != f"AidLogin {self.ANDROID_ID}:{self.SECURITY_TOKEN}":
            return b"Error=AUTHENTICATION_FAILED"
        fields = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        token = secrets.token_urlsafe(24)
        self.registrations.append({**fields, "token": token})
        return f"token={token}".encode()

    def web_push(self) -> list[dict]:
        """Each Web Push subscription's registration (chromium's own GCM registration aside): ``sender`` is the
        page's ``applicationServerKey``, ``token`` the one answered."""
        return [r for r in self.registrations if r.get("X-subtype", "").startswith("wp:")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
