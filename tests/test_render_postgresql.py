"""The rendered app's own tests on PostgreSQL, for a few answer sets."""

import re
import sys

import pytest

from conftest import load_answers, render, start_project, task_settings
from services import run_bounded

pytestmark = pytest.mark.services

PG_MATRIX = {
    "defaults": {},
    "seed-example": load_answers("orders.yml"),
    "django-tasks-seed-example": {**load_answers("orders.yml"), "task_backend": "django"},
    # Failing handlers inside atomic(): raise mode, and custom signals' savepoints.
    "no-tracking-raise": {"track_changes": False, "on_error": "raise"},
    "custom-signals": {**load_answers("custom_signals.yml"), "app_name": "orders"},
    # Signals of every kind, a veto among them, in both modes.
    "every-kind": load_answers("every_kind.yml"),
    "every-kind-raise": {**load_answers("every_kind.yml"), "on_error": "raise"},
}


@pytest.mark.parametrize("answers", PG_MATRIX.values(), ids=PG_MATRIX.keys())
def test_rendered_app_tests_pass_on_postgresql(
    tmp_path, pg_database, pg_settings, answers, request
):
    answers = {"app_name": "orders", **answers}
    host = start_project(tmp_path / "host", "orders", pg_settings + task_settings(answers))
    render(host.app_dir, answers)
    run_bounded(
        sys.executable,
        "manage.py",
        "check",
        "--database",
        "default",
        cwd=host.root,
        timeout=30,
    )
    result = run_bounded(
        sys.executable,
        "manage.py",
        "test",
        "orders",
        "-v",
        "2",
        cwd=host.root,
        timeout=50,
    )
    output = result.stderr
    assert (
        f"Creating test database for alias 'default' ('test_{pg_database}')" in output
    )
    ran = int(re.search(r"Ran (\d+) tests?", output).group(1))
    assert ran > 0
    assert re.search(r"^OK", output, re.MULTILINE), output
    label = request.node.callspec.id
    print(f"[postgresql] {label}: ran {ran} tests on test_{pg_database}: OK")
