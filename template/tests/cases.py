"""Test cases shared by every handler of a signal type; test_signals.py fills them in.

Each case replaces a handler body with a mock (``spy``) to check that the receiver
runs the right body, once, for the right ORM operation, or runs the real bodies and
checks that nothing fails.
"""

import contextlib
import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any
from unittest import mock

from asgiref.sync import sync_to_async
from django.core.exceptions import SynchronousOnlyOperation
from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    connection,
    models,
    transaction,
)
from django.dispatch import Signal
from django.test.utils import CaptureQueriesContext

from .. import observe
from ..testing import only, recording, run_on_commit
from . import data
from .factories import build, create, load_fixture, make, values_for
from .failures import FailureCases, query, savepoint_queries
from .observed import ObservedCases

if TYPE_CHECKING:
    from django.test import TestCase as Base
else:
    Base = object


class HandlerCases(Base):
    """What every handler's tests know: its bodies, receiver, signal and sender."""

    handler: ModuleType  # handlers/<name>.py
    receiver: Callable[..., Any]  # the receiver in receivers.py
    signal: Signal
    dispatch_uid: str
    model: type[models.Model]
    on_error: str  # "log" or "raise": the handler's own answer, else the app's
    any_sender = False  # connected with no sender: it runs for every model
    logger_name: str  # the app's logger; guards.py logs on "<app>.signals"
    branches: tuple[str, ...] = ()  # the handler's bodies

    def setUp(self) -> None:
        super().setUp()
        # Of this app's receivers, this handler's alone: the others may legitimately
        # write rows or raise that its tests do not expect. Other apps' receivers of
        # the model signals stay (a library's keep its rows right); of another signal,
        # they go: the tests send it made-up values.
        self.enterContext(only(self.handler, other_apps=True))
        quiet(self, self.logger_name)

    def spy(self, branch: str, **kwargs: Any) -> Any:
        """Replace one body of the handler with a mock, for a ``with`` block."""
        return mock.patch.object(self.handler, branch, autospec=True, **kwargs)

    @contextmanager
    def spies(self, *branches: str) -> Iterator[dict[str, Any]]:
        """Replace several bodies at once; yields the mocks by branch name."""
        with mock.patch.multiple(
            self.handler, **dict.fromkeys(branches, mock.DEFAULT), autospec=True
        ) as mocks:
            yield mocks

    def assert_error_handled(self, branch: str, operation: Callable[[], Any]) -> None:
        """A body that raises: logged and the operation completes (on_error: log),
        or the exception reaches the caller (on_error: raise)."""
        error = RuntimeError("handler failed")
        with self.spy(branch, side_effect=error):
            if self.on_error == "raise":
                self.assert_raised(RuntimeError, operation)
                return
            with self.assertLogs(f"{self.logger_name}.signals", "ERROR") as logs:
                operation()
        record = logs.records[0]
        self.assertEqual(record.exc_info, (RuntimeError, error, mock.ANY))
        name = self.handler.__name__.rsplit(".", 1)[-1]
        # The failure's record carries the run's names, and no field value.
        self.assertEqual(
            (record.handler, record.outcome),  # type: ignore[attr-defined]
            (name, "error"),
        )
        self.assertIn(f"{name} (", record.getMessage())

    def assert_raised(
        self, kind: type[Exception], operation: Callable[[], Any]
    ) -> None:
        """With on_error: raise, the exception reaches the sender: out of ``send()``, or
        as the receiver's response from a signal whose ``send()`` catches exceptions
        itself (Celery's)."""
        if isinstance(self.signal, Signal):
            with self.assertRaises(kind):
                operation()
            return
        responses = operation()
        self.assertTrue(any(isinstance(answer, kind) for _, answer in responses))

    def assert_no_errors(self) -> Any:
        """A ``with`` block in which nothing may log an error."""
        return self.assertNoLogs(level="ERROR")

    def assert_bodies_run(self, operation: Callable[[], Any]) -> None:
        """``operation`` runs each of the handler's real bodies, and none fails: nothing
        raises, and nothing logs an error."""
        name = self.handler.__name__.rsplit(".", 1)[-1]
        handler = ErrorRecords()
        errors = handler.records
        root = logging.getLogger()
        root.addHandler(handler)
        self.addCleanup(root.removeHandler, handler)
        with data.bodies_data(name), recording(self.handler) as runs, run_on_commit():
            try:
                operation()
            except Exception as error:  # on_error: raise; a body's is reported below
                if not any(run.error is error for run in runs):
                    raise
        root.removeHandler(handler)
        for run in runs:
            if run.error is not None:
                self.fail(
                    f"{run.body}() of handler {name} raised {run.error!r} on the rows "
                    "the tests made up. If it needs data they lack (a related row, a "
                    "setting), give it in tests/data.py: values() or bodies_data()."
                )
        self.assertEqual([record.getMessage() for record in errors], [])
        self.assertEqual(
            sorted({run.body for run in runs}),
            sorted(self.branches),
            "not every body ran: is the receiver connected, for this sender?",
        )

    # What the failure tests do: act() runs ``branch`` through the ORM, and
    # acted(result) tells whether the caller's work is in the database.
    branch: str
    queries_for_any_listener = 0  # what Django itself adds when a receiver listens
    act_runs_the_receiver_again = True  # act() inside the body runs it for a new row

    def act(self) -> Any:
        raise NotImplementedError

    def in_django_transaction(self) -> bool:
        """Whether Django sends the signal of act() inside a transaction of its own."""
        return False

    def acted(self, result: Any) -> bool:
        raise NotImplementedError

    @contextmanager
    def receiver_disconnected(self) -> Iterator[None]:
        sender = None if self.any_sender else self.connected_sender()
        self.signal.disconnect(sender=sender, dispatch_uid=self.dispatch_uid)
        try:
            yield
        finally:
            self.signal.connect(
                self.receiver, sender=sender, dispatch_uid=self.dispatch_uid, weak=False
            )

    def connected_sender(self) -> Any:
        return self.model


