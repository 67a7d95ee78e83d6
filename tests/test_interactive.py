"""`copier copy` without --defaults, answered in a terminal as a person would: Enter for
defaults, a new model name, and a multi-line handler body typed at its prompt."""

import shutil

import pytest

from conftest import BIN, ROOT, check_app, start_project

pexpect = pytest.importorskip("pexpect")

ENTER, SUBMIT_MULTILINE, CLEAR_LINE = "\r", "\x1b\r", "\x15"
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
    ("Give every model a `tracker`", False),
    ("Models and their fields", True),
    ("What an exception in a receiver does", False),
    ("Who runs the work handlers queue", False),
    ("Custom signals", False),
    ("Which signals get a starter handler", False),
    ("pre_save handler: function name", False),
    ("pre_save handler: body run before a new row", True),
    ("pre_save handler: body run before an existing row", True),
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
    ("The handlers, as YAML", True),
    ("Extra import lines", False),
]


def test_interactive_copy(tmp_path):
    host = start_project(tmp_path / "site", "shop")
    child = pexpect.spawn(
        str(BIN / "copier"),
        ["copy", "--vcs-ref", "HEAD", str(ROOT), "shop"],
        cwd=str(host.root),
        encoding="utf-8",
        timeout=30,
        dimensions=(60, 220),
    )
    transcript = []
    for prompt, multiline in PROMPTS:
        child.expect_exact(prompt)
        transcript.append(prompt)
        child.expect_exact("\x1b[?25h")  # the prompt is drawn and waits for keys
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
