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
import subprocess
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


def host_for(tracker: str, tests: Path, root: Path) -> list[str]:
    """Build the host project of ``tracker`` in ``root``; the test labels to run."""
    root.mkdir()
    if tracker == "model_utils":
        shutil.copytree(tests, root / "tests")
        (root / "extras").mkdir()
        (root / "extras" / "__init__.py").touch()
        (root / "extras" / "models.py").write_text(EXTRAS_MODEL_UTILS)
        apps, labels = ["model_utils", "tests", "extras"], []
    else:
        render(root / "mirror", MIRROR)
        (root / "tests" / "test_fields").mkdir(parents=True)
        (root / "tests" / "__init__.py").touch()
        (root / "tests" / "test_fields" / "__init__.py").touch()
        shutil.copy(tests / "test_fields" / "test_field_tracker.py", root / MODULE)
        imported = re.search(r"from tests\.models import \(([^)]*)\)", (root / MODULE).read_text())
        assert imported, "model-utils' test module no longer imports tests.models"
        names = {n.strip() for n in imported.group(1).split(",") if n.strip()}
        unused = sorted(names - {"InheritedTracked", "InheritedTrackedFK", "Tracked", "TrackedFK", "TrackedFileField"})
        (root / "tests" / "models.py").write_text(SHIM_MODELS.format(excluded=" = ".join(unused)))
        (root / "model_utils").mkdir()
        for name, text in SHIM_MODEL_UTILS.items():
            (root / "model_utils" / name).write_text(text)
        (root / "extras").mkdir()
        (root / "extras" / "__init__.py").touch()
        (root / "extras" / "models.py").write_text("from mirror.models import Tagged\n\n__all__ = ['Tagged']\n")
        apps, labels = ["mirror", "tests"], ["mirror"]
    shutil.copy(PARITY / "extra_cases.py", root / "tests" / "test_fields" / "test_tracker_extra.py")
    (root / "settings.py").write_text(SETTINGS.format(tracker=tracker, apps=apps, media=str(root / "media")))
    if tracker == "rendered":  # the inherited models' table need a migration
        env = {"PYTHONPATH": str(root)}
        run(sys.executable, "-m", "django", "makemigrations", "tests", "--settings", "settings", cwd=root, env=env)
    cases = cases_of(root / MODULE)
    module = MODULE.removesuffix(".py").replace("/", ".")
    return [f"{module}.{label}" for label in selected(cases)] + ["tests.test_fields.test_tracker_extra", *labels]


@pytest.mark.parametrize("tracker", ["model_utils", "rendered"])
def test_model_utils_field_tracker_tests_pass(tracker, model_utils_tests, tmp_path):
    labels = host_for(tracker, model_utils_tests, tmp_path / tracker)
    result = run(
        sys.executable, "-m", "django", "test", "--settings", "settings", "--noinput", "-v", "2", *labels,
        cwd=tmp_path / tracker, check=False, env={"PYTHONPATH": str(tmp_path / tracker)},
    )  # fmt: skip
    output = result.stderr
    assert result.returncode == 0, output[-6000:]
    ran = {
        module: set(re.findall(rf"\((tests\.test_fields\.{module}\.\w+\.\w+)\)", output))
        for module in ("test_field_tracker", "test_tracker_extra")
    }
    ported = [label for label in labels if ".test_field_tracker." in label]
    print(
        f"{tracker}: {len(ran['test_field_tracker'])} of {len(ported)} model-utils cases and"
        f" {len(ran['test_tracker_extra'])} extra cases ran, all passed"
    )
    assert ran["test_field_tracker"] == set(ported)
    assert len(ran["test_tracker_extra"]) >= 15
