"""A Shiftbridge cluster on one machine: 2 web nodes and the stream service, each in its own network namespace
(``ip netns``, a veth pair to the host), nginx from Debian's packages in front (deploy/nginx.conf.template), sharing
PostgreSQL (its Unix socket: namespaces do not split the file system) and Redis (through a Unix-socket relay), plus
notifications workers. Needs root, iproute2, nginx and socat; ``make test-cluster`` installs nginx and socat.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from tests.servers import ROOT, Gunicorn, free_port

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"


def available() -> str | None:
    """Why the cluster cannot be built here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "nginx", "socat"):
        if not shutil.which(tool):
            return f"needs {tool} (make test-cluster installs it)"
    return None


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


class Cluster:
    def __init__(self, database_url: str, redis_db: int = 9, **env: str):
        self.tag = f"sb{os.getpid() % 10000}"
        self.subnet = f"10.{100 + os.getpid() % 100}."
        self.dir = Path(tempfile.mkdtemp(prefix="sb-cluster-"))
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen] = []
        self.nodes: dict[str, Gunicorn] = {}
        self.database_url = database_url
        self.redis_socket = self.dir / "redis.sock"
        self.env = env
        self.redis_db = redis_db

    # -- plumbing
    def _namespace(self, index: int) -> tuple[str, str]:
        """A namespace with a veth pair to the host: host side .1, namespace side .2 of 10.x.<index>.0/24."""
        name, host_if, ns_if = f"{self.tag}n{index}", f"{self.tag}h{index}", f"{self.tag}c{index}"
        net = f"{self.subnet}{index}"
        _sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        _sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _sh("ip", "link", "set", ns_if, "netns", name)
        _sh("ip", "addr", "add", f"{net}.1/24", "dev", host_if)
        _sh("ip", "link", "set", host_if, "up")
        _sh("ip", "netns", "exec", name, "ip", "addr", "add", f"{net}.2/24", "dev", ns_if)
        _sh("ip", "netns", "exec", name, "ip", "link", "set", ns_if, "up")
        _sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        return name, f"{net}.2"

    def node_env(self) -> dict:
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        socket_url = url.set(host=None, query={"host": "/var/run/postgresql"}).render_as_string(hide_password=False)
        redis = f"unix://{self.redis_socket}?db={self.redis_db}"
        proxies = ",".join(f"{self.subnet}{i}.1" for i in (1, 2, 3))
        return {"DATABASE_URL": socket_url, "REDIS_URL": redis,
                "RATELIMIT_STORAGE_URI": f"redis+unix://{self.redis_socket}?db={self.redis_db}",
                "PROXY_FIX": "1", "FORWARDED_ALLOW_IPS": proxies, "NOTIFICATIONS_KEEPALIVE_SECONDS": "5",
                "METRICS_ALLOW_IPS": "*", **self.env}

    def start(self) -> Cluster:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, db=self.redis_db).flushdb()  # throttles left by an earlier run
        relay = subprocess.Popen(["socat", f"UNIX-LISTEN:{self.redis_socket},fork,mode=666", "TCP:127.0.0.1:6379"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(relay)
        for _ in range(50):
            if self.redis_socket.exists():
                break
            time.sleep(0.1)
        addresses = {}
        for index, (name, role) in enumerate((("a", "web"), ("b", "web"), ("stream", "stream")), start=1):
            ns, address = self._namespace(index)
            addresses[name] = address
            self.nodes[name] = Gunicorn(self.database_url, role, bind=f"{address}:8000", netns=ns, wait=False,
                                        GUNICORN_WORKERS="2" if role == "web" else "1", **self.node_env())
        for node in self.nodes.values():
            node.wait_ready()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        conf = TEMPLATE.read_text()
        for key, value in {"LISTEN": f"127.0.0.1:{self.port}", "WEB_A": f"{addresses['a']}:8000",
                           "WEB_B": f"{addresses['b']}:8000", "STREAM": f"{addresses['stream']}:8000",
                           "PREFIX": str(self.dir)}.items():
            conf = conf.replace("{{" + key + "}}", value)
        (self.dir / "nginx.conf").write_text(conf)
        nginx = subprocess.Popen(["nginx", "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-e",
                                  str(self.dir / "error.log"), "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        self.procs.append(nginx)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/healthz", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("nginx did not start: " + (self.dir / "error.log").read_text()[-2000:])

    def worker(self, twilio_url: str, *args: str, **extra: str):
        """A ``flask notifications worker`` on the cluster's database and Redis (in the host's namespace, where the
        fake Twilio listens)."""
        from tests.notifications.worker_process import WorkerProcess

        env = {k: v for k, v in self.node_env().items() if not k.startswith("TWILIO_")} | extra
        return WorkerProcess(env.pop("DATABASE_URL"), twilio_url, *args, **env)

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for i in range(1, 4):
            subprocess.run(["ip", "link", "del", f"{self.tag}h{i}"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
