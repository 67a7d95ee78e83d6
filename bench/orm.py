"""ORM benchmarks: queries and time of save() and of loading rows, per tracking option.

run.py calls render_apps() once, then run_worker() per group: each group runs in its own
subprocess (this file, run as a script) with its own Django (settings.configure,
in-memory SQLite, or with --db postgresql a throwaway PostgreSQL database of its own),
and prints its results as one JSON line.
"""

import argparse
import contextlib
import cProfile
import io
import json
import pstats
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import observe as observe_bench
from timing import rotations, summary, timed

ROOT = Path(__file__).resolve().parent.parent

APP = "orders"  # rendered with --defaults (track_changes: true)
APP_NOTRACK = "orders_notrack"  # rendered with track_changes: false
BENCH_APP = "benchapp"  # comparison models with orders.Order's fields and no receivers
# PostgreSQL as scripts/services.sh starts it (the tests' server).
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "password": "postgres"}

# ----------------------------------------------------------------------------- setup


def render_apps(tmp: Path) -> None:
    """Render the apps the ORM workers import; write the app of comparison models."""
    from copier import run_copy

    for name, data in ((APP, {}), (APP_NOTRACK, {"track_changes": False})):
        with warnings.catch_warnings():
            # DirtyLocalWarning: the working tree is what we measure.
            warnings.simplefilter("ignore")
            run_copy(
                str(ROOT),
                str(tmp / name),
                data={"app_name": name, **data},
                defaults=True,
                unsafe=False,
                quiet=True,
                vcs_ref="HEAD",
            )
    (tmp / BENCH_APP).mkdir()
    (tmp / BENCH_APP / "__init__.py").write_text("")
    (tmp / BENCH_APP / "models.py").write_text(BENCH_MODELS.format(app=APP))


# Models with exactly the concrete fields of the rendered Order (cloned from it, so they
# follow the template's default models; the many-to-many field is left out) and no
# receivers: PlainOrder, a plain model; and, for the tracking group, the same fields plus a
# FileField and a JSONField (values a tracker must convert or copy), as a plain model, with
# the rendered TrackedModel and with django-model-utils' tracker.
BENCH_MODELS = """\
from django.db import models

from {app}.models import Order
from {app}.tracking import TrackedModel


def fields():
    result = {{}}
    for field in Order._meta.local_fields:
        if field.primary_key:
            continue
        name, path, args, kwargs = field.deconstruct()
        if field.is_relation:
            kwargs["related_name"] = "+"
        result[name] = type(field)(*args, **kwargs)
    return result


def model(name, base, **extra):
    return type(name, (base,), {{"__module__": __name__, **fields(), **extra}})


def doc(name, base, **extra):
    file = models.FileField(upload_to="bench", blank=True)
    return model(name, base, attachment=file, data=models.JSONField(default=dict), **extra)


PlainOrder = model("PlainOrder", models.Model)
PlainDoc = doc("PlainDoc", models.Model)
TrackedDoc = doc("TrackedDoc", TrackedModel)
try:
    from model_utils import FieldTracker
except ImportError:
    MUDoc = None
else:
    MUDoc = doc("MUDoc", models.Model, tracker=FieldTracker())
"""


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A new PostgreSQL database for one worker, dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"dst_bench_{uuid.uuid4().hex[:12]}"
    admin = dict(dbname="postgres", autocommit=True, connect_timeout=3, **PG)
    with psycopg.connect(**admin) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(**admin) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def database_settings(cfg: dict) -> dict:
    if cfg.get("db") == "postgresql":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": cfg["pg_name"],
            "USER": PG["user"],
            "PASSWORD": PG["password"],
            "HOST": PG["host"],
            "PORT": str(PG["port"]),
        }
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}


def setup_django(tmp: Path, cfg: dict) -> None:
    sys.path.insert(0, str(tmp))
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        INSTALLED_APPS=[APP, APP_NOTRACK, BENCH_APP],
        DATABASES={"default": database_settings(cfg)},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def bench_models() -> dict:
    from benchapp import models as bench  # type: ignore[import-not-found]
    from django.apps import apps

    return {
        "plain": bench.PlainOrder,
        "plain_doc": bench.PlainDoc,
        "tracked_doc": bench.TrackedDoc,
        "model_utils_doc": bench.MUDoc,  # None without django-model-utils
        "order": apps.get_model(APP, "Order"),
        "order_notrack": apps.get_model(APP_NOTRACK, "Order"),
    }


