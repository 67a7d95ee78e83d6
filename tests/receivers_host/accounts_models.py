from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The project's own user model, as Django's docs advise for a new project."""
