"""Scale bench (#19), one run: the production shape (deploy/gunicorn.conf.py web tier + the stream service) on a
hospital-sized database, driven by wrk (Debian's package) and single asyncio processes on raw sockets (the stream
holder, bench/stream_clients.py; the hospital mix, bench/loadmix.py; the open-loop probes), each printing its CPU use.

Prints, each beside the load average and as ratios to the trivial endpoint (``/healthz``) measured in the same run
under the same server settings: req/s and p50/p99 of the JSON endpoints (a team's 4 weeks of shifts, open shifts, the
compliance what-if) and the team grid page (``endpoints``); /healthz and the shift list through nginx over 1 node and
2 (``nodes``); the hospital mix over 1 node and 2 (``mix``); other requests' p50/p99 at a steady rate with no streams
and with BENCH_STREAMS streams held open, the CPU share of each process, the stream service's memory per open stream
and a broadcast's notification latency (p95) to 20 of those streams (``streams``).

Settings: BENCH_DATABASE_URL (PostgreSQL, emptied; SQLite otherwise), BENCH_WARDS (default 60 wards of 50 staff:
3,000 people, the issue's 1,000-bed hospital), BENCH_STREAMS (default 2,000: one open tab per person on shift at a
shift change, when the day and the night staff are both on), BENCH_SECONDS (per wrk run, default 2),
BENCH_ROUNDS (default 7: (trivial, endpoint) pairs per endpoint, the median round shown),
BENCH_CONNECTIONS (default 16), BENCH_PARTS (default all: endpoints,nodes,mix,streams), BENCH_MIX_PEOPLE (16),
BENCH_MIX_SECONDS (20), BENCH_PROBE_RATE (10 req/s), BENCH_PROBE_SECONDS (15). ``make loadtest`` installs wrk and
runs it on PostgreSQL. A PostgreSQL database is analysed once seeded (``bench.common.analyze``): until 7 Dec it was
measured with no statistics at all, as the machines' PostgreSQL runs with autovacuum off.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import requests

from bench import loadmix
from bench.common import analyze, database_url, tree_cpu_seconds

SECONDS = int(os.environ.get("BENCH_SECONDS", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))  # (trivial, endpoint) pairs per endpoint
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
PARTS = os.environ.get("BENCH_PARTS", "endpoints,nodes,mix,streams")  # run only some of them (comma-separated)
MIX_PEOPLE = int(os.environ.get("BENCH_MIX_PEOPLE", "16"))  # at once, closed loop (the web tier has 2 x 8 threads)
MIX_SECONDS = float(os.environ.get("BENCH_MIX_SECONDS", "20"))
PROBE_RATE = float(os.environ.get("BENCH_PROBE_RATE", "10"))
PROBE_SECONDS = float(os.environ.get("BENCH_PROBE_SECONDS", "15"))


def _seed(url: str, wards: int):
    from flask_migrate import upgrade

    from app import create_app
    from bench.bench_rota import FIRST, _team
    from core import accounts
    from core.accounts import Membership, TeamRole
    from core.db import db
    from rota.models import Shift, ShiftState

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "AUDIT_KEY": "bench",
                      "FAST_PASSWORD_HASH": True, "RATELIMIT_STORAGE_URI": "memory://"})
    with app.app_context():
        upgrade(revision="heads")
        teams = []
        for w in range(wards):
            team, coord, _ = _team(50, f"w{w}")
            teams.append((team.id, coord))
        first_team, coord = teams[0]
        # Open shifts on the first ward: unassign a few.
        for shift in db.session.scalars(db.select(Shift).where(Shift.team_id == first_team).limit(12)):
            shift.assignee_id, shift.state = None, ShiftState.open
        staff = db.session.execute(db.select(Membership.user_id, Membership.team_id)
                                   .where(Membership.role == TeamRole.staff).order_by(Membership.user_id)).all()
        tokens = {uid: accounts.create_token(db.session.get(accounts.User, uid), "bench")[1] for uid, _ in staff}
        staff_tokens = list(tokens.values())
        coord_token = accounts.create_token(coord, "bench")[1]
        ward0 = [uid for uid, tid in staff if tid == first_team]
        first_staff = ward0[0]
        # The hospital mix (BENCH_PARTS=mix): ward 0's people, each with a shift of their own to offer.
        own = dict(db.session.execute(db.select(Shift.assignee_id, db.func.max(Shift.id))
                                      .where(Shift.team_id == first_team, Shift.assignee_id.in_(ward0))
                                      .group_by(Shift.assignee_id)).all())
        open_ids = list(db.session.scalars(db.select(Shift.id).where(Shift.team_id == first_team,
                                                                     Shift.assignee_id.is_(None))))
        db.session.commit()
        ward0_tokens = [tokens[uid] for uid in ward0[:20]]
        MIX_DATA.update(people=[(tokens[uid], own.get(uid)) for uid in ward0], open_ids=open_ids)
    analyze(url)  # the statistics a production database has (autovacuum is off here)
    return first_team, first_staff, coord_token, staff_tokens, ward0_tokens, FIRST


MIX_DATA: dict = {}
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(url: str, token: str, *, method="GET", body: str | None = None, seconds: float | None = None) -> dict:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua_body = "nil" if body is None else "[[" + body + "]]"
    script.write(f'wrk.method = "{method}"\nwrk.body = {lua_body}\n'
                 f'wrk.headers["Authorization"] = "Bearer {token}"\n'
                 'wrk.headers["Content-Type"] = "application/json"\n')
    script.close()
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds or SECONDS}s", "--timeout", "30s", "--latency", "-s",
               script.name]
    out = subprocess.run([*command, url], capture_output=True, text=True).stdout
    os.unlink(script.name)
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        figures[f"p{pct}"] = float(value) * _UNIT[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["errors"] = int(errors.group(1)) if errors else 0
    return figures


def _rss_kb(master_pid: int) -> int:
    pids = [master_pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True,
                                                           text=True).stdout.split()]
    total = 0
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    return total


def main() -> None:
    from tests.servers import Gunicorn

    if not subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).stdout:
        print("wrk not installed (make loadtest installs it): skipped")
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # a socket per stream, in the holder and the service
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    wards = int(os.environ.get("BENCH_WARDS", "60"))
    url = database_url("sb-bench-scale-")
    t0 = time.perf_counter()
    team_id, person_id, coord_token, staff_tokens, ward0_tokens, first = _seed(url, wards)
    streams = min(len(staff_tokens), int(os.environ.get("BENCH_STREAMS", "2000")))
    print(f"seeded {wards} wards, {len(staff_tokens)} staff, 4 weeks of shifts in {time.perf_counter() - t0:.0f} s "
          f"({'PostgreSQL' if url.startswith('postgresql') else 'SQLite'})")
    load = os.getloadavg()
    web = Gunicorn(url, "web", GUNICORN_WORKERS="2", GUNICORN_THREADS="8", LOG_LEVEL="WARNING")
    stream = Gunicorn(url, "stream", LOG_LEVEL="WARNING", NOTIFICATIONS_KEEPALIVE_SECONDS="15")
    try:
        days = f"from={first.isoformat()}&to={(first + timedelta(days=27)).isoformat()}"
        night = {"starts_at": f"{first + timedelta(days=2)}T19:30:00",
                 "ends_at": f"{first + timedelta(days=3)}T08:00:00"}
        check = json.dumps({"user_id": person_id, "add": [night]})
        cases = [("trivial: GET /healthz", web.url + "/healthz", "GET", None),
                 ("GET /api/v1/shifts (team, 4 weeks)", f"{web.url}/api/v1/shifts?team_id={team_id}&{days}"
                  "&per_page=200", "GET", None),
                 ("GET /api/v1/open-shifts", f"{web.url}/api/v1/open-shifts?team_id={team_id}", "GET", None),
                 ("POST /api/v1/compliance/check", web.url + "/api/v1/compliance/check", "POST", check),
                 # The page as a coordinator opens it (a week). Until 7 Dec this row was labelled "4 weeks" and asked
                 # for ``weeks=4``, which the page ignores: it always measured the week.
                 ("team grid page (a week, 50 people)", f"{web.url}/teams/{team_id}/rota?start={first.isoformat()}",
                  "GET", None),
                 ("team grid page (4 weeks, 50 people)",
                  f"{web.url}/teams/{team_id}/rota?start={first.isoformat()}&days=28", "GET", None)]
        if "endpoints" in PARTS:
            _endpoints(cases, coord_token, load[0])
        if "nodes" in PARTS or "mix" in PARTS:
            _two_nodes(url, web, stream, coord_token, cases, team_id, first)
        if "streams" in PARTS:
            _with_streams(web, stream, staff_tokens[:streams], coord_token, ward0_tokens, team_id, cases[1])
    finally:
        web.stop()
        stream.stop()
    print(f"load average after: {os.getloadavg()[0]:.2f} (2 cores: the load generator shares them with the servers)")


def _endpoints(cases, token: str, load: float) -> None:
    """Each endpoint against the trivial one in ROUNDS rounds, each round a wrk run of the trivial endpoint right
    before the endpoint's (SECONDS each, 1 s apart so that neither run meets the other's requests still in flight):
    a round's ratio compares two runs seconds apart, so a machine whose speed
    drifts during the bench (these shared 2-core machines do, by up to 2x within a minute) moves both. The median
    round is shown, with the spread of the ratios."""
    print(f"\nweb tier: gunicorn gthread 2 workers x 8 threads; wrk -t2 -c{CONNECTIONS} -d{SECONDS}s each, {ROUNDS} "
          f"rounds of (trivial, endpoint) (load average before: {load:.2f})")
    (_, trivial_url, *_), rows = cases[0], []
    for name, target, method, body in cases[1:]:
        rounds = []
        for _ in range(ROUNDS):
            time.sleep(1)  # the requests the last run left in flight are answered first
            base = _wrk(trivial_url, token)
            time.sleep(1)
            f = _wrk(target, token, method=method, body=body)
            rounds.append((f["rps"] / base["rps"], f, base))
        rounds.sort(key=lambda r: r[0])
        rows.append((name, rounds))
    for name, rounds in rows:
        ratio, f, base = rounds[len(rounds) // 2]
        print(f"  {name:38s} {f['rps']:7.1f} req/s (x{ratio:.2f}; rounds x{rounds[0][0]:.2f}-x{rounds[-1][0]:.2f})  "
              f"p50 {f['p50']:6.1f} ms  p99 {f['p99']:7.1f} ms  non-2xx {f['errors']}  "
              f"[trivial {base['rps']:.0f} req/s beside it]")


def _start_nginx(folder: Path, nodes, stream):
    from tests.servers import free_port

    port = free_port()
    conf = (Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf.template").read_text()
    for key, value in {"LISTEN": f"127.0.0.1:{port}", "WEB_A": nodes[0].url.removeprefix("http://"),
                       "WEB_B": nodes[1].url.removeprefix("http://"),
                       "STREAM": stream.url.removeprefix("http://"), "PREFIX": str(folder)}.items():
        conf = conf.replace("{{" + key + "}}", value)
    if nodes[0] is nodes[1]:
        conf = conf.replace(f"        server {nodes[1].url.removeprefix('http://')} max_fails=1 "
                            "fail_timeout=3s;\n", "", 1)
    (folder / "nginx.conf").write_text(conf)
    nginx = subprocess.Popen(["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e",
                              str(folder / "error.log"), "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    time.sleep(1)
    return nginx, port


def _mix_for(base: str, coord_token: str, team_id: int, first) -> loadmix.Mix:
    channel_id, feeds = asyncio.run(loadmix.setup(base, coord_token, team_id, MIX_DATA["people"]))
    return loadmix.Mix(base, team_id, first, MIX_DATA["people"], MIX_DATA["open_ids"], channel_id, feeds)


def _two_nodes(url, web, stream, coord_token, cases, team_id, first) -> None:
    """The same endpoints through nginx (deploy/nginx.conf.template) over one node, then two; with ``mix`` in
    BENCH_PARTS, the hospital mix (bench/loadmix.py) too, each endpoint's figures as ratios to /healthz in the mix."""
    import shutil

    from tests.servers import Gunicorn

    if not shutil.which("nginx"):
        print("\nnginx not installed: single node vs two nodes skipped (make cluster-tools)")
        return
    mix = None
    second = Gunicorn(url, "web", GUNICORN_WORKERS="2", GUNICORN_THREADS="8", LOG_LEVEL="WARNING")
    folder = Path(tempfile.mkdtemp(prefix="sb-bench-nginx-"))
    try:
        print("\nthrough nginx: one web node vs two web nodes, each 2 workers x 8 threads")
        for label, nodes in (("1 node ", (web, web)), ("2 nodes", (web, second))):
            nginx, port = _start_nginx(folder, nodes, stream)
            try:
                base = None
                for name, target, method, body in (cases[0], cases[1]) if "nodes" in PARTS else ():
                    target = target.replace(web.url, f"http://127.0.0.1:{port}")
                    f = _wrk(target, coord_token, method=method, body=body)
                    base = base or f
                    print(f"  {label} {name:38s} {f['rps']:7.1f} req/s (x{f['rps'] / base['rps']:.2f})  "
                          f"p50 {f['p50']:6.1f} ms  p99 {f['p99']:7.1f} ms")
                if "mix" in PARTS:
                    if mix is None:
                        mix = _mix_for(f"http://127.0.0.1:{port}", coord_token, team_id, first)
                    mix.host, mix.port = "127.0.0.1", port
                    result = asyncio.run(mix.run(MIX_PEOPLE, MIX_SECONDS))
                    loadmix.report(f"{label} hospital mix, {MIX_PEOPLE} people at once", result,
                                   os.getloadavg()[0])
            finally:
                nginx.terminate()
                nginx.wait(10)
    finally:
        second.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def _one(host: str, port: int, path: str, token: str) -> float | None:
    t0 = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                      "Connection: close\r\n\r\n").encode())
        head = await reader.readline()
        await reader.read()
        writer.close()
    except OSError:
        return None
    return (time.perf_counter() - t0) * 1000 if b" 200 " in head else None