class SaveOperation(HandlerCases):
    branch = "on_create"

    def act(self) -> Any:
        return create(self.model)

    def acted(self, result: Any) -> bool:
        return self.model._base_manager.filter(pk=result.pk).exists()


class SaveCases(SaveOperation, FailureCases, ObservedCases):
    """What pre_save and post_save handlers share: ``on_create`` and one update body."""

    update_branch: str  # on_update (post_save) or implementation (pre_save)

    def test_create_runs_on_create(self) -> None:
        with self.spies("on_create", self.update_branch) as body:
            instance = create(self.model)
        body["on_create"].assert_called_once()
        self.assertEqual(body["on_create"].call_args.args[:2], (self.model, instance))
        body[self.update_branch].assert_not_called()

    def test_update_runs_the_update_body(self) -> None:
        instance = make(self.model)
        with self.spies("on_create", self.update_branch) as body:
            instance.save()
        body[self.update_branch].assert_called_once()
        self.assertEqual(
            body[self.update_branch].call_args.args[:2], (self.model, instance)
        )
        body["on_create"].assert_not_called()

    def test_fixture_load_runs_nothing(self) -> None:
        instance = make(self.model)
        with (
            self.spies("on_create", self.update_branch) as body,
            self.assertLogs(f"{self.logger_name}.signals", "DEBUG") as logs,
        ):
            load_fixture([instance])
        body["on_create"].assert_not_called()
        body[self.update_branch].assert_not_called()
        name = self.handler.__name__.rsplit(".", 1)[-1]
        outcomes = [
            getattr(r, "outcome", "")
            for r in logs.records
            if getattr(r, "handler", "") == name
        ]
        self.assertEqual(outcomes, ["skipped"], "a raw save is recorded as skipped")

    def test_error_in_body(self) -> None:
        self.assert_error_handled("on_create", lambda: create(self.model))

    def test_bodies_run_without_error(self) -> None:
        self.assert_bodies_run(lambda: create(self.model).save())

    async def test_async_orm_runs_the_bodies(self) -> None:
        """acreate() and asave() send the signals from a thread: bodies may use the ORM."""
        values = await sync_to_async(values_for)(self.model)
        with self.spies("on_create", self.update_branch) as body:
            body["on_create"].side_effect = body[self.update_branch].side_effect = (
                count_rows
            )
            with self.assert_no_errors():
                instance = await self.model._default_manager.acreate(**values)
                await instance.asave()
        body["on_create"].assert_called_once()
        body[self.update_branch].assert_called_once()
        self.assertEqual(body["on_create"].call_args.args[1], instance)


