"""django-model-utils' own FieldTracker tests, run against model-utils and against the
rendered tracker, in the same test run.

The tests are not copied into this repository: a session fixture downloads the
django-model-utils sdist of the installed version with pip and takes its
tests/test_fields/test_field_tracker.py, assertions untouched. It runs twice, each
time in a host project of its own with Django's test runner (SQLite):

- "model_utils": with model-utils' test models (the sdist's tests/models.py);
- "rendered": with a rendered app, ``mirror``, whose ``models`` answer mirrors those
  test models as TrackedModel subclasses (model-utils' MutableField, a list stored as
  text, becomes a JSONField). A shim ``tests`` package holds the module, re-exports the
  mirror models and defines the two inherited ones (the ``models`` answer cannot say
  "subclass of"); a shim ``model_utils`` names the rendered classes: ``FieldTracker``
  and ``FieldInstanceTracker`` are the rendered FieldTracker, and ``DescriptorWrapper``,
  model-utils' wrapper of a field's descriptor, is Django's own DeferredAttribute,
  which the rendered tracker leaves in place.

The cases about has_changed, previous, changed and current of ``FieldTracker()`` run;
EXCLUDED says which are left out and why. extra_cases.py (ours) runs in both hosts too,
and the rendered app's own tests run in the "rendered" host.
"""

import ast
import re
import shutil
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

import pytest

from conftest import render, run

PARITY = Path(__file__).resolve().parent / "modelutils_parity"
MODULE = "tests/test_fields/test_field_tracker.py"

# Test classes of model-utils' module left out, and why. The template's tracker has no
# FieldTracker(fields=[...]), ModelTracker, or context manager and decorator.
EXCLUDED = {
    "FieldTrackedModelCustomTests": "FieldTracker(fields=['name'])",
    "FieldTrackedModelAttributeTests": "FieldTracker(fields=['rounded']) of a property",
    "FieldTrackedModelMultiTests": "two FieldTracker(fields=...) on one model",
    "FieldTrackerTimeStampedTests": "model-utils' TimeStampedModel and its save()",
    "ModelTrackerTests": "ModelTracker",
    "ModelTrackedModelCustomTests": "ModelTracker(fields=...)",
    "ModelTrackedModelMultiTests": "ModelTracker(fields=...)",
    "ModelTrackerForeignKeyTests": "ModelTracker",
    "InheritedModelTrackerTests": "ModelTracker",
    "AbstractModelTrackerTests": "ModelTracker",
    "TrackerContextDecoratorTests": "the tracker as a context manager and decorator",
    # Cases of the classes that run.
    "*.test_descriptor": "Model.tracker is the FieldTracker descriptor (ours: a property)",
    "*.test_custom": "FieldTracker(fields=['fk_id'])",
    "*.test_custom_without_id": "FieldTracker(fields=['fk'])",
    "FieldTrackerFileFieldTests.test_saved_data_without_instance": (
        "model-utils' internal saved_data"
    ),
    # A child model tracks its own fields too (a deliberate difference, see tracking.py):
    # InheritedTracked's name2 shows in changed() and current().
    "InheritedFieldTrackerTests.test_child_fields_not_tracked": "child's own fields",
    "InheritedFieldTrackerTests.test_pre_save_changed": "child's own fields",
    "InheritedFieldTrackerTests.test_first_save": "child's own fields",
    "InheritedFieldTrackerTests.test_current": "child's own fields",
}

SETTINGS = """\
SECRET_KEY = "parity"
TRACKER = {tracker!r}
INSTALLED_APPS = {apps!r}
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
MEDIA_ROOT = {media!r}
"""

# The rendered app: model-utils' test models that the selected cases use, and Tagged.
MIRROR = {
    "app_name": "mirror",
    "model_name": "Tracked",
    "models": {
        "Tracked": {
            "name": "models.CharField(max_length=20)",
            "number": "models.IntegerField()",
            "mutable": "models.JSONField(null=True, default=None)",
        },
        "TrackedFK": {"fk": 'models.ForeignKey("Tracked", on_delete=models.CASCADE)'},
        "TrackedFileField": {"some_file": 'models.FileField(upload_to="test_location")'},
        "Tagged": {"tags": 'models.ManyToManyField("Tracked", blank=True)'},
    },
    "signal_types": ["post_delete"],
}

SHIM_MODELS = """\
from django.db import models

from mirror.models import Tracked, TrackedFileField, TrackedFK

__all__ = ["InheritedTracked", "InheritedTrackedFK", "Tracked", "TrackedFK", "TrackedFileField"]


class InheritedTracked(Tracked):
    name2 = models.CharField(max_length=20)


class InheritedTrackedFK(TrackedFK):
    pass


# Models of the excluded test classes: imported by the module, never used.
{excluded} = None
"""

SHIM_MODEL_UTILS = {
    "__init__.py": "from mirror.tracking import FieldTracker\n",
    "tracker.py": (
        "from django.db.models.query_utils import DeferredAttribute as DescriptorWrapper\n"
        "from mirror.tracking import FieldTracker as FieldInstanceTracker\n"
    ),
}

EXTRAS_MODEL_UTILS = """\
from django.db import models
from model_utils import FieldTracker


class Tagged(models.Model):
    tags = models.ManyToManyField("tests.Tracked", blank=True)

    tracker = FieldTracker()
"""