async def _open_loop(base: str, probes: list[tuple[str, str]], rate: float, seconds: float) -> dict:
    """Each probe path at a steady ``rate`` per second for ``seconds`` (open loop: a slow answer does not slow the
    next request down, so queueing shows in the latency instead of hiding in a lower request rate)."""
    host, port = base.removeprefix("http://").split(":")
    tasks: dict[str, list] = {path: [] for path, _ in probes}
    for _ in range(int(rate * seconds)):
        for path, token in probes:
            tasks[path].append(asyncio.create_task(_one(host, int(port), path, token)))
        await asyncio.sleep(1 / rate)
    out = {}
    for path, ts in tasks.items():
        got = await asyncio.gather(*ts)
        ok = sorted(x for x in got if x is not None)
        out[path] = (statistics.median(ok), ok[max(0, int(len(ok) * 0.99) - 1)], len(got) - len(ok)) if ok else None
    return out


def _probe(label: str, web, stream, holder_pid, coord_token) -> None:
    probes = [("/healthz", coord_token), ("/api/v1/notifications", coord_token)]
    pids = {"web tier": web.proc.pid, "stream service": stream.proc.pid}
    if holder_pid:
        pids["stream client (bench)"] = holder_pid
    before = {k: tree_cpu_seconds(p) for k, p in pids.items()}
    t0 = time.perf_counter()
    result = asyncio.run(_open_loop(web.url, probes, PROBE_RATE, PROBE_SECONDS))
    wall = time.perf_counter() - t0
    cpu = ", ".join(f"{k} {(tree_cpu_seconds(p) - before[k]) / wall * 100:.0f}%" for k, p in pids.items())
    print(f"  {label} (load average {os.getloadavg()[0]:.2f}); CPU of one core: {cpu}")
    for path, figures in result.items():
        if figures is None:
            print(f"    GET {path:28s} no answers")
            continue
        p50, p99, failed = figures
        print(f"    GET {path:28s} {PROBE_RATE:.0f} req/s open loop: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
              f"failed {failed}")