class Receivers:
    """Disconnect, and connect again, every receiver connected by ``label``.signals."""

    def __init__(self, label: str) -> None:
        from django.db.models import signals as model_signals
        from django.dispatch import Signal

        app_signals = __import__(f"{label}.signals", fromlist=["_"])
        found = [
            s
            for m in (model_signals, app_signals)
            for s in vars(m).values()
            if isinstance(s, Signal)
        ]
        self.saved = {s: list(s.receivers) for s in found}
        self.prefix = f"{label}."

    @staticmethod
    def _set(signal, receivers) -> None:
        with signal.lock:
            signal.receivers = receivers
            signal.sender_receivers_cache.clear()

    def disconnect(self) -> None:
        # Entries start with (dispatch_uid, sender id); our uids are "<app>.<handler>".
        for signal, receivers in self.saved.items():
            self._set(
                signal,
                [r for r in receivers if not str(r[0][0]).startswith(self.prefix)],
            )

    def connect(self) -> None:
        for signal, receivers in self.saved.items():
            self._set(signal, list(receivers))


@contextlib.contextmanager
def querying_body() -> Iterator[None]:
    """The post_save receiver's bodies of orders.Order each run one query (``SELECT
    1``): what a body that touches the database pays, its savepoint included."""
    from django.db import connection

    handler = __import__(f"{APP}.handlers.after_order_save", fromlist=["_"])

    def body(*args, **kwargs) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    saved = handler.on_create, handler.on_update
    handler.on_create = handler.on_update = body
    try:
        yield
    finally:
        handler.on_create, handler.on_update = saved


# ----------------------------------------------------------------------------- workers


