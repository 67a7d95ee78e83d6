"""Fixtures shared by the template's tests: render an app, install it into a host project."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from copier import run_copy

import services

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent


def run(*command: str | Path, cwd: Path, check: bool = True, env: dict | None = None):
    """Run a command; on failure, show what it printed."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, command))} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def load_answers(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text())


def render(destination: Path, answers: dict, src: str | Path = ROOT, **kwargs) -> Path:
    """Render the template into ``destination`` with Copier's API, as `copier copy --defaults`."""
    run_copy(
        str(src),
        str(destination),
        data=answers,
        defaults=True,
        unsafe=False,
        quiet=True,
        vcs_ref=kwargs.pop("vcs_ref", "HEAD"),
        **kwargs,
    )
    return destination


@dataclass(frozen=True)
class Toolchain:
    """The Python, with its Django, mypy and django-stubs, that runs a host project."""

    django: str
    python: Path

    @property
    def bin(self) -> Path:
        return self.python.parent


# The suite's own environment (Django 5.2 LTS), and a second one for Django 6.x, which
# scripts/test.sh creates in .venv-dj6 with Python 3.13 (or set DJANGO6_PYTHON).
MAIN = Toolchain("5.2", Path(sys.executable))
DJANGO6_PYTHON = Path(os.environ.get("DJANGO6_PYTHON", ROOT / ".venv-dj6" / "bin" / "python"))


def toolchain_for(django: str) -> Toolchain:
    """The toolchain for a Django series; a missing one skips, or fails under CI=true."""
    if django == MAIN.django:
        return MAIN
    if not DJANGO6_PYTHON.exists():
        services.unavailable(
            f"no Python with Django {django} at {DJANGO6_PYTHON}",
            "`bash scripts/test.sh` creates it with Python 3.13",
        )
    return Toolchain(django, DJANGO6_PYTHON)


@dataclass
class Host:
    """A `django-admin startproject` host project with one rendered app installed."""

    root: Path
    app_module: str
    toolchain: Toolchain = MAIN

    @property
    def app_dir(self) -> Path:
        return self.root.joinpath(*self.app_module.split("."))

    @property
    def app_label(self) -> str:
        return self.app_module.rsplit(".", 1)[-1]

    def manage(self, *args: str, check: bool = True, env: dict | None = None):
        """Run manage.py; a DeprecationWarning is an error."""
        return run(
            self.toolchain.python, "-W", "error::DeprecationWarning", "manage.py", *args,
            cwd=self.root, check=check, env=env,
        )

    def ruff(self, *args: str, check: bool = True):
        return run(BIN / "ruff", *args, cwd=self.root, check=check)


def start_project(
    root: Path, app_module: str, settings_extra: str = "", toolchain: Toolchain = MAIN
) -> Host:
    """A new host project at ``root`` that lists ``app_module`` in INSTALLED_APPS."""
    root.mkdir(parents=True, exist_ok=True)
    run(toolchain.python, "-m", "django", "startproject", "proj", ".", cwd=root)
    for package in app_module.split(".")[:-1]:
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").touch()
    settings = root / "proj" / "settings.py"
    text = settings.read_text()
    text = text.replace(
        "INSTALLED_APPS = [", f"INSTALLED_APPS = [\n    {app_module!r},", 1
    )
    settings.write_text(text + settings_extra)
    return Host(root, app_module, toolchain)


# What the rendered README asks of a project whose app uses Django's task framework.
DJANGO_TASKS_SETTINGS = """
import django

INSTALLED_APPS += ["django_tasks_db"] if django.VERSION >= (6,) else ["django_tasks", "django_tasks_db"]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
"""


def task_settings(answers: dict) -> str:
    """The settings the app rendered from ``answers`` needs for its tasks."""
    return DJANGO_TASKS_SETTINGS if answers.get("task_backend") == "django" else ""


def install(
    copie, answers: dict, root: Path, settings_extra: str = "", toolchain: Toolchain = MAIN
) -> Host:
    """Render ``answers`` with pytest-copie and install the app into a new host at ``root``."""
    result = copie.copy(extra_answers={"app_name": "orders", **answers})
    if result.exception:
        raise result.exception
    settings_extra = task_settings(result.answers) + settings_extra
    host = start_project(root, result.answers["app_module"], settings_extra, toolchain)
    shutil.copytree(result.project_dir, host.app_dir)
    return host


@pytest.fixture
def host_with(tmp_path, copie):
    """A new host project with the app rendered from ``answers``, for this test alone."""

    def make(answers: dict, settings_extra: str = "", toolchain: Toolchain = MAIN) -> Host:
        return install(copie, answers, tmp_path / "host", settings_extra, toolchain)

    return make


@pytest.fixture(scope="session")
def shared_host(tmp_path_factory, copie_session):
    """Like host_with, but each answer set is rendered once per test process, for the tests
    that only read the app and run its checks (which write only beside it, in the host)."""
    hosts: dict[str, Host] = {}

    def make(answers: dict, toolchain: Toolchain = MAIN) -> Host:
        key = json.dumps([answers, toolchain.django], sort_keys=True)
        if key not in hosts:
            root = tmp_path_factory.mktemp("host")
            hosts[key] = install(copie_session, answers, root, toolchain=toolchain)
        return hosts[key]

    return make


def leftovers(folder: Path) -> list[str]:
    """Files under ``folder`` that still hold Jinja markup."""
    return [
        f"{path.relative_to(folder)}: {marker}"
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix in {".py", ".md", ".yml", ".txt", ".json"}
        for marker in ("{{", "{%", "{#")
        if marker in path.read_text()
    ]


