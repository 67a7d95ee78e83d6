"""End-to-end tests of the Celery mode: a real worker process with Redis as broker and
result backend, and PostgreSQL. Run with `pytest tests/test_celery.py -s` to see what the
worker did. Without the services these tests skip, and under CI=true they fail.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import django
import pytest

from conftest import BIN, Host, load_answers, render, start_project
from services import RedisServer, pg_rows, pg_settings, run_bounded, run_killed_after_commit, stop, wait_for

pytestmark = pytest.mark.services

TASK = "send_order_confirmation_email"


# --- The host project with a Celery app and a worker ---------------------------------

# Celery's "First steps with Django" layout: proj/celery.py, imported by proj/__init__.py.
CELERY_PY = """\
import os

from celery import Celery

# Set the default Django settings module for the 'celery' program.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")

app = Celery("proj")

# All Celery settings are Django settings with a CELERY_ prefix.
app.config_from_object("django.conf:settings", namespace="CELERY")

# Load task modules from all registered Django apps.
app.autodiscover_tasks()
"""

PROJ_INIT = """\
# Make sure the app is always imported when Django starts so that shared_task uses it.
from .celery import app as celery_app

__all__ = ("celery_app",)
"""

# Imported by the worker only (CELERY_IMPORTS): logs whether a task finds its order row,
# which it does only if it was queued after the commit.
PROBE_PY = """\
import logging

from celery.signals import task_prerun

logger = logging.getLogger("e2e.probe")


@task_prerun.connect(weak=False)
def probe(sender=None, task_id=None, task=None, args=None, **kwargs):
    from orders.models import Order

    pk = args[0] if args else None
    found = Order.objects.filter(pk=pk).exists()
    logger.info("probe: %s(%s) finds its order row: %s", task.name, pk, found)
"""

# Run as a separate process with the host's settings; prints one JSON line.
CLIENT_PY = """\
import json
import logging
import os
import signal
import sys
import time
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")

import django

django.setup()

from celery.signals import after_task_publish
from django.contrib.auth import get_user_model
from django.db import transaction

from orders.models import Order
from orders.tasks import send_order_confirmation_email

published = []


@after_task_publish.connect(weak=False)
def record(sender=None, headers=None, **kwargs):
    published.append({"task": sender, "id": headers["id"], "args": headers["argsrepr"]})


class Rollback(Exception):
    pass


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def commit_and_rollback():
    user = get_user_model().objects.create_user(f"e2e-{uuid.uuid4().hex[:8]}")
    try:
        with transaction.atomic():
            rolled_back = Order.objects.create(user=user, total=5)
            raise Rollback
    except Rollback:
        pass
    after_rollback = list(published)
    with transaction.atomic():
        committed = Order.objects.create(user=user, total=10)
        before_commit = list(published)
    return {
        "rolled_back": rolled_back.pk,
        "rolled_back_exists": Order.objects.filter(pk=rolled_back.pk).exists(),
        "published_after_rollback": after_rollback,
        "committed": committed.pk,
        "published_before_commit": before_commit,
        "published_after_commit": list(published),
        "stores_results": not send_order_confirmation_email.ignore_result,
    }


def outage():
    capture = Capture()
    logging.getLogger("django.db.backends.base").addHandler(capture)
    user = get_user_model().objects.create_user(f"e2e-{uuid.uuid4().hex[:8]}")
    pk = raised = None
    start = time.monotonic()
    try:
        with transaction.atomic():
            pk = Order.objects.create(user=user, total=20).pk
    except Exception as error:
        raised = f"{type(error).__name__}: {error}"
    return {
        "pk": pk,
        "seconds": round(time.monotonic() - start, 2),
        "raised": raised,
        "saved": Order.objects.filter(pk=pk).exists(),
        "published": published,
        "logged": [
            {
                "logger": r.name,
                "level": r.levelname,
                "message": r.getMessage(),
                "exception": repr(r.exc_info[1]) if r.exc_info else None,
            }
            for r in capture.records
        ],
    }


def crash():
    user = get_user_model().objects.create_user(f"e2e-{uuid.uuid4().hex[:8]}")
    with transaction.atomic():
        # Registered before the save, so it is the first thing to run after the commit:
        # the process dies with the data committed and nothing else done.
        transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
        order = Order.objects.create(user=user, total=30)
        print(json.dumps({"pk": order.pk}), flush=True)
    return {"survived": True}


phases = {"commit-and-rollback": commit_and_rollback, "outage": outage, "crash": crash}
print(json.dumps(phases[sys.argv[1]]()))
"""


def celery_settings(redis: RedisServer) -> str:
    """Redis as broker and result backend; publishing gives up fast when it is down."""
    return f"""
