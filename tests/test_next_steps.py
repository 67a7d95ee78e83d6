"""The steps Copier prints after `copier copy`, followed literally in a new project, give
an app whose tests pass and whose handlers' log lines show in `manage.py shell`; in both
layouts: a top-level app and one inside an `apps` package."""

import re
import sys
import textwrap

import pytest

from conftest import BIN, ROOT, run

pytestmark = pytest.mark.slow


def steps(message: str) -> tuple[str, list[str], str]:
    """The INSTALLED_APPS entry, the shell commands and the LOGGING setting it prints."""
    entry = re.search(r'^\s+"([\w.]+Config)",$', message, re.M).group(1)
    commands = [line.strip() for line in message.splitlines() if re.match(r"\s+(touch|python) ", line)]
    logging = re.search(r"^(\s+)LOGGING = \{\n.*?^\1\}$", message, re.M | re.S).group(0)
    return entry, commands, textwrap.dedent(logging)


@pytest.mark.parametrize("app_module", ["orders", "apps.orders"])
def test_printed_steps_work(tmp_path, app_module):
    root = tmp_path / "mysite"
    root.mkdir()
    run(BIN / "django-admin", "startproject", "mysite", ".", cwd=root)
    destination = app_module.replace(".", "/")
    copied = run(
        BIN / "copier", "copy", "--defaults", "--vcs-ref", "HEAD", "-d", f"app_module={app_module}",
        ROOT, destination, cwd=root,
    )
    message = copied.stdout + copied.stderr
    assert f"{destination}/handlers/" in message and f"{destination}/README.md" in message
    entry, commands, logging = steps(message)
    assert ("touch apps/__init__.py" in commands) == (app_module == "apps.orders")

    settings = root / "mysite" / "settings.py"
    text = settings.read_text().replace("INSTALLED_APPS = [", f"INSTALLED_APPS = [\n    {entry!r},", 1)
    settings.write_text(text)
    for command in commands:
        words = command.split()
        if words[0] == "touch":
            (root / words[1]).touch()
        elif words[:4] == ["python", "-m", "pip", "install"]:
            # Already installed here: --no-index checks that without the network.
            run(sys.executable, "-m", "pip", "install", "--no-index", *(w.strip('"') for w in words[4:]), cwd=root)
        else:
            assert words[:2] == ["python", "manage.py"], command
            run(sys.executable, *words[1:], cwd=root)

    # A newcomer saves an Order in the shell: Django's default logging hides the handler's
    # INFO line, and the printed LOGGING shows it.
    def save_in_shell() -> str:
        shell = run(
            sys.executable, "manage.py", "shell", "-c",
            f"from {app_module}.models import Order; Order.objects.create(name='first')",
            cwd=root,
        )
        return shell.stdout + shell.stderr

    assert "Created first" not in save_in_shell()
    settings.write_text(text + "\n" + logging)
    assert "Created first" in save_in_shell()
