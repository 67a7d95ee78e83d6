from django.contrib.auth.models import AbstractUser, Group
from django.db import models


class User(AbstractUser):
    """The project's own user model, as Django's docs advise for a new project."""


class Team(Group):
    """A multi-table child of another app's model, as django-cms's PageUserGroup is."""

    motto = models.CharField(max_length=100)
