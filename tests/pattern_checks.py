"""The seed's ten patterns, rendered from examples/patterns.yml: their effects through the
ORM, and their query counts next to the seed's versions of the same code.

tests/test_patterns.py copies this module into the rendered `shop` app's tests and runs
it with `manage.py test`; with PATTERN_REPORT set, the counts are written there as JSON.
"""

import json
import os
import shutil
import tempfile
from decimal import Decimal
from unittest import mock

from celery import current_app
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import F, Sum
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.text import slugify

from .. import signals, tasks
from ..models import (
    Customer,
    Order,
    OrderItem,
    Product,
    ProductImage,
    StatusHistory,
    Tag,
)

REPORT: dict[str, dict[str, int]] = {}
SIZES = (1, 10, 100)


def queued(apply_async):
    """The arguments of each task the outbox sent (with apply_async) after the commit."""
    return [call.args[0] for call in apply_async.call_args_list]


def count_queries(operation) -> int:
    """Queries of ``operation``, less the savepoints around receivers (inside a
    transaction, as in a TestCase, each receiver runs in one; the bench counts them)."""
    with CaptureQueriesContext(connection) as queries:
        operation()
    return sum(
        not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
        for query in queries
    )


def report(pattern: str, **counts: int) -> None:
    REPORT.setdefault(pattern, {}).update(counts)


# The seed's versions, verbatim but for names, to count their queries.
def seed_update_order_total(instance):
    order = instance.order
    order.subtotal = (
        order.items.aggregate(total=Sum(F("quantity") * F("unit_price")))["total"] or 0
    )
    order.total = order.subtotal + order.shipping_cost - order.discount
    order.save(update_fields=["subtotal", "total", "updated_at"])


def seed_auto_generate_slug(instance):
    if not instance.slug:
        base_slug = slugify(instance.name)
        slug = base_slug
        counter = 1
        while Product.objects.filter(slug=slug).exclude(pk=instance.pk).exists():
            slug = f"{base_slug}-{counter}"
            counter += 1
        instance.slug = slug


def seed_track_status_change(instance):
    if instance.pk:
        try:
            original = Order.objects.get(pk=instance.pk)
            if original.status != instance.status:
                instance.status_changed_at = timezone.now()
                StatusHistory.objects.create(
                    order=instance,
                    from_status=original.status,
                    to_status=instance.status,
                )
        except Order.DoesNotExist:
            pass


def seed_sync_tag_count(instance, action, pk_set):
    if action in ("post_add", "post_remove", "post_clear"):
        if pk_set:
            tags = Tag.objects.filter(pk__in=pk_set)
        else:
            tags = instance.tags.all()
        for tag in tags:
            tag.product_count = tag.products.count()
            tag.save(update_fields=["product_count"])


def seed_on_order_paid(order):
    for item in order.items.all():
        item.product.stock -= item.quantity
        item.product.save(update_fields=["stock"])


