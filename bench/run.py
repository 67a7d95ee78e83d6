"""Benchmarks of django-signal-template: ratios measured side by side in one run.

    .venv/bin/python bench/run.py            # everything, about a minute
    .venv/bin/python bench/run.py --quick    # fewer repetitions: a smoke test
    .venv/bin/python bench/run.py --only save --profile

Renders what it needs into a temporary directory (the template's working tree, as
`copier copy --vcs-ref HEAD` does), measures each ORM group in its own subprocess with
its own Django (settings.configure, in-memory SQLite), times the renders as
subprocesses, prints a table and writes bench/results.json. bench/README.md says what
each row measures.

Every ratio compares runs made side by side: each round times every variant once, one
after the other, and the ratio is the median over rounds of the two variants' times in
the same round, so that load from other processes, which comes and goes, cancels out.
"""

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results.json"
BIN = Path(sys.executable).parent

APP = "orders"  # rendered with --defaults (track_changes: true)
APP_NOTRACK = "orders_notrack"  # rendered with track_changes: false
BENCH_APP = "benchapp"  # comparison models with orders.Order's fields and no receivers

FULL = {
    "save_rounds": 25,
    "saves": 250,
    "load_rounds": 7,
    "rows": 10_000,
    "render_reps": 5,
}
QUICK = {
    "save_rounds": 5,
    "saves": 200,
    "load_rounds": 3,
    "rows": 10_000,
    "render_reps": 1,
}

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
# receivers: plain, with the rendered TrackedModel, with django-model-utils' tracker.
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


PlainOrder = model("PlainOrder", models.Model)
TrackedOrder = model("TrackedOrder", TrackedModel)
try:
    from model_utils import FieldTracker
except ImportError:
    MUOrder = None
else:
    MUOrder = model("MUOrder", models.Model, tracker=FieldTracker())
