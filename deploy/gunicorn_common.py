"""What both gunicorn configs share: Prometheus multiprocess files and process hooks (docs/operations.md)."""

import os
import shutil
import tempfile


def metrics_dir(role: str) -> str:
    """Each gunicorn's workers write metric samples into one folder that /metrics sums. Set before the workers start
    (they inherit it); a notifications worker on the same machine may share it to add its own samples."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.path.join(
        tempfile.gettempdir(), f"shiftbridge-metrics-{role}-{os.getpid()}")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def on_starting(server):
    """A fresh folder: samples of processes from an earlier run would be summed in."""
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """The app is built: freeze its start-up objects so that the garbage collector's full collections skip them
    (``core.heap``; without it a full collection cost 100-200 ms of a request's CPU)."""
    from core.heap import freeze_startup_objects

    freeze_startup_objects()