def _with_streams(web, stream, tokens, coord_token, ward0_tokens, team_id, case) -> None:
    host, port = stream.url.removeprefix("http://").split(":")
    tokens_file = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    tokens_file.write("\n".join(tokens))
    tokens_file.close()
    print(f"\nother requests while streams are held (the web tier: 2 workers x 8 threads; probes from one asyncio "
          f"process, {PROBE_SECONDS:.0f} s each)")
    _probe("no streams open", web, stream, None, coord_token)
    rss_before = _rss_kb(stream.proc.pid)
    holder = subprocess.Popen([sys.executable, "-m", "bench.stream_clients", host, port, tokens_file.name],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        line = holder.stdout.readline().strip()
        opened = int(line.split()[1]) if line.startswith("open") else 0
        time.sleep(5)  # past the opening storm
        rss_after = _rss_kb(stream.proc.pid)
        print(f"  streams held by the stream service: {line}")
        if opened:
            print(f"  stream service memory: {rss_before / 1024:.0f} MB -> {rss_after / 1024:.0f} MB, "
                  f"{(rss_after - rss_before) / opened:.1f} kB per open stream")
        _probe(f"{opened} streams open", web, stream, holder.pid, coord_token)
        f = _wrk(case[1], coord_token)
        print(f"  {case[0]} at saturation (wrk -c{CONNECTIONS}) while they are open: {f['rps']:.1f} req/s  "
              f"p50 {f['p50']:.1f} ms  p99 {f['p99']:.1f} ms  (load average {os.getloadavg()[0]:.2f})")
        latency = _latency(web, stream, coord_token, ward0_tokens, team_id)
        print(f"  notification latency to 20 streams, 10 broadcasts: {latency}")
    finally:
        holder.stdin.close()
        holder.terminate()
        holder.wait(10)
        os.unlink(tokens_file.name)


def _latency(web, stream, coord_token, tokens, team_id) -> str:
    arrivals: dict[str, list[float]] = {}
    lock, stop, ready = threading.Lock(), threading.Event(), threading.Barrier(len(tokens) + 1, timeout=120)

    def listen(token):
        headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {token}"}
        try:
            with requests.get(stream.url + "/api/v1/notifications/stream", stream=True, timeout=120,
                              headers=headers) as resp:
                ready.wait()
                for line in resp.iter_lines(decode_unicode=True):
                    if line.startswith("data: ") and "Latency probe" in line:
                        key = re.search(r"Latency probe (\d+)", line).group(1)
                        with lock:
                            arrivals.setdefault(key, []).append(time.monotonic())
                    if stop.is_set():
                        return
        except requests.RequestException:
            return  # the service stopped first

    threads = [threading.Thread(target=listen, args=(t,), daemon=True) for t in tokens]  # joined via ``stop``
    for t in threads:
        t.start()
    ready.wait()
    time.sleep(1)
    sent = {}
    for n in range(10):
        sent[str(n)] = time.monotonic()
        requests.post(web.url + "/api/v1/broadcasts", timeout=60, headers={"Authorization": f"Bearer {coord_token}"},
                      json={"team_id": team_id, "audience": "team", "text": f"Latency probe {n}",
                            "channels": ["in_app"]})
        time.sleep(0.5)
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(20)  # each ends at its next line (a keep-alive comes every 15 s)
    samples = sorted(at - sent[k] for k, ats in arrivals.items() for at in ats)
    if len(samples) < 20:
        return f"only {len(samples)} arrivals"
    p95 = samples[int(len(samples) * 0.95) - 1]
    return (f"{len(samples)} arrivals, p50 {statistics.median(samples) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms "
            "(broadcast sent -> event read; includes the broadcast's own request)")