"""


def setup_django(tmp: Path) -> None:
    sys.path.insert(0, str(tmp))
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        INSTALLED_APPS=[APP, APP_NOTRACK, BENCH_APP],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        },
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
        "tracked": bench.TrackedOrder,
        "model_utils": bench.MUOrder,  # None without django-model-utils
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


def timed(fn) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def rotations(variants: list[str], rounds: int):
    """(round, variants in this round's order); round -1 is the warm-up."""
    for r in range(-1, rounds):
        k = r % len(variants)
        yield r, variants[k:] + variants[:k]


def summary(per_round: list[float]) -> dict:
    return {
        "median": statistics.median(per_round),
        "min": min(per_round),
        "rounds": per_round,
    }


# ----------------------------------------------------------------------------- workers


def worker_queries(cfg: dict) -> dict:
    """Queries of one save: the rendered apps (tracking on, off) vs a plain model."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    m = bench_models()

    def count(model, action: str) -> dict:
        if action == "create":
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
            obj.save(**kwargs)
        return {
            "count": len(ctx.captured_queries),
            "sql": [q["sql"][:100] for q in ctx.captured_queries],
        }

    return {
        action: {
            key: count(m[key], action) for key in ("plain", "order", "order_notrack")
        }
        for action in (
            "update",
            "update_fields",
            "update_after_create",
            "create",
            "update_after_bulk_create",
        )
    }


def worker_save(cfg: dict) -> dict:
    """Time per save (create, update) of each variant, in interleaved rounds."""
    from decimal import Decimal

    from django.db.models.signals import pre_save

    m = {k: v for k, v in bench_models().items() if v is not None}
    receivers = Receivers(APP)
    n, rounds = cfg["saves"], cfg["save_rounds"]
    names = [f"name-{i % 2}" for i in range(n)]  # every update changes the name
    # order_bare: orders.Order with the app's receivers disconnected while it runs.
    variants = ["plain", "tracked", "order_bare", "order", "order_notrack"] + (
        ["model_utils"] if "model_utils" in m else []
    )

    def model_of(variant):
        return m["order"] if variant == "order_bare" else m[variant]

    def create(model):
        def run():
            for i in range(n):
                model(name=names[i], total=Decimal("9.99")).save()

        return run

    def update(model):
        obj = model.objects.get(pk=model.objects.create(name="start").pk)

        def run():
            for i in range(n):
                obj.name = names[i]
                obj.save()

        return run

    receivers.disconnect()
    assert not pre_save.has_listeners(m["order"]), "receivers still connected"
    receivers.connect()
    assert pre_save.has_listeners(m["order"]), "receivers not connected again"

    times: dict = {op: {v: [] for v in variants} for op in ("create", "update")}
    for r, sequence in rotations(variants, rounds):
        for op, make in (("create", create), ("update", update)):
            for v in sequence:
                run = make(model_of(v))
                if v == "order_bare":
                    receivers.disconnect()
                try:
                    t = timed(run)
                finally:
                    receivers.connect()
                if r >= 0:
                    times[op][v].append(t / n)
        for model in {model_of(v) for v in variants}:
            model._base_manager.all()._raw_delete(model._base_manager.db)
    result: dict = {
        op: {v: summary(ts) for v, ts in per.items()} for op, per in times.items()
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
    variants = [v for v in ("plain", "order", "model_utils") if m[v] is not None]
    for v in variants:
        m[v].objects.bulk_create(
            [m[v](name=f"row-{i}") for i in range(rows)], batch_size=1000
        )
    times: dict = {v: [] for v in variants}
    for r, sequence in rotations(variants, rounds):
        for v in sequence:
            manager = m[v].objects
            t = timed(lambda: list(manager.all()))  # noqa: B023
            if r >= 0:
                times[v].append(t)
    return {v: {**summary(ts), "rows": rows} for v, ts in times.items()}


WORKERS = {"queries": worker_queries, "save": worker_save, "load": worker_load}


def run_worker(name: str, tmp: Path, cfg: dict) -> dict:
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            name,
            "--dir",
            str(tmp),
            "--cfg",
            json.dumps(cfg),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"worker {name} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- renders


def sh(*cmd, cwd: Path | None = None) -> float:
    """Run a command; its wall time in seconds."""
    start = time.perf_counter()
    result = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(map(str, cmd))} failed:\n{result.stdout}\n{result.stderr}"
        )
    return elapsed


GIT = [
    "git",
    "-c",
    "user.name=bench",
    "-c",
    "user.email=bench@example.com",
    "-c",
    "commit.gpgsign=false",
]


def git_repo(path: Path, tag: str | None = None) -> None:
    sh(*GIT, "init", "-q", cwd=path)
    sh(*GIT, "add", "-A", cwd=path)
    sh(*GIT, "commit", "-q", "-m", "bench", cwd=path)
    if tag:
        sh(*GIT, "tag", tag, cwd=path)


def tool(script: str, module: str) -> list:
    """The console script next to this Python, else ``python -m module``."""
    path = BIN / script
    return [path] if path.exists() else [sys.executable, "-m", module]


def snapshot(path: Path) -> None:
    """This template's working tree, committed and tagged v1.0.0 in a repo at ``path``.

    Users copy from a tag; rendering the working tree itself (--vcs-ref HEAD) would add
    a step that only uncommitted local templates take (copier commits the changes into
    its clone, about 0.05 s here).
    """
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, path / rel)
    git_repo(path, tag="v1.0.0")


def measure_render(tmp: Path, cfg: dict) -> dict:
    copier, django_admin = tool("copier", "copier"), tool("django-admin", "django")
    work = tmp / "render"
    work.mkdir()
    copy = ["copy", "--defaults", "--quiet", "--overwrite"]

    ours = work / "template"
    snapshot(ours)
    # A template of one .jinja file (and a copier.yml with one question), tagged too.
    tiny = work / "tiny-template"
    tiny.mkdir()
    (tiny / "copier.yml").write_text("name:\n  type: str\n  default: world\n")
    (tiny / "hello.txt.jinja").write_text("Hello {{ name }}!\n")
    git_repo(tiny, tag="v1.0.0")
    # For copier update: the app rendered from the snapshot, in a git repository.
    project = work / "project"
    project.mkdir()
    sh(*copier, *copy, ours, project / "orders")
    git_repo(project)
    # The first update drops the answers only a first copy asks for; time the next ones.
    sh(*copier, "update", "--defaults", "--quiet", cwd=project / "orders")
    sh(*GIT, "commit", "-qam", "first update", cwd=project)

    t: dict = {"copier_copy": [], "copier_copy_tiny": [], "startapp": [], "update": []}
    for i in range(cfg["render_reps"] + 1):  # repetition 0 is a warm-up
        (work / f"startapp-{i}").mkdir()
        # Both from a git tag, one after the other, the first one alternating.
        copies = {
            "copier_copy": (ours, work / f"ours-{i}" / "orders"),
            "copier_copy_tiny": (tiny, work / f"tiny-{i}"),
        }
        secs = {
            key: sh(*copier, *copy, *copies[key])
            for key in sorted(copies, reverse=i % 2 == 1)
        }
        secs |= {
            "startapp": sh(
                *django_admin, "startapp", "orders", cwd=work / f"startapp-{i}"
            ),
            "update": sh(
                *copier, "update", "--defaults", "--quiet", cwd=project / "orders"
            ),
        }
        for key, value in secs.items():
            if i:
                t[key].append(value)
    status = subprocess.run(
        ["git", "status", "--porcelain"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        **{k: summary(v) for k, v in t.items()},
        "update_left_changes": status.stdout.splitlines(),
    }


# ----------------------------------------------------------------------------- report


def paired(a: dict, b: dict) -> float:
    """Median over rounds of a's time / b's time in the same round."""
    return statistics.median(
        x / y for x, y in zip(a["rounds"], b["rounds"], strict=True)
    )


def rows_from(results: dict) -> list[dict]:
    rows: list[dict] = []

    def add(group, name, values, ratio, target=None, note="info"):
        ok = None if target is None else ratio <= target + 1e-9
        rows.append(
            {
                "group": group,
                "measurement": name,
                "values": values,
                "ratio": round(ratio, 3),
                "target": target,
                "pass": ok,
                "note": note,
            }
        )

    if q := results.get("queries"):
        for action, label in (
            ("update", "update of a loaded row"),
            ("update_fields", "update with update_fields"),
            ("update_after_create", "update of a row it created"),
            ("create", "create"),
            ("update_after_bulk_create", "update of a row from bulk_create"),
        ):
            c = {k: v["count"] for k, v in q[action].items()}
            add(
                "1 queries",
                f"{label}: tracked app vs bare save",
                f"{c['order']} vs {c['plain']} queries",
                c["order"] / c["plain"],
                1.0,
            )
        c = {k: v["count"] for k, v in q["update"].items()}
        add(
            "1 queries",
            "update: track_changes=false app (seed's .get) vs bare",
            f"{c['order_notrack']} vs {c['plain']} queries",
            c["order_notrack"] / c["plain"],
            note="info: the SELECT tracking saves",
        )

    if s := results.get("save"):

        def us(op, v):
            return s[op][v]["median"] * 1e6

        def save_rows(group, label, variant, baseline, ops=("create", "update"), **kw):
            """One row per save operation: ``variant`` vs ``baseline`` side by side."""
            for op in ops:
                if variant in s[op]:
                    add(
                        group,
                        label.format(op=op),
                        f"{us(op, variant):.1f} vs {us(op, baseline):.1f} us",
                        paired(s[op][variant], s[op][baseline]),
                        **kw,
                    )

        save_rows(
            "2 save",
            "{op}: Order, default receivers vs none connected",
            "order",
            "order_bare",
            target=1.15,
        )
        save_rows(
            "2 save",
            "{op}: Order with receivers vs plain model",
            "order",
            "plain",
            note="info: tracking + receivers",
        )
        save_rows(
            "2 save",
            "{op}: track_changes=false app, receivers vs plain",
            "order_notrack",
            "plain",
            ops=("update",),
            note="info: the seed's fetch",
        )

    if ld := results.get("load"):
        ms = {v: ld[v]["median"] * 1e3 for v in ld}
        n = ld["plain"]["rows"]
        add(
            "3 tracking",
            f"load {n} rows: TrackedModel vs plain model",
            f"{ms['order']:.1f} vs {ms['plain']:.1f} ms",
            paired(ld["order"], ld["plain"]),
            1.5,
        )
        if "model_utils" in ld:
            add(
                "3 tracking",
                f"load {n} rows: model-utils FieldTracker() vs plain",
                f"{ms['model_utils']:.1f} vs {ms['plain']:.1f} ms",
                paired(ld["model_utils"], ld["plain"]),
                note="info: measured elsewhere ~5.2x",
            )
    if s:
        save_rows(
            "3 tracking",
            "save ({op}): TrackedModel vs plain model",
            "tracked",
            "plain",
            target=1.15,
        )
        save_rows(
            "3 tracking",
            "save ({op}): model-utils FieldTracker() vs plain",
            "model_utils",
            "plain",
            note="info: measured elsewhere ~1.22x",
        )

    if r := results.get("render"):
        sec = {k: v["median"] for k, v in r.items() if isinstance(v, dict)}
        add(
            "4 render",
            "copier copy --defaults: this template vs one-file template",
            f"{sec['copier_copy']:.2f} vs {sec['copier_copy_tiny']:.2f} s",
            paired(r["copier_copy"], r["copier_copy_tiny"]),
            1.5,
        )
        add(
            "4 render",
            "copier copy --defaults vs django-admin startapp",
            f"{sec['copier_copy']:.2f} vs {sec['startapp']:.2f} s",
            paired(r["copier_copy"], r["startapp"]),
        )
        add(
            "4 render",
            "copier update (no changes) vs copier copy",
            f"{sec['update']:.2f} vs {sec['copier_copy']:.2f} s",
            paired(r["update"], r["copier_copy"]),
            note="info" + ("; UPDATE LEFT CHANGES" if r["update_left_changes"] else ""),
        )
    return rows


def print_table(rows: list[dict]) -> None:
    head = ("measurement", "values", "ratio", "target", "result")
    lines = [
        (
            f"{row['group']}: {row['measurement']}",
            row["values"],
            f"{row['ratio']:.2f}x",
            "-" if row["target"] is None else f"<= {row['target']:.2f}x",
            {True: "PASS", False: "FAIL", None: row["note"]}[row["pass"]],
        )
        for row in rows
    ]
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    align = "<<>><"
    for line in [head, tuple("-" * w for w in widths), *lines]:
        print(
            "  ".join(
                f"{cell:{a}{w}}" for cell, a, w in zip(line, align, widths, strict=True)
            ).rstrip()
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions (a smoke test)"
    )
    parser.add_argument(
        "--only",
        default="queries,save,load,render",
        help="comma-separated: queries,save,load,render",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile updates of Order with its receivers",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--cfg", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        setup_django(Path(args.dir))
        print(json.dumps(WORKERS[args.worker](json.loads(args.cfg))))
        return 0

    cfg = {**(QUICK if args.quick else FULL), "profile": args.profile}
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    if unknown := set(groups) - {*WORKERS, "render"}:
        parser.error(f"unknown groups: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="dst-bench-"))
    results: dict = {}
    try:
        if set(groups) & set(WORKERS):
            render_apps(tmp)
        for group in groups:
            print(f"... {group}", file=sys.stderr, flush=True)
            results[group] = (
                measure_render(tmp, cfg)
                if group == "render"
                else run_worker(group, tmp, cfg)
            )
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.perf_counter() - started

    rows = rows_from(results)
    print_table(rows)
    failed = [row for row in rows if row["pass"] is False]
    if profile := results.get("save", {}).pop("profile", None):
        print(
            "\ncProfile of Order updates with the default receivers (cumulative):\n"
            + profile.rstrip()
        )
    elif any(row["group"] == "2 save" for row in failed):
        print(
            "\nsave overhead above target: run with --only save --profile to see where"
            " the time goes"
        )

    import copier
    import django

    RESULTS.write_text(
        json.dumps(
            {
                "rows": rows,
                "raw": results,
                "config": cfg,
                "environment": {
                    "python": platform.python_version(),
                    "django": django.get_version(),
                    "copier": getattr(copier, "__version__", "?"),
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                    "load_average": os.getloadavg()
                    if hasattr(os, "getloadavg")
                    else None,
                    "seconds": round(elapsed, 1),
                },
            },
            indent=2,
        )
        + "\n"
    )
    quick = " (--quick: a smoke test, not numbers to quote)" if args.quick else ""
    print(
        f"\n{len(failed)} of {sum(r['target'] is not None for r in rows)} targets"
        " missed; "
        f"wrote {RESULTS.relative_to(ROOT)} in {elapsed:.0f} s{quick}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
