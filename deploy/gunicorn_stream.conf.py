"""gunicorn settings of the notification stream service (``gunicorn -c deploy/gunicorn_stream.conf.py
'app:create_app()'``): the same application on gevent, so each open Server-Sent Events stream costs a greenlet
(memory), not a thread. The load balancer sends ``/api/v1/notifications/stream`` here and everything else to the web
tier. Events arrive through PostgreSQL LISTEN/NOTIFY or Redis pub/sub (notifications/realtime.py); on SQLite (the
demo) the service polls the notifications table once a second.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from gunicorn_common import child_exit, metrics_dir, on_starting, post_worker_init  # noqa: E402,F401  (gunicorn calls the hooks)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:5001")
worker_class = "gevent"
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "10000"))
timeout = 30
graceful_timeout = 5
keepalive = 5
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
raw_env = ["NOTIFICATIONS_STREAM_SERVICE=1",
           # Thousands of greenlets share one pool, each for a moment (sign-in check, replay, catch-up): a reconnect
           # storm waits its turn instead of failing after 30 s.
           "DB_POOL_TIMEOUT=" + os.environ.get("DB_POOL_TIMEOUT", "300")]
control_socket_disable = True  # several gunicorns run on one machine (web, stream); nothing uses the socket
metrics_dir("stream")
