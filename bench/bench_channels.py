"""Channels: a page of posts from a channel with 20,000 posts against one with 200 (first page and a page deep in
the history), SQL queries per request and the time ratio (target <= 1.5x, queries constant); and the unread counts
of a person in 10 channels (target: one query); on PostgreSQL, a post to a 60-person team reaching 60 open channel
streams (the stream service, as deployed; LISTEN/NOTIFY): commit -> every client, p95 (target <= 1 s), and the post's
queries; and the queries to post where every member chose "every post" (a notice and a push queued for each), 60
people against 120 (target: the same)."""

from __future__ import annotations

import os
import statistics
import time as clock
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, insert

from bench.common import database_url

BIG, SMALL, MEMBERS, RUNS, SSE_ROUNDS = 20_000, 200, 60, 15, 15
KEEPALIVE = 3  # seconds, the stream service's keep-alive in the bench (15 in production)


def _app():
    from app import create_app

    url = database_url("bench-channels-")
    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "AUDIT_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                      "WTF_CSRF_ENABLED": False, "FAST_PASSWORD_HASH": True, "RATELIMIT_STORAGE_URI": "memory://",
                      "RATELIMIT_ENABLED": False, "LOG_LEVEL": "WARNING"})
    return app, url


class _Counter:
    def __init__(self, engine):
        self.n = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            self.n += 1


