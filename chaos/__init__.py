"""The chaos harness: real processes, real faults, invariants checked in SQL afterwards.

`python -m chaos` (or `make chaos`) starts a private MariaDB server, the web app under
gunicorn, several `run_assigner` processes and a few hundred simulated QC people, injects
faults (kill -9 and SIGSTOP of assigners at chosen points, database restarts, duplicate and
late requests), then checks invariants I1–I5 and accounts for every task. See
docs/reliability.md.
"""
