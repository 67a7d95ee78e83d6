"""Render timing: copier copy/update of this template vs a one-file template and startapp."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

from timing import rotations, summary

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


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


def snapshot(path: Path, empty_templates: bool = False) -> None:
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
    if empty_templates:
        for template in (path / "template").rglob("*.jinja"):
            if "answers_file" not in template.name:
                template.write_text("")
    git_repo(path, tag="v1.0.0")


def measure_render(tmp: Path, cfg: dict) -> dict:
    copier, django_admin = tool("copier", "copier"), tool("django-admin", "django")
    work = tmp / "render"
    work.mkdir()
    copy = ["copy", "--defaults", "--quiet", "--overwrite"]

    ours = work / "template"
    snapshot(ours)
    # The same questions, files and repository with every template file empty: what
    # Copier spends on them before any of this template's Jinja is compiled.
    floor = work / "floor"
    snapshot(floor, empty_templates=True)
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

    # The three copies, all from a git tag, one after the other, the order rotating;
    # round -1 is a warm-up. Each renders into a folder named like the app package.
    sources = {
        "copier_copy": ours,
        "copier_copy_floor": floor,
        "copier_copy_tiny": tiny,
    }
    t: dict = {key: [] for key in [*sources, "startapp", "update"]}
    for r, order in rotations(sorted(sources), cfg["render_reps"]):
        run = work / f"round{r + 1}"
        (run / "startapp").mkdir(parents=True)
        secs = {
            key: sh(*copier, *copy, sources[key], run / key / "orders") for key in order
        }
        secs |= {
            "startapp": sh(*django_admin, "startapp", "orders", cwd=run / "startapp"),
            "update": sh(
                *copier, "update", "--defaults", "--quiet", cwd=project / "orders"
            ),
        }
        if r >= 0:
            for key, value in secs.items():
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
