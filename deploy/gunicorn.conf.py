"""Gunicorn settings for qc-assign: `gunicorn -c deploy/gunicorn.conf.py`.

Environment (e.g. in /etc/qc-assign/env):
  GUNICORN_BIND    address(es) to listen on, comma-separated (default 127.0.0.1:8000; the
                   reverse proxy in front terminates TLS)
  WEB_CONCURRENCY  number of worker processes (default 2 × usable CPUs + 1)
  GUNICORN_ACCESSLOG  where to write a line per request ("-": the journal); default none,
                   the reverse proxy in front logs every request already

Each sync worker serves one request at a time with its own database connection, so the
database must allow `workers` connections per server, plus the assigners'.
"""

import gc
import os
import tempfile

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
# the workers of a busy server all restarted within seconds of each other, and heartbeat
# p99 jumped with each round (docs/benchmarks.md, heartbeat case). Each worker still
# restarts after a few minutes of full load.
max_requests = 20_000
max_requests_jitter = 5_000

# A line per request costs the worker a share of a heartbeat's CPU (docs/benchmarks.md):
# off by default, since the reverse proxy logs each request already.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"

# gunicorn_h1c (requirements.txt) is gunicorn's C parser for HTTP/1.1; "auto" uses it when
# it is installed and falls back to the pure Python parser otherwise.
http_parser = "auto"


# /metrics adds up the response counts of every worker (prometheus_client's multiprocess
# mode): each worker writes its counts to files in this directory. Set before the workers
# start, so they inherit it; a directory of its own, emptied when gunicorn starts.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="qc-assign-metrics-"))


def on_starting(server):
    """Counts start at zero with the server (Prometheus sees a counter reset)."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Django and the app are loaded: freeze every object alive now (tens of thousands)
    out of the garbage collector's reach. A full collection walked them all, a stall of
    whatever request the worker was serving (heartbeat p99, docs/benchmarks.md); now it
    walks only what requests create."""
    gc.freeze()
