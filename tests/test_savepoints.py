"""The rendered savepoints.py on its own (tests/savepoint_checks.py, run inside the app),
on two PostgreSQL databases and on two SQLite ones."""

import contextlib
import re
import shutil
import sys

import pytest
from conftest import ROOT, render, start_project
from services import new_pg_database, pg_database_settings, run_bounded

CHECKS = ROOT / "tests" / "savepoint_checks.py"


@pytest.fixture
def pg_databases():
    """`default` and `other`: two new PostgreSQL databases, dropped afterwards."""
    with contextlib.ExitStack() as databases:
        yield {
            alias: pg_database_settings(databases.enter_context(new_pg_database()))
            for alias in ("default", "other")
        }


def run_checks(tmp_path, databases: dict) -> int:
    host = start_project(tmp_path / "host", "orders", f"\nDATABASES = {databases!r}\n")
    render(host.app_dir, {"app_name": "orders"})
    shutil.copy(CHECKS, host.app_dir / "tests" / "test_savepoints.py")
    result = run_bounded(
        sys.executable,
        "manage.py",
        "test",
        "orders.tests.test_savepoints",
        "-v",
        "2",
        cwd=host.root,
        timeout=120,
    )
    output = result.stderr
    ran = int(re.search(r"Ran (\d+) tests?", output).group(1))
    assert ran == 13 and re.search(r"^OK$", output, re.MULTILINE), output
    return ran


@pytest.mark.services
def test_savepoints_on_postgresql(tmp_path, pg_databases):
    ran = run_checks(tmp_path, pg_databases)
    print(f"[savepoints] PostgreSQL: ran {ran} tests: OK")


@pytest.mark.slow
def test_savepoints_on_sqlite(tmp_path):
    databases = {
        alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / alias)}
        for alias in ("default", "other")
    }
    ran = run_checks(tmp_path, databases)
    print(f"[savepoints] SQLite: ran {ran} tests: OK")
