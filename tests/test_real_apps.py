"""Apps shaped like real ones pass their own generated tests right after the render: a
new user's first app (examples/profiles.yml) and the cases where tests that assume a
tidy app fail (examples/real_app.yml), in a project whose AUTH_USER_MODEL is
accounts.User and whose accounts.Team extends auth.Group; on Django 5.2 and 6.1, on
SQLite and PostgreSQL. A body that needs data the tests' rows lack fails, naming the
file where the user gives it, until they do."""

import re
import shutil
from pathlib import Path

import pytest

from conftest import MAIN, Host, check_app, install, load_answers, toolchain_for
from services import pg_settings

HOST_FILES = Path(__file__).parent / "real_host"
SETTINGS = """
INSTALLED_APPS += ["accounts"]
AUTH_USER_MODEL = "accounts.User"
"""
# The LOGGING the message after `copier copy` suggests, for both apps.
LOGGING = """
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {app: {"handlers": ["console"], "level": "INFO"} for app in ["profiles", "community"]},
}
"""
APPS = {"profiles": "profiles.yml", "community": "real_app.yml"}


def real_host(copie, root: Path, name: str, toolchain=MAIN, settings: str = "", data: bool = True) -> Host:
    """The example rendered into its host, with the user's tests/data.py if it has one."""
    host = install(copie, load_answers(APPS[name]), root, SETTINGS + settings, toolchain)
    accounts = root / "accounts"
    (accounts / "migrations").mkdir(parents=True)
    for package in (accounts, accounts / "migrations"):
        (package / "__init__.py").touch()
    shutil.copy(HOST_FILES / "accounts_models.py", accounts / "models.py")
    user_data = HOST_FILES / f"{name}_data.py"
    if data and user_data.exists():
        shutil.copy(user_data, host.app_dir / "tests" / "data.py")
    host.manage("makemigrations", "accounts")
    return host


def ran(output: str) -> int:
    return int(re.search(r"Ran (\d+) tests?", output).group(1))


@pytest.mark.slow
@pytest.mark.parametrize("django", [MAIN.django, "6.1"])
@pytest.mark.parametrize("name", APPS)
def test_a_real_app_passes_its_own_tests(copie, tmp_path, name, django):
    host = real_host(copie, tmp_path / "host", name, toolchain_for(django), LOGGING)
    output = check_app(host)
    assert "OK" in output and ran(output) > 50, output
    # Quiet: no handler's INFO line, though count_author_posts logs one at INFO.
    assert "Counted a post" not in output, output
    print(f"{name} on Django {django}: ran {ran(output)} tests: OK")


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.parametrize("name", APPS)
def test_a_real_app_passes_its_own_tests_on_postgresql(copie, tmp_path, pg_database, name):
    host = real_host(copie, tmp_path / "host", name, settings=pg_settings(pg_database))
    output = host.manage("test", host.app_module, "-v", "2").stderr
    assert f"test_{pg_database}" in output
    assert re.search(r"^OK", output, re.MULTILINE), output
    print(f"[postgresql] {name}: ran {ran(output)} tests: OK")


@pytest.mark.slow
def test_a_body_that_needs_data_fails_naming_where_to_give_it(copie, tmp_path):
    host = real_host(copie, tmp_path / "host", "community", data=False)
    result = host.manage("test", host.app_module, check=False)
    assert result.returncode != 0
    assert re.search(
        r"on_create\(\) of handler count_author_posts raised .*RelatedObjectDoesNotExist"
        r".*give it in tests/data.py",
        result.stderr.replace("\n", " "),
    ), result.stderr
    # Nothing else fails: the handlers that need nothing pass.
    assert re.search(r"FAILED \(failures=1(, skipped=\d+)?\)", result.stderr), result.stderr
