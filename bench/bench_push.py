"""Web Push: fan-out of one message to 1,000 subscriptions through the outbox worker (2 worker processes on
PostgreSQL) against the local push service (tests/notifications/push_service.py: checks VAPID, decrypts every
payload) answering in 50 ms; the encryption and VAPID cost per push; and SMS sent per 100 broadcast recipients,
push-first vs SMS-only, in a simulated ward where 80 % have a push device and half of those open it within 5 minutes.

Database: as bench_notifications (``BENCH_DATABASE_URL``, else the local PostgreSQL ``sb_notifications_bench``, wiped,
else SQLite with one worker). Prints figures measured in this run.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select, update

ROOT = Path(__file__).resolve().parent.parent
FANOUT = 1000
WARD = 100
SEED = 16


def _people(n: int, prefix: str, *, mobile: bool) -> list[int]:
    from core.accounts import User
    from core.db import db, now_utc

    now = now_utc()
    db.session.execute(insert(User), [
        {"email": f"{prefix}{i}@bench.test", "display_name": f"{prefix} {i}", "password_hash": "x",
         "mobile": f"+4477008{i:05d}" if mobile else None, "grade": "Band 5", "skills": [], "is_admin": False,
         "active": True, "created_at": now, "staff_group": "nursing"} for i in range(n)])
    return list(db.session.scalars(select(User.id).where(User.email.like(f"{prefix}%@bench.test")).order_by(User.id)))


def _devices(service, user_ids: list[int]) -> dict:
    from core.db import db, now_utc
    from notifications.models import PushSubscription

    subs = {uid: service.subscribe() for uid in user_ids}
    if not subs:
        return subs
    db.session.execute(insert(PushSubscription), [
        {"user_id": uid, "endpoint": s.endpoint, "p256dh": s.info["keys"]["p256dh"], "auth": s.info["keys"]["auth"],
         "name": "Phone", "created_at": now_utc()} for uid, s in subs.items()])
    return subs


def _workers(env: dict, n: int) -> tuple[float, list[str]]:
    started = time.perf_counter()
    procs = [subprocess.Popen([str(ROOT / ".venv/bin/flask"), "notifications", "worker", "--once", "--batch", "20"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(n)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    return time.perf_counter() - started, [next((ln for ln in o.splitlines() if ln.startswith("claimed")),
                                                o.strip()[-200:]) for o in outs]


def _encryption_cost(keys: dict, service) -> None:
    from pywebpush import WebPusher

    from notifications import push

    subs = [service.subscribe() for _ in range(200)]
    data = b'{"t":"Shiftbridge","b":"Night shift gap on Ward 7B tonight: can you help?","u":"/p/1","k":"x"}'
    c0, t0 = time.process_time(), time.perf_counter()
    for s in subs:
        WebPusher(s.info).encode(data, "aes128gcm")
    enc_cpu, enc_wall = (time.process_time() - c0) / len(subs) * 1000, (time.perf_counter() - t0) / len(subs) * 1000
    cfg = push.PushConfig(keys["VAPID_PRIVATE_KEY"], keys["VAPID_PUBLIC_KEY"], "mailto:bench@example.test", "", 5)
    sender = push.Sender(cfg)
    c0 = time.process_time()
    for i in range(200):
        sender.vapid.sign({"aud": f"https://push{i}.example", "exp": int(time.time()) + 3600,
                           "sub": "mailto:bench@example.test"})
    sign_cpu = (time.process_time() - c0) / 200 * 1000
    print(f"encryption per push (aes128gcm, ECDH + HKDF + AES-GCM, one device): {enc_cpu:.2f} ms CPU "
          f"({enc_wall:.2f} ms wall); VAPID JWT signing {sign_cpu:.2f} ms CPU, done once per push service per 11 h "
          "(cached), so not per push")
    sender.close()


def _ward(app_ctx_make, fake, service, *, push_first: bool) -> int:
    """100 people on a ward, a broadcast with SMS; returns the texts sent once everything is settled."""
    from core import accounts
    from core.accounts import Membership, TeamRole
    from core.db import db, now_utc
    from notifications import broadcasts, worker
    from notifications import push_first as pf
    from notifications.models import OutboxMessage, OutboxState
    from notifications.service import IN_APP, SMS

    rnd = random.Random(SEED)
    tag = "pf" if push_first else "so"
    team = accounts.create_team(name=f"Ward {tag}", site="Bench")
    boss = accounts.create_user(email=f"boss-{tag}@bench.test", display_name="Boss", password="bench-password-1")
    accounts.add_member(team, boss, TeamRole.coordinator)
    ids = _people(WARD, f"w{tag}", mobile=True)
    db.session.execute(insert(Membership), [{"team_id": team.id, "user_id": u, "role": TeamRole.staff} for u in ids])
    with_device = rnd.sample(ids, int(WARD * 0.8)) if push_first else []
    _devices(service, with_device)
    db.session.commit()
    b = broadcasts.create(team, boss, audience="team", text="Night shift gap on Ward 7B tonight: can you help?",
                          channels=(IN_APP, SMS))
    db.session.commit()
    fake.reset()
    worker.run(once=True)
    opened = rnd.sample(with_device, len(with_device) // 2)  # half of those with a device open it within 5 minutes
    pushes = {m.user_id: m.id for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.broadcast_id == b.id, OutboxMessage.channel == "push"))}
    for uid in opened:
        pf.record_open(db.session.get(accounts.User, uid), pushes[uid])
    db.session.commit()
    # The team's wait (15 min by default) is over for everyone: make the safety nets due and let the worker run.
    db.session.execute(update(OutboxMessage).where(OutboxMessage.state == OutboxState.pending)
                       .values(next_attempt_at=now_utc() - timedelta(seconds=1)))
    db.session.commit()
    worker.run(once=True)
    return len(fake.accepted)


def _chromium_latency(app, pushsvc, rounds: int = 20) -> None:
    """Commit -> notification shown by the service worker in chromium. The path: commit, the outbox worker (a
    thread, default idle sleep 1 s) encrypts and posts to the local push service, which checks and decrypts it; the
    bench then hands the payload to chromium's service worker (``ServiceWorker.deliverPushMessage``, standing in for
    the phone's push connection) and polls ``getNotifications()`` every 10 ms."""
    import shutil
    import statistics
    import threading

    from core import accounts
    from core.db import db
    from notifications import service, worker
    from notifications.models import PushSubscription
    from tests.conftest import LiveServer

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        print("commit -> notification shown: skipped (no chromium)")
        return
    from playwright.sync_api import sync_playwright

    user = accounts.create_user(email="lat@bench.test", display_name="Latency", password="bench-password-1")
    db.session.commit()
    uid = user.id
    sub = pushsvc.subscribe()
    db.session.add(PushSubscription(user_id=uid, endpoint=sub.endpoint, p256dh=sub.info["keys"]["p256dh"],
                                    auth=sub.info["keys"]["auth"], name="Phone"))
    db.session.commit()
    stop = threading.Event()

    def run_worker():
        with app.app_context():
            while not stop.is_set():
                worker.run(max_seconds=1.0)

    with LiveServer(app) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        ctx = browser.new_context(base_url=live.url)
        ctx.grant_permissions(["notifications"], origin=live.url)
        page = ctx.new_page()
        page.goto("/auth/login")
        page.fill("#email", "lat@bench.test")
        page.fill("#password", "bench-password-1")
        page.click("[data-testid=sign-in]")
        page.wait_for_url("**/")
        cdp = ctx.new_cdp_session(page)
        regs = []
        cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: regs.extend(e["registrations"]))
        cdp.send("ServiceWorker.enable")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.wait_for_timeout(300)
        reg_id = regs[-1]["registrationId"]
        thread = threading.Thread(target=run_worker, daemon=True)
        thread.start()
        latencies = []
        for i in range(rounds):
            page.evaluate("navigator.serviceWorker.ready.then(r => r.getNotifications()).then(n => n.forEach(x => "
                          "x.close()))")
            seen = len(pushsvc.received)
            service.notify([uid], kind="bench", text=f"Bench message {i}")
            db.session.commit()
            t0 = time.perf_counter()
            while len(pushsvc.received) == seen and time.perf_counter() - t0 < 10:
                time.sleep(0.005)
            payload = json.dumps(pushsvc.received[-1]["payload"])
            cdp.send("ServiceWorker.deliverPushMessage", {"origin": live.url, "registrationId": reg_id,
                                                          "data": payload})
            while time.perf_counter() - t0 < 10 and not page.evaluate(
                    "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(n => n.length)"):
                time.sleep(0.01)
            latencies.append(time.perf_counter() - t0)
        stop.set()
        thread.join(5)
        browser.close()
    latencies.sort()
    p95 = latencies[max(0, int(round(0.95 * len(latencies))) - 1)]
    print(f"commit -> notification shown by the service worker in chromium ({rounds} rounds, worker idle sleep 1 s): "
          f"median {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (target p95 <= 2000 ms)")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from app import create_app
    from bench.bench_notifications import _database_url
    from core.db import db
    from notifications import push, service
    from notifications.models import OutboxMessage, OutboxState
    from tests.notifications.conftest import SID, TOKEN, twilio_config
    from tests.notifications.fake_twilio import FakeTwilio
    from tests.notifications.push_service import PushService

    keys = push.generate_keys()
    url = _database_url()
    engine = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    pushsvc = PushService(expected_key=keys["VAPID_PUBLIC_KEY"])
    fake = FakeTwilio(SID, TOKEN)
    fake.callbacks = False
    app = create_app({"TESTING": False, "SECRET_KEY": "bench-secret", "AUDIT_KEY": "bench-audit",
                      "SQLALCHEMY_DATABASE_URI": url, "FAST_PASSWORD_HASH": True, "LOG_LEVEL": "WARNING",
                      "RATELIMIT_STORAGE_URI": "memory://", "PUBLIC_BASE_URL": "", "NOTIFICATIONS_DAILY_SMS_CAP": 1000,
                      **twilio_config(fake), **keys, "VAPID_SUBJECT": "mailto:bench@example.test"})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(revision="heads")
        print(f"engine: {engine}")
        _encryption_cost(keys, pushsvc)

        # 1. Fan-out: one message to 1,000 people with a device each, through worker processes.
        ids = _people(FANOUT, "f", mobile=False)
        _devices(pushsvc, ids)
        db.session.commit()
        t0 = time.perf_counter()
        service.notify(ids, kind="rota.published", text="The rota for January is published")
        db.session.commit()
        print(f"queue in-app + push for {FANOUT}: {(time.perf_counter() - t0) * 1000:.0f} ms")
        n_workers = 2 if engine == "PostgreSQL" else 1
        env = {**os.environ, "FLASK_APP": "app:create_app", "DATABASE_URL": url, "SECRET_KEY": "bench-secret",
               "AUDIT_KEY": "bench-audit", "LOG_LEVEL": "WARNING", **keys,
               "VAPID_SUBJECT": "mailto:bench@example.test", "PUSH_TIMEOUT_SECONDS": "5",
               "NOTIFICATIONS_RETRY_BASE_SECONDS": "0"}
        pending = db.session.execute(update(OutboxMessage).where(OutboxMessage.channel == "push")
                                     .values(state=OutboxState.failed)).rowcount  # park them: time start-up alone
        db.session.commit()
        startup, _ = _workers(env, n_workers)
        for concurrency in (8, None):
            db.session.execute(update(OutboxMessage).where(OutboxMessage.channel == "push")
                               .values(state=OutboxState.pending, attempts=0))
            db.session.commit()
            pushsvc.reset()
            pushsvc.delay = 0.05
            run_env = {**env, **({"NOTIFICATIONS_PUSH_CONCURRENCY": str(concurrency)} if concurrency else {})}
            elapsed, lines = _workers(run_env, n_workers)
            got = len(pushsvc.received)
            stamps = sorted(r["at"] for r in pushsvc.received)
            span = (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
            for line in lines:
                print(f"    worker: {line}")
            print(f"push fan-out, push service answering in 50 ms, {n_workers} worker process(es), "
                  f"{concurrency or 'default (32)'} pushes in flight per worker: {got} of {pending} pushes "
                  f"accepted (VAPID checked, payload decrypted), {len(pushsvc.refused)} refused, in {elapsed:.2f} s = "
                  f"{got / elapsed:.0f} pushes/s incl. process start-up ({startup:.2f} s); first to last push "
                  f"accepted {span:.2f} s = {got / span:.0f} pushes/s sending (target >= 100)")
        pushsvc.delay = 0.0

        # 2. SMS per 100 recipients: push-first vs SMS-only.
        sms_only = _ward(None, fake, pushsvc, push_first=False)
        first = _ward(None, fake, pushsvc, push_first=True)
        print(f"SMS per {WARD} broadcast recipients (80 % with a push device, half of them open it within 5 min; "
              f"seed {SEED}): SMS-only {sms_only}, push-first {first} ({first / max(sms_only, 1):.0%} of SMS-only)")

        # 3. Commit -> notification shown in chromium.
        _chromium_latency(app, pushsvc)
    pushsvc.close()


if __name__ == "__main__":
    main()