def _seed():
    from channels import services
    from channels.models import Channel, Post, Reaction, ReadPosition
    from core import accounts
    from core.accounts import TeamRole
    from core.db import db, now_utc

    people = [accounts.create_user(email=f"bench{i}@example.test", display_name=f"Nurse {i}",
                                   password="bench-password-1") for i in range(MEMBERS)]
    team = accounts.create_team(name="Bench ward")
    for i, u in enumerate(people):
        accounts.add_member(team, u, TeamRole.coordinator if i == 0 else TeamRole.staff)
    big = services.team_channel(team)
    small = Channel(team_id=team.id, name="Small", kind="list", rule={})
    db.session.add(small)
    extra = [Channel(team_id=team.id, name=f"Extra {i}", kind="rule", rule={}) for i in range(8)]
    db.session.add_all(extra)
    db.session.flush()
    from channels.models import ChannelMember

    db.session.execute(insert(ChannelMember), [{"channel_id": small.id, "user_id": u.id} for u in people])
    start = now_utc() - timedelta(days=80)
    for channel, count in ((big, BIG), (small, SMALL), *((c, 50) for c in extra)):
        rows = [{"channel_id": channel.id, "author_id": people[i % MEMBERS].id, "kind": "text",
                 "text": f"Message {i}: bladder scanner, breaks, the late shift", "reached": [], "reply_count": 0,
                 "version": 1, "created_at": start + timedelta(seconds=i * 300)} for i in range(count)]
        for i in range(0, len(rows), 5000):
            db.session.execute(insert(Post), rows[i:i + 5000])
    db.session.flush()
    from sqlalchemy import select

    for channel in (big, small):
        ids = list(db.session.scalars(select(Post.id).where(Post.channel_id == channel.id).order_by(Post.id)))
        db.session.execute(insert(Reaction), [{"post_id": pid, "user_id": people[(pid * 7) % MEMBERS].id,
                                               "emoji": "👍", "created_at": now_utc()} for pid in ids[::3]])
        db.session.execute(insert(ReadPosition), [
            {"channel_id": channel.id, "user_id": u.id, "last_read_post_id": ids[-1 - (k * 3) % len(ids)],
             "muted": False, "updated_at": now_utc()} for k, u in enumerate(people[1:])])
        channel.middle = ids[len(ids) // 2]
    tokens = [accounts.create_token(u, "bench")[1] for u in people]
    db.session.commit()
    return people[0].id, tokens, (big.id, big.middle), (small.id, small.middle)


def main() -> None:
    from core.accounts import User
    from core.db import db

    app, url = _app()
    with app.app_context():
        import logging

        from flask_migrate import upgrade

        upgrade(revision="heads")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        user_id, tokens, big, small = _seed()
        token = tokens[0]
        engine = db.engine
    counter = _Counter(engine)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    cases = {"first page": lambda cid, mid: f"/api/v1/channels/{cid}/posts?limit=30",
             "deep page": lambda cid, mid: f"/api/v1/channels/{cid}/posts?limit=30&before={mid}"}
    print(f"database: {engine.dialect.name}; channels of {BIG} and {SMALL} posts, {MEMBERS} members, "
          f"{RUNS} interleaved runs (median ms)")
    client.get(cases["first page"](*big), headers=headers)  # warm-up: the token's once-a-minute "last used" write
    for label, path in cases.items():
        times: dict[str, list[float]] = {"big": [], "small": []}
        queries: dict[str, set[int]] = {"big": set(), "small": set()}
        for _ in range(RUNS):
            for name, (cid, mid) in (("big", big), ("small", small)):
                counter.n = 0
                t0 = clock.perf_counter()
                resp = client.get(path(cid, mid), headers=headers)
                times[name].append((clock.perf_counter() - t0) * 1000)
                assert resp.status_code == 200 and len(resp.get_json()["items"]) == 30, resp.status_code
                queries[name].add(counter.n)
        b, s = statistics.median(times["big"]), statistics.median(times["small"])
        print(f"  {label:10} {BIG} posts {b:7.1f} ms ({sorted(queries['big'])} queries)   {SMALL} posts {s:7.1f} ms "
              f"({sorted(queries['small'])} queries)   ratio {b / s:.2f}x (target <= 1.5x)")
    from channels import reading

    with app.app_context():
        user = db.session.get(User, user_id)
        _ = user.team_ids  # loads memberships (the page already has them)
        counter.n = 0
        counts = reading.unread_counts(user)
        print(f"  unread counts in {len(counts)} channels: {counter.n} query")
        queries = {size: _enqueue_queries(counter, size) for size in (MEMBERS, 2 * MEMBERS)}
        print("  a post to a channel whose members all chose every post (an in-app notice and a push queued for each):"
              f" {queries[MEMBERS]} queries for {MEMBERS - 1} recipients, {queries[2 * MEMBERS]} for "
              f"{2 * MEMBERS - 1} (target: the same)")
        if engine.dialect.name == "postgresql":
            _sse(app, url, tokens, big[0], counter)
        else:
            print("  SSE fan-out: skipped (SQLite fans out in-process only; run with BENCH_DATABASE_URL=postgresql…)")
    if not os.environ.get("BENCH_DATABASE_URL"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)


def _enqueue_queries(counter, size: int) -> int:
    """Queries to post in a team channel of ``size`` people who all chose "every post" and each have a phone."""
    from channels import reading, services
    from core import accounts
    from core.accounts import TeamRole
    from core.db import db, now_utc
    from notifications.models import NotificationPreference, PushSubscription

    people = [accounts.create_user(email=f"enqueue{size}-{i}@example.test", display_name=f"Enqueue {size} {i}",
                                   password="bench-password-1") for i in range(size)]
    team = accounts.create_team(name=f"Enqueue ward {size}")
    channel = services.team_channel(team)
    for i, u in enumerate(people):
        accounts.add_member(team, u, TeamRole.coordinator if i == 0 else TeamRole.staff)
        db.session.add(NotificationPreference(user_id=u.id, sms_enabled=True, quiet_start="00:00", quiet_end="00:00",
                                              daily_sms_cap=10))
        db.session.add(PushSubscription(user_id=u.id, endpoint=f"https://push.bench.test/{u.id}", p256dh="k" * 87,
                                        auth="a" * 22, name="Phone", created_at=now_utc()))
        reading.set_notifications(channel, u, level="all")
    db.session.commit()
    counter.n = 0
    services.post(channel, people[0], "Staff meeting moved to 14:00")
    n = counter.n
    db.session.commit()
    return n


def _sse(app, url: str, tokens: list[str], channel_id: int, counter) -> None:
    """60 people with the team channel open (one stream each) on the stream service (deploy/gunicorn_stream.conf.py,
    gevent, as in production: the web tier does not hold streams since #19); the coordinator posts 15 times.

    Each client behaves like the channel page: when the service ends its stream (a stream opened while the
    service's listener was starting, or across a listener gap, ends at its next keep-alive so that the page catches
    up) it opens it again after the ``retry`` the service sends (3 s), and on reopening the page shows whatever was
    posted meanwhile: such a post counts as seen when the stream reopens (a "catch-up"), not as lost."""
    import asyncio

    from bench.bench_notifications import _pct
    from channels import services
    from channels.models import Channel
    from core.accounts import User
    from core.db import db
    from tests.servers import Gunicorn

    server = Gunicorn(url, "stream", SECRET_KEY="bench", AUDIT_KEY="bench", NOTIFICATIONS_STREAM_MAX_SECONDS="600",
                      NOTIFICATIONS_KEEPALIVE_SECONDS=str(KEEPALIVE))
    port = int(server.url.rsplit(":", 1)[1])
    loop = asyncio.new_event_loop()
    received: asyncio.Queue = asyncio.Queue()
    ready = asyncio.Event()
    opened: set[int] = set()
    heard: set[int] = set()  # the pages that have shown the current post
    state = {"round": False, "reopened": 0, "catch_ups": 0}
    lasts, each, post_queries = [], [], set()

    def saw(k: int, catch_up: bool = False) -> None:
        if state["round"] and k not in heard:
            heard.add(k)
            state["catch_ups"] += catch_up
            received.put_nowait(clock.perf_counter())

    async def page(k: int, token: str) -> None:
        while True:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write((f"GET /channels/{channel_id}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Accept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n").encode())
            await writer.drain()
            status = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            if b" 200 " not in status:
                raise RuntimeError(f"stream {k}: {status!r}")
            if k in opened:
                state["reopened"] += 1
                saw(k, catch_up=True)  # the page catches up with what was posted while it was away
            opened.add(k)
            if len(opened) == len(tokens):
                ready.set()
            while line := await reader.readline():
                if line.startswith(b"data:"):
                    saw(k)
            writer.close()
            await asyncio.sleep(3.0)  # the service's "retry: 3000"

    try:
        tasks = [loop.create_task(page(k, t)) for k, t in enumerate(tokens)]
        loop.run_until_complete(asyncio.wait_for(ready.wait(), 120))
        loop.run_until_complete(asyncio.sleep(2 * KEEPALIVE + 4))  # past the first keep-alives and any reopening
        settled = state["reopened"]
        with app.app_context():
            author = db.session.get(User, services.member_ids(db.session.get(Channel, channel_id))[0])
            for i in range(SSE_ROUNDS):
                while not received.empty():
                    received.get_nowait()
                heard.clear()
                counter.n = 0
                services.post(db.session.get(Channel, channel_id), author, f"Bench post {i}: bay 3 needs a hand")
                post_queries.add(counter.n)
                state["round"] = True
                t0 = clock.perf_counter()
                db.session.commit()

                async def collect(i=i):
                    got = []
                    try:
                        for _ in tokens:
                            got.append(await asyncio.wait_for(received.get(), 30))
                    except TimeoutError:
                        raise RuntimeError(f"post {i}: {len(got)} of {len(tokens)} pages showed it after 30 s; "
                                           f"not {set(range(len(tokens))) - heard}") from None
                    return got

                times = loop.run_until_complete(collect())
                state["round"] = False
                lasts.append(max(times) - t0)
                each.extend(t - t0 for t in times)
                loop.run_until_complete(asyncio.sleep(0.2))
        for t in tasks:
            t.cancel()
        loop.run_until_complete(asyncio.sleep(0.1))
    finally:
        server.stop()
        loop.close()
    print(f"  post -> {len(tokens)} open channel pages (stream service, gevent, LISTEN/NOTIFY), {SSE_ROUNDS} posts: "
          f"commit -> last page median {statistics.median(lasts) * 1000:.0f} ms, p95 {_pct(lasts, 95) * 1000:.0f} "
          f"ms; per page p95 {_pct(each, 95) * 1000:.0f} ms (target <= 1 s); queries per post {sorted(post_queries)};"
          f" streams reopened before the first post {settled}, during the posts {state['reopened'] - settled} "
          f"({state['catch_ups']} posts shown by a catch-up)")


if __name__ == "__main__":
    main()
