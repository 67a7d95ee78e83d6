"""includes/python.jinja's `wrapped` writes what `ruff format` would: a call's or a
def's arguments may share one indented line, a list or tuple literal's items go one to a
line (hypothesis found an `__all__` list that did not fit on one line, written as a
call's arguments would be)."""

import subprocess

import jinja2
import pytest

from conftest import BIN, ROOT

# Items that fit on one indented line but not on the line of their head.
ITEMS = ['"on_dw0iku6p_1zfay"', '"on_ed50rr_z467"', '"on_i7rp9qon_9m10o"', '"on_nk4qqwsx_g2q"']
CASES = {
    "call": (4, "responses = signal.send_robust", ITEMS, "", "()"),
    "def": (0, "def on_payment_received", ["sender: Any", "*", "payment: Any", "amount: Any", "currency: Any"], " -> None:", "()"),
    "list literal": (0, "__all__ = ", ITEMS, "", "[]"),
    "tuple literal": (4, "provides = ", ITEMS, "", "()"),
}


def wrapped(*args) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT),
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
    )
    macros = environment.get_template("includes/python.jinja").module
    return str(macros.wrapped(*args))


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_wrapped_is_ruff_formatted(case):
    indent = case[0]
    code = wrapped(*case)
    assert len(code.splitlines()) > 1, "the case must need wrapping"
    # Give the fragment the block it sits in, so that it parses on its own.
    source = code + "\n"
    if indent:
        source = "def f():\n" + source
    if code.rstrip().endswith(":"):
        source += "    pass\n"
    formatted = subprocess.run(
        [BIN / "ruff", "format", "--isolated", "-"], input=source, capture_output=True, text=True, check=True
    ).stdout
    assert formatted == source
