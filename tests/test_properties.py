"""Property test: any valid answer set renders an app that compiles, passes ruff and
`manage.py check`, needs no migration beyond its first, and passes its own tests.

A few examples by default; HYPOTHESIS_EXAMPLES=200 for a longer hunt.
"""

import keyword
import os
import py_compile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import leftovers, render, start_project, task_settings

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "4"))
BUILTIN = ["pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed"]
TAKEN = set(keyword.kwlist) | {
    "id", "pk", "objects", "tracker", "saved_copy", "check", "clean", "delete", "save",
    "from_db", "full_clean", "refresh_from_db", "save_base", "asave", "adelete",
    "clean_fields", "validate_unique", "validate_constraints", "get_constraints",
    "get_deferred_fields", "serializable_value", "prepare_database_save",
    "date_error_message", "unique_error_message", "arefresh_from_db", "match", "case",
    "type", "sender", "instance", "kwargs", "logger", "created", "original", "action",
    "pk_set", "reverse", "model", "signal", "models", "settings",
} | set(BUILTIN)

identifiers = st.from_regex(r"[a-z][a-z0-9]{1,7}(_[a-z0-9]{1,5})?", fullmatch=True).filter(
    lambda name: name not in TAKEN
)
class_names = st.from_regex(r"[A-Z][a-z]{2,7}", fullmatch=True).filter(
    lambda name: name not in {"Model", "Signal", "FieldTracker", "TrackedModel"}
)
plain_fields = st.sampled_from([
    "models.CharField(max_length=40)",
    'models.CharField(max_length=20, default="new")',
    "models.TextField(blank=True)",
    "models.IntegerField(default=0)",
    "models.BooleanField(default=False)",
    "models.DecimalField(max_digits=8, decimal_places=2, default=0)",
    "models.DateTimeField(auto_now_add=True)",
    "models.JSONField(default=dict, blank=True)",
    "models.EmailField(blank=True)",
    'models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")',
])
bodies = st.sampled_from([
    "",
    'logger.info("%s %s", sender.__name__, kwargs.get("signal"))',
    'if instance.pk:\n    logger.debug("row %s", instance.pk)\nelse:\n    pass',
])
m2m_bodies = st.sampled_from(["", 'logger.info("%s", sorted(pk_set or ()))'])


@st.composite
def answer_sets(draw):
    names = draw(st.lists(class_names, min_size=1, max_size=3, unique=True))
    models = {}
    for index, name in enumerate(names):
        fields = draw(st.dictionaries(identifiers, plain_fields, min_size=1, max_size=4))
        if index:  # relate to an earlier model of the app
            target = names[draw(st.integers(0, index - 1))]
            kind = draw(st.sampled_from(["ForeignKey", "ManyToManyField"]))
            options = ", on_delete=models.CASCADE" if kind == "ForeignKey" else ", blank=True"
            fields[f"rel_{target.lower()}"] = f'models.{kind}("{target}"{options}, related_name="+")'
        models[name] = fields
    m2m = [
        f"{model}.{field}.through"
        for model, fields in models.items()
        for field, expression in fields.items()
        if "ManyToManyField" in expression
    ]
    custom = [
        {"name": f"{name}_sent", "provides": draw(st.lists(identifiers, max_size=2, unique=True)),
         "description": "A custom signal."}
        for name in draw(st.lists(identifiers, max_size=2, unique=True))
    ]
    handlers = []
    for name in draw(st.lists(identifiers, max_size=4, unique=True)):
        signal = draw(st.sampled_from(BUILTIN[:4] + (["m2m_changed"] if m2m else [])
                                      + [c["name"] for c in custom]))
        handler = {"name": f"on_{name}", "signal": signal, "description": "A handler."}
        if signal == "m2m_changed":
            handler.update(model=draw(st.sampled_from(m2m)), on_add=draw(m2m_bodies),
                           on_clear=draw(m2m_bodies))
        elif signal in BUILTIN:
            handler["model"] = draw(st.sampled_from(names))
            branch = {"pre_save": "implementation", "post_save": "on_update"}.get(signal, "implementation")
            handler[branch] = draw(bodies)
        else:
            handler["implementation"] = f'logger.info("{signal}")'
        handlers.append(handler)
    app_name = "app_" + draw(identifiers).replace("_", "")
    task_backend = draw(st.sampled_from(["none", "celery", "django"]))
    own_task = [{"app": app_name, "name": "send_notification"}]
    return {
        "app_name": app_name,
        "model_name": names[0],
        "models": models,
        "signal_types": [],
        "handlers": handlers,
        "custom_signals": custom,
        "track_changes": draw(st.booleans()),
        "on_error": draw(st.sampled_from(["log", "raise"])),
        "task_backend": task_backend,
        "tasks": [] if task_backend == "none" else draw(st.sampled_from([[], own_task])),
    }


# Each example renders and checks a whole app, so shrinking a failure would take minutes:
# the failing answer set is printed as it was generated instead.
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(answer_sets())
def test_any_valid_answer_set_renders_a_working_app(answers):
    with tempfile.TemporaryDirectory() as folder:
        host = start_project(Path(folder), answers["app_name"], task_settings(answers))
        render(host.app_dir, answers)
        assert leftovers(host.app_dir) == []
        for path in host.app_dir.rglob("*.py"):
            py_compile.compile(str(path), doraise=True)
        rel = str(host.app_dir.relative_to(host.root))
        host.ruff("check", "--isolated", "--select", "E,F,W,I,B", "--ignore", "E501", rel)
        host.ruff("format", "--isolated", "--check", rel)
        host.manage("check")
        host.manage("makemigrations", "--check", "--dry-run")
        host.manage("test", answers["app_name"])
