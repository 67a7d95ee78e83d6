"""Receivers of every kind (examples/receivers.yml) in a project whose AUTH_USER_MODEL is
a custom model and whose apps.billing app sends a signal of its own: the rendered app
passes its checks and tests, and each receiver is reached through a real send (a login,
a failed authenticate(), a request, migrate, billing's send, saves of the user model),
on Django 5.2 and 6.1. Also: the app's own tests fail on a body that reads a name
nothing binds, whichever branch it sits in."""

import re
import shutil
from pathlib import Path

import pytest

from conftest import MAIN, check_app, install, load_answers, toolchain_for

HOST_FILES = Path(__file__).parent / "receivers_host"
SETTINGS = """
INSTALLED_APPS += ["accounts", "apps.billing"]
AUTH_USER_MODEL = "accounts.User"
"""


def receivers_host(copie, root: Path, toolchain):
    """The example rendered into its host: accounts (the user model) and apps.billing."""
    host = install(copie, load_answers("receivers.yml"), root, SETTINGS, toolchain)
    accounts = root / "accounts"
    (accounts / "migrations").mkdir(parents=True)
    (root / "apps" / "billing").mkdir()
    for package in (accounts, accounts / "migrations", root / "apps" / "billing"):
        (package / "__init__.py").touch()
    shutil.copy(HOST_FILES / "accounts_models.py", accounts / "models.py")
    shutil.copy(HOST_FILES / "accounts_tests.py", accounts / "tests.py")
    shutil.copy(HOST_FILES / "billing_signals.py", root / "apps" / "billing" / "signals.py")
    host.manage("makemigrations", "accounts")
    return host


@pytest.mark.slow
@pytest.mark.parametrize("django", [MAIN.django, "6.1"])
def test_receivers_of_every_kind_work_through_real_sends(copie, tmp_path, django):
    host = receivers_host(copie, tmp_path / "host", toolchain_for(django))
    output = check_app(host)
    assert "OK" in output and int(re.search(r"Ran (\d+) tests", output).group(1)) > 100
    sends = host.manage("test", "accounts", "-v", "2").stderr
    assert "Ran 9 tests" in sends and "OK" in sends, sends


# Names nothing binds, each in a branch the generated tests' data never reaches.
UNBOUND = {
    "post_save_on_update": 'if instance.total > 10**9:\n    notify_admins(instance)\nlogger.info("Updated %s", instance)',
    "pre_delete_implementation": 'if instance.status == "archived":\n    Ordr.objects.filter(pk=instance.pk).update(status="gone")',
}


@pytest.mark.slow
def test_the_apps_tests_fail_on_a_name_nothing_binds(host_with):
    host = host_with({**UNBOUND, "signal_types": ["post_save", "pre_delete"]})
    result = host.manage("test", host.app_module, check=False)
    assert result.returncode != 0
    assert re.search(r"handlers/after_order_save.py:\d+: on_update\(\) of handler after_order_save reads 'notify_admins', which nothing binds", result.stderr)
    assert re.search(r"handlers/before_order_delete.py:\d+: implementation\(\) of handler before_order_delete reads 'Ordr'", result.stderr)
    # Everything else passes: only the names test fails, once per broken handler.
    assert re.search(r"FAILED \(failures=2\)", result.stderr), result.stderr
