"""The machine's commit floor, measured while a load runs: `python -m bench.commit_probe`.

Every heartbeat is a commit, and a commit waits for the redo log's fsync. On a shared host
the disk now and then takes far longer than usual for one fsync, and every commit in flight
waits for it, the bare Django view's as much as the API's: in such a run no request that
commits can have a p99 under the stall. This probe tells those runs apart. Beside the load,
it commits a one-row UPDATE on its own connection every INTERVAL (a few percent of the
load's commits) and reports the share of the wall time it spent waiting in commits slower
than STALL_MS.

It runs as a separate process, at real-time priority where the system allows it, so that
its own wait for a CPU (the load keeps both busy) is not mistaken for the disk's.

    python -m bench.commit_probe URL DATABASE SECONDS   (prints one line of JSON)
"""

import json
import os
import sys
import time

import MySQLdb

INTERVAL = 0.02
STALL_MS = 50.0


def probe(params: dict, database: str, seconds: float) -> dict:
    conn = MySQLdb.connect(
        host=params["host"],
        port=params["port"],
        user=params["user"],
        passwd=params["password"],
        db=database,
        autocommit=True,
    )
    try:
        cur = conn.cursor()
        cur.execute(
            "CREATE TABLE IF NOT EXISTS bench_commit_probe (id INT PRIMARY KEY, n BIGINT NOT NULL)"
        )
        cur.execute("INSERT IGNORE INTO bench_commit_probe VALUES (1, 0)")
        latencies = []
        started = time.perf_counter()
        while (t0 := time.perf_counter()) < started + seconds:
            cur.execute("UPDATE bench_commit_probe SET n = n + 1 WHERE id = 1")
            latency = time.perf_counter() - t0
            latencies.append(latency)
            time.sleep(max(0.0, INTERVAL - latency))
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    stalled = sum(x for x in latencies if x * 1000 > STALL_MS)
    return {
        "commits": len(latencies),
        "stalled_share": 100 * stalled / elapsed,
        "max_ms": 1000 * max(latencies),
    }


def main(argv: list[str]) -> int:
    from .db import server_params

    url, database, seconds = argv[0], argv[1], float(argv[2])
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        realtime = True
    except OSError:  # not permitted (no CAP_SYS_NICE): an ordinary process, reported so
        realtime = False
    figures = probe(server_params(url), database, seconds)
    figures["realtime"] = realtime
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
