"""gunicorn settings of the web tier (``gunicorn -c deploy/gunicorn.conf.py 'app:create_app()'``).

The same file serves ``make run`` (SQLite demo) and production (PostgreSQL); the environment changes the numbers.
Long-lived notification streams are not served here: see ``deploy/gunicorn_stream.conf.py``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from gunicorn_common import child_exit, metrics_dir, on_starting, post_worker_init  # noqa: E402,F401  (gunicorn calls the hooks)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:5000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))  # 0: never recycle
# Proxy headers are trusted only from the load balancer (the app reads the same variable: core.security).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None  # keep /calendar/… paths out of it (the path is a secret)
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
control_socket_disable = True  # several gunicorns run on one machine (web, stream); nothing uses the socket
metrics_dir("web")
