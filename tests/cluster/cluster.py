"""A Shiftbridge cluster on one machine: 2 web nodes, the stream service and each notifications worker in its own
network namespace (``ip netns``, a veth pair to the host), nginx (deploy/nginx.conf.template) or HAProxy
(deploy/haproxy.cfg.template) from Debian's packages in front, sharing PostgreSQL (its Unix socket: namespaces do not
split the file system) and Redis (through a Unix-socket relay). Needs root, iproute2, socat and the balancer;
``make cluster-tools`` installs nginx, HAProxy and socat.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from tests.servers import ROOT, Gunicorn, free_port

TEMPLATES = {"nginx": ROOT / "deploy" / "nginx.conf.template", "haproxy": ROOT / "deploy" / "haproxy.cfg.template"}


def available(balancer: str = "nginx") -> str | None:
    """Why the cluster cannot be built here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", balancer, "socat"):
        if not shutil.which(tool):
            return f"needs {tool} (make test-cluster installs it)"
    return None


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


class Cluster:
    def __init__(self, database_url: str, redis_db: int = 9, balancer: str = "nginx", **env: str):
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
        self.balancer = balancer
        self.links: list[str] = []
        self.workers = 0

    # -- plumbing
    def _namespace(self, index: int) -> tuple[str, str]:
        """A namespace with a veth pair to the host: host side .1, namespace side .2 of 10.x.<index>.0/24."""
        name, host_if, ns_if = f"{self.tag}n{index}", f"{self.tag}h{index}", f"{self.tag}c{index}"
        net = f"{self.subnet}{index}"
        _sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        _sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        self.links.append(host_if)
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
        conf = TEMPLATES[self.balancer].read_text()
        for key, value in {"LISTEN": f"127.0.0.1:{self.port}", "WEB_A": f"{addresses['a']}:8000",
                           "WEB_B": f"{addresses['b']}:8000", "STREAM": f"{addresses['stream']}:8000",
                           "PREFIX": str(self.dir)}.items():
            conf = conf.replace("{{" + key + "}}", value)
        if self.balancer == "nginx":
            (self.dir / "nginx.conf").write_text(conf)
            command = ["nginx", "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-e",
                       str(self.dir / "error.log"), "-g", "daemon off;"]
        else:
            (self.dir / "haproxy.cfg").write_text(conf)
            command = ["haproxy", "-db", "-f", str(self.dir / "haproxy.cfg")]  # -db: in the foreground
        with open(self.dir / "balancer.log", "a") as log:  # the child keeps its own copy of the descriptor
            self.procs.append(subprocess.Popen(command, stdout=log, stderr=log))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/healthz", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"{self.balancer} did not start: " + (self.dir / "balancer.log").read_text()[-2000:])

    def worker(self, twilio_url: str, *args: str, **extra: str):
        """A ``flask notifications worker`` on the cluster's database and Redis in a network namespace of its own; it
        reaches the fake Twilio (listening on the host's loopback) through a relay on the host end of its veth."""
        from tests.notifications.worker_process import WorkerProcess

        self.workers += 1
        ns, address = self._namespace(3 + self.workers)
        host_side = address.rsplit(".", 1)[0] + ".1"
        port = twilio_url.rsplit(":", 1)[1].split("/")[0]
        relay = subprocess.Popen(["socat", f"TCP-LISTEN:{port},bind={host_side},fork,reuseaddr",
                                  f"TCP:127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(relay)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host_side, int(port)), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        env = {k: v for k, v in self.node_env().items() if not k.startswith("TWILIO_")} | extra
        return WorkerProcess(env.pop("DATABASE_URL"), twilio_url.replace("127.0.0.1", host_side, 1), *args,
                             netns=ns, **env)

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
        for link in self.links:
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
