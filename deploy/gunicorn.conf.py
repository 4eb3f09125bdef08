"""Gunicorn settings for qc-assign: `gunicorn -c deploy/gunicorn.conf.py`.

Environment (e.g. in /etc/qc-assign/env):
  GUNICORN_BIND    address(es) to listen on, comma-separated (default 127.0.0.1:8000; the
                   reverse proxy in front terminates TLS)
  WEB_CONCURRENCY  number of worker processes (default 2 × usable CPUs + 1)

Each sync worker serves one request at a time with its own database connection, so the
database must allow `workers` connections per server, plus the assigners'.
"""

import os

wsgi_app = "qcproject.wsgi:application"
proc_name = "qc-assign-web"

bind = [b.strip() for b in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")]
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * len(os.sched_getaffinity(0)) + 1)
worker_class = "sync"

# A request that takes longer than this is a stuck worker: it is killed and replaced.
timeout = 30
# On SIGTERM or a reload, requests in flight get this long to finish.
graceful_timeout = 30
# Recycle workers now and then so that no leak grows unbounded; the jitter keeps them from
# all restarting at once. A worker takes about a second of CPU to boot Django: at 1,000
# the workers of a busy server all restarted every 15-20 s, together, and heartbeat p99
# jumped with each round (`make bench`, heartbeat case). Each worker still restarts after
# a few minutes of full load.
max_requests = 20_000
max_requests_jitter = 5_000

accesslog = "-"
errorlog = "-"