MYPY_INI = """\
[mypy]
plugins = mypy_django_plugin.main
check_untyped_defs = True
disallow_untyped_defs = True
disallow_incomplete_defs = True
strict_equality = True
warn_unused_ignores = True

[mypy.plugins.django-stubs]
django_settings_module = proj.settings

[mypy-proj.*]
ignore_errors = True

[mypy-celery.*]
ignore_missing_imports = True

# tests/pattern_checks.py, copied into the patterns example, is the template's, not the app's.
[mypy-{app_module}.tests.test_patterns]
ignore_errors = True

# django-stubs cannot infer a ManyToManyField to a model named by string (its issue 1802).
[mypy-{app_module}.models]
disable_error_code = var-annotated
"""


MYPY_CACHE: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def mypy_cache(tmp_path_factory) -> None:
    """Where warm mypy caches are kept for this test process (see `mypy`)."""
    MYPY_CACHE.append(tmp_path_factory.mktemp("mypy-warm"))


def warm_mypy_cache(app_module: str, toolchain: Toolchain = MAIN) -> Path:
    """A mypy cache holding Django's stubs, analysed once per test process and app module:
    copied into a host, it takes mypy from about 5 s an app to 1 s. The django-stubs plugin
    invalidates a cache made with other INSTALLED_APPS, hence one per app module; one cache
    shared by the apps themselves would be unsafe (same module names, other modules)."""
    root = MYPY_CACHE[-1] / toolchain.django / app_module
    cache = root / ".mypy_cache"
    if not cache.exists():
        warm = start_project(root, app_module, toolchain=toolchain)
        warm.app_dir.mkdir()
        (warm.app_dir / "__init__.py").write_text(
            "from django.db import models, transaction\nfrom django.test import TestCase\n"
            "from django.dispatch import Signal, receiver\nfrom django.contrib import admin\n"
            "from django.core.management.base import BaseCommand\n"
        )
        (warm.root / "mypy.ini").write_text(MYPY_INI.format(app_module=app_module))
        run(toolchain.bin / "mypy", "--cache-dir", cache, warm.app_module, cwd=warm.root, check=False)
    return cache


def mypy(host: Host, check: bool = True):
    """Type-check the app with django-stubs, as strictly as a typed project would."""
    (host.root / "mypy.ini").write_text(MYPY_INI.format(app_module=host.app_module))
    rel = host.app_dir.relative_to(host.root)
    cache = host.root / ".mypy_cache"
    if MYPY_CACHE and not cache.exists():
        shutil.copytree(warm_mypy_cache(host.app_module, host.toolchain), cache)
    return run(host.toolchain.bin / "mypy", "--cache-dir", cache, str(rel), cwd=host.root, check=check)


def check_app(host: Host, env: dict | None = None) -> str:
    """The checks every rendered app must pass; returns the test run's output."""
    assert leftovers(host.app_dir) == []
    rel = host.app_dir.relative_to(host.root)
    host.ruff("check", "--isolated", "--select", "E,F,W,I,B", "--ignore", "E501", str(rel))
    host.ruff("format", "--isolated", "--check", str(rel))
    host.manage("check")
    host.manage("makemigrations", "--check", "--dry-run")
    mypy(host)
    result = host.manage("test", host.app_module, "-v", "2", env=env)
    return result.stderr


# --- Services (see services.py): skipped without them, failed under CI=true ----------


@pytest.fixture
def pg_database() -> Iterator[str]:
    """The name of a new PostgreSQL database, dropped afterwards with its test_ copy."""
    with services.new_pg_database() as name:
        yield name


@pytest.fixture
def pg_settings(pg_database) -> str:
    """Settings lines that make ``pg_database`` a host project's default database."""
    return services.pg_settings(pg_database)


@pytest.fixture
def redis_server(tmp_path) -> Iterator[services.RedisServer]:
    """A private redis-server on a free port, which the test may shut down."""
    server = services.RedisServer(tmp_path)
    try:
        yield server
    finally:
        server.close()


# Keys and helpers for answering Copier's prompts in a pseudo-terminal (pexpect).
ENTER, SUBMIT_MULTILINE, CLEAR_LINE, DOWN = "\r", "\x1b\r", "\x15", "\x1b[B"
READY = "\x1b[?7h"  # prompt_toolkit ends each drawing of a prompt with this


def spawn_copier(*args: str | Path, cwd: Path, columns: int = 80):
    """`copier` in a terminal of ``columns`` columns. PROMPT_TOOLKIT_NO_CPR: a pty does not
    answer prompt_toolkit's cursor position requests, which then waits a second a prompt."""
    import pexpect

    return pexpect.spawn(
        str(BIN / "copier"), [str(a) for a in args], cwd=str(cwd), encoding="utf-8",
        timeout=30, dimensions=(40, columns), env={**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1"},
    )


def answer(child, prompt: str, keys: str) -> None:
    """Wait for ``prompt`` to be drawn and type ``keys`` at it."""
    child.expect_exact(prompt)
    child.expect_exact(READY)
    child.send(keys)


def pytest_collection_modifyitems(items) -> None:
    """Tests that need Redis and PostgreSQL are slow too: `-m "not slow"` leaves them out."""
    for item in items:
        if item.get_closest_marker("services"):
            item.add_marker(pytest.mark.slow)
