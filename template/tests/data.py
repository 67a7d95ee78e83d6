"""What your handler bodies need that the generated tests' made-up rows lack. Yours:
``copier update`` never rewrites this file.

The generated tests make rows with every required field filled in and every other
receiver disconnected, then run each handler's real bodies on them
(``test_bodies_run_without_error``). A body that relies on data other code guarantees (a
related row another app's receiver creates, a setting, a row a migration seeds) fails
there: give that data here.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import models


def values(model: type[models.Model]) -> dict[str, Any]:
    """Field values for every row the tests make of ``model``, over the made-up ones,
    e.g. ``{"status": "paid"}`` or ``{"owner": a_user_with_a_profile()}``."""
    return {}


@contextmanager
def bodies_data(handler: str) -> Iterator[None]:
    """What the real bodies of ``handler`` run inside, in the tests that run them: create
    the rows they read, or override a setting, before the ``yield``."""
    yield
