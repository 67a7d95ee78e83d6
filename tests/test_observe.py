"""Every receiver run observable (observe.py): OpenTelemetry spans and fired() in the
defaults app, through real saves, deletes, m2m changes and a request through the test
client (tests/real_host/orders_observe_tests.py); without opentelemetry installed,
nothing of it is imported and saves work; with it but no provider, nothing is traced.
The records' attributes are the generated tests' (tests/observed.py)."""

import shutil
from pathlib import Path

import pytest

from conftest import run

USER_TESTS = Path(__file__).parent / "real_host" / "orders_observe_tests.py"

# django-debug-toolbar installed, as its docs ask, for the panel's test.
TOOLBAR_SETTINGS = """
INSTALLED_APPS += ["debug_toolbar"]
DEBUG_TOOLBAR_CONFIG = {"IS_RUNNING_TESTS": False}
"""

NO_OPENTELEMETRY = """
import os, sys
sys.modules["opentelemetry"] = None  # as if it were not installed
os.environ["DJANGO_SETTINGS_MODULE"] = "proj.settings"
import django
django.setup()
from orders import observe
from orders.models import Order
assert observe.otel_trace is None
Order.objects.create(name="first")
print("saved without opentelemetry")
"""

NO_PROVIDER = """
from orders import observe
from orders.models import Order
Order.objects.create(name="first")
assert observe.tracer(float("inf")) is None
print("no provider, no tracer")
"""


@pytest.mark.slow
def test_spans_and_what_fired(host_with):
    host = host_with({}, TOOLBAR_SETTINGS)
    shutil.copy(USER_TESTS, host.app_dir / "tests" / "test_observe.py")
    output = host.manage("test", "orders.tests.test_observe", "-v", "2").stderr
    assert "Ran 5 tests" in output and "OK" in output, output
    host.manage("migrate", "-v", "0")
    without = run(host.toolchain.python, "-c", NO_OPENTELEMETRY, cwd=host.root)
    assert "saved without opentelemetry" in without.stdout
    assert "no provider, no tracer" in host.manage("shell", "-c", NO_PROVIDER).stdout