CELERY_BROKER_URL = {redis.url(0)!r}
CELERY_RESULT_BACKEND = {redis.url(1)!r}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_MAX_RETRIES = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {{"socket_connect_timeout": 2, "socket_timeout": 5}}
CELERY_TASK_PUBLISH_RETRY_POLICY = {{
    "max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
}}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_REDIS_SOCKET_TIMEOUT = 5
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {{"retry_policy": {{"max_retries": 2}}}}
CELERY_IMPORTS = ["proj.e2e_probe"]
"""


class CeleryHost:
    """examples/orders.yml rendered into a host project with a Celery app on Redis and
    PostgreSQL; runs the worker and the client script as separate processes."""

    def __init__(self, root: Path, redis: RedisServer, database: str):
        answers = {**load_answers("orders.yml"), "app_name": "orders"}
        self.redis = redis
        self.database = database
        self.host: Host = start_project(
            root, "orders", pg_settings(database) + celery_settings(redis)
        )
        render(self.host.app_dir, answers)
        proj = root / "proj"
        (proj / "celery.py").write_text(CELERY_PY)
        (proj / "__init__.py").write_text(PROJ_INIT)
        (proj / "e2e_probe.py").write_text(PROBE_PY)
        (root / "e2e_client.py").write_text(CLIENT_PY)
        self.env = {
            "DJANGO_SETTINGS_MODULE": "proj.settings",
            "PYTHONPATH": str(root),
            "PYTHONUNBUFFERED": "1",
        }
        self.worker_log = root / "worker.log"
        run_bounded(
            sys.executable,
            "manage.py",
            "migrate",
            "-v",
            "0",
            cwd=root,
            timeout=60,
            env=self.env,
        )

    @contextmanager
    def worker(self) -> Iterator[subprocess.Popen]:
        """`celery -A proj worker` (solo pool), ready to take tasks; always stopped."""
        name = f"e2e-{uuid.uuid4().hex[:8]}@%h"
        process = subprocess.Popen(
            [
                BIN / "celery",
                "-A",
                "proj",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--hostname",
                name,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=self.host.root,
            env={**os.environ, **self.env},
            stdout=self.worker_log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:

            def ready() -> bool:
                if process.poll() is not None:
                    pytest.fail(f"the worker exited:\n{self.log()}")
                return " ready." in self.log()

            wait_for(ready, 30, "the Celery worker to be ready")
            yield process
        finally:
            stop(process)

    def log(self) -> str:
        return self.worker_log.read_text() if self.worker_log.exists() else ""

    def wait_until_ran(self, queued: dict, pk: int) -> None:
        """Wait for the worker to log that the task message ``queued`` succeeded."""
        wait_for(
            lambda: f"{queued['id']}] succeeded" in self.log(),
            20,
            f"the worker to run {TASK}({pk})",
        )

    def client(self, phase: str) -> dict:
        result = run_bounded(
            sys.executable,
            "e2e_client.py",
            phase,
            cwd=self.host.root,
            timeout=45,
            env=self.env,
        )
        return json.loads(result.stdout.strip().splitlines()[-1])

    def crash(self) -> int:
        """Run the client's crash phase, killed right after its commit; the order's pk."""
        return run_killed_after_commit(sys.executable, self.host.root, self.env)

    def runs(self, pk: int) -> list[str]:
        """Worker log lines of the stub task's own message for the order ``pk``."""
        return [
            line
            for line in self.log().splitlines()
            if f"{TASK}({pk})" in line and "probe:" not in line
        ]


@pytest.fixture
def celery_host(tmp_path, redis_server, pg_database) -> CeleryHost:
    return CeleryHost(tmp_path / "host", redis_server, pg_database)


def show(*lines: str) -> None:
    for line in lines:
        print(f"[e2e] {line}")


def describe(published: list[dict]) -> str:
    return ", ".join(f"{p['task']}{p['args']}" for p in published) or "nothing"


