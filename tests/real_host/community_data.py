"""tests/data.py as the user of examples/real_app.yml writes it: count_author_posts
reads the author's profile, which create_profile makes for a real user."""

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models

from ..models import Post, Profile

_authors = itertools.count(1)


def values(model: type[models.Model]) -> dict[str, Any]:
    """Posts are written by a user who has a profile."""
    if model is Post:
        author = get_user_model().objects.create(username=f"author{next(_authors)}")
        Profile.objects.create(user=author)
        return {"author": author}
    return {}


@contextmanager
def bodies_data(handler: str) -> Iterator[None]:
    yield
