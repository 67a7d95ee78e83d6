"""Every answer set of the matrix renders an app that passes Django's and ruff's checks
and its own tests, with no Jinja left in it."""

import re

import pytest

from conftest import MAIN, check_app, load_answers, mypy, toolchain_for

SIGNALS = ["pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed"]

MATRIX = {
    "defaults": {},
    "seed-example": load_answers("orders.yml"),
    **{f"only-{signal}": {"signal_types": [signal]} for signal in SIGNALS},
    "several-models": load_answers("catalog.yml"),
    "custom-signals-only": load_answers("custom_signals.yml"),
    "custom-signals-raise": {**load_answers("custom_signals.yml"), "on_error": "raise"},
    "no-tracking-raise": {"track_changes": False, "on_error": "raise"},
    "dotted-app-module": {"app_module": "apps.orders"},
    "dotted-seed-example": {**load_answers("orders.yml"), "app_module": "apps.orders"},
    "django-tasks-seed-example": {**load_answers("orders.yml"), "task_backend": "django"},
    "celery-tasks-none-local": {
        "task_backend": "celery",
        "tasks": [{"app": "billing", "name": "charge"}],
    },
    "every-kind": load_answers("every_kind.yml"),
    "every-kind-raise": {**load_answers("every_kind.yml"), "on_error": "raise"},
    "django-tasks-none-local": {
        "task_backend": "django",
        "tasks": [{"app": "billing", "name": "charge"}],
        "app_module": "apps.orders",
    },
}


# Django 6.1 (Python 3.13) runs a subset that covers every template branch: both task
# modes and none, tracking on and off, log and raise, custom signals, m2m, several
# models, a dotted app_module and another app's task.
DJANGO6 = [
    "defaults",
    "every-kind",
    "seed-example",
    "several-models",
    "custom-signals-raise",
    "no-tracking-raise",
    "dotted-seed-example",
    "django-tasks-seed-example",
    "django-tasks-none-local",
]
# The quick subset (-m "not slow") checks the defaults on Django 5.2; the whole suite
# every answer set.
CASES = [
    pytest.param(answers, MAIN.django, id=name, marks=() if name == "defaults" else pytest.mark.slow)
    for name, answers in MATRIX.items()
] + [pytest.param(MATRIX[name], "6.1", id=f"{name}-django6.1", marks=pytest.mark.slow) for name in DJANGO6]


@pytest.mark.parametrize("answers, django", CASES)
def test_rendered_app_passes_its_checks(shared_host, answers, django):
    host = shared_host(answers, toolchain_for(django))
    assert host.manage("version").stdout.startswith(django)
    output = check_app(host)
    ran = int(re.search(r"Ran (\d+) tests?", output).group(1))
    print(f"rendered app ran {ran} tests on Django {django}")
    assert ran > 0
    assert "OK" in output


def test_defaults_give_one_handler_per_builtin_signal(shared_host):
    host = shared_host({})
    signals_py = (host.app_dir / "receivers.py").read_text()
    for signal in SIGNALS:
        assert f"@receiver(\n    {signal}," in signals_py or f"@receiver({signal}," in signals_py
    handlers = sorted(p.stem for p in (host.app_dir / "handlers").glob("*.py"))
    assert handlers == [
        "__init__",
        "after_order_delete",
        "after_order_save",
        "before_order_delete",
        "before_order_save",
        "on_order_tags_changed",
    ]


def test_bodies_are_rendered_exactly(shared_host):
    body = 'if instance.total > 100:\n    logger.warning("big order %s", instance.pk)\n\nlogger.info("done")'
    host = shared_host({"post_save_on_create": body, "signal_types": ["post_save"]})
    module = (host.app_dir / "handlers" / "after_order_save.py").read_text()
    indented = "\n".join(f"    {line}" if line else "" for line in body.splitlines())
    assert indented in module


@pytest.mark.slow
def test_mypy_catches_a_wrong_handler_signature(host_with):
    host = host_with({"signal_types": ["post_save"]})
    module = host.app_dir / "handlers" / "after_order_save.py"
    text = module.read_text()
    module.write_text(text.replace("instance: Order, created: bool, **kwargs", "instance: Order, **kwargs", 1))
    result = mypy(host, check=False)
    assert result.returncode != 0
    assert "receivers.py" in result.stdout and "on_create" in result.stdout
