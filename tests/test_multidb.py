"""Handlers with several PostgreSQL databases: a primary, a replica behind the Django
docs' router, and a third database (tests/multidb_checks.py, run inside the app)."""

import re
import shutil
import sys
import uuid

import pytest
from conftest import ROOT, render, start_project
from services import PG, pg_admin, run_bounded

pytestmark = pytest.mark.services

ALIASES = ("default", "replica", "other")


@pytest.fixture
def pg_databases():
    """Settings for three PostgreSQL databases; their test copies are dropped afterwards."""
    from psycopg import sql

    prefix = f"dst_{uuid.uuid4().hex[:10]}"
    databases = {
        alias: {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": f"{prefix}_{alias}",
            "USER": PG["user"],
            "PASSWORD": PG["password"],
            "HOST": PG["host"],
            "PORT": str(PG["port"]),
        }
        for alias in ALIASES
    }
    pg_admin().close()  # skip, or fail under CI=true, without a server
    yield databases
    with pg_admin() as admin:
        for database in databases.values():
            name = sql.Identifier(f"test_{database['NAME']}")
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name)
            )


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
