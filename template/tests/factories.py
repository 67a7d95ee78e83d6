"""Saved model instances for the tests, with every required field filled in.

``make()`` arranges a row with every receiver of the model signals disconnected
(``testing.only()``), so no handler writes a row the factory then writes again (a
profile per new user, say); ``create()`` saves the row itself with the receivers
connected, for the tests whose act is that save. Values in tests/data.py come first.
"""

import datetime
import decimal
import itertools
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from django.core import serializers
from django.core.management import call_command
from django.db import models
from django.utils import timezone

from ..testing import only
from . import data

M = TypeVar("M", bound=models.Model)
_numbers = itertools.count(1)


def value_for(field: Any) -> Any:
    """A valid value for a required field (related rows are made as needed)."""
    n = next(_numbers)
    if field.choices:
        return field.flatchoices[0][0]
    if field.is_relation:
        return make(field.related_model)  # muted: arranging, not acting
    if isinstance(field, models.EmailField):
        return f"user{n}@example.com"
    if isinstance(field, models.URLField):
        return f"https://example.com/{n}"
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.GenericIPAddressField):
        return "127.0.0.1"
    if isinstance(field, (models.CharField, models.TextField)):
        text = f"{field.name}-{n}"
        return text[-field.max_length :] if field.max_length else text
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, models.DecimalField):
        return decimal.Decimal(1)
    if isinstance(field, (models.IntegerField, models.FloatField)):
        return n
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return datetime.date.today()
    if isinstance(field, models.TimeField):
        return datetime.time(12)
    if isinstance(field, models.DurationField):
        return datetime.timedelta(seconds=n)
    if isinstance(field, models.JSONField):
        return {}
    if isinstance(field, models.BinaryField):
        return b""
    if isinstance(field, models.FileField):
        return f"file-{n}.txt"
    raise NotImplementedError(f"make(): pass a value for {field}")


def needs_value(field: Any) -> bool:
    """Whether creating a row fails unless ``field`` is given a value."""
    return not (
        # A multi-table child's link to its parent row: saving the child makes it.
        getattr(field.remote_field, "parent_link", False)
        or field.has_default()
        or field.null
        or isinstance(field, models.AutoField)
        or getattr(field, "auto_now", False)
        or getattr(field, "auto_now_add", False)
    )


def values_for(model: type[models.Model], **values: Any) -> dict[str, Any]:
    """Field values for a new ``model`` row: ``values``, then tests/data.py's, then
    made-up ones."""
    with only():  # what data.py makes is arranged too
        values = {**data.values(model), **values}
    for field in model._meta.concrete_fields:
        if field.name not in values and field.attname not in values:
            if needs_value(field):
                values[field.name] = value_for(field)
    return values


def build(model: type[M], **values: Any) -> M:
    """An unsaved ``model`` instance; ``values`` override the generated ones."""
    return model(**values_for(model, **values))


def create(model: type[M], **values: Any) -> M:
    """Save and return a new row of ``model``, with the receivers connected; the rows
    it relates to are arranged with them disconnected."""
    instance = build(model, **values)
    instance.save(force_insert=True)
    return instance


def make(model: type[M], **values: Any) -> M:
    """Arrange a row of ``model``, with no receiver of the model signals connected."""
    with only():
        return create(model, **values)


def unused_pk(model: type[models.Model]) -> Any:
    """A primary key no row has, nor will soon get: SQLite reuses the keys of rows
    rolled back, so tests that look for a rolled-back row must not."""
    field = model._meta.pk
    if isinstance(field, models.IntegerField):  # AutoField and its kind too
        top = model._base_manager.aggregate(top=models.Max("pk"))["top"]
        return (top or 0) + 100_000
    return value_for(field)


def load_fixture(instances: Iterable[models.Model]) -> None:
    """Dump ``instances`` to a JSON fixture and load it back with ``loaddata``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "fixture.json")
        path.write_text(serializers.serialize("json", instances))
        call_command("loaddata", str(path), verbosity=0)