class PostSaveCases(SaveCases):
    update_branch = "on_update"

    def test_created_flag(self) -> None:
        with self.spies("on_create", "on_update") as body:
            instance = create(self.model)
            instance.save()
        self.assertIs(body["on_create"].call_args.args[2], True)
        self.assertIs(body["on_update"].call_args.args[2], False)

    def test_save_inside_handler_does_not_loop(self) -> None:
        def save_again(
            sender: Any, instance: models.Model, *args: Any, **kwargs: Any
        ) -> None:
            instance.save()

        with self.spies("on_create", "on_update") as body:
            body["on_create"].side_effect = save_again
            create(self.model)
        body["on_create"].assert_called_once()
        body["on_update"].assert_not_called()


class PreSaveCases(SaveCases):
    update_branch = "implementation"
    extra_queries: int  # queries the receiver adds to an update: 0 with change tracking
    changed_field: str = ""  # a text field the tests may change

    def test_save_of_a_copy_without_pk_runs_on_create(self) -> None:
        instance = make(self.model)
        instance.pk = None  # Django's way to copy a row
        with (
            self.spies("on_create", "implementation") as body,
            contextlib.suppress(IntegrityError),  # unique fields may refuse the copy
            transaction.atomic(),
        ):
            instance.save()
        body["on_create"].assert_called_once()
        body["implementation"].assert_not_called()

    def test_update_gets_original(self) -> None:
        instance = make(self.model)
        with self.spy("implementation") as implementation:
            instance.save()
        original = implementation.call_args.args[2]
        self.assertEqual(original.pk, instance.pk)
        self.assertIsNot(original, instance)

    def test_original_holds_the_saved_values(self) -> None:
        if not self.changed_field:
            self.skipTest("the model has no text field to change")
        instance = make(self.model)
        saved = getattr(instance, self.changed_field)
        setattr(instance, self.changed_field, other_text(saved))
        with self.spy("implementation") as implementation:
            instance.save()
        original = implementation.call_args.args[2]
        self.assertEqual(getattr(original, self.changed_field), saved)

    def test_update_queries(self) -> None:
        instance = make(self.model)
        with self.spy("implementation"), CaptureQueriesContext(connection) as handled:
            instance.save()
        with self.receiver_disconnected(), CaptureQueriesContext(connection) as bare:
            instance.save()
        self.assertEqual(
            len(handled) - savepoint_queries(handled),
            len(bare) - savepoint_queries(bare) + self.extra_queries,
        )


class DeleteOperation(HandlerCases):
    branch = "implementation"

    def in_django_transaction(self) -> bool:
        return True

    def act(self) -> Any:
        instance = make(self.model)
        pk = instance.pk
        instance.delete()
        return pk

    def acted(self, result: Any) -> bool:
        return not self.model._base_manager.filter(pk=result).exists()


class DeleteCases(DeleteOperation, FailureCases, ObservedCases):
    def test_delete_runs_implementation(self) -> None:
        instance = make(self.model)
        with self.spy("implementation") as implementation:
            instance.delete()
        implementation.assert_called_once()
        self.assertEqual(implementation.call_args.args[:2], (self.model, instance))

    def test_queryset_delete_runs_once_per_row(self) -> None:
        keys = [make(self.model).pk, make(self.model).pk]
        with self.spy("implementation") as implementation:
            self.model._default_manager.filter(pk__in=keys).delete()
        self.assertEqual(implementation.call_count, 2)

    def test_error_in_body(self) -> None:
        instance = make(self.model)
        self.assert_error_handled("implementation", instance.delete)

    def test_bodies_run_without_error(self) -> None:
        self.assert_bodies_run(lambda: make(self.model).delete())

    async def test_async_orm_runs_the_bodies(self) -> None:
        """adelete() sends the signals from a thread: bodies may use the ORM."""
        instance = await sync_to_async(make)(self.model)
        with self.spy("implementation", side_effect=count_rows) as implementation:
            with self.assert_no_errors():
                await instance.adelete()
        implementation.assert_called_once()


