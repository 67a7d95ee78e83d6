"""Bad answers: Copier exits non-zero with a message that names the question and the
offending value, and writes nothing. The cases run Copier in-process (as `copier copy
--defaults --data-file` does, without a Python start-up each); two run the command."""

import sys
from pathlib import Path

import pytest
import yaml
from copier import run_copy

from conftest import ROOT, load_answers, run

COPIER = Path(sys.executable).parent / "copier"
ORDERS = load_answers("orders.yml")
HANDLER = ORDERS["handlers"][0]


def with_handler(**changes):
    handler = {**HANDLER, **changes}
    return {**ORDERS, "handlers": [{k: v for k, v in handler.items() if v is not None}]}


CASES = {
    # (answers, question, words the message must contain)
    "app-name-not-identifier": ({"app_name": "My-App"}, "app_name", ["My-App", "lowercase"]),
    "app-name-keyword": ({"app_name": "class"}, "app_name", ["class"]),
    "app-name-shadows-django": ({"app_name": "django"}, "app_name", ["django", "shadow"]),
    "app-name-shadows-stdlib": ({"app_name": "json"}, "app_name", ["json", "shadow"]),
    "app-name-shadows-test": ({"app_name": "test"}, "app_name", ["test", "shadow"]),
    "app-name-shadows-site": ({"app_name": "site"}, "app_name", ["site", "shadow"]),
    "app-name-shadows-celery": ({"app_name": "celery"}, "app_name", ["celery", "shadow"]),
    "app-module-last-part": ({"app_module": "apps.shop"}, "app_module", ["apps.shop", "orders"]),
    "app-module-not-dotted-path": ({"app_module": "apps..orders"}, "app_module", ["apps..orders"]),
    "model-name-not-pascal": ({"model_name": "order"}, "model_name", ["order", "PascalCase"]),
    "model-name-taken": ({"model_name": "Model"}, "model_name", ["Model", "taken"]),
    "models-not-mapping": ({"models": ["Order"]}, "models", ["mapping"]),
    "models-fields-not-mapping": ({"models": {"Order": "status"}}, "models", ["Order", "mapping"]),
    "model-name-in-models-bad": (
        {"models": {"Order": {}, "bad_model": {}}}, "models", ["bad_model", "PascalCase"]),
    "field-not-identifier": (
        {"models": {"Order": {"2fast": "models.IntegerField()"}}}, "models", ["2fast"]),
    "field-pk": ({"models": {"Order": {"pk": "models.IntegerField()"}}}, "models", ["pk", "clashes"]),
    "field-objects": (
        {"models": {"Order": {"objects": "models.IntegerField()"}}}, "models", ["objects", "clashes"]),
    "field-tracker": (
        {"models": {"Order": {"tracker": "models.IntegerField()"}}}, "models", ["tracker", "clashes"]),
    "field-empty-expression": ({"models": {"Order": {"status": ""}}}, "models", ["status", "expression"]),
    "field-not-a-field": ({"models": {"Order": {"status": "print(1)"}}}, "models", ["status", "print(1)"]),
    "main-model-missing": (
        {"model_name": "Invoice", "models": ORDERS["models"]}, "models", ["Invoice", "not defined"]),
    "m2m-without-field": (
        {"models": {"Order": {"status": "models.CharField(max_length=9)"}},
         "signal_types": ["m2m_changed"]}, "signal_types", ["m2m_changed", "ManyToManyField"]),
    "handlers-not-list": ({"handlers": {"name": "x"}}, "handlers", ["list"]),
    "handler-not-mapping": ({"handlers": ["on_order_created"]}, "handlers", ["on_order_created", "mapping"]),
    "handler-name-missing": (with_handler(name=None), "handlers", ["name is missing"]),
    "handler-name-not-identifier": (with_handler(name="on-created"), "handlers", ["on-created", "identifier"]),
    "handler-name-duplicate": (
        {**ORDERS, "handlers": [HANDLER, HANDLER]}, "handlers", ["on_order_created", "unique"]),
    "handler-unknown-signal": (
        with_handler(signal="post_sav"), "handlers", ["on_order_created", "post_sav", "pre_save, post_save"]),
    "handler-unknown-model": (with_handler(model="Invoice"), "handlers", ["on_order_created", "Invoice"]),
    "handler-bad-through": (
        with_handler(model="Order.status.through", signal="m2m_changed", on_create=None, on_update=None),
        "handlers", ["Order.status.through", "through"]),
    "handler-m2m-not-through": (
        with_handler(signal="m2m_changed", on_create=None, on_update=None), "handlers",
        ["on_order_created", "m2m_changed", "through"]),
    "handler-sender-of-a-senderless-signal": (
        with_handler(signal="django.contrib.auth.signals.user_login_failed", on_create=None, on_update=None,
                     implementation="pass"), "handlers", ["on_order_created", "user_login_failed", "sent by no model"]),
    "handler-model-for-post-migrate": (
        with_handler(signal="post_migrate", on_create=None, on_update=None, implementation="pass"),
        "handlers", ["on_order_created", "post_migrate", "AppConfig", "'*'"]),
    "handler-class-prepared-of-a-model": (
        with_handler(signal="class_prepared", on_create=None, on_update=None, implementation="pass"),
        "handlers", ["on_order_created", "class_prepared", "Order", "never", "leave model out"]),
    "handler-unknown-django-signal": (
        with_handler(signal="django.db.models.signals.post_sve"), "handlers",
        ["on_order_created", "post_sve", "not a signal of django.db.models.signals", "post_save"]),
    "handler-provides-for-a-known-signal": (
        with_handler(provides=["order"]), "handlers", ["on_order_created", "provides", "instance, created"]),
    "handler-provides-not-a-list": (
        with_handler(signal="payments.signals.paid", model=None, provides="order", on_create=None,
                     on_update=None), "handlers", ["on_order_created", "provides", "list"]),
    "handler-provides-a-bound-name": (
        with_handler(signal="payments.signals.paid", model=None, provides=["sender"], on_create=None,
                     on_update=None), "handlers", ["on_order_created", "'sender'"]),
    "handler-on-error-bad": (with_handler(on_error="ignore"), "handlers", ["on_order_created", "ignore", "log or raise"]),
    "handler-m2m-any-sender-without-m2m": (
        {**with_handler(signal="m2m_changed", model=None, on_create=None, on_update=None, on_add="pass"),
         "models": {"Order": {"status": "models.CharField(max_length=9)"}}},
        "handlers", ["on_order_created", "m2m_changed", "ManyToManyField"]),
    "handler-signals-with-one-name": (
        {**ORDERS, "handlers": [
            {"name": "a", "signal": "billing.signals.paid"}, {"name": "b", "signal": "shop.signals.paid"}]},
        "handlers", ["billing.signals.paid", "shop.signals.paid", "same name"]),
    "handler-name-is-its-signal": (
        {**ORDERS, "handlers": [{"name": "user_logged_in", "signal": "django.contrib.auth.signals.user_logged_in"}]},
        "handlers", ["user_logged_in", "signal has that name"]),
    "handler-wrong-branch": (
        with_handler(on_add="pass"), "handlers", ["on_order_created", "on_add", "on_create, on_update"]),
    "handler-unknown-key": (
        with_handler(on_save="pass"), "handlers", ["on_order_created", "on_save", "allowed"]),
    "handler-body-not-text": (with_handler(on_create=["x"]), "handlers", ["on_order_created", "on_create"]),
    "handler-description-two-lines": (
        with_handler(description="Line one\nline two"), "handlers", ["on_order_created", "description"]),
    "tasks-not-list": ({"task_backend": "django", "tasks": "send"}, "tasks", ["list"]),
    "task-bad-name": (
        {"task_backend": "celery", "tasks": [{"app": "orders", "name": "send-email"}]}, "tasks", ["send-email"]),
    "task-duplicate": (
        {"task_backend": "django", "tasks": [{"app": "orders", "name": "send"}, {"app": "orders", "name": "send"}]},
        "tasks", ["send", "twice"]),
    "task-unknown-key": (
        {"task_backend": "django", "tasks": [{"app": "orders", "name": "send", "queue": "q"}]}, "tasks",
        ["send", "queue", "allowed"]),
    "task-shadows-task-decorator": (
        {"task_backend": "django", "tasks": [{"app": "orders", "name": "task"}]}, "tasks", ["task", "shadow"]),
    "tasks-without-task-backend": (
        {"tasks": [{"app": "orders", "name": "send"}]}, "task_backend", ["task_backend is none", "tasks"]),
    "tasks-with-task-backend-none": (
        {"task_backend": "none", "tasks": [{"app": "orders", "name": "send"}]}, "task_backend",
        ["task_backend is none", "celery or django"]),
    # A 1.x data file: use_celery and celery_tasks are carried over into the new questions.
    "old-celery-tasks-without-celery": (
        {"use_celery": False, "celery_tasks": [{"app": "orders", "name": "send"}]}, "task_backend",
        ["task_backend is none", "tasks"]),
    "old-celery-task-bad-name": (
        {"use_celery": True, "celery_tasks": [{"app": "orders", "name": "send-email"}]}, "tasks", ["send-email"]),
    "custom-signal-bad-name": ({"custom_signals": [{"name": "order paid"}]}, "custom_signals", ["order paid"]),
    "custom-signal-builtin-name": (
        {"custom_signals": [{"name": "post_save"}]}, "custom_signals", ["post_save", "Django signal"]),
    "custom-signal-duplicate": (
        {"custom_signals": [{"name": "paid"}, {"name": "paid"}]}, "custom_signals", ["paid", "twice"]),
    "custom-signal-provides-not-list": (
        {"custom_signals": [{"name": "paid", "provides": "order"}]}, "custom_signals", ["paid", "provides"]),
    "custom-signal-provides-bad-name": (
        {"custom_signals": [{"name": "paid", "provides": ["order-id"]}]}, "custom_signals",
        ["paid", "order-id"]),
    "handler-name-shadows-logger": (with_handler(name="logger"), "handlers", ["logger", "shadow"]),
    "handler-name-private": (with_handler(name="_guarded"), "handlers", ["_guarded", "shadow"]),
    "handler-name-is-a-model": (with_handler(name="AuditLog"), "handlers", ["AuditLog", "shadow"]),
    "custom-handler-external-sender": (
        {**ORDERS, "custom_signals": [{"name": "paid"}],
         "handlers": [{"name": "on_paid", "signal": "paid", "model": "auth.User"}]},
        "handlers", ["on_paid", "auth.User", "custom signal"]),
    "custom-signal-provides-twice": (
        {"custom_signals": [{"name": "paid", "provides": ["order", "order"]}]}, "custom_signals",
        ["paid", "twice"]),
    "custom-signal-description-quotes": (
        {"custom_signals": [{"name": "paid", "description": 'Paid """now"""'}]}, "custom_signals",
        ["paid", "description"]),
    "custom-signal-shadows-logger": ({"custom_signals": [{"name": "logger"}]}, "custom_signals", ["logger", "shadow"]),
    "task-shadows-transaction": (
        {"task_backend": "celery", "tasks": [{"app": "orders", "name": "transaction"}]}, "tasks",
        ["transaction", "shadow"]),
    "model-name-taken-by-template": (
        {"models": {"Order": {}, "Receiver": {}}}, "models", ["Receiver", "taken"]),
    "field-hides-models-module": (
        {"models": {"Order": {"models": "models.IntegerField()"}}}, "models", ["models", "hide"]),
    "field-unbalanced-parentheses": (
        {"models": {"Order": {"n": "models.CharField(max_length=(20)"}}}, "models", ["max_length=(20"]),
    "imports-dangling-as": ({"imports": ["from x import y as"]}, "imports", ["from x import y as"]),
    "imports-not-list": ({"imports": "from x import y"}, "imports", ["list"]),
    "imports-bad-line": ({"imports": ["from .models import Order"]}, "imports", ["from .models import Order"]),
    "imports-star": ({"imports": ["from os import *"]}, "imports", ["from os import *"]),
    "starter-name-taken": (
        {"signal_types": ["pre_save", "post_save"], "pre_save_name": "audit", "post_save_name": "audit"},
        "post_save_name", ["another handler"]),
    "starter-name-not-identifier": (
        {"signal_types": ["post_save"], "post_save_name": "after-save"}, "post_save_name", ["identifier"]),
    "starter-name-shadows-logger": (
        {"signal_types": ["post_save"], "post_save_name": "logger"}, "post_save_name", ["shadow"]),
    "starter-name-is-a-model": (
        {"signal_types": ["post_save"], "post_save_name": "Tag"}, "post_save_name", ["shadow"]),
    "starter-name-is-a-signal": (
        {"signal_types": ["pre_save", "post_save"], "post_save_name": "pre_save"}, "post_save_name", ["signal"]),
    "starter-name-is-a-send-helper": (
        {"custom_signals": [{"name": "paid"}], "signal_types": ["post_save"], "post_save_name": "send_paid"},
        "post_save_name", ["shadow"]),
    "new-handler-path-not-dotted": (
        {"new_handler": "<import path>", "new_handler_path": "user logged in"}, "new_handler_path",
        ["not a dotted import path"]),
    "new-handler-path-of-a-model-signal": (
        {"new_handler": "<import path>", "new_handler_path": "django.db.models.signals.post_save"},
        "new_handler_path", ["pick post_save"]),
    "new-handler-path-unknown-django-signal": (
        {"new_handler": "<import path>", "new_handler_path": "django.core.signals.request_ended"},
        "new_handler_path", ["Django has no such signal"]),
    "new-handler-provides-not-names": (
        {"new_handler": "<import path>", "new_handler_path": "billing.signals.paid", "new_handler_provides": "order 2x"},
        "new_handler_provides", ["'2x'"]),
    "m2m-field-not-m2m": ({"m2m_changed_field": "tag"}, "m2m_changed_field", ["'tag'", "['tags']"]),
}

