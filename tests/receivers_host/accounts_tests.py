"""The receivers of examples/receivers.yml, reached through real sends: a login, a
failed authenticate(), a request, migrate, another app's send and saves of a custom
user model; not by calling the receivers."""

from decimal import Decimal

from django.contrib.auth import authenticate, get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.db.models import ProtectedError
from django.test import TestCase

from apps.billing.signals import pay
from apps.shop.models import Change, LoginAttempt, PaidOrder, Product, Profile, Tag
from apps.shop.signals import send_register_payment_providers


class RealSendTests(TestCase):
    def setUp(self) -> None:
        self.user = get_user_model().objects.create_user("ann", password="secret")

    def test_a_new_user_of_the_custom_model_gets_a_profile(self) -> None:
        self.assertEqual(get_user_model()._meta.label, "accounts.User")
        self.assertEqual(Profile.objects.get(user=self.user).logins, 0)

    def test_a_login_through_the_client_counts(self) -> None:
        self.assertTrue(self.client.login(username="ann", password="secret"))
        self.assertEqual(Profile.objects.get(user=self.user).logins, 1)
        with self.assertLogs("apps.shop.handlers.log_logout", "INFO") as logs:
            self.client.logout()
        self.assertEqual(logs.output, ["INFO:apps.shop.handlers.log_logout:Logged out: ann"])

    def test_a_failed_authenticate_is_recorded(self) -> None:
        self.assertIsNone(authenticate(username="ann", password="wrong"))
        self.assertEqual(list(LoginAttempt.objects.values_list("username", flat=True)), ["ann"])

    def test_a_request_through_the_client_is_counted(self) -> None:
        cache.delete("shop:requests")
        self.client.get("/no-such-page/")
        self.client.get("/no-such-page/")
        self.assertEqual(cache.get("shop:requests"), 2)

    def test_migrate_seeds_once_for_this_app_and_logs_every_app(self) -> None:
        Tag.objects.all().delete()
        with self.assertLogs("apps.shop.handlers", "INFO") as logs:
            call_command("migrate", verbosity=0)
        seeded = [line for line in logs.output if "Seeding tags" in line]
        migrated = [line for line in logs.output if "Migrated " in line]
        self.assertEqual(seeded, ["INFO:apps.shop.handlers.seed_tags:Seeding tags on default"])
        self.assertEqual(sorted(Tag.objects.values_list("name", flat=True)), ["new", "sale"])
        labels = {line.rsplit(" ", 1)[-1] for line in migrated}
        self.assertTrue({"shop", "accounts", "auth", "contenttypes"} <= labels, labels)
        self.assertEqual(len(migrated), len(labels))  # once per app

    def test_another_apps_signal_reaches_its_receiver(self) -> None:
        responses = pay(order_id=7, amount="12.50")
        self.assertEqual(PaidOrder.objects.get().amount, Decimal("12.50"))
        self.assertEqual(len(responses), 1)

    def test_the_change_log_sees_saves_of_several_models(self) -> None:
        product = Product.objects.create(name="lamp")
        product.save()
        Tag.objects.create(name="blue")
        self.user.save()
        rows = set(Change.objects.values_list("label", "object_pk", "created"))
        self.assertTrue(
            {
                ("shop.Product", str(product.pk), True),
                ("shop.Product", str(product.pk), False),
                ("shop.Tag", str(Tag.objects.get(name="blue").pk), True),
                ("accounts.User", str(self.user.pk), True),
                ("accounts.User", str(self.user.pk), False),
            }
            <= rows,
            rows,
        )
        self.assertFalse(Change.objects.filter(label="shop.Change").exists())

    def test_a_raising_pre_delete_vetoes_the_delete_in_an_app_that_logs(self) -> None:
        product = Product.objects.create(name="heirloom", protected=True)
        # The delete's own atomic block ends with the error; in a test (a transaction)
        # a savepoint keeps the test's transaction usable, as in any caller's.
        with self.assertRaises(ProtectedError), transaction.atomic():
            product.delete()
        self.assertTrue(Product.objects.filter(pk=product.pk).exists())
        Product.objects.create(name="plain").delete()  # the veto is the body's choice

    def test_a_registry_reads_the_bodies_return_values(self) -> None:
        responses = send_register_payment_providers(sender=None)
        self.assertEqual(sorted(answer for _, answer in responses), ["card", "invoice"])
