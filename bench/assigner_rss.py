"""The memory case's child process: the real `run_assigner` loop, counted and sampled.

Runs `manage.py run_assigner` in this process (its loop, signal handling and connection
handling unchanged) with a tiny interval. A wrapper around the cycle counts cycles, gives
the assigner work every WORK_EVERY cycles (the previous batch completed, people freed, new
tasks queued), samples this process's RSS, and sends SIGTERM to itself after the last
cycle, which stops the loop as in production. Prints one JSON line of samples.
"""

import json
import os
import signal
import sys

import django

WORK_EVERY = 10
WORK_TASKS = 10


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    cycles = int(sys.argv[1])
    django.setup()
    from django.core.management import call_command

    import tasks.management.commands.run_assigner as command
    from bench import db

    real_cycle = command.assignment_cycle
    state = {"n": 0, "samples": {}, "assigned": 0}
    checkpoints = {100, cycles} | {cycles * k // 10 for k in range(1, 10)}

    def counted_cycle(**kwargs):
        n = state["n"] = state["n"] + 1
        if n % WORK_EVERY == 0:
            # Work for this cycle: what was assigned is completed, and tasks arrive.
            db.execute(
                "UPDATE qc_assignments SET completed_at = NOW(6), ended_at = NOW(6),"
                " end_reason = 'COMPLETED' WHERE ended_at IS NULL"
            )
            db.execute(
                "UPDATE qc_tasks SET status = 'COMPLETED', reviews_done = 1"
                " WHERE status = 'IN_PROGRESS'"
            )
            db.execute(
                "UPDATE qc_personnel SET is_busy = 0, idle_since = NOW(6),"
                " last_heartbeat = NOW(6) WHERE is_logged_in = 1"
            )
            db.add_pending(WORK_TASKS)
        result = real_cycle(**kwargs)
        state["assigned"] += result.assigned
        if n in checkpoints:
            state["samples"][n] = rss_mib()
        if n >= cycles:
            os.kill(os.getpid(), signal.SIGTERM)
        return result

    command.assignment_cycle = counted_cycle
    call_command("run_assigner", interval=0.0001)
    print(
        "BENCH "
        + json.dumps({"cycles": state["n"], "assigned": state["assigned"], "rss": state["samples"]})
    )


if __name__ == "__main__":
    main()
