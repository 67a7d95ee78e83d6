"""Real services on localhost for the end-to-end tests: PostgreSQL databases, private
redis-server processes, and helpers to run and wait for processes within a time bound.

Start the services with `bash scripts/services.sh start` (as root on Debian). Without
them the tests that need them skip with the reason; with CI=true they fail instead, so
CI cannot pass by skipping them. The fixtures built on these (`pg_database`,
`pg_settings`, `redis_server`) are in conftest.py.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "password": "postgres"}


def unavailable(
    reason: str,
    hint: str = "start the services with `bash scripts/services.sh start` (root, Debian)",
) -> None:
    """Skip for something missing, or fail under CI=true, where skipping hides it."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires it ({hint})", pytrace=False)
    pytest.skip(f"{reason}; {hint}")


def run_bounded(
    *command: str | Path, cwd: Path, timeout: float, env: dict | None = None
):
    """Run a command to completion within ``timeout`` seconds; fail showing its output."""
    shown = " ".join(map(str, command))
    try:
        result = subprocess.run(
            [str(part) for part in command],
            check=False,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(
            f"{shown} did not finish in {timeout} s\n"
            f"--- stdout\n{error.stdout}\n--- stderr\n{error.stderr}"
        )
    if result.returncode != 0:
        pytest.fail(
            f"{shown} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def wait_for(condition, timeout: float, what: str, interval: float = 0.1):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """End a process this module started (and its process group): TERM, then KILL."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)
    except ProcessLookupError:
        pass


# --- PostgreSQL ---------------------------------------------------------------------


def pg_admin():
    """An autocommit connection to the server's `postgres` database, or skip/fail."""
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed (pip install 'psycopg[binary]')")
    try:
        return psycopg.connect(
            dbname="postgres", connect_timeout=3, autocommit=True, **PG
        )
    except psycopg.Error as error:
        where = f"{PG['user']}@{PG['host']}:{PG['port']}"
        unavailable(f"PostgreSQL is not reachable as {where} ({error})")


@contextmanager
def new_pg_database() -> Iterator[str]:
    """A new, uniquely named PostgreSQL database; dropped afterwards with its test_ copy."""
    from psycopg import sql

    name = f"dst_{uuid.uuid4().hex[:12]}"
    with pg_admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with pg_admin() as admin:
            for database in (name, f"test_{name}"):
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )


def pg_rows(database: str, query: str, *params) -> list[tuple]:
    """The rows of ``query`` on ``database``, read outside any process under test."""
    import psycopg

    with psycopg.connect(
        dbname=database, connect_timeout=3, autocommit=True, **PG
    ) as connection:
        return connection.execute(query, params).fetchall()


def pg_database_settings(name: str) -> dict:
    """The DATABASES entry of the PostgreSQL database ``name``."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": PG["user"],
        "PASSWORD": PG["password"],
        "HOST": PG["host"],
        "PORT": str(PG["port"]),
    }


def pg_settings(name: str) -> str:
    """Settings lines that make the PostgreSQL database ``name`` the host's default."""
    return f"\nDATABASES = {{'default': {pg_database_settings(name)!r}}}\n"


# --- Redis --------------------------------------------------------------------------


class RedisServer:
    """A private redis-server on a free localhost port, so this test can stop it."""

    def __init__(self, folder: Path):
        executable = shutil.which("redis-server")
        if executable is None:
            unavailable("redis-server is not installed")
        try:
            import redis
        except ImportError:
            unavailable("the redis client is not installed (pip install redis)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.executable = executable
        self.log = folder / "redis.log"
        self.client = redis.Redis(
            port=self.port, socket_timeout=2, socket_connect_timeout=2
        )
        self.backend = redis.Redis(port=self.port, db=1, socket_timeout=2)  # results
        self.start()

    def start(self) -> None:
        """Start redis-server on this server's port (again, after ``shutdown``)."""
        import redis

        self.process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def answers() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"redis-server exited:\n{self.log.read_text()}")
            try:
                return self.client.ping()
            except redis.ConnectionError:
                return False

        wait_for(answers, 10, f"redis-server on port {self.port}")

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def shutdown(self) -> None:
        """SHUTDOWN NOSAVE, as `redis-cli shutdown nosave`; wait until it is gone."""
        import redis

        try:
            self.client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass
        self.process.wait(10)

    def close(self) -> None:
        stop(self.process)


def run_killed_after_commit(python: str | Path, cwd: Path, env: dict, *args: str) -> int:
    """Run e2e_client.py's crash phase, which SIGKILLs itself right after its commit;
    the pk of the (first) order it committed."""
    return killed_after_commit(python, cwd, env, *args)["pk"]


def killed_after_commit(python: str | Path, cwd: Path, env: dict, *args: str) -> dict:
    """Run e2e_client.py's crash phase (with ``args``), which SIGKILLs itself right
    after its commit; the JSON line it printed before the commit."""
    result = subprocess.run(
        [str(python), "e2e_client.py", "crash", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "survived" not in result.stdout
    return json.loads(result.stdout.splitlines()[0])


def run_savers(python: str | Path, cwd: Path, env: dict, savers: int, each: int, timeout: float) -> list:
    """Run ``savers`` e2e_client.py processes at once, each saving ``each`` orders; the
    pks of all the orders they committed."""
    processes = [
        subprocess.Popen(
            [str(python), "e2e_client.py", "saves", str(each)],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(savers)
    ]
    pks = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=timeout)
        assert process.returncode == 0, stderr
        pks += json.loads(stdout.strip().splitlines()[-1])["pks"]
    return pks
