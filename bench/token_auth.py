"""What authenticating an API request costs: the token authentication class on its own, in
a loop against MariaDB, CPU time of this process per request (the web worker's share;
the database's is not counted) and wall time.

    python -m bench.token_auth [--database-url mysql://root:@127.0.0.1:3306/qc_bench_auth]

It creates the database named in the URL (dropped afterwards), one QC person with a token,
and runs the authentication in rounds. To compare with another commit, run it there too, in
turn with this one (docs/benchmarks.md has the comparison with the unhashed tokens).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", default="mysql://root:@127.0.0.1:3306/qc_bench_auth")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--calls", type=int, default=2000, help="calls per round and class")
    args = p.parse_args(argv)

    os.environ.update(
        DJANGO_SETTINGS_MODULE="qcproject.settings",
        DATABASE_URL=args.database_url,
        DEBUG="0",
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-token-auth-not-secret-" + "x" * 32),
        CONN_MAX_AGE="600",
        LOG_LEVEL="WARNING",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from bench import db

    name = db.database_name(args.database_url)
    db.recreate(args.database_url, name)
    try:
        results = _measure(args.rounds, args.calls)
    finally:
        from django.db import connections

        connections.close_all()
        db.drop(args.database_url, name)
    _report(results, args.calls)
    return 0


def _classes():
    """(name, authentication instance, token) for each class to measure."""
    from bench.db import make_people
    from personnel.authentication import TokenAuthentication

    (person,) = make_people(1)
    return [("hashed, expiring (personnel.authentication)", TokenAuthentication(), person["token"])]


def _measure(rounds: int, calls: int) -> dict[str, list[tuple[float, float]]]:
    from rest_framework.test import APIRequestFactory

    factory = APIRequestFactory()
    classes = _classes()
    requests = {
        name: factory.post("/personnel/1/heartbeat", HTTP_AUTHORIZATION=f"Token {token}")
        for name, _, token in classes
    }
    from rest_framework.request import Request

    results = {name: [] for name, _, _ in classes}
    for name, auth, _ in classes:  # warm: statements built, connection open
        for _ in range(200):
            auth.authenticate(Request(requests[name]))
    for _ in range(rounds):
        for name, auth, _ in classes:
            request = requests[name]
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(calls):
                user, _token = auth.authenticate(Request(request))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            assert user.person is not None
            results[name].append((cpu, wall))
    return results


def _report(results, calls: int) -> None:
    print(
        f"\nToken authentication, per request (median of {len(next(iter(results.values())))}"
        f" rounds of {calls} calls):"
    )
    for name, runs in results.items():
        cpu = statistics.median(c for c, _ in runs) / calls * 1e6
        wall = statistics.median(w for _, w in runs) / calls * 1e6
        print(f"  {name:48} CPU {cpu:7.1f} µs   wall {wall:7.1f} µs")


if __name__ == "__main__":
    sys.exit(main())
