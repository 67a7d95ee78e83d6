"""End-to-end tests of the Celery mode: a real worker process with Redis as broker and
result backend, and PostgreSQL. Run with `pytest tests/test_celery.py -s` to see what the
worker did. Without the services these tests skip, and under CI=true they fail.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import django
import pytest

from conftest import BIN, Host, load_answers, render, start_project
from services import (
    RedisServer, killed_after_commit, pg_rows, pg_settings, run_bounded, run_savers, stop, wait_for,
)

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
import importlib
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
from orders.outbox import OutboxTask
from orders.tasks import send_order_confirmation_email

published = []


@after_task_publish.connect(weak=False)
def record(sender=None, headers=None, **kwargs):
    published.append({"task": sender, "id": headers["id"], "args": headers["argsrepr"]})


class Rollback(Exception):
    pass


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
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
    outbox_after_rollback = OutboxTask.objects.count()
    with transaction.atomic():
        committed = Order.objects.create(user=user, total=10)
        before_commit = list(published)
        outbox_in_transaction = [str(pk) for pk in OutboxTask.objects.values_list("pk", flat=True)]
    return {
        "outbox_after_rollback": outbox_after_rollback,
        "outbox_in_transaction": outbox_in_transaction,
        "outbox_after_commit": OutboxTask.objects.count(),
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
    for name in ("django.db.backends.base", "orders.outbox"):
        logging.getLogger(name).addHandler(capture)
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


def crash(count="1", *also):
    user = get_user_model().objects.create_user(f"e2e-{uuid.uuid4().hex[:8]}")
    with transaction.atomic():
        # Registered before the saves, so it is the first thing to run after the commit:
        # the process dies with the data committed and nothing else done.
        transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
        pks = [Order.objects.create(user=user, total=30).pk for _ in range(int(count))]
        for module in also:  # another app of the template: its task, in the same commit
            tasks = importlib.import_module(f"{module}.tasks")
            tasks.enqueue_on_commit(tasks.charge, pks[0])
        print(json.dumps({"pk": pks[0], "pks": pks}), flush=True)
    return {"survived": True}


def saves(count):
    user = get_user_model().objects.create_user(f"e2e-{uuid.uuid4().hex[:8]}")
    pks = []
    for total in range(int(count)):
        with transaction.atomic():
            pks.append(Order.objects.create(user=user, total=total).pk)
    return {"pks": pks}


phases = {"commit-and-rollback": commit_and_rollback, "outage": outage, "crash": crash, "saves": saves}
print(json.dumps(phases[sys.argv[1]](*sys.argv[2:])))
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
    PostgreSQL (and, with ``billing``, a second app of the template with a `charge`
    task); runs workers, relays and the client script as separate processes."""

    def __init__(self, root: Path, redis: RedisServer, database: str, billing: bool = False):
        answers = {**load_answers("orders.yml"), "app_name": "orders"}
        self.redis = redis
        self.database = database
        self.apps = ["orders", "billing"] if billing else ["orders"]
        # The second app is listed last: Django runs the first app's relay_tasks.
        extra = '\nINSTALLED_APPS += ["billing"]\n' if billing else ""
        self.host: Host = start_project(
            root, "orders", pg_settings(database) + celery_settings(redis) + extra
        )
        render(self.host.app_dir, answers)
        if billing:
            render(root / "billing", BILLING)
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
        self.processes = 0
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

    def spawn(self, kind: str, *command: str | Path) -> subprocess.Popen:
        """Start a long-lived process of the host, logging to <kind>-<n>.log."""
        self.processes += 1
        log = self.host.root / f"{kind}-{self.processes}.log"
        with log.open("w") as out:
            return subprocess.Popen(
                [str(part) for part in command],
                cwd=self.host.root,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @contextmanager
    def worker(self) -> Iterator[subprocess.Popen]:
        """`celery -A proj worker` (solo pool), ready to take tasks; always stopped."""
        name = f"e2e-{uuid.uuid4().hex[:8]}@%h"
        process = self.spawn(
            "worker",
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
        )
        log = self.host.root / f"worker-{self.processes}.log"
        try:

            def ready() -> bool:
                if process.poll() is not None:
                    pytest.fail(f"the worker exited:\n{log.read_text()}")
                return " ready." in log.read_text()

            wait_for(ready, 30, "the Celery worker to be ready")
            yield process
        finally:
            stop(process)

    @contextmanager
    def workers(self, count: int) -> Iterator[list[subprocess.Popen]]:
        with ExitStack() as stack:
            yield [stack.enter_context(self.worker()) for _ in range(count)]

    def relay(self, *args: str) -> subprocess.Popen:
        """`manage.py relay_tasks` with ``args`` (taking rows at once, polling fast)."""
        return self.spawn(
            "relay", sys.executable, "manage.py", "relay_tasks", "-v", "2",
            "--interval", "0.1", *args,
        )

    @contextmanager
    def relays(self, count: int, *args: str) -> Iterator[list[subprocess.Popen]]:
        """``count`` relays; always stopped (SIGTERM, as a supervisor stops them)."""
        processes = [self.relay(*args) for _ in range(count)]
        try:
            yield processes
        finally:
            for process in processes:
                stop(process)

    def logs(self, kind: str) -> str:
        return "".join(path.read_text() for path in sorted(self.host.root.glob(f"{kind}-*.log")))

    def log(self) -> str:
        """What every worker of this host has logged."""
        return self.logs("worker")

    def wait_until_ran(self, queued: dict, pk: int) -> None:
        """Wait for the worker to log that the task message ``queued`` succeeded."""
        wait_for(
            lambda: f"{queued['id']}] succeeded" in self.log(),
            20,
            f"the worker to run {TASK}({pk})",
        )

    def client(self, phase: str, *args: str) -> dict:
        result = run_bounded(
            sys.executable,
            "e2e_client.py",
            phase,
            *args,
            cwd=self.host.root,
            timeout=120,
            env=self.env,
        )
        return json.loads(result.stdout.strip().splitlines()[-1])

    def crash(self, *args: str) -> dict:
        """Run the client's crash phase, killed right after its commit: what it printed."""
        return killed_after_commit(sys.executable, self.host.root, self.env, *args)

    def runs(self, pk: int) -> list[str]:
        """Worker log lines of the stub task's own message for the order ``pk``."""
        return [
            line
            for line in self.log().splitlines()
            if f"{TASK}({pk})" in line and "probe:" not in line
        ]

    def run_counts(self, task: str = TASK) -> Counter:
        """How many times each worker ran ``task``, by primary key."""
        return Counter(
            int(pk)
            for line in self.log().splitlines()
            if "probe:" not in line
            for pk in re.findall(rf"\b{task}\((\d+)\)", line)
        )

    def outbox(self, app: str = "orders") -> int:
        """The rows left in an app's outbox."""
        return pg_rows(self.database, f"SELECT count(*) FROM {app}_outboxtask")[0][0]

    def queued(self) -> int:
        """Messages waiting in the broker's default queue."""
        return self.redis.client.llen("celery")


# The second app of the template in the two-app project.
BILLING = {
    "app_name": "billing",
    "model_name": "Invoice",
    "task_backend": "celery",
    "tasks": [{"app": "billing", "name": "charge"}],
}


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
        assert out["outbox_after_rollback"] == 0
        assert out["published_before_commit"] == []
        [queued] = out["published_after_commit"]
        assert queued["task"] == f"orders.tasks.{TASK}"
        assert queued["args"] == f"({committed},)"
        # The outbox row written in the transaction gave the task its id; the fast path
        # deleted it once sent.
        assert out["outbox_in_transaction"] == [queued["id"]]
        assert out["outbox_after_commit"] == 0

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


def test_broker_down_at_the_save_then_back_runs_the_task_exactly_once(celery_host):
    """The save succeeds with Redis stopped; its task waits in the outbox, a relay backs
    off without counting attempts, and once Redis is back the task runs once."""
    started = time.monotonic()
    redis = celery_host.redis
    redis.shutdown()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", redis.port)) != 0, "redis still up"
    show(f"redis-server on port {redis.port} stopped (SHUTDOWN NOSAVE)")

    out = celery_host.client("outage")
    pk = out["pk"]
    show(
        f"broker down: Order {pk} saved: {out['saved']} in {out['seconds']} s; "
        f"the save raised: {out['raised']}; queued: {describe(out['published'])}; "
        f"outbox rows: {celery_host.outbox()}",
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
        "with the broker down, the fast path must not raise into the code that saved; "
        f"it raised {out['raised']}{hint}"
    )
    [warning] = out["logged"]
    assert (warning["logger"], warning["level"]) == ("orders.outbox", "WARNING")
    assert "relay_tasks will send it" in warning["message"]
    assert re.search("connect", warning["message"], re.IGNORECASE)
    assert out["seconds"] < 20
    assert celery_host.outbox() == 1

    with celery_host.relays(1, "--grace", "0", "--max-backoff", "1"):
        wait_for(
            lambda: "Broker unreachable" in celery_host.logs("relay"), 30, "the relay to try"
        )
        attempts = pg_rows(celery_host.database, "SELECT attempts, failed FROM orders_outboxtask")
        show(f"relay during the outage: backs off; the row's (attempts, failed): {attempts}")
        assert attempts == [(0, False)]
        redis.start()
        show(f"redis-server on port {redis.port} started again")
        with celery_host.worker():
            wait_for(
                lambda: celery_host.runs(pk) and celery_host.outbox() == 0 and celery_host.queued() == 0,
                60,
                f"the relay to send {TASK}({pk}) and a worker to run it",
            )
            exactly_once_so_far(celery_host)
    show(
        f"broker back: {TASK}({pk}) ran x{len(celery_host.runs(pk))}; outbox rows: "
        f"{celery_host.outbox()}; took {time.monotonic() - started:.1f} s"
    )
    assert len(celery_host.runs(pk)) == 1


def exactly_once_so_far(celery_host: CeleryHost) -> None:
    """Save once more and wait for its task: one solo worker takes tasks in order, so a
    duplicate of an earlier task, had one been queued, would have run before it."""
    out = celery_host.client("commit-and-rollback")
    [after] = out["published_after_commit"]
    celery_host.wait_until_ran(after, out["committed"])
    assert len(celery_host.runs(out["committed"])) == 1


def test_task_of_a_process_killed_at_commit_runs_exactly_once_when_the_relay_runs(celery_host):
    """The crash of tests/test_tasks.py in the celery mode: the process dies before the
    fast path, the task waits in the outbox, and the relay sends it."""
    out = celery_host.crash()
    pk = out["pk"]
    saved = bool(pg_rows(celery_host.database, "SELECT 1 FROM orders_order WHERE id = %s", pk))
    rows, queued = celery_host.outbox(), celery_host.queued()
    show(
        f"process killed (SIGKILL) right after committing Order {pk}: row saved: {saved}; "
        f"outbox rows: {rows}; tasks in the broker: {queued}"
    )
    assert saved
    assert (rows, queued) == (1, 0)
    started = time.monotonic()
    with celery_host.worker(), celery_host.relays(1, "--grace", "1"):
        wait_for(
            lambda: celery_host.runs(pk) and celery_host.outbox() == 0,
            30,
            f"the relay to send {TASK}({pk}) and the worker to run it",
        )
        exactly_once_so_far(celery_host)
    show(
        f"relay started: {TASK}({pk}) ran x{len(celery_host.runs(pk))} "
        f"{time.monotonic() - started:.1f} s later; outbox rows: {celery_host.outbox()}"
    )
    assert len(celery_host.runs(pk)) == 1


KILLED_BATCH = 400


def test_a_relay_killed_mid_batch_and_started_again_runs_every_task(celery_host):
    """A relay SIGKILLed while it works through the outbox leaves the rest; a new one
    sends them. Only the row it had sent and not yet deleted can run twice."""
    pks = celery_host.crash(str(KILLED_BATCH))["pks"]
    assert celery_host.outbox() == KILLED_BATCH
    with celery_host.worker():
        relay = celery_host.relay("--grace", "0")
        try:
            wait_for(
                lambda: celery_host.outbox() < KILLED_BATCH * 3 // 4,
                30,
                "the relay to send a quarter of the outbox",
                interval=0.02,
            )
            os.killpg(relay.pid, signal.SIGKILL)
            relay.wait(10)
        finally:
            stop(relay)
        left = celery_host.outbox()
        show(f"relay SIGKILLed with {left} of {KILLED_BATCH} rows left in the outbox")
        assert 0 < left < KILLED_BATCH
        with celery_host.relays(1, "--grace", "0"):
            wait_for(
                lambda: celery_host.outbox() == 0
                and celery_host.queued() == 0
                and set(celery_host.run_counts()) >= set(pks),
                90,
                f"a new relay and the worker to run all {KILLED_BATCH} tasks",
                interval=0.5,
            )
    runs = celery_host.run_counts()
    twice = sorted(pk for pk in pks if runs[pk] > 1)
    show(
        f"a new relay sent the rest: {sum(runs[pk] for pk in pks)} runs for {KILLED_BATCH} "
        f"tasks, every one at least once; run twice: {twice or 'none'}"
    )
    assert all(runs[pk] >= 1 for pk in pks)
    assert len(twice) <= 1 and all(runs[pk] <= 2 for pk in pks)


SAVERS, SAVES_EACH, WORKERS, RELAYS = 4, 250, 2, 2


def test_1000_saves_from_4_processes_with_2_relays_and_2_workers_run_every_task_exactly_once(celery_host):
    """The fast path, and two relays taking rows as soon as they are committed (--grace
    0), so that they race the fast path for every row: each row is sent once."""
    started = time.monotonic()
    total = SAVERS * SAVES_EACH
    with celery_host.workers(WORKERS), celery_host.relays(RELAYS, "--grace", "0"):
        pks = run_savers(
            sys.executable, celery_host.host.root, celery_host.env, SAVERS, SAVES_EACH, timeout=180
        )
        saved = time.monotonic()
        wait_for(
            lambda: celery_host.outbox() == 0
            and celery_host.queued() == 0
            and sum(celery_host.run_counts().values()) >= total,
            120,
            f"the workers to run {total} tasks",
            interval=0.5,
        )
    runs = celery_host.run_counts()
    relayed = sum(int(n) for n in re.findall(r"relay_tasks: sent (\d+)", celery_host.logs("relay")))
    by_worker = [
        len(re.findall(rf"{TASK}\[[\w-]+\] succeeded", path.read_text()))
        for path in sorted(celery_host.host.root.glob("worker-*.log"))
    ]
    show(
        f"{len(pks)} saves from {SAVERS} processes in {saved - started:.1f} s; "
        f"{sum(runs.values())} runs of {TASK} for {len(runs)} orders, max runs per order "
        f"{max(runs.values())}; sent by the fast path {total - relayed}, by the "
        f"{RELAYS} relays {relayed}; runs by worker {by_worker}; drained "
        f"{time.monotonic() - saved:.1f} s after the last save"
    )
    assert len(pks) == len(set(pks)) == total
    assert runs == Counter(dict.fromkeys(pks, 1))
    assert celery_host.outbox() == 0


def test_one_relay_empties_the_outboxes_of_two_apps(tmp_path, redis_server, pg_database):
    """Two apps of the template in one project: `relay_tasks` (the first app's, as
    Django runs it) sends the tasks in both apps' outboxes."""
    host = CeleryHost(tmp_path / "host", redis_server, pg_database, billing=True)
    pk = host.crash("1", "billing")["pk"]
    before = {app: host.outbox(app) for app in host.apps}
    run_bounded(
        sys.executable, "manage.py", "relay_tasks", "--once", "--grace", "0",
        cwd=host.host.root, timeout=60, env=host.env,
    )
    after = {app: host.outbox(app) for app in host.apps}
    with host.worker():
        wait_for(
            lambda: host.run_counts()[pk] and host.run_counts("charge")[pk],
            30,
            f"the worker to run {TASK}({pk}) and charge({pk})",
        )
    show(
        f"killed at commit: outbox rows {before}; after one `relay_tasks --once`: {after}; "
        f"ran {TASK}({pk}) x{host.run_counts()[pk]}, charge({pk}) x{host.run_counts('charge')[pk]}"
    )
    assert before == {"orders": 1, "billing": 1}
    assert after == {"orders": 0, "billing": 0}
    assert host.run_counts()[pk] == 1 and host.run_counts("charge")[pk] == 1