class M2MOperation(HandlerCases):
    field_name: str  # the ManyToManyField of self.model
    field: Any
    branch = "on_add"
    act_runs_the_receiver_again = False  # the same instance: the receiver skips it

    def act(self) -> Any:
        related = make(self.field.related_model)
        self.relation.add(related)
        return related

    def acted(self, result: Any) -> bool:
        return self.relation.filter(pk=result.pk).exists()

    def connected_sender(self) -> Any:
        return self.field.remote_field.through

    @property
    def queries_for_any_listener(self) -> int:  # type: ignore[override]
        """add() reads the keys already there, for pk_set, only once a receiver
        listens; through a model of your own it always reads them."""
        through = self.field.remote_field.through
        fast = connection.features.supports_ignore_conflicts
        return 1 if through._meta.auto_created and fast else 0

    def in_django_transaction(self) -> bool:
        return True

    def setUp(self) -> None:
        super().setUp()
        self.field = self.model._meta.get_field(self.field_name)
        self.instance = make(self.model)
        self.related = make(self.field.related_model)
        self.relation = getattr(self.instance, self.field_name)


class M2MChangedCases(M2MOperation, FailureCases, ObservedCases):
    def assert_ran(
        self, body: Any, action: str, pk_set: Any, reverse: bool = False
    ) -> None:
        body.assert_called_once()
        sender, instance, called_action, called_reverse, model, called_pk_set = (
            body.call_args.args[:6]
        )
        self.assertIs(sender, self.field.remote_field.through)
        self.assertEqual(instance, self.related if reverse else self.instance)
        self.assertEqual((called_action, called_reverse), (action, reverse))
        self.assertIs(model, self.model if reverse else self.field.related_model)
        self.assertEqual(called_pk_set, pk_set)

    def test_add_runs_on_add(self) -> None:
        with self.spies("on_add", "on_remove", "on_clear") as body:
            self.relation.add(self.related)
        self.assert_ran(body["on_add"], "post_add", {self.related.pk})
        body["on_remove"].assert_not_called()
        body["on_clear"].assert_not_called()

    def test_reverse_add_runs_on_add(self) -> None:
        rel = self.field.remote_field
        if (rel.related_name or "").endswith("+") or not rel.get_accessor_name():
            self.skipTest("the relation has no reverse accessor")
        reverse_relation = getattr(self.related, rel.get_accessor_name())
        with self.spy("on_add") as on_add:
            reverse_relation.add(self.instance)
        self.assert_ran(on_add, "post_add", {self.instance.pk}, reverse=True)

    def test_remove_runs_on_remove(self) -> None:
        self.relation.add(self.related)
        with self.spies("on_add", "on_remove", "on_clear") as body:
            self.relation.remove(self.related)
        self.assert_ran(body["on_remove"], "post_remove", {self.related.pk})
        body["on_add"].assert_not_called()
        body["on_clear"].assert_not_called()

    def test_clear_runs_on_clear(self) -> None:
        self.relation.add(self.related)
        with self.spies("on_add", "on_remove", "on_clear") as body:
            self.relation.clear()
        self.assert_ran(body["on_clear"], "post_clear", None)
        body["on_add"].assert_not_called()
        body["on_remove"].assert_not_called()

    def test_error_in_body(self) -> None:
        self.assert_error_handled("on_add", lambda: self.relation.add(self.related))

    def test_bodies_run_without_error(self) -> None:
        def add_remove_clear() -> None:
            self.relation.add(self.related)
            self.relation.remove(self.related)
            self.relation.add(self.related)
            self.relation.clear()

        self.assert_bodies_run(add_remove_clear)

    async def test_async_orm_runs_the_bodies(self) -> None:
        """aadd(), aremove() and aclear() send from a thread: bodies may use the ORM."""
        with self.spies("on_add", "on_remove", "on_clear") as body:
            for mocked in body.values():
                mocked.side_effect = count_rows
            with self.assert_no_errors():
                await self.relation.aadd(self.related)
                await self.relation.aremove(self.related)
                await self.relation.aadd(self.related)
                await self.relation.aclear()
        self.assertEqual(body["on_add"].call_count, 2)
        body["on_remove"].assert_called_once()
        body["on_clear"].assert_called_once()


