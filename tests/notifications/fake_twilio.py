"""A small local server that speaks Twilio's Messages API, for the *real* ``twilio`` client to talk to.

``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form-encoded, Basic auth) answers 201 with Twilio's JSON, or
with Twilio's error bodies when told to fail: HTTP 500, 429 (code 20429), a timeout (no answer until the client
gives up; the message is *not* accepted), or error codes 21211 (invalid number) and 21610 (opted out). After
accepting a message it sends signed status callbacks (``sent`` then ``delivered``) to the ``StatusCallback`` URL.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import requests
from twilio.request_validator import RequestValidator

ERRORS = {
    "500": (500, 20500, "Internal Server Error"),
    "429": (429, 20429, "Too Many Requests"),
    "21211": (400, 21211, "The 'To' number is not a valid phone number."),
    "21610": (400, 21610, "Attempt to send to unsubscribed recipient"),
}


class FakeTwilio:
    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "fake-auth-token", *, seed: int = 1):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.reset()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                fake._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.pool = ThreadPoolExecutor(max_workers=4)

    # -------------------------------------------------------------------------------------------- controls

    def reset(self):
        with self.lock:
            self.accepted: list[dict] = []  # messages the "provider" accepted
            self.requests = 0
            self.responses: Counter = Counter()
            self.forced: list[str] = []  # outcomes for the next requests, in order
            self.fail_rate = 0.0
            self.fail_with: tuple[str, ...] = ("500", "429")
            self.by_number: dict[str, str] = {}  # number -> permanent error code
            self.callbacks = True
            self.callback_order = ("sent", "delivered")
            self.undelivered: dict[str, str] = {}  # number -> carrier error code (status "undelivered")
            self.timeout_seconds = 1.0
            self.latency_seconds = 0.0  # the provider's round trip (the real API takes ~0.1-0.3 s to answer)
            self.in_flight = self.most_in_flight = 0  # requests being answered at once (and the most seen)
            self.callback_errors: list[str] = []
            self.pending_callbacks = []

    def fail_next(self, *outcomes: str):
        with self.lock:
            self.forced.extend(outcomes)

    def close(self):
        self.server.shutdown()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def wait_for_callbacks(self, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                futures = list(self.pending_callbacks)
            if all(f.done() for f in futures):
                return
            time.sleep(0.05)
        raise AssertionError("status callbacks did not finish")

    def bodies_to(self, number: str) -> list[str]:
        return [m["Body"] for m in self.accepted if m["To"] == number]

    # -------------------------------------------------------------------------------------------- server

    def _reply(self, h, status: int, body: dict):
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _error(self, h, key: str):
        status, code, message = ERRORS[key]
        with self.lock:
            self.responses[key] += 1
        self._reply(h, status, {"code": code, "message": message, "status": status,
                                "more_info": f"https://www.twilio.com/docs/errors/{code}"})

    def _handle(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length)
        if len(body) < length:  # the sender died mid-request (a worker killed by a drill): nothing was sent
            h.close_connection = True
            return
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        expected = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        auth = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if h.headers.get("Authorization") != auth:
            return self._reply(h, 401, {"code": 20003, "message": "Authenticate", "status": 401, "more_info": ""})
        if h.path != expected:
            return self._reply(h, 404, {"code": 20404, "message": "Not found", "status": 404, "more_info": ""})
        if not form.get("To"):  # as Twilio answers a message with no recipient
            return self._reply(h, 400, {"code": 21604, "message": "A 'To' phone number is required.", "status": 400,
                                        "more_info": "https://www.twilio.com/docs/errors/21604"})
        with self.lock:
            self.requests += 1
            outcome = self.forced.pop(0) if self.forced else None
            if outcome is None and form.get("To") in self.by_number:
                outcome = self.by_number[form["To"]]
            if outcome is None and self.fail_rate and self.random.random() < self.fail_rate:
                outcome = self.random.choice(self.fail_with)
        if self.latency_seconds:
            with self.lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            time.sleep(self.latency_seconds)
            with self.lock:
                self.in_flight -= 1
        if outcome == "timeout":
            with self.lock:
                self.responses["timeout"] += 1
            time.sleep(self.timeout_seconds)
            h.close_connection = True
            return
        if outcome in ERRORS:
            return self._error(h, outcome)
        sid = "SM" + uuid.uuid4().hex
        message = dict(form, sid=sid)
        with self.lock:
            self.accepted.append(message)
            self.responses["201"] += 1
        self._reply(h, 201, {
            "sid": sid, "account_sid": self.account_sid, "to": form.get("To"),
            "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body"), "status": "queued", "num_segments": "1", "direction": "outbound-api",
            "date_created": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000"), "price": None,
            "error_code": None, "error_message": None, "uri": f"{expected[:-5]}/{sid}.json",
        })
        if self.callbacks and form.get("StatusCallback"):
            future = self.pool.submit(self._send_callbacks, form["StatusCallback"], sid, form.get("To"))
            with self.lock:
                self.pending_callbacks.append(future)

    def sign(self, url: str, params: dict) -> str:
        return RequestValidator(self.auth_token).compute_signature(url, params)

    def _send_callbacks(self, url: str, sid: str, to: str):
        for status in self.callback_order:
            params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": self.account_sid, "To": to,
                      "SmsSid": sid, "ApiVersion": "2010-04-01"}
            if status == "delivered" and to in self.undelivered:
                params.update(MessageStatus="undelivered", ErrorCode=self.undelivered[to])
            try:
                resp = requests.post(url, data=params, headers={"X-Twilio-Signature": self.sign(url, params)},
                                     timeout=30)
                if resp.status_code >= 300:
                    self.callback_errors.append(f"{resp.status_code} {status}")
            except requests.RequestException as exc:
                self.callback_errors.append(type(exc).__name__)
