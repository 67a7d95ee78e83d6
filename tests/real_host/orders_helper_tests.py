"""A user's own tests of the seed example's orders app, written with orders.testing's
helpers as the rendered README shows them; the same file runs with Celery and with
Django's task framework."""

import contextlib
import threading

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.test import TestCase, TransactionTestCase

from ..guards import muted
from ..models import AuditLog, Order
from ..testing import captured_tasks, mute, only, recording, run_on_commit, run_tasks

CONFIRMATION = "orders.tasks.send_order_confirmation_email"


class MuteTests(TestCase):
    def setUp(self) -> None:
        self.user = get_user_model().objects.create(username="ann")

    def test_mute_one_handler_in_a_block(self) -> None:
        with mute("on_order_created"):
            Order.objects.create(user=self.user)
        self.assertFalse(AuditLog.objects.exists())
        Order.objects.create(user=self.user)
        self.assertEqual(AuditLog.objects.count(), 1)

    def test_mute_every_handler(self) -> None:
        cache.set(f"user_orders:{self.user.pk}", "cached")
        with mute():
            Order.objects.create(user=self.user).delete()
        self.assertFalse(AuditLog.objects.exists())
        self.assertEqual(cache.get(f"user_orders:{self.user.pk}"), "cached")

    @mute("on_order_created")
    def test_mute_as_a_decorator(self) -> None:
        Order.objects.create(user=self.user)
        self.assertFalse(AuditLog.objects.exists())

    def test_a_muted_handler_is_muted_in_this_thread_alone(self) -> None:
        seen: list[frozenset[str]] = []
        with mute("on_order_created"):
            thread = threading.Thread(target=lambda: seen.append(muted.get()))
            thread.start()
            thread.join()
            self.assertEqual(muted.get(), {"on_order_created"})
        self.assertEqual(seen, [frozenset()])
        self.assertEqual(muted.get(), frozenset())

    def test_an_unknown_handler_is_loud(self) -> None:
        with self.assertRaisesMessage(ValueError, "no handler on_order_made"):
            mute("on_order_made")

    def test_only_one_handler(self) -> None:
        with only("cleanup_order_data"), recording("cleanup_order_data") as runs:
            order = Order.objects.create(user=self.user)
            order.delete()
        self.assertFalse(AuditLog.objects.exists())
        self.assertEqual([run.body for run in runs], ["implementation"])


@mute()
class MutedTestCaseTests(TestCase):
    def test_every_test_of_a_decorated_class_is_muted(self) -> None:
        Order.objects.create(user=get_user_model().objects.create(username="bo"))
        self.assertFalse(AuditLog.objects.exists())


class RecordingTests(TestCase):
    def test_a_recorded_body_still_runs(self) -> None:
        user = get_user_model().objects.create(username="ann")
        with recording("on_order_created") as runs:
            order = Order.objects.create(user=user)
            order.status = "paid"
            order.save()
        self.assertEqual([run.body for run in runs], ["on_create", "on_update"])
        self.assertEqual(runs[0].args[:2], (Order, order))
        self.assertIsNone(runs[0].result)
        self.assertEqual(AuditLog.objects.count(), 1)


class CapturedTaskTests(TestCase):
    def setUp(self) -> None:
        self.user = get_user_model().objects.create(username="ann")

    def test_the_tasks_a_block_queued(self) -> None:
        with captured_tasks() as tasks:
            order = Order.objects.create(user=self.user)
        self.assertEqual([(task.name, task.args) for task in tasks], [(CONFIRMATION, [order.pk])])
        with self.assertLogs("orders.tasks", "INFO") as logs:
            run_tasks(tasks)
        self.assertEqual(logs.output, [f"INFO:orders.tasks:send_order_confirmation_email({order.pk})"])

    def test_a_rolled_back_block_queued_nothing(self) -> None:
        with captured_tasks() as tasks:
            with contextlib.suppress(RuntimeError), transaction.atomic():
                Order.objects.create(user=self.user)
                raise RuntimeError("rolled back")
        self.assertEqual(tasks, [])

    def test_run_on_commit(self) -> None:
        ran: list[str] = []
        with run_on_commit() as callbacks:
            transaction.on_commit(lambda: ran.append("committed"))
        self.assertEqual((ran, len(callbacks)), (["committed"], 1))


class CapturedAtCommitTests(TransactionTestCase):
    def test_a_task_is_listed_when_its_transaction_commits(self) -> None:
        user = get_user_model().objects.create(username="ann")
        with captured_tasks() as tasks:
            with transaction.atomic():
                Order.objects.create(user=user)
                self.assertEqual(tasks, [])
            self.assertEqual([task.name for task in tasks], [CONFIRMATION])
