"""Benchmarks of django-signal-template: ratios measured side by side in one run.

    .venv/bin/python bench/run.py            # everything, a few minutes
    .venv/bin/python bench/run.py --quick    # fewer repetitions: a smoke test
    .venv/bin/python bench/run.py --only save --profile
    .venv/bin/python bench/run.py --db postgresql   # or BENCH_DB=postgresql

This file is the driver: it parses the command line, runs the groups, prints the table
and writes bench/results.json. orm.py renders what the ORM groups need into a temporary
directory (the template's working tree, as `copier copy --vcs-ref HEAD` does) and
measures each of them in its own subprocess with its own Django (settings.configure,
in-memory SQLite, or with --db postgresql a throwaway database on the server that
scripts/services.sh starts, postgres/postgres@localhost:5432); render.py times the renders as subprocesses; timing.py holds the
side-by-side timing they share. bench/README.md says what each row measures.

Every ratio compares runs made side by side: each round times every variant once, one
after the other, and the ratio is the median over rounds of the two variants' times in
the same round, so that load from other processes, which comes and goes, cancels out.
"""

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from observe import RECEIVERS_PER_CREATE
from orm import WORKERS, render_apps, run_worker
from outbox import measure_outbox
from render import measure_render
from timing import paired

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results.json"

FULL = {
    "save_rounds": 25,
    "saves": 250,
    "load_rounds": 7,
    "rows": 10_000,
    "render_reps": 11,
    "outbox_rounds": 11,
    "outbox_saves": 100,
    "latency_tasks": 30,
}
QUICK = {
    "save_rounds": 5,
    "saves": 200,
    "load_rounds": 3,
    "rows": 10_000,
    "render_reps": 1,
    "outbox_rounds": 3,
    "outbox_saves": 30,
    "latency_tasks": 5,
}

# ----------------------------------------------------------------------------- report


