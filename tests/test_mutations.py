"""The generated tests fail when the wiring is wrong: for each handler of the defaults
app (one per model signal) and of a few other kinds, each mutation of receivers.py (the
receiver disconnected, connected twice, for the wrong sender, unguarded, running the
wrong body) makes at least one of the app's own tests fail."""

import re

import pytest

from test_real_apps import real_host


def receiver_block(text: str, name: str) -> re.Match:
    """The @receiver(...) decorator of ``name``'s receiver, up to its def line."""
    match = re.search(
        r"@receiver\((?:[^()]|\([^()]*\))*\)\n@guard\([^)]*\)\ndef " + re.escape(name) + r"\b",
        text,
    )
    assert match, f"no receiver {name} in receivers.py"
    return match


def disconnected(text: str, name: str) -> str:
    block = receiver_block(text, name).group(0)
    return text.replace(block, block[block.index("\n@guard") + 1 :])


def connected_twice(text: str, name: str) -> str:
    block = receiver_block(text, name).group(0)
    decorator = block[: block.index("\n@guard")]
    again = decorator.replace(f'.{name}"', f'.{name}.again"')
    return text.replace(block, again + "\n" + block)


def wrong_sender(text: str, name: str) -> str:
    """Another model as the sender: auth's Group, by its lazy label."""
    block = receiver_block(text, name).group(0)
    return text.replace(block, re.sub(r"sender=[\w.]+", 'sender="auth.Group"', block, count=1))


def unguarded(text: str, name: str) -> str:
    block = receiver_block(text, name).group(0)
    return text.replace(block, re.sub(r"@guard\([^)]*\)\n", "", block))


def wrong_body(text: str, name: str) -> str:
    """The receiver runs one body where another belongs, or, with one body, never."""
    start = receiver_block(text, name).end()
    end = text.find("\n\n\n", start)
    body = text[start:end]
    if "if created:" in body:
        changed = body.replace("if created:", "if not created:")
    elif "if original is None:" in body:
        changed = body.replace("if original is None:", "if original is not None:")
    elif 'if action == "post_add":' in body:
        changed = body.replace('if action == "post_add":', 'if action == "post_remove":', 1)
    else:  # the body never runs
        changed = body.replace("    return handlers.", "    if False:\n        return handlers.", 1)
    assert changed != body
    return text[:start] + changed + text[end:]


MUTATIONS = [disconnected, connected_twice, wrong_sender, unguarded, wrong_body]
# A handler for every sender has no sender to get wrong.
ANY_SENDER = [disconnected, connected_twice, unguarded, wrong_body]
DEFAULTS = ["before_order_save", "after_order_save", "before_order_delete", "after_order_delete", "on_order_tags_changed"]
# examples/profiles.yml: the user model's post_save, auth's signals, any model's post_delete.
PROFILES = {"create_profile": MUTATIONS, "record_login": ANY_SENDER, "log_failed_login": ANY_SENDER, "clear_cache_on_delete": ANY_SENDER}


def assert_each_mutation_fails(host, handler: str, mutations) -> None:
    receivers = host.app_dir / "receivers.py"
    original = receivers.read_text()
    passed = []
    for mutation in mutations:
        receivers.write_text(mutation(original, handler))
        result = host.manage("test", host.app_module, "--failfast", check=False)
        if result.returncode == 0:
            passed.append(mutation.__name__)
    receivers.write_text(original)
    assert passed == [], f"the app's tests pass with {handler} {passed}"
    assert host.manage("test", host.app_module, check=False).returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("handler", DEFAULTS)
def test_each_mutation_of_the_wiring_fails_the_apps_tests(host_with, handler):
    assert_each_mutation_fails(host_with({}), handler, MUTATIONS)


@pytest.mark.slow
@pytest.mark.parametrize("handler", PROFILES)
def test_each_mutation_fails_the_tests_of_a_real_app(copie, tmp_path, handler):
    host = real_host(copie, tmp_path / "host", "profiles")
    assert_each_mutation_fails(host, handler, PROFILES[handler])
