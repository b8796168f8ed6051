"""Channels: a page of posts from a channel with 20,000 posts against one with 200 (first page and a page deep in
the history), SQL queries per request and the time ratio (target <= 1.5x, queries constant); and the unread counts
of a person in 10 channels (target: one query)."""

from __future__ import annotations

import os
import statistics
import time as clock
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, insert

from bench.common import database_url

BIG, SMALL, MEMBERS, RUNS = 20_000, 200, 30, 15


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
    token = accounts.create_token(people[0], "bench")[1]
    db.session.commit()
    return people[0].id, token, (big.id, big.middle), (small.id, small.middle)


def main() -> None:
    from core.accounts import User
    from core.db import db

    app, url = _app()
    with app.app_context():
        import logging

        from flask_migrate import upgrade

        upgrade(revision="heads")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        user_id, token, big, small = _seed()
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
    from channels import services

    with app.app_context():
        user = db.session.get(User, user_id)
        _ = user.team_ids  # loads memberships (the page already has them)
        counter.n = 0
        counts = services.unread_counts(user)
        print(f"  unread counts in {len(counts)} channels: {counter.n} query")
    if not os.environ.get("BENCH_DATABASE_URL"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