def rows_from(results: dict, db: str = "sqlite") -> list[dict]:
    rows: list[dict] = []
    pg = db == "postgresql"

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
        equal = {"target": 1.0}
        for action, label, variant, kw in (
            ("update", "update of a loaded row", "order", equal),
            ("update_fields", "update with update_fields", "order", equal),
            ("update_after_create", "update of a row it created", "order", equal),
            ("create", "create", "order", equal),
            (
                "update_after_bulk_create",
                "update of a row from bulk_create",
                "order",
                equal,
            ),
            ("update_in_atomic", "update in atomic()", "order", equal),
            (
                "update",
                "update, track_changes=false app (seed's .get)",
                "order_notrack",
                {"note": "info: the SELECT tracking saves"},
            ),
        ):
            c = {k: v["count"] for k, v in q[action].items()}
            add(
                "1 queries",
                f"{label}: rendered app vs bare save",
                f"{c[variant]} vs {c['plain']} queries",
                c[variant] / c["plain"],
                **kw,
            )
        for action, label in (
            ("create", "create"),
            ("update", "update"),
            ("create_in_atomic", "create in atomic()"),
            ("update_in_atomic", "update in atomic()"),
        ):
            c = {k: v["count"] for k, v in q[action].items()}
            add(
                "1 queries",
                f"{label}: Order, default receivers vs none connected",
                f"{c['order']} vs {c['order_bare']} queries",
                c["order"] / c["order_bare"],
                target=1.0,
            )
            add(
                "1 queries",
                f"{label}: Order, a body that queries vs none connected",
                f"{c['order_querying']} vs {c['order_bare']} queries",
                c["order_querying"] / c["order_bare"],
                note="info: its query"
                + (", SAVEPOINT, RELEASE" if "atomic" in action else ""),
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

        # Targets: on SQLite as before; on PostgreSQL, the (20).
        save_rows(
            "2 save",
            "{op}: Order, default receivers vs none connected",
            "order",
            "order_bare",
            target=1.10 if pg else 1.15,
        )
        save_rows(
            "2 save",
            "{op}: Order, default receivers vs none connected",
            "order",
            "order_bare",
            ops=("create_in_atomic", "update_in_atomic"),
            **({"target": 1.15} if pg else {"note": "info: each in its own atomic()"}),
        )
        save_rows(
            "2 save",
            "{op}: Order, a body that queries vs none connected",
            "order_querying",
            "order_bare",
            ops=("create", "update", "create_in_atomic", "update_in_atomic"),
            note="info: its query (and savepoint)",
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
        n = ld["plain_doc"]["rows"]
        add(
            "3 tracking",
            f"load {n} rows (with a FileField, a JSONField): TrackedModel vs plain",
            f"{ms['tracked_doc']:.1f} vs {ms['plain_doc']:.1f} ms",
            paired(ld["tracked_doc"], ld["plain_doc"]),
            1.5,
        )
        if "model_utils_doc" in ld:
            add(
                "3 tracking",
                f"load {n} rows (the same): model-utils FieldTracker() vs plain",
                f"{ms['model_utils_doc']:.1f} vs {ms['plain_doc']:.1f} ms",
                paired(ld["model_utils_doc"], ld["plain_doc"]),
                note="info",
            )
    if s:
        save_rows(
            "3 tracking",
            "save ({op}, the same model): TrackedModel vs plain",
            "tracked_doc",
            "plain_doc",
            target=1.15,
        )
        save_rows(
            "3 tracking",
            "save ({op}, the same model): model-utils FieldTracker() vs plain",
            "model_utils_doc",
            "plain_doc",
            note="info",
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
            "the same with every template file empty vs one-file template",
            f"{sec['copier_copy_floor']:.2f} vs {sec['copier_copy_tiny']:.2f} s",
            paired(r["copier_copy_floor"], r["copier_copy_tiny"]),
            note="info: questions, files, clone",
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
    if (o := results.get("outbox")) and "skipped" not in o:
        c, lat = o["costs"], o["latency"]
        add(
            "5 outbox",
            "enqueue in the transaction: outbox INSERT vs 2.0.0's on_commit(.delay)",
            f"{c['outbox']['inside']['median'] * 1e6:.0f} vs "
            f"{c['delay']['inside']['median'] * 1e6:.0f} us",
            paired(c["outbox"]["inside"], c["delay"]["inside"]),
            note="info: one INSERT on PostgreSQL",
        )
        add(
            "5 outbox",
            "after the commit: fast path vs 2.0.0's .delay()",
            f"{c['outbox']['after']['median'] * 1e3:.2f} vs "
            f"{c['delay']['after']['median'] * 1e3:.2f} ms",
            paired(c["outbox"]["after"], c["delay"]["after"]),
            note="info: + SELECT FOR UPDATE, DELETE, COMMIT",
        )
        ms = {k: v["median"] * 1e3 for k, v in lat.items()}
        add(
            "5 outbox",
            "commit to task start: fast path vs 2.0.0's .delay()",
            f"{ms['outbox']:.1f} vs {ms['delay']:.1f} ms",
            ms["outbox"] / ms["delay"],
            note="info: a real worker, Redis",
        )
        add(
            "5 outbox",
            "commit to task start: relay_tasks --grace 0 --interval 0.1 vs fast path",
            f"{ms['relay']:.1f} vs {ms['outbox']:.1f} ms",
            ms["relay"] / ms["outbox"],
            note="info: default --grace adds 5 s",
        )
    if (ob := results.get("observe")) and (se := results.get("sentry")):
        per_run: dict[str, float] = {}  # what each adds to one receiver run, in us
        for name, side, base, data in (
            ("records", "records", "order", ob),
            ("spans", "spans", "order", ob),
            ("sentry", "spans_on", "spans_off", se),
        ):
            added = data[side]["median"] - data[base]["median"]
            per_run[name] = added / RECEIVERS_PER_CREATE * 1e6
        for label, side, base, data, note in (
            (
                "as rendered (logger above DEBUG, no tracer) vs none connected",
                "order",
                "bare",
                ob,
                "info: see 2 save",
            ),
            (
                "DEBUG records on vs as rendered",
                "records",
                "order",
                ob,
                f"info: {per_run['records']:.1f} us a receiver run",
            ),
            (
                "OpenTelemetry spans on vs as rendered",
                "spans",
                "order",
                ob,
                f"info: {per_run['spans']:.1f} us a receiver run",
            ),
            (
                "Sentry signals_spans=True vs False",
                "spans_on",
                "spans_off",
                se,
                f"info: {per_run['sentry']:.1f} us a receiver run",
            ),
        ):
            add(
                "6 observe",
                f"create: Order, {label}",
                f"{data[side]['median'] * 1e6:.1f} vs {data[base]['median'] * 1e6:.1f} us",
                paired(data[side], data[base]),
                note=note,
            )
        add(
            "6 observe",
            "a receiver run's span: ours vs Sentry's signal span",
            f"{per_run['spans']:.1f} vs {per_run['sentry']:.1f} us",
            per_run["spans"] / per_run["sentry"],
            target=1.0,
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
        default="queries,save,load,render,outbox",
        help="comma-separated: queries,save,load,render,outbox (outbox needs "
        "PostgreSQL and redis-server, as the end-to-end tests do)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile updates of Order with its receivers",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory"
    )
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("BENCH_DB", "sqlite"),
        help="the ORM groups' database: in-memory SQLite, or a throwaway PostgreSQL"
        " database on postgres/postgres@localhost:5432 (scripts/services.sh start);"
        " default $BENCH_DB or sqlite",
    )
    args = parser.parse_args()

    cfg = {**(QUICK if args.quick else FULL), "profile": args.profile, "db": args.db}
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    if unknown := set(groups) - {*WORKERS, "render", "outbox"}:
        parser.error(f"unknown groups: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="dst-bench-"))
    results: dict = {}
    try:
        if set(groups) & set(WORKERS):
            render_apps(tmp)
        for group in groups:
            print(f"... {group}", file=sys.stderr, flush=True)
            if group == "render":
                results[group] = measure_render(tmp, cfg)
            elif group == "outbox":
                results[group] = measure_outbox(tmp, cfg)
                if "skipped" in results[group]:
                    print(
                        f"outbox skipped: {results[group]['skipped']}", file=sys.stderr
                    )
            else:
                results[group] = run_worker(group, tmp, cfg)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.perf_counter() - started

    rows = rows_from(results, args.db)
    print(f"ORM groups on {args.db}")
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
