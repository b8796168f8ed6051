"""Issue #19: the deployment files under deploy/ are checked by the tools that will read them in production.

The balancer configurations also run the cluster test (tests/cluster: nginx and HAProxy in front of two nodes); here
each is checked on its own, and the systemd units with ``systemd-analyze verify`` (warnings count as failures: systemd
ignores a directive it cannot parse and starts the service anyway, which is how a unit silently loses a setting).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT

UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))


def _installed_copy(unit: Path, folder: Path) -> Path:
    """The unit as installed from this checkout: /srv/shiftbridge is where it lives, .venv its virtualenv."""
    text = unit.read_text().replace("/srv/shiftbridge/.venv/bin", str(Path(sys.executable).parent))
    copy = folder / unit.name
    copy.write_text(text.replace("/srv/shiftbridge", str(ROOT)))
    return copy


def test_the_systemd_units_verify_without_a_warning(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (Debian package systemd; make cluster-tools installs it)")
    assert {u.name for u in UNITS} == {"shiftbridge-web.service", "shiftbridge-stream.service",
                                       "shiftbridge-worker.service", "shiftbridge-autoroster.service"}
    copies = [_installed_copy(u, tmp_path) for u in UNITS]
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, copies)], capture_output=True,
                            text=True, timeout=120)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_units_start_what_the_readme_starts():
    """The three processes of ``make run`` and the README's production section, with the repository's configs."""
    text = {u.name: u.read_text() for u in UNITS}
    assert "gunicorn -c deploy/gunicorn.conf.py app:create_app()" in text["shiftbridge-web.service"]
    assert "gunicorn -c deploy/gunicorn_stream.conf.py app:create_app()" in text["shiftbridge-stream.service"]
    assert "flask notifications worker" in text["shiftbridge-worker.service"]
    assert "flask autoroster worker" in text["shiftbridge-autoroster.service"]
    for conf in ("gunicorn.conf.py", "gunicorn_stream.conf.py"):
        assert (ROOT / "deploy" / conf).exists()


def _filled(template: str, folder: Path) -> str:
    text = (ROOT / "deploy" / template).read_text()
    for key, value in {"LISTEN": "127.0.0.1:18080", "WEB_A": "127.0.0.1:18001", "WEB_B": "127.0.0.1:18002",
                       "STREAM": "127.0.0.1:18003", "PREFIX": str(folder)}.items():
        text = text.replace("{{" + key + "}}", value)
    assert not re.search(r"\{\{[A-Z_]+\}\}", text)  # every placeholder filled
    return text


def test_the_haproxy_configuration_is_valid(tmp_path):
    if not shutil.which("haproxy"):
        pytest.skip("haproxy is not installed (make cluster-tools installs it)")
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(_filled("haproxy.cfg.template", tmp_path))
    result = subprocess.run(["haproxy", "-c", "-f", str(conf)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout + result.stderr


def test_the_nginx_configuration_is_valid(tmp_path):
    if not shutil.which("nginx"):
        pytest.skip("nginx is not installed (make cluster-tools installs it)")
    conf = tmp_path / "nginx.conf"
    conf.write_text(_filled("nginx.conf.template", tmp_path))
    result = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


@pytest.mark.parametrize("conf", ["gunicorn.conf.py", "gunicorn_stream.conf.py"])
def test_each_gunicorn_worker_freezes_its_start_up_objects_out_of_the_garbage_collectors_walks(conf, tmp_path):
    """A built app is ~300,000 objects that live as long as the worker; left in the oldest generation, each full
    collection walks them all (100-200 ms, at random in whichever request triggers it: issue #22's eligibility
    figure doubled). The worker hook freezes them once the app is built (core.heap)."""
    script = f"""
import gc, runpy, sys
from app import create_app
app = create_app({{"TESTING": True, "SECRET_KEY": "x", "AUDIT_KEY": "x",
                  "SQLALCHEMY_DATABASE_URI": "sqlite:///{tmp_path}/db.sqlite3"}})
gc.collect()
built = len(gc.get_objects())
hooks = runpy.run_path("deploy/{conf}")
hooks["post_worker_init"](None)
print(built, gc.get_freeze_count(), len(gc.get_objects()))
"""
    (tmp_path / "metrics").mkdir()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    built, frozen, left = map(int, out.stdout.split()[-3:])
    assert built > 100_000
    assert frozen >= built * 0.95
    assert left < built * 0.05
