"""Handlers with several databases: the Django docs' primary/replica router and a third
database, each a real PostgreSQL database.

Copied into an app rendered with the default answers and Celery, as its
tests/test_multidb.py, by the template's tests/test_multidb.py, whose settings define
the databases `default` (the primary), `replica` and `other`. The replica is no mirror:
rows reach it only when a test writes them there, so it lags or is stale on purpose.
"""

import contextlib
from typing import Any
from unittest import mock

from django.db import transaction
from django.test import TestCase, TransactionTestCase

from .. import handlers, outbox
from ..models import Order
from ..tasks import enqueue_on_commit

DATABASES = {"default", "replica", "other"}


class PrimaryReplicaRouter:
    """The router of Django's docs (Topics, Multiple databases), with one replica:
    reads go to a replica, writes to the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return "replica"

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        pool = {"default", "replica"}
        if obj1._state.db in pool and obj2._state.db in pool:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return True


class Rollback(Exception):
    pass


class OriginalTests(TestCase):
    """pre_save's ``original`` is the row in the database being written."""

    databases = DATABASES

    def bodies(self) -> Any:
        return mock.patch.multiple(
            handlers.before_order_save,
            on_create=mock.DEFAULT,
            implementation=mock.DEFAULT,
            autospec=True,
        )

    def test_replica_lag(self) -> None:
        """The replica has not got the row yet: an update is still an update."""
        order = Order.objects.create(name="a", status="paid")
        self.assertFalse(Order.objects.using("replica").filter(pk=order.pk).exists())
        with self.bodies() as body:
            order.status = "shipped"
            order.save()
        body["on_create"].assert_not_called()
        original = body["implementation"].call_args.args[2]
        self.assertEqual((original.status, original._state.db), ("paid", "default"))

    def test_stale_replica(self) -> None:
        """An instance read from a stale replica, saved to the primary: ``original``
        is the primary's row, not the stale values the instance was read with."""
        order = Order.objects.create(name="a", status="paid")
        Order.objects.using("replica").bulk_create(
            [Order(pk=order.pk, name="a", status="pending")]
        )
        stale = Order.objects.get(pk=order.pk)
        self.assertEqual((stale.status, stale._state.db), ("pending", "replica"))
        with self.bodies() as body:
            stale.name = "b"
            stale.save()
        original = body["implementation"].call_args.args[2]
        self.assertEqual((original.status, original._state.db), ("paid", "default"))

    def test_save_using_another_database(self) -> None:
        """``save(using="other")`` compares with the row in "other", if any."""
        order = Order.objects.create(name="a", status="paid")
        with self.bodies() as body:
            order.save(using="other")
        body["on_create"].assert_called_once()
        body["implementation"].assert_not_called()

        Order.objects.using("other").filter(pk=order.pk).update(status="elsewhere")
        again = Order.objects.using("default").get(pk=order.pk)
        with self.bodies() as body:
            again.save(using="other")
        body["on_create"].assert_not_called()
        original = body["implementation"].call_args.args[2]
        self.assertEqual((original.status, original._state.db), ("elsewhere", "other"))


class EnqueueOnCommitTests(TransactionTestCase):
    """A task queued by a handler is written to the outbox of the signal's database, in
    its transaction, and sent after that commits."""

    databases = DATABASES

    def setUp(self) -> None:
        self.task = mock.Mock()
        self.task.name = "orders.tasks.notify"
        sender = mock.patch.object(outbox, "send")
        self.send = sender.start()
        self.addCleanup(sender.stop)

        def queue(sender: Any, instance: Order, *args: Any, **kwargs: Any) -> None:
            enqueue_on_commit(self.task, instance.pk)

        patcher = mock.patch.object(
            handlers.after_order_save, "on_create", side_effect=queue, autospec=True
        )
        patcher.start()
        self.addCleanup(patcher.stop)

    def sent(self) -> list[list[Any]]:
        """The arguments of each task sent to the broker."""
        return [call.args[2] for call in self.send.call_args_list]

    def outbox_rows(self, using: str) -> int:
        return outbox.OutboxTask.objects.using(using).count()

    def test_rollback_on_another_database_queues_nothing(self) -> None:
        with contextlib.suppress(Rollback), transaction.atomic(using="other"):
            Order(name="a").save(using="other")
            self.assertEqual(self.outbox_rows("other"), 1)
            raise Rollback
        self.assertFalse(Order.objects.using("other").exists())
        self.assertEqual(self.outbox_rows("other"), 0)
        self.assertEqual(self.sent(), [])

    def test_commit_on_another_database_queues_after_commit(self) -> None:
        with transaction.atomic(using="other"):
            order = Order(name="a")
            order.save(using="other")
            self.assertEqual((self.outbox_rows("other"), self.outbox_rows("default")), (1, 0))
            self.assertEqual(self.sent(), [])
        self.assertEqual(self.sent(), [[order.pk]])
        self.assertEqual(self.outbox_rows("other"), 0)

    def test_explicit_database_outside_handlers(self) -> None:
        with contextlib.suppress(Rollback), transaction.atomic(using="other"):
            enqueue_on_commit(self.task, 1, using="other")
            raise Rollback
        with transaction.atomic(using="other"):
            enqueue_on_commit(self.task, 2, using="other")
            self.assertEqual(self.sent(), [])
        self.assertEqual(self.sent(), [[2]])
