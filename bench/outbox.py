"""The Celery outbox: what enqueue_on_commit() costs and how soon a task starts.

run.py calls measure_outbox(): it renders examples/orders.yml (task_backend: celery) into
a host project on PostgreSQL and a private redis-server (tests/services.py starts both,
as the end-to-end tests do), starts a real Celery worker, and runs CLIENT below in the
host as its own process. Each round runs two variants one after the other (the order
rotating): `outbox`, this template's enqueue_on_commit(), and `delay`, 2.0.0's
`transaction.on_commit(lambda: task.delay(pk), robust=True)`; each variant is a batch of
transactions that insert an AuditLog row and queue one task. Inside the transaction the
time of the enqueue call alone is taken; after the commit, the time of the on_commit
callbacks (the fast path, or the .delay()). The latency rows time, one task at a time,
from the commit to the worker's task_prerun: by the fast path, by 2.0.0's .delay(), and by
`relay_tasks` for a row left as a process killed at the commit leaves it.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

TASK = "send_order_confirmation_email"

CELERY_PY = """\
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
app = Celery("proj")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
"""

# In the worker: when each task starts, by its id, in Redis db 2.
PROBE_PY = """\
import time

import redis
from celery.signals import task_prerun
from django.conf import settings

starts = redis.Redis.from_url(settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/2")


@task_prerun.connect(weak=False)
def started(sender=None, task_id=None, **kwargs):
    starts.set(task_id, repr(time.time()))
"""

CLIENT_PY = """\
import json
import os
import sys
import time
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
import django

django.setup()

import redis
from celery.signals import before_task_publish
from django.conf import settings
from django.db import transaction

sys.path.insert(0, sys.argv[2])
from timing import rotations, summary

from orders.models import AuditLog
from orders.outbox import OutboxTask
from orders.tasks import enqueue_on_commit, send_order_confirmation_email as task

cfg = json.loads(sys.argv[1])
starts = redis.Redis.from_url(settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/2")
broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
published = []
before_task_publish.connect(lambda headers=None, **kw: published.append(headers["id"]), weak=False)


def enqueue_delay(task, pk):  # 2.0.0's enqueue_on_commit
    def send():
        task.delay(pk)

    transaction.on_commit(send, robust=True)


VARIANTS = {"outbox": enqueue_on_commit, "delay": enqueue_delay}


def one(enqueue):
    \"\"\"One transaction: (enqueue inside it, callbacks after the commit), in seconds.\"\"\"
    marks = {}
    with transaction.atomic():
        # The first callback: the commit is done when it runs.
        transaction.on_commit(lambda: marks.setdefault("commit", time.perf_counter()))
        row = AuditLog.objects.create(action="bench", object_id="1")
        start = time.perf_counter()
        enqueue(task, row.pk)
        inside = time.perf_counter() - start
    return inside, time.perf_counter() - marks["commit"]


def drained():
    while broker.llen("celery"):
        time.sleep(0.05)


def costs():
    per = {name: {"inside": [], "after": []} for name in VARIANTS}
    for r, order in rotations(list(VARIANTS), cfg["outbox_rounds"]):
        for name in order:
            times = [one(VARIANTS[name]) for _ in range(cfg["outbox_saves"])]
            if r >= 0:
                per[name]["inside"].append(sum(t[0] for t in times) / len(times))
                per[name]["after"].append(sum(t[1] for t in times) / len(times))
        drained()
    return {name: {k: summary(v) for k, v in d.items()} for name, d in per.items()}


def started_after(task_id, committed):
    deadline = time.time() + 30
    while (value := starts.get(task_id)) is None:
        if time.time() > deadline:
            raise SystemExit(f"task {task_id} did not start")
        time.sleep(0.001)
    return float(value) - committed


def latency(kind):
    lags = []
    for _ in range(cfg["latency_tasks"]):
        drained()
        published.clear()
        marks = []
        with transaction.atomic():
            # The first callback: the commit is done when it runs, the enqueue's runs next.
            transaction.on_commit(lambda: marks.append(time.time()))
            if kind == "relay":  # what a process killed at the commit leaves
                task_id = str(OutboxTask.objects.create(task=task.name, args=[1]).pk)
            elif kind == "outbox":
                enqueue_on_commit(task, 1)
            else:
                enqueue_delay(task, 1)
        if kind != "relay":
            task_id = published[-1]
        lags.append(started_after(task_id, marks[0]))
        time.sleep(0.02)
    return summary(lags)


phase = sys.argv[3]
print(json.dumps(costs() if phase == "costs" else latency(phase)))
"""


def measure_outbox(tmp: Path, cfg: dict) -> dict:
    """The outbox group's results; {"skipped": reason} without PostgreSQL or Redis."""
    from copier import run_copy

    import services

    host = tmp / "outbox-host"
    host.mkdir()
    try:
        redis_server = services.RedisServer(host)
        database = services.new_pg_database()
        name = database.__enter__()
    except BaseException as error:  # services skips (pytest's Skipped) without them
        return {"skipped": f"PostgreSQL and Redis are needed: {error}"}
    processes: list[subprocess.Popen] = []
    try:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "proj.settings",
            "PYTHONPATH": str(host),
        }
        subprocess.run(
            [sys.executable, "-m", "django", "startproject", "proj", str(host)],
            check=True,
        )
        answers = {
            **yaml.safe_load((ROOT / "examples" / "orders.yml").read_text()),
            "app_name": "orders",
        }
        run_copy(
            str(ROOT),
            str(host / "orders"),
            data=answers,
            defaults=True,
            quiet=True,
            vcs_ref="HEAD",
        )
        settings = host / "proj" / "settings.py"
        settings.write_text(
            settings.read_text().replace(
                "INSTALLED_APPS = [", "INSTALLED_APPS = [\n    'orders',", 1
            )
            + services.pg_settings(name)
            + 'DATABASES["default"]["CONN_MAX_AGE"] = None\n'
            + f"CELERY_BROKER_URL = {redis_server.url(0)!r}\n"
            + 'CELERY_IMPORTS = ["proj.probe"]\n'
        )
        (host / "proj" / "celery.py").write_text(CELERY_PY)
        (host / "proj" / "__init__.py").write_text(
            "from .celery import app as celery_app\n"
        )
        (host / "proj" / "probe.py").write_text(PROBE_PY)
        (host / "client.py").write_text(CLIENT_PY)
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v", "0"], cwd=host, env=env, check=True)
        log = (host / "worker.log").open("w")
        worker = subprocess.Popen(
            [
                Path(sys.executable).parent / "celery",
                "-A",
                "proj",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=host,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append(worker)
        wait_for_worker(redis_server, worker, host / "worker.log")

        def client(phase: str) -> dict:
            result = subprocess.run(
                [
                    sys.executable,
                    "client.py",
                    json.dumps(cfg),
                    str(Path(__file__).parent),
                    phase,
                ],
                cwd=host,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
            if result.returncode != 0:
                raise SystemExit(
                    f"outbox bench {phase} failed:\n{result.stdout}\n{result.stderr}"
                )
            return json.loads(result.stdout.strip().splitlines()[-1])

        results = {"costs": client("costs"), "latency": {}}
        for kind in ("outbox", "delay"):
            results["latency"][kind] = client(kind)
        relay = subprocess.Popen(
            [*manage, "relay_tasks", "--grace", "0", "--interval", "0.1"],
            cwd=host,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        processes.append(relay)
        results["latency"]["relay"] = client("relay")
        return results
    finally:
        for process in processes:
            services.stop(process)
        redis_server.close()
        database.__exit__(None, None, None)


def wait_for_worker(redis_server, worker: subprocess.Popen, log: Path) -> None:
    """Until the worker answers: a ping through the broker via `celery inspect` is slow,
    so wait for the worker's queue consumer to register with Redis."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited:\n{log.read_text()}")
        if redis_server.client.exists("_kombu.binding.celery"):
            time.sleep(0.5)
            return
        time.sleep(0.1)
    raise SystemExit("the worker did not start")


if __name__ == "__main__":  # a quick look: python bench/outbox.py
    cfg = {"outbox_rounds": 3, "outbox_saves": 50, "latency_tasks": 10}
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(measure_outbox(Path(folder), cfg), indent=1))
