"""Tracker cases that model-utils' own FieldTracker tests leave out.

tests/test_tracker_parity.py copies this module next to model-utils' test module in
both host projects and runs it against both trackers. ``tests.models`` is model-utils'
test models there, or their mirror built on the rendered ``TrackedModel``;
``extras.models`` holds a tracked model with a many-to-many field. Where the rendered
tracker deliberately does more, the case states both answers, so the difference shows.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import FieldError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models.signals import post_save, pre_save
from django.test import TestCase

from extras.models import Tagged
from tests.models import (
    InheritedTracked,
    Tracked,
    TrackedFileField,
    TrackedFK,
)

RENDERED = settings.TRACKER == "rendered"


class SignalCases(TestCase):
    """Connects receivers for one test and records what they see."""

    def connect(self, signal: Any, receiver: Any, sender: Any) -> None:
        signal.connect(receiver, sender=sender, weak=False)
        self.addCleanup(signal.disconnect, receiver, sender=sender)

    def record(self, signal: Any, sender: Any, field: str) -> list[tuple[bool, Any]]:
        """(has_changed, previous) of ``field`` each time ``signal`` fires."""
        seen: list[tuple[bool, Any]] = []

        def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
            tracker = instance.tracker
            seen.append((tracker.has_changed(field), tracker.previous(field)))

        self.connect(signal, receiver, sender)
        return seen


class FileChangedInPlaceTests(SignalCases):
    """A FieldFile saved or deleted in place after a save is a change of that save."""

    def test_file_saved_in_place(self) -> None:
        instance = TrackedFileField.objects.create()
        seen = self.record(pre_save, TrackedFileField, "some_file")
        instance.some_file.save("first.txt", ContentFile(b"1"))
        first = instance.some_file.name
        instance.some_file.save("second.txt", ContentFile(b"2"))
        self.assertEqual([changed for changed, _ in seen], [True, True])
        self.assertEqual([previous.name for _, previous in seen], ["", first])
        self.assertFalse(instance.tracker.has_changed("some_file"))
        self.assertEqual(instance.tracker.previous("some_file").name, instance.some_file.name)

    def test_file_deleted_in_place(self) -> None:
        instance = TrackedFileField.objects.create()
        instance.some_file.save("doomed.txt", ContentFile(b"x"))
        name = instance.some_file.name
        seen = self.record(post_save, TrackedFileField, "some_file")
        instance.some_file.delete()
        [(changed, previous)] = seen
        self.assertTrue(changed)
        self.assertEqual(previous.name, name)
        self.assertFalse(instance.tracker.has_changed("some_file"))

    def test_previous_file_can_delete_the_old_file(self) -> None:
        instance = TrackedFileField.objects.create()
        instance.some_file.save("old.txt", ContentFile(b"old"))
        instance = TrackedFileField.objects.get(pk=instance.pk)
        instance.some_file = "new.txt"
        old = instance.tracker.previous("some_file")
        self.assertTrue(old.storage.exists(old.name))
        old.storage.delete(old.name)  # the usual clean-up in a post_save receiver
        self.assertFalse(old.storage.exists(old.name))
        self.assertEqual(instance.tracker.changed(), {"some_file": old})


class NestedSaveTests(SignalCases):
    """A save() in a post_save receiver: later receivers still see the outer changes."""

    def test_changes_last_until_the_outermost_save_returns(self) -> None:
        instance = Tracked.objects.create(name="old", number=1)

        def save_again(sender: Any, instance: Any, **kwargs: Any) -> None:
            if not getattr(instance, "saved_again", False):
                instance.saved_again = True
                instance.save()

        self.connect(post_save, save_again, Tracked)
        seen = self.record(post_save, Tracked, "name")
        instance.name = "new"
        instance.save()
        # The inner save's receivers, then the outer save's later ones.
        self.assertEqual(seen, [(True, "old"), (True, "old")])
        self.assertFalse(instance.tracker.has_changed("name"))
        self.assertEqual(instance.tracker.previous("name"), "new")


class DeferredFieldTests(SignalCases):
    def setUp(self) -> None:
        self.pk = Tracked.objects.create(name="old", number=1).pk

    def test_assigned_without_loading_is_a_change(self) -> None:
        pre = self.record(pre_save, Tracked, "number")
        post = self.record(post_save, Tracked, "number")
        item = Tracked.objects.only("id").get(pk=self.pk)
        item.number = 2
        item.save()
        self.assertEqual(pre, [(True, 1)])
        self.assertEqual(post, [(True, 1)])
        self.assertFalse(item.tracker.has_changed("number"))
        self.assertEqual(Tracked.objects.get(pk=self.pk).number, 2)

    def test_assigned_without_loading_seen_after_the_write(self) -> None:
        # Nobody asks before the save: post_save must still see the old value.
        post = self.record(post_save, Tracked, "number")
        item = Tracked.objects.only("id").get(pk=self.pk)
        item.number = 2
        item.save()
        self.assertEqual(post, [(True, 1)])

    def test_previous_loads_an_unloaded_field(self) -> None:
        item = Tracked.objects.only("id").get(pk=self.pk)
        self.assertFalse(item.tracker.has_changed("name"))
        self.assertIn("name", item.get_deferred_fields())
        self.assertEqual(item.tracker.previous("name"), "old")
        self.assertNotIn("name", item.get_deferred_fields())
        self.assertEqual(item.name, "old")


class KeysAndUnsavedRowsTests(TestCase):
    def test_changed_keys_foreign_keys_by_attname(self) -> None:
        old = Tracked.objects.create(name="a", number=1)
        new = Tracked.objects.create(name="b", number=2)
        instance = TrackedFK.objects.get(pk=TrackedFK.objects.create(fk=old).pk)
        instance.fk = new
        self.assertEqual(instance.tracker.changed(), {"fk_id": old.pk})
        self.assertTrue(instance.tracker.has_changed("fk_id"))
        self.assertEqual(instance.tracker.previous("fk_id"), old.pk)

    def test_unsaved_rows(self) -> None:
        self.assertEqual(TrackedFK().tracker.changed(), {})
        instance = Tracked(name="a", number=0)
        self.assertEqual(instance.tracker.changed(), {"name": None, "number": None})
        self.assertTrue(instance.tracker.has_changed("number"))
        self.assertFalse(instance.tracker.has_changed("mutable"))
        self.assertFalse(instance.tracker.has_changed("id"))
        self.assertIsNone(instance.tracker.previous("name"))

    def test_many_to_many_field_raises(self) -> None:
        instance = Tagged.objects.create()
        with self.assertRaises(FieldError):
            instance.tracker.has_changed("tags")
        self.assertIsNone(instance.tracker.previous("tags"))
        self.assertEqual(instance.tracker.changed(), {})

    def test_unknown_field_raises(self) -> None:
        with self.assertRaises(FieldError):
            Tracked().tracker.has_changed("nothing")


class DeliberateDifferenceTests(TestCase):
    """Where the rendered tracker does more than model-utils: both answers, side by side."""

    def test_bulk_create_leaves_a_snapshot(self) -> None:
        [instance] = Tracked.objects.bulk_create([Tracked(name="a", number=1)])
        expected = {} if RENDERED else {"id": None, "name": None, "number": None}
        self.assertEqual(instance.tracker.changed(), expected)

    def test_bulk_update_leaves_a_snapshot(self) -> None:
        instance = Tracked.objects.get(pk=Tracked.objects.create(name="a", number=1).pk)
        instance.name = "b"
        Tracked.objects.bulk_update([instance], ["name"])
        self.assertEqual(instance.tracker.has_changed("name"), not RENDERED)

    def test_foreign_key_by_name(self) -> None:
        old = Tracked.objects.create(name="a", number=1)
        instance = TrackedFK.objects.create(fk=old)
        instance.fk = Tracked.objects.create(name="b", number=2)
        if RENDERED:
            self.assertTrue(instance.tracker.has_changed("fk"))
            self.assertEqual(instance.tracker.previous("fk"), old.pk)
        else:
            with self.assertRaises(FieldError):
                instance.tracker.has_changed("fk")
            self.assertIsNone(instance.tracker.previous("fk"))

    def test_child_model_tracks_its_own_fields(self) -> None:
        instance = InheritedTracked.objects.create(name="a", number=1, name2="x")
        instance.name2 = "y"
        if RENDERED:
            self.assertTrue(instance.tracker.has_changed("name2"))
            self.assertEqual(instance.tracker.changed(), {"name2": "x"})
        else:
            with self.assertRaises(FieldError):
                instance.tracker.has_changed("name2")
            self.assertEqual(instance.tracker.changed(), {})

    def test_instance_built_with_a_pk_is_unsaved(self) -> None:
        Tracked.objects.create(pk=5, name="a", number=1)
        instance = Tracked(pk=5, name="a", number=1)
        self.assertEqual(instance.tracker.has_changed("name"), RENDERED)

    def test_failed_save_keeps_the_changes(self) -> None:
        instance = Tracked.objects.create(name="a", number=1)
        instance.name = "b"
        instance.number = None
        with self.assertRaises(IntegrityError), transaction.atomic():
            instance.save()
        self.assertEqual(instance.tracker.has_changed("name"), RENDERED)
