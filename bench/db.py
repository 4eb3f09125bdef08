"""The benchmark's own databases: created, migrated and filled here, with SQL where it is
faster than the ORM. Nothing here touches a database the benchmark did not create.

MariaDB only: the fixtures count with its sequence tables (`seq_1_to_N`)."""

import functools
import time
from urllib.parse import unquote, urlsplit

import MySQLdb
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections


def server_params(url: str) -> dict:
    u = urlsplit(url)
    return {
        "host": u.hostname or "127.0.0.1",
        "port": u.port or 3306,
        "user": unquote(u.username or "root"),
        "password": unquote(u.password or ""),
    }


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def recreate(url: str, name: str) -> None:
    """Drop and create database `name` on the server of `url`, then migrate it."""
    p = server_params(url)
    conn = MySQLdb.connect(host=p["host"], port=p["port"], user=p["user"], passwd=p["password"])
    try:
        cur = conn.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        conn.close()
    use(name)
    call_command("migrate", verbosity=0, interactive=False)


def drop(url: str, name: str) -> None:
    p = server_params(url)
    conn = MySQLdb.connect(host=p["host"], port=p["port"], user=p["user"], passwd=p["password"])
    try:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


def use(name: str) -> None:
    """Point Django's default connection at database `name` (reconnects on next use)."""
    conn = connections["default"]
    conn.close()
    conn.settings_dict["NAME"] = name


def current() -> str:
    return connections["default"].settings_dict["NAME"]


def raw_connection():
    """A MySQLdb connection to the current database, set up like Django's (READ COMMITTED,
    UTC), in manual-commit mode: for the raw-SQL baselines."""
    s = connections["default"].settings_dict
    conn = MySQLdb.connect(
        host=s["HOST"] or "127.0.0.1",
        port=int(s["PORT"] or 3306),
        user=s["USER"],
        passwd=s["PASSWORD"],
        db=s["NAME"],
        charset="utf8mb4",
        init_command=s["OPTIONS"]["init_command"],
    )
    conn.cursor().execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    conn.autocommit(False)
    return conn


def execute(sql: str, params=None) -> int:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.rowcount