# Asked at a one-line prompt, where a message wider than the terminal is cut: these fit
# in 80 columns after Copier's "Validation error for question '...': ".
ONE_LINE = {"app_name", "app_module", "model_name", "signal_types", "post_save_name", "new_handler_path", "new_handler_provides"}


def refuse(tmp_path: Path, answers: dict) -> str:
    """Copier's message for ``answers``, given in-process; checks nothing was written."""
    destination = tmp_path / "apps" / "orders"
    with pytest.raises(ValueError) as refused:
        run_copy(str(ROOT), str(destination), data=answers, defaults=True, unsafe=False, quiet=True, vcs_ref="HEAD")
    assert not (tmp_path / "apps").exists()
    return f"ValueError: {refused.value}"


@pytest.mark.parametrize("answers, question, words", CASES.values(), ids=CASES.keys())
def test_bad_answer_is_refused_and_nothing_is_written(tmp_path, answers, question, words):
    message = refuse(tmp_path, answers)
    assert f"question '{question}'" in message or f"Invalid choice for '{question}'" in message
    for word in words:
        assert word in message
    if question in ONE_LINE:
        assert len(message.removeprefix("ValueError: ")) <= 80, message


@pytest.mark.parametrize("case", ["handler-unknown-signal", "m2m-field-not-m2m"])
def test_the_command_exits_non_zero_with_the_message_last(tmp_path, case):
    """The `copier` command, given the answers as a data file, ends with the same message."""
    answers = CASES[case][0]
    data_file = tmp_path / "answers.yml"
    data_file.write_text(yaml.safe_dump(answers))
    destination = tmp_path / "cli" / "apps" / "orders"
    result = run(
        COPIER, "copy", "--defaults", "--vcs-ref", "HEAD", "--data-file", data_file,
        ROOT, destination, cwd=tmp_path, check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == refuse(tmp_path, answers)
    assert not (tmp_path / "cli").exists()


def test_broken_body_fails_loudly_naming_the_handler(host_with):
    """Jinja cannot parse Python, so a body that does not compile is reported by Django
    at start-up, with the handler's module and line."""
    host = host_with({"signal_types": ["post_save"], "post_save_on_create": "if instance.pk\n    pass"})
    result = host.manage("check", check=False)
    assert result.returncode != 0
    assert "handlers/after_order_save.py" in result.stderr
    assert "SyntaxError" in result.stderr


def test_soft_keywords_and_a_custom_id_are_valid_fields(host_with):
    models = {
        "Order": {
            "id": "models.UUIDField(primary_key=True)",
            "type": "models.CharField(max_length=20)",
            "match": "models.CharField(max_length=20, blank=True)",
        }
    }
    host = host_with({"models": models, "signal_types": ["post_save"]})
    host.manage("check")
    host.manage("makemigrations", "--check", "--dry-run")
