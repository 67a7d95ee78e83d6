"""`copier update` brings template changes and new answers without losing the user's code.

Each test renders an app from the previous release into a host project in a real git
repository, commits, makes the edits a user makes, updates to the working tree's
version of the template, and checks what arrived and what survived.
"""

import shutil
import subprocess
from pathlib import Path

import pexpect
import pytest
import yaml

from conftest import (
    BIN, Host, CLEAR_LINE, DOWN, ENTER, ROOT, SUBMIT_MULTILINE, answer, check_app, load_answers, run,
    spawn_copier, start_project,
)

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".*_cache", ".hypothesis", "bench")


def git(*args: str, cwd: Path) -> str:
    return run(*GIT, *args, cwd=cwd).stdout


def previous_release() -> str | None:
    """The newest release tag of this repository, if the clone has tags."""
    result = subprocess.run(
        ["git", "describe", "--tags", "--abbrev=0", "--match", "v*"],
        cwd=ROOT, capture_output=True, text=True,
    )
    return result.stdout.strip() or None


def release_1_0_0() -> str:
    """Release 1.0.0, the last one with use_celery and celery_tasks: its tag, or else the
    last commit whose pyproject.toml says 1.0.0 (for a clone without tags)."""
    tagged = subprocess.run(
        ["git", "rev-parse", "--verify", "-q", "v1.0.0^{commit}"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout.strip()
    if tagged:
        return tagged
    bumps = git("log", "--reverse", "--format=%H", "-S", 'version = "2.0.0"', "--", "pyproject.toml", cwd=ROOT)
    assert bumps, "no v1.0.0 tag and no commit that moved pyproject.toml to 2.0.0 in this clone"
    return git("rev-parse", f"{bumps.split()[0]}^", cwd=ROOT).strip()


def release_2_0_0() -> str:
    """Release 2.0.0, the last one without the Celery outbox: its tag, or else the commit
    that moved pyproject.toml to 2.0.0 (for a clone without tags)."""
    tagged = subprocess.run(
        ["git", "rev-parse", "--verify", "-q", "v2.0.0^{commit}"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout.strip()
    if tagged:
        return tagged
    bumps = git("log", "--reverse", "--format=%H", "-S", 'version = "2.0.0"', "--", "pyproject.toml", cwd=ROOT)
    assert bumps, "no v2.0.0 tag and no commit that moved pyproject.toml to 2.0.0 in this clone"
    return bumps.split()[0]


def make_template_repo(repo: Path, tag: str | None) -> Path:
    """A template repository whose tag `previous` is the release ``tag`` (or the working
    tree, when there is none) and whose HEAD is the working tree."""
    if tag:
        repo.mkdir()
        archive = subprocess.run(["git", "archive", tag], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(repo)], input=archive.stdout, check=True)
    else:
        shutil.copytree(ROOT, repo, ignore=IGNORE)
    git("init", "-q", cwd=repo)
    commit(repo, "previous release")
    git("tag", "previous", cwd=repo)
    for name in ("template", "includes"):
        shutil.rmtree(repo / name)
        shutil.copytree(ROOT / name, repo / name, ignore=IGNORE)
    shutil.copy(ROOT / "copier.yml", repo / "copier.yml")
    commit(repo, "working tree")
    return repo


def commit(repo: Path, message: str) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", message, cwd=repo)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def copier(*args: str | Path, cwd: Path, check: bool = True):
    return run(BIN / "copier", *args, cwd=cwd, check=check)


@pytest.fixture(scope="session")
def pristine(tmp_path_factory) -> tuple[Path, Path]:
    """The template repository, and a host project in git with the app rendered from its
    previous release and committed: made once per test process, copied for each test."""
    base = tmp_path_factory.mktemp("update")
    repo = make_template_repo(base / "template", previous_release())
    host = start_project(base / "site", "orders")
    git("init", "-q", cwd=host.root)
    copier("copy", "--defaults", "--vcs-ref", "previous", repo, "orders", cwd=host.root)
    commit(host.root, "orders from the previous release")
    return repo, host.root


@pytest.fixture
def template_repo(tmp_path, pristine) -> Path:
    """This test's copy of the template repository: it may commit a next release."""
    return shutil.copytree(pristine[0], tmp_path / "template", symlinks=True)


@pytest.fixture
def project(tmp_path, pristine, template_repo) -> Host:
    """This test's copy of the host project, updating from this test's template copy."""
    root = shutil.copytree(pristine[1], tmp_path / "site", symlinks=True)
    answers = root / "orders" / ".copier-answers.yml"
    edit(answers, f"_src_path: {pristine[0]}\n", f"_src_path: {template_repo}\n")
    git("commit", "-q", "--amend", "--no-edit", "-a", cwd=root)
    return Host(root, "orders")


def user_edits(app: Path) -> dict[Path, str]:
    """What a user typically changes; returns the lines that must survive any update."""
    handler = app / "handlers" / "after_order_save.py"
    edit(handler, '    logger.info("Created %s", instance)\n',
         '    logger.info("Created %s", instance)\n    notify_staff(instance)\n')
    handler.write_text(handler.read_text() + (
        "\n\ndef notify_staff(instance: Order) -> None:\n"
        '    logger.warning("New order %s", instance.pk)\n'
    ))
    edit(app / "models.py", '    status = models.CharField(max_length=20, default="pending")\n',
         '    status = models.CharField(max_length=20, default="pending")\n'
         '    note = models.TextField(blank=True, default="")\n')
    return {
        handler: "    notify_staff(instance)\n",
        app / "models.py": '    note = models.TextField(blank=True, default="")\n',
    }


def assert_clean_update(host, kept: dict[Path, str]) -> None:
    for path, text in kept.items():
        assert text in path.read_text(), f"user edit lost in {path.name}"
    assert list(host.app_dir.rglob("*.rej")) == []
    # A conflict is an added line that starts with a marker (test_signals.py quotes them).
    assert "\n+<<<<<<<" not in run("git", "diff", cwd=host.root).stdout
    make_migrations(host)
    check_app(host)


def make_migrations(host) -> None:
    """`makemigrations orders`, as the update message asks, in the project's style."""
    host.manage("makemigrations", "orders")
    # Django writes its own style, and its own import order.
    host.ruff("check", "--isolated", "--select", "I", "--fix", "-q", "orders/migrations")
    host.ruff("format", "--isolated", "orders/migrations")


def test_update_with_no_changes_changes_nothing(project):
    """Nothing changes, except that the first update forgets the answers only a first copy
    asks for (signal_types and the per-signal prompts, which built `handlers`)."""
    answers_file = project.app_dir / ".copier-answers.yml"
    before = yaml.safe_load(answers_file.read_text())
    copier("update", "--defaults", "--vcs-ref", "previous", cwd=project.app_dir)
    assert git("status", "--porcelain", "--", ":!orders/.copier-answers.yml", cwd=project.root) == ""
    after = yaml.safe_load(answers_file.read_text())
    first_copy_only = {k for k in before if k == "signal_types" or k.split("_")[0] in ("pre", "post", "m2m")}
    assert after == {k: v for k, v in before.items() if k not in first_copy_only or k in after}
    assert set(before) - set(after) <= first_copy_only
    commit(project.root, "first update")
    copier("update", "--defaults", "--vcs-ref", "previous", cwd=project.app_dir)
    assert git("status", "--porcelain", cwd=project.root) == ""


@pytest.mark.slow
def test_update_to_the_working_tree_keeps_user_edits(project):
    kept = user_edits(project.app_dir)
    commit(project.root, "user edits")
    copier("update", "--defaults", "--vcs-ref", "HEAD", cwd=project.app_dir)
    assert_clean_update(project, kept)


@pytest.mark.slow
def test_template_change_next_to_a_user_edit(project, template_repo):
    kept = user_edits(project.app_dir)
    commit(project.root, "user edits")
    # The next release changes template-owned and shared lines right beside the user's.
    edit(template_repo / "template" / "models.py.jinja",
         '    """{{ model }} of the {{ app_name }} app."""',
         '    """{{ model }} of the {{ app_name }} app, rendered by django-signal-template."""')
    edit(template_repo / "template" / "guards.py",
         "            if kwargs.get(\"raw\")",
         "            # Fixtures (loaddata) save with raw=True.\n            if kwargs.get(\"raw\")")
    commit(template_repo, "next release")
    copier("update", "--defaults", "--vcs-ref", "HEAD", cwd=project.app_dir)
    assert "rendered by django-signal-template" in (project.app_dir / "models.py").read_text()
    assert "# Fixtures (loaddata)" in (project.app_dir / "guards.py").read_text()
    assert_clean_update(project, kept)


@pytest.mark.slow
def test_reanswering_adds_a_handler_and_keeps_edits(project):
    kept = user_edits(project.app_dir)
    commit(project.root, "user edits")
    answers = yaml.safe_load((project.app_dir / ".copier-answers.yml").read_text())
    new_handler = {
        "name": "audit_order",
        "signal": "post_save",
        "model": "Order",
        "description": "Audit orders.",
        "on_create": 'logger.info("audit %s", instance.pk)',
    }
    data = project.root / "new-answers.yml"
    data.write_text(yaml.safe_dump({"handlers": answers["handlers"] + [new_handler]}))
    copier("update", "--defaults", "--vcs-ref", "HEAD", "--data-file", data, cwd=project.app_dir)
    data.unlink()
    assert (project.app_dir / "handlers" / "audit_order.py").exists()
    assert "def audit_order(" in (project.app_dir / "receivers.py").read_text()
    assert_clean_update(project, kept)


@pytest.mark.slow
def test_removing_a_handler_removes_its_wiring_and_git_keeps_its_code(project):
    module = project.app_dir / "handlers" / "before_order_delete.py"
    module.write_text(module.read_text() + '    logger.warning("user code")\n')
    commit(project.root, "user edits")
    answers = yaml.safe_load((project.app_dir / ".copier-answers.yml").read_text())
    handlers = [h for h in answers["handlers"] if h["name"] != "before_order_delete"]
    result = copier(
        "update", "--defaults", "--vcs-ref", "HEAD", "-d", f"handlers={yaml.safe_dump(handlers)}",
        cwd=project.app_dir,
    )
    assert "git checkout HEAD --" in result.stdout + result.stderr
    assert "before_order_delete" not in (project.app_dir / "receivers.py").read_text()
    # Copier deletes a file the new answers no longer render; git still has the user's code.
    status = git("status", "--porcelain", cwd=project.root)
    assert " D orders/handlers/before_order_delete.py" in status
    assert 'logger.warning("user code")' in git("show", "HEAD:orders/handlers/before_order_delete.py", cwd=project.root)
    check_app(project)


def test_dirty_repository_is_refused(project):
    user_edits(project.app_dir)
    result = copier("update", "--defaults", "--vcs-ref", "HEAD", cwd=project.app_dir, check=False)
    assert result.returncode != 0
    assert "dirty" in result.stderr.lower()


def test_conflict_is_visible_and_fails_the_app_tests(project, template_repo):
    """Copier writes conflict markers and exits 0; the app's tests then fail loudly."""
    readme = project.app_dir / "README.md"
    edit(readme, "## Update\n", "## Update (our process)\n")
    commit(project.root, "user edits the README")
    edit(template_repo / "template" / "README.md.jinja", "## Update\n", "## Updating\n")
    commit(template_repo, "next release")
    result = copier("update", "--defaults", "--vcs-ref", "HEAD", cwd=project.app_dir)
    assert result.returncode == 0
    assert "conflict" in result.stderr
    text = readme.read_text()
    assert "<<<<<<< " in text and ">>>>>>> " in text
    tests = project.manage("test", "orders.tests.test_signals.WiringTests", check=False)
    assert tests.returncode != 0
    assert "copier update left conflicts in ['README.md']" in tests.stderr


def test_renamed_question_keeps_the_old_answer(project, template_repo):
    """Renames need no trusted _migrations: the new question defaults to the old answer."""
    answers_file = project.app_dir / ".copier-answers.yml"
    edit(answers_file, "on_error: log", "on_error: raise")
    commit(project.root, "answer on_error: raise")
    config = template_repo / "copier.yml"
    config.write_text(config.read_text() + (
        "\nreceiver_errors:\n  type: str\n  help: renamed on_error\n"
        "  choices: [log, raise]\n  default: \"{{ on_error | default('log') }}\"\n"
    ))
    commit(template_repo, "next release renames on_error")
    copier("update", "--defaults", "--vcs-ref", "HEAD", cwd=project.app_dir)
    assert "receiver_errors: raise" in answers_file.read_text()


@pytest.mark.parametrize("example", ["orders.yml", None], ids=["celery", "no-celery"])
def test_update_from_1_0_0_carries_use_celery_and_celery_tasks_over(tmp_path, example):
    """2.0.0 renamed use_celery and celery_tasks to task_backend and tasks; the new
    questions default to the old answers, so no trusted _migrations are needed."""
    template_repo = make_template_repo(tmp_path / "template", release_1_0_0())
    host = start_project(tmp_path / "site", "orders")
    git("init", "-q", cwd=host.root)
    data = ["--data-file", template_repo / "examples" / example] if example else []
    copier("copy", "--defaults", "--vcs-ref", "previous", *data, template_repo, "orders", cwd=host.root)
    answers_file = host.app_dir / ".copier-answers.yml"
    old = yaml.safe_load(answers_file.read_text())
    assert old["use_celery"] is bool(example)
    commit(host.root, "orders from 1.0.0")

    result = copier("update", "--defaults", "--vcs-ref", "HEAD", cwd=host.app_dir)
    new = yaml.safe_load(answers_file.read_text())
    assert f"are now task_backend ({new['task_backend']}) and tasks" in result.stdout + result.stderr
    assert "use_celery" not in new and "celery_tasks" not in new
    if example:
        assert new["task_backend"] == "celery"
        assert new["tasks"] == old["celery_tasks"] != []
        tasks_py = (host.app_dir / "tasks.py").read_text()
        assert tasks_py.count("@shared_task(") == len(old["celery_tasks"])
        assert "signal_database" in tasks_py
        # The outbox table, from the makemigrations the update message asks for.
        assert "outbox" in result.stdout + result.stderr
        make_migrations(host)
    else:
        assert new["task_backend"] == "none"
        assert "tasks" not in new
        assert not (host.app_dir / "tasks.py").exists()
    assert list(host.app_dir.rglob("*.rej")) == []
    check_app(host)


def test_a_1_x_data_file_renders_with_the_new_names(tmp_path):
    """`copier copy --data-file` with a 1.x answer set: use_celery and celery_tasks are
    taken as task_backend and tasks."""
    answers = load_answers("orders.yml")
    old = {**answers, "use_celery": True, "celery_tasks": answers["tasks"]}
    del old["task_backend"], old["tasks"]
    data = tmp_path / "old.yml"
    data.write_text(yaml.safe_dump(old))
    app = tmp_path / "orders"
    copier("copy", "--defaults", "--vcs-ref", "HEAD", "--data-file", data, ROOT, app, cwd=tmp_path)
    recorded = yaml.safe_load((app / ".copier-answers.yml").read_text())
    assert recorded["task_backend"] == "celery"
    assert recorded["tasks"] == answers["tasks"]
    assert "use_celery" not in recorded and "celery_tasks" not in recorded
    assert (app / "tasks.py").read_text().count("@shared_task(") == len(answers["tasks"])


@pytest.mark.slow
def test_adding_a_handler_through_the_prompts(project):
    """`copier update` asks "Add a handler?" and then, as the first copy did, its sender,
    name and bodies; a taken name is refused at its prompt. The handler is appended to
    `handlers`, the existing handler modules are untouched, and the next update adds
    nothing again."""
    kept = user_edits(project.app_dir)
    commit(project.root, "user edits")
    handlers_dir = project.app_dir / "handlers"
    # The user's modules (handlers/__init__.py is the template's: it lists them all).
    before = {path.name: path.read_text() for path in handlers_dir.glob("*.py") if path.name != "__init__.py"}
    body = 'logger.warning("audit %s", instance.pk)'

    child = spawn_copier(
        "update", "--defaults", "--vcs-ref", "HEAD", "--ask", "new_handler*", "--ask", "handlers",
        cwd=project.app_dir,
    )
    answer(child, "Add a handler? For which signal", DOWN * 2 + ENTER)  # no, pre_save, post_save
    answer(child, "New handler: its sender", ENTER)  # Order
    answer(child, "New handler: function name", CLEAR_LINE + "after_order_save" + ENTER)
    child.expect_exact("another handler has that name")
    child.send(CLEAR_LINE + "audit_order" + ENTER)
    answer(child, "New handler: an exception in it", ENTER)  # as the app answered
    answer(child, "New handler: body run after a row is created", CLEAR_LINE + body + SUBMIT_MULTILINE)
    answer(child, "New handler: body run after a row is updated", SUBMIT_MULTILINE)  # the default
    answer(child, "The handlers, as YAML", SUBMIT_MULTILINE)
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    assert child.exitstatus == 0, child.before

    module = (handlers_dir / "audit_order.py").read_text()
    assert f"    {body}\n" in module and '    logger.info("Updated %s", instance)\n' in module
    assert before == {
        path.name: path.read_text() for path in handlers_dir.glob("*.py") if path.name in before
    }
    answers = yaml.safe_load((project.app_dir / ".copier-answers.yml").read_text())
    assert [h["name"] for h in answers["handlers"]][-1] == "audit_order"
    assert "new_handler" not in answers  # never recorded: the next update starts from "no"
    assert_clean_update(project, kept)

    commit(project.root, "audit_order added")
    copier("update", "--defaults", "--vcs-ref", "HEAD", cwd=project.app_dir)
    again = yaml.safe_load((project.app_dir / ".copier-answers.yml").read_text())
    assert again["handlers"] == answers["handlers"]
    assert git("status", "--porcelain", "--", "orders/handlers", "orders/receivers.py", cwd=project.root) == ""


@pytest.mark.slow
def test_update_of_a_celery_app_from_2_0_0_adds_the_outbox(tmp_path):
    """A Celery app rendered by 2.0.0 gets the outbox and the relay from the update, and
    its table from the `makemigrations` the update message asks for; the migration graph
    is then linear and `makemigrations --check` clean, as for a new app (whose first
    migration has the table), and the relay runs on the updated app."""
    template_repo = make_template_repo(tmp_path / "template", release_2_0_0())
    host = start_project(tmp_path / "site", "orders")
    git("init", "-q", cwd=host.root)
    data = ["--data-file", template_repo / "examples" / "orders.yml"]
    copier("copy", "--defaults", "--vcs-ref", "previous", *data, template_repo, "orders", cwd=host.root)
    assert not (host.app_dir / "outbox.py").exists()
    models_py = host.app_dir / "models.py"
    edit(models_py, '    status = models.CharField(max_length=20, default="pending")\n',
         '    status = models.CharField(max_length=20, default="pending")\n'
         '    note = models.TextField(blank=True, default="")\n')
    kept = {models_py: '    note = models.TextField(blank=True, default="")\n'}
    commit(host.root, "orders from 2.0.0, edited")
    host.manage("makemigrations", "orders")  # the user's own migration for their edit
    commit(host.root, "the user's migration")

    result = copier("update", "--defaults", "--vcs-ref", "HEAD", cwd=host.app_dir)
    message = result.stdout + result.stderr
    assert "outbox" in message and "python manage.py makemigrations orders" in message
    for path in ("outbox.py", "relay.py", "management/commands/relay_tasks.py"):
        assert (host.app_dir / path).exists(), path
    assert "0001_initial.py" in {p.name for p in (host.app_dir / "migrations").glob("*.py")}
    assert "OutboxTask" not in (host.app_dir / "migrations" / "0001_initial.py").read_text()
    assert_clean_update(host, kept)
    migrations = sorted(p.name for p in (host.app_dir / "migrations").glob("0*.py"))
    assert len(migrations) == 3, migrations  # 0001 (2.0.0), the user's, the outbox's
    assert "CreateModel(\n            name=\"OutboxTask\"" in (host.app_dir / "migrations" / migrations[-1]).read_text()
    host.manage("migrate", "-v", "0")
    relayed = host.manage("relay_tasks", "--once")
    assert relayed.returncode == 0
