"""Handlers with several PostgreSQL databases: a primary, a replica behind the Django
docs' router, and a third database (tests/multidb_checks.py, run inside the app)."""

import contextlib
import re
import shutil
import sys

import pytest
from conftest import ROOT, render, start_project
from services import new_pg_database, pg_database_settings, run_bounded

pytestmark = pytest.mark.services

ALIASES = ("default", "replica", "other")


@pytest.fixture
def pg_databases():
    """DATABASES for three new PostgreSQL databases, dropped afterwards with their test
    copies."""
    with contextlib.ExitStack() as databases:
        yield {
            alias: pg_database_settings(databases.enter_context(new_pg_database()))
            for alias in ALIASES
        }


@pytest.mark.parametrize("track_changes", [True, False], ids=["tracked", "untracked"])
def test_handlers_with_a_replica_and_another_database(
    tmp_path, pg_databases, track_changes
):
    settings = (
        f"\nDATABASES = {pg_databases!r}\n"
        "DATABASE_ROUTERS = ['orders.tests.test_multidb.PrimaryReplicaRouter']\n"
    )
    host = start_project(tmp_path / "host", "orders", settings)
    answers = {
        "app_name": "orders",
        "track_changes": track_changes,
        "task_backend": "celery",
        "tasks": [{"app": "orders", "name": "notify"}],
    }
    render(host.app_dir, answers)
    shutil.copy(
        ROOT / "tests" / "multidb_checks.py", host.app_dir / "tests" / "test_multidb.py"
    )
    result = run_bounded(
        sys.executable,
        "manage.py",
        "test",
        "orders.tests.test_multidb",
        "-v",
        "2",
        cwd=host.root,
        timeout=120,
    )
    output = result.stderr
    for alias in ALIASES:
        assert f"Creating test database for alias '{alias}'" in output
    ran = int(re.search(r"Ran (\d+) tests?", output).group(1))
    assert ran == 6 and re.search(r"^OK", output, re.MULTILINE), output
    print(f"[multidb] track_changes={track_changes}: ran {ran} tests: OK")
