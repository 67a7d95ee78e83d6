"""The rendered app's testing helpers (testing.py) in a user's own tests: mute, only,
recording, captured_tasks and run_on_commit, through real saves, with Celery and with
Django's task framework (tests/real_host/orders_helper_tests.py)."""

import re
import shutil
from pathlib import Path

import pytest

from conftest import load_answers

USER_TESTS = Path(__file__).parent / "real_host" / "orders_helper_tests.py"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["celery", "django"])
def test_the_helpers_in_a_users_tests(host_with, backend):
    host = host_with({**load_answers("orders.yml"), "task_backend": backend})
    shutil.copy(USER_TESTS, host.app_dir / "tests" / "test_helpers.py")
    output = host.manage("test", f"{host.app_module}.tests.test_helpers", "-v", "2").stderr
    assert re.search(r"Ran 12 tests", output) and "OK" in output, output