def fetchall(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def scalar(sql: str, params=None):
    rows = fetchall(sql, params)
    return rows[0][0] if rows else None


def server_version() -> str:
    return scalar("SELECT VERSION()")


# --- fixtures ---


@functools.cache
def _password_hash() -> str:
    # One hash for all benchmark users: PBKDF2 at full strength is slow by design, and the
    # fixtures create thousands of users.
    from django.contrib.auth.hashers import make_password

    return make_password("bench-password-not-secret")


def make_people(n: int, *, prefix: str = "qc") -> list[dict]:
    """Create `n` QC persons, each with a user and an API token. Returns
    [{"id", "user_id", "token"}] in id order."""
    from django.contrib.auth import get_user_model

    from personnel.models import Person

    User = get_user_model()
    hashed = _password_hash()
    # MariaDB returns the new ids from a bulk insert.
    users = User.objects.bulk_create(
        [User(username=f"{prefix}{i:05d}", password=hashed) for i in range(n)], batch_size=1000
    )
    people = Person.objects.bulk_create(
        [Person(user=u, name=f"Bench person {u.username}") for u in users], batch_size=1000
    )
    tokens = _api_tokens(users)
    return [
        {"id": p.pk, "user_id": u.pk, "token": t}
        for p, u, t in zip(people, users, tokens, strict=True)
    ]


def _api_tokens(users) -> list[str]:
    """An API token for each user, made as the product makes them (hashed, expiring), in
    bulk."""
    from django.utils import timezone

    from personnel.models import ApiToken
    from personnel.tokens import password_stamp, token_digest, token_new, token_ttl

    expires = timezone.now() + token_ttl()
    tokens = [token_new() for _ in users]
    ApiToken.objects.bulk_create(
        [
            ApiToken(
                user=u,
                digest=token_digest(t),
                prefix=t[:8],
                password_stamp=password_stamp(u.password),
                expires_at=expires,
            )
            for u, t in zip(users, tokens, strict=True)
        ],
        batch_size=1000,
    )
    return tokens


def make_supervisor(username: str = "bench-supervisor") -> dict:
    """A supervisor as the product makes one (staff, in the Supervisors group), with a token."""
    from django.contrib.auth import get_user_model

    from tasks.roles import make_supervisor as product_make_supervisor

    user = get_user_model().objects.create(
        username=username, password=_password_hash(), is_staff=True
    )
    product_make_supervisor(user)
    (token,) = _api_tokens([user])
    return {"user_id": user.pk, "token": token}


def reset_work(*, signed_in: list[int], pending: int, keep_completed: bool = False) -> None:
    """Everyone signed out and every open task gone; then `signed_in` people signed in,
    live and free (longest idle first in id order), and `pending` tasks waiting, all created
    at one instant as by one bulk `POST /tasks`; returns once InnoDB has purged the rows
    deleted (`settle`)."""
    if keep_completed:
        for table, alias in (("qc_task_exclusions", "x"), ("qc_assignments", "a")):
            execute(
                f"DELETE {alias} FROM {table} {alias} JOIN qc_tasks t ON t.id = {alias}.task_id"
                " WHERE t.status <> 'COMPLETED'"
            )
        execute("DELETE FROM qc_tasks WHERE status <> 'COMPLETED'")
    else:
        # Exclusions (declines, reviews of tasks that need more) refer to their tasks.
        for table in ("qc_audit_events", "qc_task_exclusions", "qc_assignments", "qc_tasks"):
            execute(f"DELETE FROM {table}")
    execute(
        "UPDATE qc_personnel SET is_logged_in = 0, is_busy = 0, last_heartbeat = NULL,"
        " logged_in_at = NULL, idle_since = NULL"
    )
    sign_in(signed_in)
    add_pending(pending)
    settle()


def sign_in(person_ids: list[int]) -> None:
    for chunk in _chunks(person_ids, 5000):
        execute(
            "UPDATE qc_personnel SET is_logged_in = 1, is_busy = 0, last_heartbeat = NOW(6),"
            " logged_in_at = NOW(6), idle_since = NOW(6) - INTERVAL (1000000 - id) MICROSECOND,"
            " signed_out_reason = ''"
            f" WHERE id IN ({','.join(['%s'] * len(chunk))})",
            chunk,
        )


def add_pending(n: int, *, description: str = "bench task") -> None:
    if n > 0:
        execute(
            "INSERT INTO qc_tasks (description, status, created_at)"
            f" SELECT CONCAT(%s, ' ', seq), 'PENDING', NOW(6) FROM seq_1_to_{int(n)}",
            [description],
        )


def defect_codes(codes: dict[str, str]) -> None:
    """Active defect codes in the catalogue ({code: description}), as a supervisor keeps
    them in the admin; those already there are made active."""
    for code, description in codes.items():
        execute(
            "INSERT INTO qc_defect_codes (code, description, active) VALUES (%s, %s, 1)"
            " ON DUPLICATE KEY UPDATE active = 1",
            [code, description],
        )


def settle(timeout: float = 30.0) -> None:
    """Wait until InnoDB has purged the rows the last reset deleted (its history list is
    short again), so that a repetition starts on a settled database, as a shift starts
    after a quiet night: until purged, every deleted queue row is an index entry that each
    `SKIP LOCKED` scan of the queue passes over."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        length = scalar(
            "SELECT count FROM information_schema.innodb_metrics"
            " WHERE name = 'trx_rseg_history_len'"
        )
        if length is None or length < 100:
            return
        time.sleep(0.2)


def refresh_heartbeats() -> None:
    execute("UPDATE qc_personnel SET last_heartbeat = NOW(6) WHERE is_logged_in = 1")


def analyze() -> None:
    with connection.cursor() as cur:
        cur.execute("ANALYZE TABLE qc_tasks, qc_personnel, qc_assignments")
        cur.fetchall()


def _chunks(items, size):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def batch_size() -> int:
    return settings.QC_ASSIGN_BATCH_SIZE
