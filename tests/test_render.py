"""Every answer set of the matrix renders an app that passes Django's and ruff's checks
and its own tests, with no Jinja left in it."""

import re

import pytest

from conftest import check_app, load_answers, mypy

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
}


# The quick subset (-m "not slow") checks the defaults; the whole suite every answer set.
@pytest.mark.parametrize(
    "answers",
    [pytest.param(answers, id=key, marks=() if key == "defaults" else pytest.mark.slow) for key, answers in MATRIX.items()],
)
def test_rendered_app_passes_its_checks(shared_host, answers):
    host = shared_host(answers)
    output = check_app(host)
    ran = int(re.search(r"Ran (\d+) tests?", output).group(1))
    print(f"rendered app ran {ran} tests")
    assert ran > 0
    assert "OK" in output


def test_defaults_give_one_handler_per_builtin_signal(shared_host):
    host = shared_host({})
    signals_py = (host.app_dir / "signals.py").read_text()
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
    assert "signals.py" in result.stdout and "on_create" in result.stdout
