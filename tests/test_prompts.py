"""Every prompt fits an 80-column terminal: Copier draws the help text on one line after
its two-column mark, and cuts what does not fit. The detail is in README.md."""

import jinja2
import pytest
import yaml

from conftest import ROOT

QUESTIONS = {
    name: spec
    for name, spec in yaml.safe_load((ROOT / "copier.yml").read_text()).items()
    if not name.startswith("_")
}
# What the help texts may mention, at its longest.
CONTEXT = {"model_name": "OrderItem"}
SIGNALS = ["pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed", "order_shipped"]


@pytest.mark.parametrize("name", [name for name, spec in QUESTIONS.items() if "help" in spec])
def test_help_fits_80_columns(name):
    template = jinja2.Environment().from_string(QUESTIONS[name]["help"])
    for signal in SIGNALS:
        text = template.render(**CONTEXT, new_handler=signal)
        assert "\n" not in text.strip()
        assert 3 + len(text) + 2 <= 80, f"{name}: {len(text)} columns: {text}"


@pytest.mark.parametrize("task_backend", ["none", "celery", "django"])
@pytest.mark.parametrize("app_module", ["orders", "apps.inventory"])
def test_the_message_after_copy_fits_80_columns(task_backend, app_module):
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT))
    message = environment.get_template("includes/next_steps.jinja").render(
        app_name=app_module.rsplit(".", 1)[-1], app_module=app_module, task_backend=task_backend
    )
    wide = [line for line in message.splitlines() if len(line) > 80]
    assert wide == [], "\n".join(wide)
