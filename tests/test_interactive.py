"""Copier's prompts, answered in a terminal as a person would: `copier copy` without
--defaults (Enter for defaults, a new model name, a multi-line handler body typed at its
prompt), and a typo refused at the prompt where it is typed."""

import shutil

import yaml

import pytest

from conftest import (
    CLEAR_LINE, DOWN, ENTER, READY, ROOT, SUBMIT_MULTILINE, answer, check_app, spawn_copier, start_project,
)

pexpect = pytest.importorskip("pexpect")

BODY_LINES = ["if instance.pk:", '    logger.warning("new invoice %s", instance.pk)']

# (text of the prompt, what to type); every other prompt gets the default.
TYPED = {
    "PascalCase name of the main model": CLEAR_LINE + "Invoice" + ENTER,
    "post_save handler: body run after a row is created": CLEAR_LINE + ENTER.join(BODY_LINES),
}
PROMPTS = [
    ("Python package name", False),
    ("Dotted import path", False),
    ("PascalCase name of the main model", False),
    ("Track field changes", False),
    ("Models, as YAML", True),
    ("An exception in a receiver", False),
    ("Who runs the tasks handlers queue", False),
    ("Custom signals", False),
    ("Which signals get a starter handler", False),
    ("pre_save handler: function name", False),
    ("pre_save handler: body run before a new row", True),
    ("pre_save handler: body run before an update", True),
    ("post_save handler: function name", False),
    ("post_save handler: body run after a row is created", True),
    ("post_save handler: body run after a row is updated", True),
    ("pre_delete handler: function name", False),
    ("pre_delete handler: body", True),
    ("post_delete handler: function name", False),
    ("post_delete handler: body", True),
    ("m2m_changed handler: which ManyToManyField", False),
    ("m2m_changed handler: function name", False),
    ("m2m_changed handler: body run after rows are added", True),
    ("m2m_changed handler: body run after rows are removed", True),
    ("m2m_changed handler: body run after the relation is cleared", True),
    ("Add a handler? For which signal", False),
    ("The handlers, as YAML", True),
    ("Imports the bodies need", False),
]


def test_interactive_copy(tmp_path):
    host = start_project(tmp_path / "site", "shop")
    child = spawn_copier("copy", "--vcs-ref", "HEAD", ROOT, "shop", cwd=host.root, columns=220)
    transcript = []
    for prompt, multiline in PROMPTS:
        child.expect_exact(prompt)
        transcript.append(prompt)
        child.expect_exact(READY)
        keys = TYPED.get(prompt, "")
        child.send(keys + (SUBMIT_MULTILINE if multiline else ("" if keys.endswith(ENTER) else ENTER)))
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    assert child.exitstatus == 0, child.before
    assert len(transcript) == len(PROMPTS)

    module = (host.app_dir / "handlers" / "after_invoice_save.py").read_text()
    assert "\n".join(f"    {line}" for line in BODY_LINES) in module
    assert "class Invoice(TrackedModel):" in (host.app_dir / "models.py").read_text()
    check_app(host)
    shutil.rmtree(host.root)


def test_a_taken_handler_name_is_asked_again(tmp_path):
    """The name of an earlier starter handler is refused at the prompt, which asks again:
    no answer typed before it is lost."""
    child = spawn_copier(
        "copy", "--defaults", "--vcs-ref", "HEAD", "--ask", "post_save_name", str(ROOT), "shop", cwd=tmp_path
    )
    answer(child, "post_save handler: function name", CLEAR_LINE + "before_order_save" + ENTER)
    child.expect_exact("Validation error for question 'post_save_name': another handler has that name")
    child.send(CLEAR_LINE + "after_order_saved" + ENTER)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    handlers = sorted(p.stem for p in (tmp_path / "shop" / "handlers").glob("*.py"))
    assert "after_order_saved" in handlers and "after_order_save" not in handlers


def test_the_m2m_field_is_a_choice(tmp_path):
    """The m2m_changed field is picked from the model's ManyToManyFields, so it cannot be
    mistyped; the choice lists them."""
    models = """{Order: {tags: "models.ManyToManyField('Tag')", labels: "models.ManyToManyField('Tag', related_name='+')"}, Tag: {}}"""
    child = spawn_copier(
        "copy", "--defaults", "--vcs-ref", "HEAD", "-d", f"models={models}", "-d", "signal_types=[m2m_changed]",
        "--ask", "m2m_changed_field", str(ROOT), "shop", cwd=tmp_path,
    )
    answer(child, "m2m_changed handler: which ManyToManyField of Order?", DOWN)
    child.expect_exact("labels")
    child.send(ENTER)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert (tmp_path / "shop" / "handlers" / "on_order_labels_changed.py").exists()


def test_a_handler_of_any_signal_is_added_at_the_first_copy(tmp_path):
    """After the starter handlers, "Add a handler?" offers another signal by its import
    path, its sender, name, error mode and body, with no YAML typed."""
    child = spawn_copier(
        "copy", "--defaults", "--vcs-ref", "HEAD", "--ask", "new_handler*", str(ROOT), "shop", cwd=tmp_path,
    )
    # no, pre_save, post_save, pre_delete, post_delete, m2m_changed, another signal
    answer(child, "Add a handler? For which signal", DOWN * 6 + ENTER)
    answer(child, "New handler: the signal's import path", "django.contrib.auth.signals.user_logged_in" + ENTER)
    answer(child, "New handler: its sender", ENTER)  # any sender
    answer(child, "New handler: function name", ENTER)
    answer(child, "New handler: an exception in it", DOWN * 2 + ENTER)  # raise
    answer(child, "New handler: body run when the signal is sent", CLEAR_LINE + 'return user.pk' + SUBMIT_MULTILINE)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    answers = yaml.safe_load((tmp_path / "shop" / ".copier-answers.yml").read_text())
    added = answers["handlers"][-1]
    assert added == {
        "name": "on_user_logged_in",
        "signal": "django.contrib.auth.signals.user_logged_in",
        "on_error": "raise",
        "description": "Runs on user_logged_in.",
        "implementation": "return user.pk",
    }
    assert "new_handler" not in answers
    receivers = (tmp_path / "shop" / "receivers.py").read_text()
    assert "from django.contrib.auth.signals import user_logged_in" in receivers
    assert '@receiver(user_logged_in, dispatch_uid="shop.on_user_logged_in", weak=False)\n@guard(log=False, signal="django.contrib.auth.signals.user_logged_in", row=False)\ndef' in receivers