class SignalOperation(HandlerCases):
    """A handler of any signal but the five model signals, reached by sending it."""

    # model: the sender, or else a model of the app whose rows the tests write
    sender: Any
    provides: tuple[str, ...]
    branch = "implementation"

    send_helper: Callable[..., Any] | None = None  # a custom signal's send_<signal>
    asend_helper: Callable[..., Any] | None = None  # and asend_<signal>

    def send(self, sender: Any, **values: Any) -> Any:
        """The app's send_<signal> helper for a custom signal, else the signal's send."""
        if self.send_helper is not None:
            return self.send_helper(sender, **values)
        return self.signal.send(sender, **values)

    async def asend(self, sender: Any, **values: Any) -> Any:
        """The async twin of send(); a signal without one (Celery's) skips its tests."""
        if self.asend_helper is not None:
            return await self.asend_helper(sender, **values)
        if not hasattr(self.signal, "asend"):
            self.skipTest(f"{type(self.signal).__qualname__} has no asend()")
        return await self.signal.asend(sender, **values)

    def values(self) -> dict[str, Any]:
        # raw=True would be a fixture load, which a guarded receiver skips; a
        # database alias must be one.
        fixed = {"raw": False, "using": DEFAULT_DB_ALIAS}
        return {name: fixed.get(name, object()) for name in self.provides}

    def connected_sender(self) -> Any:
        return None if self.sender is object else self.sender

    def observed_sender(self) -> str:
        """What the records call the sender act() sends with."""
        meta = getattr(self.sender, "_meta", None)
        return meta.label if meta is not None else observe.sender_name(self.sender)

    def act(self) -> Any:
        row = make(self.model)
        self.send(self.sender, **self.values())
        return row

    def acted(self, result: Any) -> bool:
        return self.model._base_manager.filter(pk=result.pk).exists()


class SignalCases(SignalOperation, FailureCases, ObservedCases):
    def test_send_runs_implementation(self) -> None:
        values = self.values()
        with self.spy("implementation") as implementation:
            self.send(self.sender, **values)
        implementation.assert_called_once()
        args = implementation.call_args.args
        self.assertEqual(args, (self.sender, *values.values()))

    def test_response_is_what_the_body_returns(self) -> None:
        """send() returns each receiver's response: here, the body's return value."""
        response = object()
        with self.spy("implementation", return_value=response):
            responses = self.send(self.sender, **self.values())
        self.assertIn(response, [answer for _, answer in responses])

    def test_error_in_body(self) -> None:
        values = self.values()
        self.assert_error_handled(
            "implementation", lambda: self.send(self.sender, **values)
        )

    def test_nested_sends_for_other_objects_all_run(self) -> None:
        """A receiver may send its own signal again, e.g. paying an order pays its
        children: every send runs the body."""
        sends = [self.values() for _ in range(3)]

        def send_next(*args: Any, **kwargs: Any) -> None:
            if implementation.call_count < len(sends):
                self.send(self.sender, **sends[implementation.call_count])

        with self.spy("implementation", side_effect=send_next) as implementation:
            self.send(self.sender, **sends[0])
        self.assertEqual(implementation.call_count, 3)

    async def test_send_inside_an_event_loop_is_loud(self) -> None:
        """send_<signal>() from a coroutine: a body that queries fails, and says so."""
        with self.spy("implementation", side_effect=query):
            if self.on_error == "raise":
                self.assert_raised(
                    SynchronousOnlyOperation,
                    lambda: self.send(self.sender, **self.values()),
                )
                return
            with self.assertLogs(f"{self.logger_name}.signals", "ERROR") as logs:
                self.send(self.sender, **self.values())
        exc_info = logs.records[0].exc_info or (None,)
        self.assertIs(exc_info[0], SynchronousOnlyOperation)

    async def test_asend_runs_implementation_in_a_thread(self) -> None:
        """asend_<signal>() runs the body where it may use the database."""
        values = self.values()
        with self.spy("implementation", side_effect=query) as implementation:
            with self.assert_no_errors():
                await self.asend(self.sender, **values)
        implementation.assert_called_once()
        self.assertEqual(implementation.call_args.args, (self.sender, *values.values()))


class GuardedSignalCases(SignalCases):
    """A signal about a row, not one of the model signals: it sends ``instance``, and
    maybe ``raw``; its receiver is guarded as the model signals' are."""

    def test_a_raw_send_runs_nothing(self) -> None:
        """A signal that sends raw=True (a fixture load) runs no guarded body."""
        if "raw" not in self.provides:
            self.skipTest("the signal sends no raw flag")
        with self.spy("implementation") as implementation:
            self.send(self.sender, **{**self.values(), "raw": True})
        implementation.assert_not_called()

    def test_a_send_for_the_same_instance_inside_the_body_runs_nothing(self) -> None:
        """A signal about a row (instance): a body's send for the same row does not
        run the body again, so it cannot loop."""
        values = self.values()

        def send_again(*args: Any, **kwargs: Any) -> None:
            self.send(self.sender, **values)

        with self.spy("implementation", side_effect=send_again) as implementation:
            self.send(self.sender, **values)
        implementation.assert_called_once()


