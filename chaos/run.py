"""`python -m chaos [--profile full|short]`: run the reliability scenarios, print the table.

The scenarios and their faults are in chaos/profiles.py, the processes and the phases of a
scenario in chaos/harness.py, the table in chaos/report.py (docs/reliability.md). Exit
status 0 only when every scenario had 0 violations, 0 lost tasks and actually injected its
faults.
"""

import argparse
import logging
import random
import signal
import sys
import time
from pathlib import Path

from chaos.harness import Harness
from chaos.profiles import PROFILES
from chaos.report import Outcome, details, table, write_json

logger = logging.getLogger("chaos")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--only", help="run only the scenarios whose name contains this")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--load-seconds", type=float, help="override the profile's load time")
    parser.add_argument("--json", type=Path, help="write the outcomes here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep logs and data (tmp dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    profile = PROFILES[args.profile]
    if args.load_seconds:
        profile.load_seconds = args.load_seconds
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"chaos: profile {profile.name}, seed {seed}", flush=True)

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    began = time.monotonic()
    harness = Harness(profile, seed=seed, keep=args.keep)
    outcomes: list[Outcome] = []
    error = None
    try:
        harness.setup()
        outcomes = harness.run(args.only)
    except BaseException as exc:  # report, clean up, fail
        error = f"{type(exc).__name__}: {exc}"
        outcomes = harness.outcomes
        logger.exception("the chaos run failed")
    finally:
        harness.teardown()
    total = time.monotonic() - began
    print()
    print(table(outcomes, total))
    print()
    print(details(outcomes))
    ok = error is None and bool(outcomes) and all(o.ok for o in outcomes)
    if error:
        print(f"\nERROR {error}")
    print(f"\nchaos: {'PASSED' if ok else 'FAILED'}")
    if args.json:
        write_json(args.json, outcomes, ok=ok, error=error, seed=seed, seconds=total)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