def worker_queries(cfg: dict) -> dict:
    """Queries of one save: the rendered apps (tracking on, off) vs a plain model, and
    orders.Order with its receivers' bodies as rendered, with a body that queries, and
    with no receiver connected, outside and inside atomic()."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    m = bench_models()
    receivers = Receivers(APP)

    def count(model, action: str) -> dict:
        if action.startswith("create"):
            obj = model(name="new")
        elif action == "update_after_create":
            obj = model.objects.create(name="created")
        elif action == "update_after_bulk_create":
            (obj,) = model.objects.bulk_create([model(name="bulk")])
        else:
            obj = model.objects.get(pk=model.objects.create(name="old").pk)
        kwargs = {"update_fields": ["name"]} if action == "update_fields" else {}
        obj.name = "changed"
        with CaptureQueriesContext(connection) as ctx:
            if action.endswith("_in_atomic"):
                with transaction.atomic():
                    obj.save()
            else:
                obj.save(**kwargs)
        return {
            "count": len(ctx.captured_queries),
            "sql": [q["sql"][:100] for q in ctx.captured_queries],
        }

    def order_variants(action: str) -> dict:
        """orders.Order: no receiver connected, a body that queries."""
        receivers.disconnect()
        try:
            bare = count(m["order"], action)
        finally:
            receivers.connect()
        with querying_body():
            querying = count(m["order"], action)
        return {"order_bare": bare, "order_querying": querying}

    results = {
        action: {
            key: count(m[key], action) for key in ("plain", "order", "order_notrack")
        }
        for action in (
            "update",
            "update_fields",
            "update_after_create",
            "create",
            "update_after_bulk_create",
            "update_in_atomic",
            "create_in_atomic",
        )
    }
    for action in ("update", "create", "update_in_atomic", "create_in_atomic"):
        results[action].update(order_variants(action))
    return results


def doc_values(i: int) -> dict:
    """The FileField and JSONField values of a row of the *Doc models."""
    return {
        "attachment": f"bench/file-{i}.pdf",
        "data": {"n": i, "tags": ["a", "b"], "paid": False},
    }


def worker_save(cfg: dict) -> dict:
    """Time per save (create, update) of each variant, in interleaved rounds."""
    from decimal import Decimal

    from django.db import transaction
    from django.db.models.signals import pre_save

    m = {k: v for k, v in bench_models().items() if v is not None}
    docs = {m[v] for v in ("plain_doc", "tracked_doc", "model_utils_doc") if v in m}
    receivers = Receivers(APP)
    n, rounds = cfg["saves"], cfg["save_rounds"]
    names = [f"name-{i % 2}" for i in range(n)]  # every update changes the name
    # order_bare: orders.Order with the app's receivers disconnected while it runs;
    # order_querying: with its post_save body running one query (querying_body()).
    variants = ["plain", "order_bare", "order", "order_querying", "order_notrack"]
    variants += [v for v in ("plain_doc", "tracked_doc", "model_utils_doc") if v in m]

    def model_of(variant):
        return m["order"] if variant.startswith("order_") else m[variant]

    def create(model):
        more = doc_values if model in docs else lambda i: {}

        def run():
            for i in range(n):
                model(name=names[i], total=Decimal("9.99"), **more(i)).save()

        return run

    def update(model):
        more = doc_values(0) if model in docs else {}
        obj = model.objects.get(pk=model.objects.create(name="start", **more).pk)

        def run():
            for i in range(n):
                obj.name = names[i]
                obj.save()

        return run

    def update_in_atomic(model):
        """Each update in its own atomic(): the receivers run where a savepoint is due."""
        obj = model.objects.get(pk=model.objects.create(name="start").pk)

        def run():
            for i in range(n):
                obj.name = names[i]
                with transaction.atomic():
                    obj.save()

        return run

    def create_in_atomic(model):
        """Each create in its own atomic()."""
        more = doc_values if model in docs else lambda i: {}

        def run():
            for i in range(n):
                with transaction.atomic():
                    model(name=names[i], total=Decimal("9.99"), **more(i)).save()

        return run

    receivers.disconnect()
    assert not pre_save.has_listeners(m["order"]), "receivers still connected"
    receivers.connect()
    assert pre_save.has_listeners(m["order"]), "receivers not connected again"

    operations = {
        "create": create,
        "update": update,
        "create_in_atomic": create_in_atomic,
        "update_in_atomic": update_in_atomic,
    }
    # The variants measured in atomic(): the rest is measured outside it.
    in_atomic = {"plain", "order_bare", "order", "order_querying"}
    times: dict = {op: {v: [] for v in variants} for op in operations}
    for r, sequence in rotations(variants, rounds):
        for op, make in operations.items():
            for v in sequence:
                if op.endswith("_in_atomic") and v not in in_atomic:
                    continue
                run = make(model_of(v))
                if v == "order_bare":
                    receivers.disconnect()
                try:
                    with (
                        querying_body()
                        if v == "order_querying"
                        else contextlib.nullcontext()
                    ):
                        t = timed(run)
                finally:
                    receivers.connect()
                if r >= 0:
                    times[op][v].append(t / n)
        for model in {model_of(v) for v in variants}:
            model._base_manager.all()._raw_delete(model._base_manager.db)
    result: dict = {
        op: {v: summary(ts) for v, ts in per.items() if ts} for op, per in times.items()
    }
    if cfg.get("profile"):
        result["profile"] = profile_update(m["order"], names)
    return result


def profile_update(model, names) -> str:
    obj = model.objects.get(pk=model.objects.create(name="start").pk)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(8):
        for name in names:
            obj.name = name
            obj.save()
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs()
    stats.sort_stats("cumulative").print_stats(
        r"(base\.py.*save|tracking|signals|handlers|dispatcher)", 20
    )
    return buf.getvalue()


def worker_load(cfg: dict) -> dict:
    """Time of list(Model.objects.all()) over the same rows, per tracking option."""
    m = bench_models()
    rows, rounds = cfg["rows"], cfg["load_rounds"]
    variants = [
        v for v in ("plain_doc", "tracked_doc", "model_utils_doc") if m[v] is not None
    ]
    for v in variants:
        m[v].objects.bulk_create(
            [m[v](name=f"row-{i}", **doc_values(i)) for i in range(rows)],
            batch_size=1000,
        )
    times: dict = {v: [] for v in variants}
    for r, sequence in rotations(variants, rounds):
        for v in sequence:
            manager = m[v].objects
            t = timed(lambda: list(manager.all()))  # noqa: B023
            if r >= 0:
                times[v].append(t)
    return {v: {**summary(ts), "rows": rows} for v, ts in times.items()}


def worker_observe(cfg: dict) -> dict:
    return observe_bench.worker_observe(cfg, bench_models()["order"], Receivers(APP))


def worker_sentry(cfg: dict) -> dict:
    return observe_bench.worker_sentry(cfg, bench_models()["order"], Receivers(APP))


WORKERS = {
    "queries": worker_queries,
    "save": worker_save,
    "load": worker_load,
    "observe": worker_observe,
    "sentry": worker_sentry,
}


def run_worker(name: str, tmp: Path, cfg: dict) -> dict:
    """Run group ``name`` in a subprocess with Django set up on the apps in ``tmp``
    (on PostgreSQL, in a new database of its own)."""
    with (
        pg_database()
        if cfg.get("db") == "postgresql"
        else contextlib.nullcontext("") as pg
    ):
        worker_cfg = {**cfg, "pg_name": pg}
        result = subprocess.run(
            [
                *(sys.executable, __file__, name, "--dir", str(tmp)),
                *("--cfg", json.dumps(worker_cfg)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise SystemExit(f"worker {name} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description="one ORM group; run by bench/run.py")
    parser.add_argument("group", choices=sorted(WORKERS))
    parser.add_argument("--dir", required=True, help="where render_apps() rendered")
    parser.add_argument("--cfg", required=True, help="run.py's configuration, JSON")
    args = parser.parse_args()
    cfg = json.loads(args.cfg)
    setup_django(Path(args.dir), cfg)
    print(json.dumps(WORKERS[args.group](cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
