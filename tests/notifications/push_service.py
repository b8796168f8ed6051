"""A local Web Push service (RFC 8030) for the real ``pywebpush`` sender to talk to.

``POST /push/<token>`` is a subscription's endpoint. Each request is checked as a real push service would: the
``Authorization: vapid t=<JWT>, k=<key>`` header (RFC 8292: ES256 signature verified with the key given, that key
is the server's VAPID public key when one is expected, ``aud`` is this service's origin, ``exp`` in the future and
at most 24 h away, ``sub`` a mailto: or https: URL), a ``TTL`` header, an ``Urgency`` if any among RFC 8030's four,
``Content-Encoding: aes128gcm``, a body of at most 4096 bytes. The body is then decrypted (RFC 8291) with the
subscription's private key and auth secret (``http_ece``), so tests read exactly what the device would show.

Answers: 201 with a ``Location``; on demand 404, 410, 413, 429, 500/502/503, or ``hang`` (no answer until the client
gives up); ``delay`` seconds before every answer (the bench uses 50 ms).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def verify_vapid(header: str, audience: str, expected_key: str | None, now: float | None = None) -> dict:
    """The JWT claims, or :class:`Refused` (401/403) saying what is wrong."""
    now = now or time.time()
    if not header.startswith("vapid "):
        raise Refused(401, "no vapid authorization")
    parts = dict(p.strip().split("=", 1) for p in header[6:].split(",") if "=" in p)
    token, key = parts.get("t", ""), parts.get("k", "")
    if expected_key and key != expected_key:
        raise Refused(403, "vapid key is not the one this subscription was made with")
    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        head, claims, sig = json.loads(b64d(head_b64)), json.loads(b64d(claims_b64)), b64d(sig_b64)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(key))
    except (ValueError, TypeError) as exc:
        raise Refused(401, f"malformed vapid token ({type(exc).__name__})")
    if head.get("alg") != "ES256" or len(sig) != 64:
        raise Refused(401, "vapid token is not ES256")
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused(401, "vapid signature does not verify")
    if claims.get("aud") != audience:
        raise Refused(401, f"vapid aud {claims.get('aud')!r} is not {audience!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now or exp > now + 24 * 3600:
        raise Refused(401, "vapid exp missing, past, or more than 24 h ahead")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.startswith(("mailto:", "https://")):
        raise Refused(401, "vapid sub is not a mailto: or https: URL")
    return claims


class Subscription:
    def __init__(self, service: PushService):
        self.token = uuid.uuid4().hex
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.auth = uuid.uuid4().bytes
        self.endpoint = f"{service.url}/push/{self.token}"
        public = self.private.public_key().public_bytes(serialization.Encoding.X962,
                                                        serialization.PublicFormat.UncompressedPoint)
        self.info = {"endpoint": self.endpoint, "keys": {"p256dh": b64e(public), "auth": b64e(self.auth)}}

    def decrypt(self, body: bytes) -> bytes:
        return http_ece.decrypt(body, private_key=self.private, auth_secret=self.auth, version="aes128gcm")


class PushService:
    def __init__(self, *, expected_key: str | None = None):
        self.lock = threading.Lock()
        self.expected_key = expected_key
        self.subs: dict[str, Subscription] = {}
        self.reset()
        svc = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                svc._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 256
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # ------------------------------------------------------------------------------------------- controls

    def reset(self) -> None:
        with self.lock:
            self.received: list[dict] = []  # accepted pushes: token, payload (decrypted JSON), headers
            self.refused: list[dict] = []  # requests refused: status and why
            self.script: deque = deque()  # answers to give next (any subscription)
            self.per_sub: dict[str, deque] = {}
            self.gone: set[str] = set()
            self.delay = 0.0
            self.hang_seconds = 2.0
            self.requests = 0

    @staticmethod
    def example_info() -> dict:
        """A well-formed subscription (https endpoint, real keys) that no test server answers."""
        private = ec.generate_private_key(ec.SECP256R1())
        public = private.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": "https://push.example.test/sub/abc", "keys": {"p256dh": b64e(public),
                                                                         "auth": b64e(uuid.uuid4().bytes)}}

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        with self.lock:
            self.subs[sub.token] = sub
        return sub

    def answer_next(self, *answers: str, sub: Subscription | None = None) -> None:
        """The next answers: "201", "404", "410", "413", "429", "500", "503", "hang"."""
        with self.lock:
            (self.per_sub.setdefault(sub.token, deque()) if sub else self.script).extend(answers)

    def unsubscribe(self, sub: Subscription) -> None:
        """From now on this subscription's endpoint answers 410 Gone (the user revoked permission)."""
        with self.lock:
            self.gone.add(sub.token)

    def payloads_for(self, sub: Subscription) -> list[dict]:
        with self.lock:
            return [r["payload"] for r in self.received if r["token"] == sub.token]

    def received_payloads(self) -> list[dict]:
        with self.lock:
            return [r["payload"] for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------------------------------- protocol

    def _reply(self, h, status: int, reason: str = "", headers: dict | None = None) -> None:
        body = json.dumps({"code": status, "message": reason}).encode() if status >= 400 else b""
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _handle(self, h) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self.lock:
            self.requests += 1
            delay = self.delay
        if delay:
            time.sleep(delay)
        token = h.path.rsplit("/", 1)[-1]
        with self.lock:
            sub = self.subs.get(token)
            queue = self.per_sub.get(token)
            scripted = queue.popleft() if queue else (self.script.popleft() if self.script else None)
            gone = token in self.gone
        try:
            if sub is None or not h.path.startswith("/push/"):
                raise Refused(404, "no such subscription")
            if gone:
                raise Refused(410, "subscription expired or unsubscribed")
            if scripted == "hang":
                time.sleep(self.hang_seconds)
                raise Refused(503, "too late")
            if scripted and scripted != "201":
                raise Refused(int(scripted), f"answering {scripted} on demand")
            claims = verify_vapid(h.headers.get("Authorization", ""), self.url, self.expected_key)
            ttl = h.headers.get("TTL")
            if ttl is None or not ttl.isdigit():
                raise Refused(400, "TTL header missing")
            urgency = h.headers.get("Urgency", "normal")
            if urgency not in ("very-low", "low", "normal", "high"):
                raise Refused(400, "bad Urgency")
            if h.headers.get("Content-Encoding") != "aes128gcm":
                raise Refused(400, "Content-Encoding must be aes128gcm")
            if len(body) > 4096:
                raise Refused(413, "payload over 4096 bytes")
            try:
                plain = sub.decrypt(body)
            except Exception as exc:  # noqa: BLE001
                raise Refused(400, f"cannot decrypt ({type(exc).__name__})")
            payload = json.loads(plain)
        except Refused as exc:
            with self.lock:
                self.refused.append({"token": token, "status": exc.status, "reason": exc.reason})
            self._reply(h, exc.status, exc.reason, {"Retry-After": "1"} if exc.status == 429 else None)
            return
        with self.lock:
            self.received.append({"token": token, "payload": payload, "ttl": int(ttl), "urgency": urgency,
                                  "claims": claims, "size": len(body), "at": time.time()})
        self._reply(h, 201, headers={"Location": f"{self.url}/message/{uuid.uuid4().hex}"})