@pytest.fixture(scope="session")
def model_utils_tests(tmp_path_factory) -> Path:
    """The ``tests`` package of the django-model-utils sdist of the installed version."""
    wanted = version("django-model-utils")
    folder = tmp_path_factory.mktemp("model-utils-sdist")
    run(
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
        "--no-binary", ":all:", "--dest", folder, f"django-model-utils=={wanted}",
        cwd=folder,
    )  # fmt: skip
    [sdist] = folder.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(folder, filter="data")
    [tests] = folder.glob("*/tests")
    for path in (MODULE, "tests/models.py", "tests/fields.py"):
        assert (tests.parent / path).is_file(), f"the sdist has no {path}"
    return tests


def cases_of(module: Path) -> dict[str, list[str]]:
    """Test methods of each TestCase class of ``module``, inherited ones included."""
    tree = ast.parse(module.read_text())
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}

    def bases(name: str) -> list[str]:
        return [b.id for b in classes[name].bases if isinstance(b, ast.Name)]

    def ancestry(name: str) -> list[str]:
        found = [name]
        for base in bases(name):
            found += ancestry(base) if base in classes else [base]
        return found

    def methods(name: str) -> list[str]:
        return [
            node.name
            for node in classes[name].body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test")
        ]

    return {
        name: sorted({m for c in ancestry(name) if c in classes for m in methods(c)})
        for name in classes
        if "TestCase" in ancestry(name)
    }


def selected(cases: dict[str, list[str]]) -> list[str]:
    """The ``Class.method`` labels that run: every case but the EXCLUDED ones."""
    return [
        f"{cls}.{method}"
        for cls, methods in cases.items()
        if cls not in EXCLUDED
        for method in methods
        if f"{cls}.{method}" not in EXCLUDED and f"*.{method}" not in EXCLUDED
    ]


def test_exclusions_name_real_cases(model_utils_tests):
    """EXCLUDED names classes and cases that exist, so it cannot go stale unseen."""
    cases = cases_of(model_utils_tests / "test_fields" / "test_field_tracker.py")
    methods = {m for ms in cases.values() for m in ms}
    for key in EXCLUDED:
        cls, _, method = key.partition(".")
        assert cls == "*" or cls in cases, key
        assert not method or method in (methods if cls == "*" else cases[cls]), key


def write(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def model_utils_host(root: Path, tests: Path) -> list[str]:
    """model-utils' test models and tracker; the apps to install."""
    shutil.copytree(tests, root / "tests")
    write(root / "extras" / "__init__.py")
    write(root / "extras" / "models.py", EXTRAS_MODEL_UTILS)
    return ["model_utils", "tests", "extras"]


def rendered_host(root: Path, tests: Path) -> list[str]:
    """The mirror app and the shims; the apps to install."""
    render(root / "mirror", MIRROR)
    write(root / "tests" / "__init__.py")
    write(root / "tests" / "test_fields" / "__init__.py")
    write(root / MODULE, (tests.parent / MODULE).read_text())
    imported = re.search(r"from tests\.models import \(([^)]*)\)", (root / MODULE).read_text())
    assert imported, "model-utils' test module no longer imports tests.models"
    provided = {"InheritedTracked", "InheritedTrackedFK", "Tracked", "TrackedFK", "TrackedFileField"}
    unused = sorted({n.strip() for n in imported.group(1).split(",") if n.strip()} - provided)
    write(root / "tests" / "models.py", SHIM_MODELS.format(excluded=" = ".join(unused)))
    for name, text in SHIM_MODEL_UTILS.items():
        write(root / "model_utils" / name, text)
    write(root / "extras" / "__init__.py")
    write(root / "extras" / "models.py", "from mirror.models import Tagged\n\n__all__ = ['Tagged']\n")
    return ["mirror", "tests"]


def django(root: Path, *args: str, check: bool = True):
    """``python -m django`` in the host project at ``root``."""
    return run(
        sys.executable, "-m", "django", *args, "--settings", "settings",
        cwd=root, check=check, env={"PYTHONPATH": str(root)},
    )  # fmt: skip


@pytest.mark.parametrize("tracker", ["model_utils", "rendered"])
def test_model_utils_field_tracker_tests_pass(tracker, model_utils_tests, tmp_path):
    root = tmp_path / tracker
    apps = (model_utils_host if tracker == "model_utils" else rendered_host)(root, model_utils_tests)
    write(root / "tests" / "test_fields" / "test_tracker_extra.py", (PARITY / "extra_cases.py").read_text())
    write(root / "settings.py", SETTINGS.format(tracker=tracker, apps=apps, media=str(root / "media")))
    if tracker == "rendered":
        django(root, "makemigrations", "tests")  # the shim's inherited models
    module = MODULE.removesuffix(".py").replace("/", ".")
    ported = [f"{module}.{label}" for label in selected(cases_of(root / MODULE))]
    extra = [
        f"tests.test_fields.test_tracker_extra.{cls}.{method}"
        for cls, methods in cases_of(PARITY / "extra_cases.py").items()
        for method in methods
    ]
    # In the rendered host, the mirror app's own tests run too.
    labels = ported + extra + (["mirror"] if tracker == "rendered" else [])

    result = django(root, "test", "--noinput", "-v", "2", *labels, check=False)
    output = result.stderr
    assert result.returncode == 0, output[-6000:]
    ran = set(re.findall(r"^\w+ \(([\w.]+)\)", output, re.M))
    own = sorted(name for name in ran if name.startswith("mirror.tests."))
    print(
        f"{tracker}: {len(ported)} model-utils cases, {len(extra)} extra cases"
        f" and {len(own)} of the rendered app's own tests passed"
    )
    assert ran >= {*ported, *extra}
    assert " ... skipped" not in output
    assert own if tracker == "rendered" else not own
