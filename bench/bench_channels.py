"""Channels: a page of posts from a channel with 20,000 posts against one with 200 (first page and a page deep in
the history), SQL queries per request and the time ratio (target <= 1.5x, queries constant); and the unread counts
of a person in 10 channels (target: one query); on PostgreSQL, a post to a 60-person team reaching 60 open channel
streams (gunicorn, LISTEN/NOTIFY): commit -> every client, p95 (target <= 1 s), and the post's queries."""

from __future__ import annotations

import os
import statistics
import time as clock
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, insert

from bench.common import database_url

BIG, SMALL, MEMBERS, RUNS, SSE_ROUNDS = 20_000, 200, 60, 15, 15


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
        if engine.dialect.name == "postgresql":
            _sse(app, url, tokens, big[0], counter)
        else:
            print("  SSE fan-out: skipped (SQLite fans out in-process only; run with BENCH_DATABASE_URL=postgresql…)")
    if not os.environ.get("BENCH_DATABASE_URL"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)


def _sse(app, url: str, tokens: list[str], channel_id: int, counter) -> None:
    """60 people with the team channel open (one stream each) in a 2-process gunicorn; the coordinator posts."""
    import asyncio
    import socket
    import subprocess

    from bench.bench_notifications import ROOT, _free_port, _pct, _sse_client
    from channels import services
    from channels.models import Channel
    from core.accounts import User
    from core.db import db

    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", "AUDIT_KEY": "bench", "LOG_LEVEL": "WARNING",
           "NOTIFICATIONS_STREAM_MAX_SECONDS": "600"}
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-w", "2", "-k", "gthread", "--threads", "80", "-b",
                               f"127.0.0.1:{port}", "--log-level", "warning", "app:create_app()"], cwd=ROOT, env=env)
    loop = asyncio.new_event_loop()
    received: asyncio.Queue = asyncio.Queue()
    ready = asyncio.Event()
    lasts, each, post_queries = [], [], set()
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                clock.sleep(0.2)
        counted = [0]
        tasks = [loop.create_task(_sse_client(port, t, received, ready, counted, len(tokens),
                                              path=f"/channels/{channel_id}/stream")) for t in tokens]
        loop.run_until_complete(asyncio.wait_for(ready.wait(), 120))
        loop.run_until_complete(asyncio.sleep(1.0))
        with app.app_context():
            author = db.session.get(User, services.member_ids(db.session.get(Channel, channel_id))[0])
            for i in range(SSE_ROUNDS):
                while not received.empty():
                    received.get_nowait()
                counter.n = 0
                services.post(db.session.get(Channel, channel_id), author, f"Bench post {i}: bay 3 needs a hand")
                post_queries.add(counter.n)
                t0 = clock.perf_counter()
                db.session.commit()

                async def collect():
                    return [await asyncio.wait_for(received.get(), 30) for _ in tokens]

                times = loop.run_until_complete(collect())
                lasts.append(max(times) - t0)
                each.extend(t - t0 for t in times)
                loop.run_until_complete(asyncio.sleep(0.2))
        for t in tasks:
            t.cancel()
        loop.run_until_complete(asyncio.sleep(0.1))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:  # open streams keep gthread workers busy past the graceful period
            server.kill()
        loop.close()
    print(f"  post -> {len(tokens)} open channel streams (gunicorn gthread x2, LISTEN/NOTIFY), {SSE_ROUNDS} posts: "
          f"commit -> last client median {statistics.median(lasts) * 1000:.0f} ms, p95 {_pct(lasts, 95) * 1000:.0f} "
          f"ms; per client p95 {_pct(each, 95) * 1000:.0f} ms (target <= 1 s); queries per post {sorted(post_queries)}")


if __name__ == "__main__":
    main()
