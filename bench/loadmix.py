"""The hospital request mix for bench/bench_scale.py (``BENCH_PARTS=mix``): one asyncio process on raw sockets plays
many people at once (closed loop: each virtual person sends its next request when the last one answered), so the
load generator costs little of the 2 cores (its own CPU use is printed beside the figures).

Per minute on a 1,000-bed hospital's day shift the mix is dominated by reads: people look at their ward's rota and open
shifts, their phones check notifications and calendar apps poll feeds; a few claim an open shift, offer a shift for a
swap or post in the ward channel. ``/healthz`` runs in the same mix as the trivial reference.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time

# (name, weight): the share of requests in the mix.
WEIGHTS = [("trivial: GET /healthz", 10), ("page: team rota, 1 week", 15), ("GET /api/v1/shifts (4 weeks)", 15),
           ("GET /api/v1/open-shifts", 10), ("GET /api/v1/notifications", 20), ("feed poll: /calendar/….ics", 15),
           ("POST claim an open shift", 4), ("POST offer a shift (swap)", 3), ("POST channel post", 8)]


async def request(host: str, port: int, method: str, path: str, token: str | None = None,
                  body: dict | None = None) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {len(data)}\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    writer.write(head.encode() + b"\r\n" + data)
    raw = await reader.read(-1)
    writer.close()
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0
    return status, raw.split(b"\r\n\r\n", 1)[-1]


class Mix:
    def __init__(self, base: str, team_id: int, first, people: list[tuple[str, int | None]], open_ids: list[int],
                 channel_id: int | None, feeds: list[str]):
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.team_id, self.first, self.people = team_id, first, people
        self.open_ids, self.channel_id, self.feeds = open_ids, channel_id, feeds

    def pick(self, rng: random.Random):
        name = rng.choices([n for n, _ in WEIGHTS], [w for _, w in WEIGHTS])[0]
        token, own_shift = rng.choice(self.people)
        week = f"from={self.first}&to={self.first.fromordinal(self.first.toordinal() + 27)}"
        if name.startswith("trivial"):
            return name, "GET", "/healthz", None, None
        if name.startswith("page"):
            return name, "GET", f"/teams/{self.team_id}/rota?start={self.first}&weeks=1", token, None
        if name.startswith("GET /api/v1/shifts"):
            return name, "GET", f"/api/v1/shifts?team_id={self.team_id}&{week}&per_page=200", token, None
        if name.startswith("GET /api/v1/open"):
            return name, "GET", f"/api/v1/open-shifts?team_id={self.team_id}", token, None
        if name.startswith("GET /api/v1/notifications"):
            return name, "GET", "/api/v1/notifications", token, None
        if name.startswith("feed") and self.feeds:
            return name, "GET", rng.choice(self.feeds), None, None
        if name.startswith("POST claim") and self.open_ids:
            return name, "POST", f"/api/v1/shifts/{rng.choice(self.open_ids)}/claim", token, None
        if name.startswith("POST offer") and own_shift:
            return name, "POST", "/api/v1/swaps", token, {"shift_id": own_shift, "kind": "offer"}
        if name.startswith("POST channel") and self.channel_id:
            return name, "POST", f"/api/v1/channels/{self.channel_id}/posts", token, {"text": "Bay 3 needs a hand"}
        return "trivial: GET /healthz", "GET", "/healthz", None, None

    async def run(self, people: int, seconds: float) -> dict:
        samples: dict[str, list[float]] = {n: [] for n, _ in WEIGHTS}
        statuses: dict[str, dict[int, int]] = {n: {} for n, _ in WEIGHTS}
        stop_at = time.perf_counter() + seconds

        async def person(seed: int):
            rng = random.Random(seed)
            while time.perf_counter() < stop_at:
                name, method, path, token, body = self.pick(rng)
                t0 = time.perf_counter()
                try:
                    status, _ = await request(self.host, self.port, method, path, token, body)
                except OSError:
                    status = 0
                samples[name].append((time.perf_counter() - t0) * 1000)
                statuses[name][status] = statuses[name].get(status, 0) + 1

        c0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(person(i) for i in range(people)))
        wall = time.perf_counter() - t0
        return {"wall": wall, "client_cpu": (time.process_time() - c0) / wall,
                "rows": {n: (len(v) / wall, statistics.median(v), sorted(v)[max(0, int(len(v) * 0.99) - 1)],
                             statuses[n]) for n, v in samples.items() if v}}


async def setup(base: str, coord_token: str, team_id: int, people: list[tuple[str, int | None]]):
    """A ward channel (the coordinator makes it) and calendar feed links for ward 0's people."""
    host, port = base.removeprefix("http://").split(":")
    status, body = await request(host, int(port), "POST", f"/api/v1/teams/{team_id}/channels", coord_token,
                                 {"name": "Ward 0 day shift"})
    channel_id = json.loads(body)["id"] if status == 201 else None
    feeds = []
    for token, _ in people[:20]:
        status, body = await request(host, int(port), "POST", "/api/v1/me/calendar-feeds/mine/rotate", token)
        if status == 200 and (url := json.loads(body).get("url")):
            feeds.append("/calendar/" + url.split("/calendar/", 1)[1])
    return channel_id, feeds


def report(label: str, result: dict, load: float) -> None:
    """Per endpoint: req/s (its share follows the mix's weights: a closed loop) and p50/p99, the latencies also as
    ratios to /healthz's in the same run (the comparable part on a shared machine)."""
    rows = result["rows"]
    base = rows.get("trivial: GET /healthz")
    total = sum(r[0] for r in rows.values())
    print(f"  {label}: {total:.1f} req/s in all over {result['wall']:.0f} s; the client process used "
          f"{result['client_cpu'] * 100:.0f}% of one core (load average {load:.2f})")
    for name, (rps, p50, p99, statuses) in rows.items():
        ratio = f"(x{p50 / base[1]:4.1f})  p99 {p99:7.1f} ms (x{p99 / base[2]:4.1f})" if base else f"p99 {p99:7.1f} ms"
        codes = " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))
        print(f"    {name:32s} {rps:5.1f} req/s  p50 {p50:7.1f} ms {ratio}  [{codes}]")