def test_worker_runs_task_once_after_commit_and_never_on_rollback(celery_host):
    started = time.monotonic()
    redis = celery_host.redis
    with celery_host.worker():
        show(f"worker ready: celery -A proj worker --pool solo; broker {redis.url(0)}")
        out = celery_host.client("commit-and-rollback")
        committed, rolled_back = out["committed"], out["rolled_back"]
        show(
            f"rolled back: Order {rolled_back} saved in atomic(), then rolled back; "
            f"row exists: {out['rolled_back_exists']}; "
            f"queued: {describe(out['published_after_rollback'])}",
            f"committed: Order {committed}; queued before commit: "
            f"{describe(out['published_before_commit'])}; after commit: "
            f"{describe(out['published_after_commit'])}",
        )
        assert out["rolled_back_exists"] is False
        assert out["published_after_rollback"] == []
        assert out["published_before_commit"] == []
        [queued] = out["published_after_commit"]
        assert queued["task"] == f"orders.tasks.{TASK}"
        assert queued["args"] == f"({committed},)"

        # One solo worker takes tasks in order: the task of the rolled-back order, had it
        # been queued, would have run before the committed one's.
        celery_host.wait_until_ran(queued, committed)
        meta = json.loads(redis.backend.get(f"celery-task-meta-{queued['id']}") or "{}")
        pending = redis.client.llen("celery")
        log = celery_host.log()
        received = re.findall(r"Task orders\.tasks\.\w+\[[\w-]+\] received", log)
        show(
            f"ran: {TASK}({committed}) x{len(celery_host.runs(committed))}; "
            f"result backend: {meta.get('status')}; tasks received by the worker: "
            f"{len(received)}; left in the queue: {pending}",
            f"not run: {TASK}({rolled_back}) x{len(celery_host.runs(rolled_back))} "
            "(its transaction rolled back)",
            "worker log:",
            *(
                f"  {line}"
                for line in log.splitlines()
                if "orders.tasks" in line or TASK in line
            ),
        )
        assert len(celery_host.runs(committed)) == 1
        assert (
            f"probe: orders.tasks.{TASK}({committed}) finds its order row: True" in log
        )
        assert celery_host.runs(rolled_back) == []
        assert len(received) == 1
        assert pending == 0
        # Its result is stored, unless the task is declared with ignore_result=True.
        assert meta.get("status") == ("SUCCESS" if out["stores_results"] else None)
    show(f"took {time.monotonic() - started:.1f} s")


def test_save_succeeds_and_error_is_logged_when_broker_is_down(celery_host):
    started = time.monotonic()
    redis = celery_host.redis
    with celery_host.worker():
        out = celery_host.client("commit-and-rollback")
        [queued] = out["published_after_commit"]
        celery_host.wait_until_ran(queued, out['committed'])
        show(f"broker up: Order {out['committed']} -> {describe([queued])} ran")

        redis.shutdown()
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", redis.port)) != 0, "redis still up"
        show(f"redis-server on port {redis.port} stopped (SHUTDOWN NOSAVE)")

        out = celery_host.client("outage")
    show(
        f"broker down: Order {out['pk']} saved: {out['saved']} in {out['seconds']} s; "
        f"the save raised: {out['raised']}; queued: {describe(out['published'])}",
        "logged:",
        *(
            f"  {r['level']} {r['logger']}: {r['message']} [{r['exception']}]"
            for r in out["logged"]
        ),
    )
    assert out["saved"] is True
    assert out["published"] == []
    hint = ""
    if "__qualname__" in (out["raised"] or ""):
        hint = (
            f" (Django {django.get_version()} logs a robust on_commit failure with "
            "func.__qualname__, which a functools.partial lacks, Django ticket #36487: "
            "enqueue_on_commit must pass on_commit a function, not a partial)"
        )
    assert out["raised"] is None, (
        "with the broker down, the commit's on_commit(robust=True) callback must not "
        f"raise into the code that saved; it raised {out['raised']}{hint}"
    )
    [error] = out["logged"]
    assert error["logger"] == "django.db.backends.base"
    assert "in on_commit()" in error["message"]
    # kombu's "Error 111 connecting to ..." from the broker, or the result backend's
    # "Retry limit exceeded while trying to reconnect ...": both are Redis being down.
    assert re.search("connect", error["exception"] or "", re.IGNORECASE)
    assert out["seconds"] < 20
    show(f"took {time.monotonic() - started:.1f} s")


def test_task_is_lost_when_the_process_is_killed_right_after_commit(celery_host):
    """The crash of tests/test_tasks.py in the celery mode. Outcome: the task is lost, as
    the README's table says: it is sent to the broker only after the commit."""
    redis = celery_host.redis
    pk = celery_host.crash()
    saved = bool(pg_rows(celery_host.database, "SELECT 1 FROM orders_order WHERE id = %s", pk))
    queued = redis.client.llen("celery")
    with celery_host.worker():
        # One solo worker takes tasks in order: once a task queued after the crash has
        # run, the crashed process's task would have run too, had it been queued.
        out = celery_host.client("commit-and-rollback")
        [after] = out["published_after_commit"]
        celery_host.wait_until_ran(after, out['committed'])
    show(
        f"process killed (SIGKILL) right after committing Order {pk}: row saved: {saved}; "
        f"tasks in the broker: {queued}; {TASK}({pk}) ran x{len(celery_host.runs(pk))} "
        f"(a later task, {TASK}({out['committed']}), ran x{len(celery_host.runs(out['committed']))}): "
        f"the task is {'lost' if not celery_host.runs(pk) else 'not lost'}"
    )
    assert saved
    assert queued == 0
    assert celery_host.runs(pk) == []
    assert len(celery_host.runs(out["committed"])) == 1