class ErrorRecords(logging.Handler):
    """Keeps the ERROR records it gets."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def quiet(test: Any, logger_name: str) -> None:
    """Keep the handlers' INFO lines out of a test run's output, whatever LOGGING says,
    so a failure does not sit under hundreds of them; assertLogs still sees them."""
    logger = logging.getLogger(logger_name)
    test.addCleanup(logger.setLevel, logger.level)
    logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))


_changes = itertools.count(1)


def other_text(value: str | None) -> str:
    """A short text unlike ``value`` and unlike any other call's (for unique fields): a
    field's default ("", say) or None cannot be reversed into a change."""
    text = f"c{next(_changes)}"
    return text if text != value else other_text(value)


def count_rows(sender: Any, *args: Any, **kwargs: Any) -> None:
    """A body that uses the ORM, as most do; fails in an event loop's thread."""
    sender._base_manager.count()


class TrackerCases(Base):
    """The ``tracker`` of a model: what changed since the row was loaded or saved."""

    model: type[models.Model]
    changed_field: str

    def test_new_instance_has_changed(self) -> None:
        """Before its first save a row's saved values are None, as in model-utils."""
        instance: Any = self.model()
        setattr(instance, self.changed_field, other_text(None))
        self.assertTrue(instance.tracker.has_changed(self.changed_field))
        self.assertIsNone(instance.tracker.previous(self.changed_field))
        setattr(instance, self.changed_field, None)
        self.assertFalse(instance.tracker.has_changed(self.changed_field))

    def test_change_is_tracked_until_saved(self) -> None:
        instance: Any = self.model._default_manager.get(pk=make(self.model).pk)
        saved = getattr(instance, self.changed_field)
        self.assertFalse(instance.tracker.has_changed(self.changed_field))
        self.assertEqual(instance.tracker.changed(), {})
        changed = other_text(saved)
        setattr(instance, self.changed_field, changed)
        self.assertTrue(instance.tracker.has_changed(self.changed_field))
        self.assertEqual(instance.tracker.previous(self.changed_field), saved)
        self.assertEqual(instance.tracker.changed(), {self.changed_field: saved})
        instance.save()
        self.assertFalse(instance.tracker.has_changed(self.changed_field))
        self.assertEqual(instance.tracker.previous(self.changed_field), changed)

    def test_loading_costs_no_query(self) -> None:
        make(self.model)
        with self.assertNumQueries(1):
            instances: list[Any] = list(self.model._default_manager.all())
        with self.assertNumQueries(0):
            for instance in instances:
                instance.tracker.has_changed(self.changed_field)
                instance.saved_copy()

    def test_bulk_created_rows_are_tracked(self) -> None:
        [instance] = self.model._default_manager.bulk_create([build(self.model)])
        tracked: Any = instance
        self.assertEqual(tracked.tracker.changed(), {})
        self.assertIsNotNone(tracked.saved_copy())

    def changed_instance(self) -> tuple[Any, str]:
        """A freshly loaded row whose ``changed_field`` was just changed, and its old value."""
        instance: Any = self.model._default_manager.get(pk=make(self.model).pk)
        saved = getattr(instance, self.changed_field)
        setattr(instance, self.changed_field, other_text(saved))
        return instance, saved

    def test_refreshing_one_field_keeps_other_changes(self) -> None:
        instance, saved = self.changed_instance()
        instance.refresh_from_db(fields=[self.model._meta.pk.attname])
        self.assertTrue(instance.tracker.has_changed(self.changed_field))
        self.assertEqual(instance.saved_copy().__dict__[self.changed_field], saved)

    def test_saving_or_bulk_updating_the_field_saves_it(self) -> None:
        instance, _ = self.changed_instance()
        instance.save(update_fields=[self.changed_field])
        self.assertFalse(instance.tracker.has_changed(self.changed_field))
        instance, _ = self.changed_instance()
        self.model._default_manager.bulk_update([instance], [self.changed_field])
        self.assertFalse(instance.tracker.has_changed(self.changed_field))
