"""Fault injection for the reliability suite: named points inside the engine's transactions.

Disarmed (the default) a fault point costs one comparison. The chaos harness arms one by
environment variable in the processes it starts:

    QC_FAULT_POINT=assign.after_lock_people   # which point (see the calls to fault_point)
    QC_FAULT_ACTION=kill                      # kill (SIGKILL itself) or stop (SIGSTOP itself)
    QC_FAULT_PROBABILITY=0.2                  # chance per pass, default 1

Never set these in production.
"""

import os
import random
import signal

_POINT = os.environ.get("QC_FAULT_POINT", "")
_ACTION = os.environ.get("QC_FAULT_ACTION", "kill")
_PROBABILITY = float(os.environ.get("QC_FAULT_PROBABILITY", "1"))


def fault_point(name: str) -> None:
    """Crash or freeze this process here, if the harness armed this point."""
    if not _POINT or name != _POINT:
        return
    if random.random() >= _PROBABILITY:
        return
    os.kill(os.getpid(), signal.SIGSTOP if _ACTION == "stop" else signal.SIGKILL)
