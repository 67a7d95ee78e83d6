"""End-to-end tests of `task_backend: django` with django-tasks-db's database backend on
PostgreSQL, with real `manage.py db_worker` processes: a task exists exactly when the data
that queued it does, survives a process killed right after the commit, and runs once.

The seed example's confirmation task is given a body that records each run as an
AuditLog row, so the tests count runs in the database. Run with `-s` to see the counts.
Without PostgreSQL these tests skip, and under CI=true they fail.
"""

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from conftest import DJANGO_TASKS_SETTINGS, MAIN, Host, Toolchain, load_answers, render, start_project, toolchain_for
from services import pg_rows, pg_settings, run_bounded, run_killed_after_commit, run_savers, stop, wait_for

pytestmark = pytest.mark.services

TASK = "send_order_confirmation_email"
TASK_ROWS = "django_tasks_database_dbtaskresult"

# Run as separate processes with the host's settings; each phase prints one JSON line.
CLIENT_PY = """\
import json
import os
import signal
import sys
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")

import django

django.setup()

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from orders.models import Order


class Rollback(Exception):
    pass


def new_user():
    return get_user_model().objects.create_user(f"e2e-{uuid.uuid4().hex[:8]}")


def rollback_and_commit():
    user = new_user()
    try:
        with transaction.atomic():
            rolled_back = Order.objects.create(user=user, total=5)
            raise Rollback
    except Rollback:
        pass
    with transaction.atomic():
        committed = Order.objects.create(user=user, total=10)
    return {"rolled_back": rolled_back.pk, "committed": committed.pk}


def crash():
    user = new_user()
    with transaction.atomic():
        # Registered before the save, so it is the first thing to run after the commit:
        # the process dies with the data committed and nothing else done.
        transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
        order = Order.objects.create(user=user, total=30)
        print(json.dumps({"pk": order.pk}), flush=True)
    return {"survived": True}


def database_lost():
    from django_tasks_db.models import DBTaskResult

    user = new_user()
    pk = raised = queued = None
    try:
        with transaction.atomic():
            pk = Order.objects.create(user=user, total=40).pk
            queued = DBTaskResult.objects.count()
            # The database, which is also the task queue, goes away before the commit.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    except Exception as error:
        raised = type(error).__name__
    return {"pk": pk, "queued": queued, "raised": raised}


def saves(count):
    user = new_user()
    pks = []
    for total in range(int(count)):
        with transaction.atomic():
            pks.append(Order.objects.create(user=user, total=total).pk)
    return {"pks": pks}


phase, *args = sys.argv[1:]
phases = {
    "rollback-and-commit": rollback_and_commit,
    "crash": crash,
    "database-lost": database_lost,
    "saves": saves,
}
print(json.dumps(phases[phase](*args)))
"""