class PatternTests(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        conf = current_app.conf
        previous = conf.task_always_eager, conf.task_eager_propagates
        conf.task_always_eager = conf.task_eager_propagates = True
        cls.addClassCleanup(
            conf.update,
            task_always_eager=previous[0],
            task_eager_propagates=previous[1],
        )
        media = tempfile.mkdtemp()
        cls.addClassCleanup(shutil.rmtree, media, True)
        cls.media = override_settings(MEDIA_ROOT=media)
        cls.media.enable()
        cls.addClassCleanup(cls.media.disable)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if os.environ.get("PATTERN_REPORT"):
            with open(os.environ["PATTERN_REPORT"], "w") as file:
                json.dump(REPORT, file, indent=2, sort_keys=True)

    def setUp(self):
        self.customer = Customer.objects.create(name="Ada")

    # 1. Audit logging
    def test_audit_log_on_create_and_update(self):
        logger = "shop.handlers.log_order_changes"
        with self.assertLogs(logger, "INFO") as logs:
            order = Order.objects.create(customer=self.customer, total=Decimal("12.50"))
        record = logs.records[0]
        self.assertEqual(record.getMessage(), f"Order created: {order.pk}")
        self.assertEqual((record.order_id, record.total), (str(order.pk), "12.50"))
        self.assertEqual(record.customer_id, str(self.customer.pk))
        order.status = "paid"
        with self.assertLogs(logger, "INFO") as logs:
            order.save()
        self.assertEqual(logs.records[0].getMessage(), f"Order updated: {order.pk}")
        self.assertEqual(logs.records[0].status, "paid")

    # 2. Notification, queued on commit
    def test_notification_is_queued_once_after_commit(self):
        with mock.patch.object(tasks.send_push_notification, "apply_async") as sent:
            with self.captureOnCommitCallbacks(execute=True):
                order = Order.objects.create(customer=self.customer)
                sent.assert_not_called()
        self.assertEqual(queued(sent), [(order.pk,)])

    def test_notification_is_not_queued_for_a_rollback(self):
        with mock.patch.object(tasks.send_push_notification, "apply_async") as sent:
            with self.captureOnCommitCallbacks(execute=True) as callbacks:
                with self.assertRaises(RuntimeError), transaction.atomic():
                    Order.objects.create(customer=self.customer)
                    raise RuntimeError("payment failed")
        self.assertEqual(callbacks, [])
        sent.assert_not_called()
        self.assertFalse(Order.objects.exists())

    # 3. Related total: one aggregate and one UPDATE, whatever the number of items
    def test_order_total_follows_its_items(self):
        order = Order.objects.create(shipping_cost=Decimal(5), discount=Decimal(2))
        product = Product.objects.create(name="Lamp")
        item = OrderItem.objects.create(
            order=order, product=product, quantity=2, unit_price=Decimal(10)
        )
        OrderItem.objects.create(
            order=order, product=product, quantity=1, unit_price=Decimal(3)
        )
        order.refresh_from_db()
        self.assertEqual((order.subtotal, order.total), (Decimal(23), Decimal(26)))
        item.quantity = 3
        item.save()
        order.refresh_from_db()
        self.assertEqual((order.subtotal, order.total), (Decimal(33), Decimal(36)))

    def test_order_total_queries_are_constant(self):
        counts = {}
        for n in SIZES:
            order = Order.objects.create()
            product = Product.objects.create(name=f"Lamp {n}")
            OrderItem.objects.bulk_create(
                OrderItem(order=order, product=product, unit_price=Decimal(1))
                for _ in range(n)
            )
            item = order.items.first()
            counts[n] = count_queries(item.save)
            item = OrderItem.objects.get(pk=item.pk)  # the seed's code loads item.order
            seed = count_queries(lambda item=item: seed_update_order_total(item))
            report(
                "update related total",
                **{f"ours n={n}": counts[n] - 1, f"seed n={n}": seed},
            )
        # item.save(): its UPDATE, the aggregate and the order's UPDATE.
        self.assertEqual(set(counts.values()), {3})

    # 4. Auto slug: one SELECT however many slugs are taken
    def test_slug_is_generated_and_unique(self):
        first = Product.objects.create(name="Blue Shirt")
        second = Product.objects.create(name="Blue Shirt")
        third = Product.objects.create(name="Blue Shirt")
        given = Product.objects.create(name="Blue Shirt", slug="my-own")
        self.assertEqual(
            [first.slug, second.slug, third.slug, given.slug],
            ["blue-shirt", "blue-shirt-1", "blue-shirt-2", "my-own"],
        )

    def test_slug_queries_are_constant(self):
        counts = {}
        for n in SIZES:
            base = f"shirt-{n}"
            Product.objects.bulk_create(
                Product(name=base, slug=base if i == 0 else f"{base}-{i}")
                for i in range(n)
            )
            counts[n] = count_queries(
                lambda base=base: Product.objects.create(name=base)
            )
            self.assertEqual(
                Product.objects.filter(name=base).latest("pk").slug, f"{base}-{n}"
            )
            seed = count_queries(
                lambda base=base: seed_auto_generate_slug(Product(name=base))
            )
            report("auto slug", **{f"ours n={n}": counts[n] - 1, f"seed n={n}": seed})
        # One SELECT of the taken slugs and the INSERT.
        self.assertEqual(set(counts.values()), {2})

    # 5. Status change history, with no extra SELECT
    def test_status_change_is_recorded(self):
        order = Order.objects.create()
        order.status = "paid"
        order.save()
        history = StatusHistory.objects.get(order=order)
        self.assertEqual((history.from_status, history.to_status), ("pending", "paid"))
        self.assertIsNotNone(Order.objects.get(pk=order.pk).status_changed_at)
        order.total = Decimal(1)
        order.save()
        self.assertEqual(StatusHistory.objects.count(), 1)

    def test_status_change_costs_no_select(self):
        order = Order.objects.create()
        order.status = "paid"
        with CaptureQueriesContext(connection) as queries:
            order.save()
        statements = [query["sql"].split()[0] for query in queries]
        self.assertNotIn("SELECT", statements)
        seed_order = Order.objects.get(pk=order.pk)
        seed_order.status = "shipped"
        seed = count_queries(lambda: seed_track_status_change(seed_order))
        report("status change history", ours=statements.count("INSERT"), seed=seed)

    # 6. File cleanup after the delete commits
    def test_files_are_deleted_after_commit_only(self):
        product = Product.objects.create(name="Poster")
        product.image.save("poster.png", ContentFile(b"png"))
        image = ProductImage(product=product)
        image.file.save("detail.png", ContentFile(b"png"))
        storage, names = product.image.storage, [product.image.name, image.file.name]
        with self.captureOnCommitCallbacks(execute=True):
            with self.assertRaises(RuntimeError), transaction.atomic():
                Product.objects.get(pk=product.pk).delete()
                raise RuntimeError("rolled back")
        self.assertTrue(all(storage.exists(name) for name in names))
        with self.captureOnCommitCallbacks(execute=True):
            Product.objects.get(pk=product.pk).delete()
        self.assertFalse(any(storage.exists(name) for name in names))

    # 7. Cache invalidation after commit
    def test_caches_are_cleared_on_delete(self):
        product = Product.objects.create(name="Mug")
        keys = [f"product:{product.pk}", "category_products:None", "featured_products"]
        cache.set_many(dict.fromkeys(keys, "cached"))
        with self.captureOnCommitCallbacks(execute=True):
            product.delete()
        self.assertEqual(cache.get_many(keys), {})

    # 8. M2M count sync: one UPDATE however many tags change
    def test_tag_counts_follow_add_remove_clear_and_reverse(self):
        tags = [Tag.objects.create(name=f"t{i}") for i in range(3)]
        product, other = (
            Product.objects.create(name="A"),
            Product.objects.create(name="B"),
        )
        product.tags.add(*tags)
        other.tags.add(tags[0])
        self.assertEqual(self.counts(tags), [2, 1, 1])
        product.tags.remove(tags[1])
        self.assertEqual(self.counts(tags), [2, 0, 1])
        product.tags.clear()
        self.assertEqual(self.counts(tags), [1, 0, 0])
        tags[2].products.add(product, other)
        self.assertEqual(self.counts(tags), [1, 0, 2])

    def counts(self, tags):
        return [Tag.objects.get(pk=tag.pk).product_count for tag in tags]

    def test_tag_count_queries_are_constant(self):
        counts = {}
        for n in SIZES:
            product = Product.objects.create(name=f"P{n}")
            tags = Tag.objects.bulk_create(Tag(name=f"n{n}-{i}") for i in range(n))
            counts[n] = count_queries(lambda p=product, t=tags: p.tags.add(*t))
            pks = {tag.pk for tag in tags}
            seed = count_queries(
                lambda p=product, pks=pks: seed_sync_tag_count(p, "post_add", pks)
            )
            report(
                "m2m count sync (add)",
                **{f"ours n={n}": counts[n], f"seed n={n}": seed + 2},
            )
        # add(): SELECT of existing rows, INSERT, and the one UPDATE of the counts.
        self.assertEqual(set(counts.values()), {3})

    # 9. Transaction handling
    def test_order_creation_updates_stats_and_queues_the_email_on_commit(self):
        with mock.patch.object(
            tasks.send_order_confirmation_email, "apply_async"
        ) as sent:
            with self.captureOnCommitCallbacks(execute=True):
                order = Order.objects.create(customer=self.customer)
                self.customer.refresh_from_db()
                self.assertEqual(self.customer.order_count, 1)
                sent.assert_not_called()
        self.assertEqual(queued(sent), [(order.pk,)])

    # 10. Custom signals, sent with send_robust
    def test_order_paid_updates_stock_and_queues_fulfillment(self):
        lamp, shade = (
            Product.objects.create(name="Lamp", stock=10),
            Product.objects.create(name="Shade", stock=4),
        )
        order = Order.objects.create()
        OrderItem.objects.create(order=order, product=lamp, quantity=3)
        OrderItem.objects.create(order=order, product=shade, quantity=1)
        with mock.patch.object(tasks.create_fulfillment_request, "apply_async") as sent:
            with self.captureOnCommitCallbacks(execute=True):
                queries = count_queries(
                    lambda: signals.send_order_paid(
                        sender=Order, order=order, payment=object()
                    )
                )
        self.assertEqual(queued(sent), [(order.pk,)])
        lamp.refresh_from_db()
        shade.refresh_from_db()
        self.assertEqual((lamp.stock, shade.stock), (7, 3))
        seed = count_queries(lambda: seed_on_order_paid(order))
        report("order_paid stock update (2 items)", ours=queries, seed=seed)

    def test_order_shipped_is_received(self):
        order = Order.objects.create()
        with self.assertLogs("shop.handlers.on_order_shipped", "INFO") as logs:
            signals.send_order_shipped(sender=Order, order=order, tracking="TRK-1")
        self.assertIn("TRK-1", logs.output[0])
        order.refresh_from_db()
        self.assertEqual(order.status, "shipped")
