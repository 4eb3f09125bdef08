"""The processes the harness runs and owns: a private MariaDB server, gunicorn, assigners.

Every child runs in its own session (process group), so a stop reaches gunicorn's workers
too, and dies with the harness (`setpriv --pdeathsig KILL`) should the harness itself be
killed. Nothing here touches a database server the harness did not start.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import MySQLdb

ROOT = Path(__file__).resolve().parent.parent
TMP_PREFIX = "qcchaos-"
MARIADBD = shutil.which("mariadbd", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db")
SETPRIV = shutil.which("setpriv")


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_harness(argv: list[str]) -> list[str]:
    # Without setpriv the children still stop in the harness's `finally`; this only covers
    # a harness killed with SIGKILL.
    return [SETPRIV, "--pdeathsig", "KILL", "--", *argv] if SETPRIV else argv


def make_workdir() -> Path:
    """A fresh temporary directory; leftovers of dead harness runs are removed first."""
    tmp = Path(tempfile.gettempdir())
    for old in tmp.glob(f"{TMP_PREFIX}*"):
        owner = old / "harness.pid"
        try:
            pid = int(owner.read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            shutil.rmtree(old, ignore_errors=True)
    workdir = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    (workdir / "harness.pid").write_text(str(os.getpid()))
    return workdir


class Child:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, name: str, argv: list[str], *, env: dict, log: Path, cwd: Path = ROOT):
        self.name, self.argv, self.env, self.log, self.cwd = name, argv, env, log, cwd
        self.popen: subprocess.Popen | None = None

    def start(self) -> "Child":
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                _die_with_harness(self.argv),
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        return self.popen.pid

    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def is_stopped(self) -> bool:
        """True while the process is stopped by SIGSTOP (state T in /proc)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")

    def signal(self, sig: int, *, group: bool = False) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        try:
            if group:
                os.killpg(self.pid, sig)
            else:
                os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGCONT then SIGTERM the whole group; SIGKILL it if it has not exited in time."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.signal(signal.SIGCONT, group=True)
            self.signal(signal.SIGTERM, group=True)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL, group=True)
                self.popen.wait(5)
        # Whatever is left in the group (gunicorn workers) goes too.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return self.popen.returncode

    def children(self) -> list[int]:
        """Direct child pids (gunicorn's workers)."""
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]


class MariaDB:
    """A private MariaDB server on a free loopback port, in a temporary data directory.

    Root has an empty password; the server listens on 127.0.0.1 only. `stop()` and
    `start()` may be called again and again (the database-restart fault).
    """

    def __init__(self, workdir: Path, *, lock_wait_timeout: int, database: str = "qc"):
        if not INSTALL_DB or not os.access(MARIADBD, os.X_OK):
            raise RuntimeError(
                "the chaos harness needs a MariaDB server binary (mariadbd and "
                "mariadb-install-db): apt-get install -y mariadb-server"
            )
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.socket = workdir / "mariadb.sock"
        self.port = free_port()
        self.database = database
        self.lock_wait_timeout = lock_wait_timeout
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"mysql://root:@127.0.0.1:{self.port}/{self.database}"

    def install(self) -> None:
        subprocess.run(
            [
                INSTALL_DB,
                "--no-defaults",
                "--user=root",
                f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def start(self, *, timeout: float = 60.0) -> float:
        """Start the server and wait until it answers; return the seconds that took."""
        began = time.monotonic()
        argv = [
            MARIADBD,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            f"--pid-file={self.workdir / 'mariadb.pid'}",
            f"--log-error={self.workdir / 'mariadb.err'}",
            f"--innodb-lock-wait-timeout={self.lock_wait_timeout}",
            "--innodb-buffer-pool-size=128M",
            "--max-connections=400",
            "--performance-schema=OFF",
            "--character-set-server=utf8mb4",
        ]
        if os.geteuid() == 0:
            argv.append("--user=root")
        self.child = Child(
            "mariadb",
            argv,
            env={"PATH": os.environ.get("PATH", "")},
            log=self.workdir / "mariadb.out",
        ).start()
        deadline = began + timeout
        while time.monotonic() < deadline:
            if self.child.returncode() is not None:
                raise RuntimeError(f"mariadbd exited; see {self.workdir / 'mariadb.err'}")
            try:
                self.connect(database=None).close()
                return time.monotonic() - began
            except MySQLdb.Error:
                time.sleep(0.05)
        raise RuntimeError(f"mariadbd did not answer within {timeout:.0f}s")

    def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 60.0) -> None:
        """Stop the server: SIGTERM is a clean shutdown, SIGKILL a crash."""
        if self.child is None:
            return
        self.child.signal(sig)
        try:
            self.child.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.child.signal(signal.SIGKILL)
            self.child.popen.wait(10)
        self.child = None

    def connect(self, *, database: str | None = "", **kwargs):
        """A direct connection (autocommit, UTC, READ COMMITTED), for the harness's checks."""
        db = self.database if database == "" else database
        args = {"db": db} if db else {}
        return MySQLdb.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            passwd="",
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=3,
            init_command="SET time_zone = '+00:00', tx_isolation = 'READ-COMMITTED'",
            **args,
            **kwargs,
        )

    def create_database(self) -> None:
        conn = self.connect(database=None)
        try:
            conn.cursor().execute(
                f"CREATE DATABASE IF NOT EXISTS `{self.database}` CHARACTER SET utf8mb4"
            )
        finally:
            conn.close()


def python_argv(*args: str) -> list[str]:
    """Run with the same interpreter as the harness (the project's venv under `make`)."""
    return [sys.executable, *args]