class TasksHost:
    """examples/orders.yml with `task_backend: django`, rendered into a host project on
    PostgreSQL with django-tasks-db's database backend."""

    def __init__(self, root: Path, database: str, toolchain: Toolchain = MAIN):
        answers = {**load_answers("orders.yml"), "app_name": "orders", "task_backend": "django"}
        self.database = database
        # A worker closes its connection after each task unless connections persist, as
        # they do in production: reconnecting would make the queue drain slowly.
        persistent = 'DATABASES["default"]["CONN_MAX_AGE"] = 60\n'
        settings = pg_settings(database) + persistent + DJANGO_TASKS_SETTINGS
        self.host: Host = start_project(root, "orders", settings, toolchain)
        self.python = toolchain.python
        render(self.host.app_dir, answers)
        tasks_py = self.host.app_dir / "tasks.py"
        text = tasks_py.read_text()
        for old, new in (
            ("\nlogger = ", "\nimport os\nimport time\n\nfrom .models import AuditLog\n\nlogger = "),
            (
                f'    logger.info("{TASK}(%s)", pk)\n',
                (
                    f'    logger.info("{TASK}(%s)", pk)\n'
                    # A worker started with E2E_TASK_SECONDS runs long enough to be killed.
                    '    time.sleep(float(os.environ.get("E2E_TASK_SECONDS", "0")))\n'
                    '    AuditLog.objects.create(action="confirmation_sent", object_id=str(pk))\n'
                ),
            ),
        ):
            assert old in text
            text = text.replace(old, new, 1)
        tasks_py.write_text(text)
        (root / "e2e_client.py").write_text(CLIENT_PY)
        self.env = {
            "DJANGO_SETTINGS_MODULE": "proj.settings",
            "PYTHONUNBUFFERED": "1",
            "PYTHONWARNINGS": "error::DeprecationWarning",
        }
        self.manage("migrate", "-v", "0", timeout=90)

    def manage(self, *args: str, timeout: float):
        return run_bounded(self.python, "manage.py", *args, cwd=self.host.root, timeout=timeout, env=self.env)

    def client(self, *args: str) -> dict:
        result = run_bounded(self.python, "e2e_client.py", *args, cwd=self.host.root, timeout=60, env=self.env)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def worker_command(self, *extra: str) -> list[str]:
        return [self.python, "manage.py", "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.1", *extra]

    def drain(self) -> str:
        """Run a worker until no task is left (`db_worker --batch`); its log."""
        return run_bounded(*self.worker_command("--batch"), cwd=self.host.root, timeout=60, env=self.env).stdout

    @contextmanager
    def workers(self, count: int, **env: str) -> Iterator[list[subprocess.Popen]]:
        """``count`` db_worker processes, each with its own log and ``env``; always stopped."""
        with ExitStack() as stack:
            processes = []
            for number in range(count):
                log = (self.host.root / f"worker-{number}.log").open("w")
                stack.callback(log.close)
                process = subprocess.Popen(
                    self.worker_command("--worker-id", f"worker-{number}"),
                    cwd=self.host.root,
                    env={**os.environ, **self.env, **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                stack.callback(stop, process)
                processes.append(process)
            yield processes

    def worker_log(self) -> str:
        return "".join(path.read_text() for path in sorted(self.host.root.glob("worker-*.log")))

    def confirmations(self) -> Counter:
        """How many times the confirmation task ran, by order primary key."""
        rows = pg_rows(self.database, "SELECT object_id FROM orders_auditlog WHERE action = 'confirmation_sent'")
        return Counter(int(object_id) for (object_id,) in rows)

    def task_rows(self) -> list[tuple]:
        """(status, args, worker ids) of every task row."""
        return pg_rows(self.database, f"SELECT status, args_kwargs, worker_ids FROM {TASK_ROWS}")

    def order_exists(self, pk: int) -> bool:
        return bool(pg_rows(self.database, "SELECT 1 FROM orders_order WHERE id = %s", pk))


@pytest.fixture
def tasks_host(tmp_path, pg_database) -> TasksHost:
    return TasksHost(tmp_path / "host", pg_database)


def show(*lines: str) -> None:
    for line in lines:
        print(f"[tasks] {line}")


def test_db_worker_runs_task_once_after_commit_and_never_on_rollback(tasks_host):
    with tasks_host.workers(1):
        out = tasks_host.client("rollback-and-commit")
        committed, rolled_back = out["committed"], out["rolled_back"]
        wait_for(lambda: tasks_host.confirmations()[committed], 30, f"the worker to run {TASK}({committed})")
        rows = tasks_host.task_rows()
    runs = tasks_host.confirmations()
    show(
        f"committed Order {committed}: {TASK} ran x{runs[committed]}; rolled back Order "
        f"{rolled_back}: ran x{runs[rolled_back]}; task rows: {[(s, a['args']) for s, a, _ in rows]}"
    )
    assert not tasks_host.order_exists(rolled_back)
    assert runs == Counter({committed: 1})
    # The rolled-back order's task row rolled back with it: nothing was left to run.
    assert [(status, args["args"]) for status, args, _ in rows] == [("SUCCESSFUL", [committed])]


def test_database_lost_before_the_commit_keeps_neither_the_data_nor_the_task(tasks_host):
    """The queue is the database: when it is lost before the commit, the save fails
    loudly, and neither the row nor its task exists."""
    out = tasks_host.client("database-lost")
    show(
        f"database connection lost before committing Order {out['pk']} (task rows in its "
        f"transaction: {out['queued']}): the save raised "
        f"{out['raised']}; row saved: {tasks_host.order_exists(out['pk'])}; "
        f"task rows: {len(tasks_host.task_rows())}"
    )
    assert out["pk"] is not None
    assert out["queued"] == 1
    assert out["raised"] in {"OperationalError", "InterfaceError"}
    assert not tasks_host.order_exists(out["pk"])
    assert tasks_host.task_rows() == []


@pytest.mark.parametrize("django", [MAIN.django, "6.1"], ids=lambda v: f"django{v}")
def test_task_survives_a_process_killed_right_after_commit(tmp_path, pg_database, django):
    """Outcome in this mode: the task runs, on Django 5.2 (the django-tasks backport) and
    6.1 (django.tasks). tests/test_celery.py runs the same crash in the celery mode,
    where the task is lost."""
    tasks_host = TasksHost(tmp_path / "host", pg_database, toolchain_for(django))
    pk = run_killed_after_commit(tasks_host.python, tasks_host.host.root, tasks_host.env)
    assert tasks_host.order_exists(pk), "the commit did not happen before the kill"
    [(status, args, _)] = tasks_host.task_rows()
    assert (status, args["args"]) == ("READY", [pk])

    started = time.monotonic()
    worker_log = tasks_host.drain()
    runs = tasks_host.confirmations()
    show(
        f"Django {django}: process killed (SIGKILL) right after committing Order {pk}; a worker started "
        f"afterwards ran {TASK}({pk}) x{runs[pk]} in {time.monotonic() - started:.1f} s",
        *(f"  {line}" for line in worker_log.splitlines()),
    )
    assert runs == Counter({pk: 1})
    assert [row[0] for row in tasks_host.task_rows()] == ["SUCCESSFUL"]


SAVERS, SAVES_EACH, WORKERS = 4, 250, 2


def test_1000_saves_from_4_processes_with_2_workers_run_every_task_exactly_once(tasks_host):
    started = time.monotonic()
    with tasks_host.workers(WORKERS) as workers:
        pks = run_savers(tasks_host.python, tasks_host.host.root, tasks_host.env, SAVERS, SAVES_EACH, timeout=120)
        saved = time.monotonic()
        total = SAVERS * SAVES_EACH

        def drained() -> bool:
            if any(worker.poll() is not None for worker in workers):
                pytest.fail(f"a worker exited:\n{tasks_host.worker_log()}")
            return sum(tasks_host.confirmations().values()) >= total

        wait_for(drained, 120, f"the workers to run {total} tasks", interval=0.5)
        rows = tasks_host.task_rows()
    runs = tasks_host.confirmations()
    by_worker = Counter(worker_id for _, _, worker_ids in rows for worker_id in worker_ids)
    show(
        f"{len(pks)} saves from {SAVERS} processes in {saved - started:.1f} s; "
        f"{len(rows)} task rows, {sum(runs.values())} runs of {TASK} for {len(runs)} orders, "
        f"max runs per order {max(runs.values())}; by worker {dict(by_worker)}; "
        f"drained {time.monotonic() - saved:.1f} s after the last save",
    )
    assert len(pks) == len(set(pks)) == total
    assert runs == Counter(dict.fromkeys(pks, 1))
    assert len(rows) == total
    assert {status for status, _, _ in rows} == {"SUCCESSFUL"}
    assert all(len(worker_ids) == 1 for _, _, worker_ids in rows)
    assert set(by_worker) == {f"worker-{n}" for n in range(WORKERS)}, "a worker took no task"


@pytest.mark.parametrize("django", [MAIN.django, "6.1"], ids=lambda v: f"django{v}")
def test_a_task_a_killed_worker_left_running_runs_again_after_requeue_tasks(tmp_path, pg_database, django):
    """A db_worker SIGKILLed mid-task leaves the task RUNNING, and no worker takes it;
    `requeue_tasks --older-than` queues it again and a new worker runs it to success."""
    tasks_host = TasksHost(tmp_path / "host", pg_database, toolchain_for(django))
    pk = tasks_host.client("rollback-and-commit")["committed"]
    with tasks_host.workers(1, E2E_TASK_SECONDS="60") as [worker]:
        wait_for(
            lambda: [row[0] for row in tasks_host.task_rows()] == ["RUNNING"], 30,
            f"the worker to start {TASK}({pk})",
        )
        # --no-reload: the process is the worker itself, not an autoreloader above it.
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    left = tasks_host.task_rows()
    untouched = tasks_host.drain()  # a new worker does not take a RUNNING task
    still = [row[0] for row in tasks_host.task_rows()]
    too_young = tasks_host.manage("requeue_tasks", "--older-than", "3600", timeout=60).stdout
    time.sleep(1.1)
    requeued = tasks_host.manage("requeue_tasks", "--older-than", "1", timeout=60).stdout
    after_requeue = [row[0] for row in tasks_host.task_rows()]
    worker_log = tasks_host.drain()
    runs = tasks_host.confirmations()
    rows = tasks_host.task_rows()
    show(
        f"Django {django}: db_worker SIGKILLed while running {TASK}({pk}): task rows "
        f"{[(s, w) for s, _, w in left]}; a new worker leaves it {still}",
        f"requeue_tasks --older-than 3600: {too_young.strip().splitlines()[-1]}; "
        f"--older-than 1: {requeued.strip().splitlines()[-1]} -> {after_requeue}",
        f"a new worker ran {TASK}({pk}) x{runs[pk]}; task rows {[(s, w) for s, _, w in rows]}",
    )
    assert worker.returncode == -signal.SIGKILL
    assert [(status, worker_ids) for status, _, worker_ids in left] == [("RUNNING", ["worker-0"])]
    assert still == ["RUNNING"], untouched
    assert too_young.strip().endswith("0 task(s) of orders queued again")
    assert requeued.strip().endswith("1 task(s) of orders queued again")
    assert after_requeue == ["READY"]
    assert runs == Counter({pk: 1}), worker_log
    [(status, _, worker_ids)] = rows
    assert status == "SUCCESSFUL" and worker_ids[0] == "worker-0" and len(worker_ids) == 2
    assert "RUNNING" not in {row[0] for row in rows}
