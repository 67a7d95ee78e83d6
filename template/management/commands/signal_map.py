"""``manage.py signal_map``: the receivers actually connected for this app's models.

Read from the signals' own registries, not from the template's answers, so a receiver
connected twice (imported under two module names, say) or not at all shows up.
"""

import weakref
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser
from django.db.models import signals as model_signals
from django.db.models.signals import ModelSignal
from django.dispatch import Signal

MODEL_SIGNALS = ("pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed")


def receiver_name(receiver: Any) -> str:
    if isinstance(receiver, weakref.ReferenceType):
        receiver = receiver()
    if receiver is None:
        return "<garbage-collected>"
    return f"{receiver.__module__}.{receiver.__qualname__}"


def sender_labels() -> dict[int, str]:
    """Every model, auto-created m2m through model and app config of the project, by id."""
    labels = {}
    for model in apps.get_models():
        labels[id(model)] = model._meta.label
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            labels[id(through)] = f"{model._meta.label}.{field.name}.through"
    for config in apps.get_app_configs():  # the sender of pre_migrate and post_migrate
        labels[id(config)] = f"app {config.label}"
    return labels


def is_signal(value: Any) -> bool:
    """A Django Signal, or any other with Django's registry (Celery's signals)."""
    return hasattr(value, "connect") and isinstance(
        getattr(value, "receivers", None), list
    )


def connections(signal: Any, labels: dict[int, str]) -> list[tuple[str, str, str]]:
    """(sender, receiver, dispatch_uid) of every receiver connected to ``signal``."""
    rows = []
    for lookup_key, receiver, *_ in signal.receivers:
        uid, sender_key = lookup_key
        sender = "(any)" if sender_key == id(None) else labels.get(sender_key, "?")
        dispatch_uid = uid if isinstance(uid, str) else "-"
        rows.append((sender, receiver_name(receiver), dispatch_uid))
    return rows


class Command(BaseCommand):
    help = "List the signal receivers connected for this app's models and signals."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "app_label",
            nargs="?",
            default=__name__.split(".")[-4],
            help="the app whose models and custom signals to list (default: this app)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = apps.get_app_config(options["app_label"])
        labels = sender_labels()
        signals: list[tuple[str, Any]] = [
            (name, getattr(model_signals, name)) for name in MODEL_SIGNALS
        ]
        module = getattr(config.module, "signals", None)
        signals += [
            (f"{config.label}.{name}", value)
            for name, value in (vars(module) if module else {}).items()
            if isinstance(value, Signal) and not isinstance(value, ModelSignal)
        ]
        # Any other signal the receivers listen to (auth's, another app's), by the
        # name receivers.py imports it under.
        receivers = getattr(config.module, "receivers", None)
        known = {id(signal) for _, signal in signals}
        for name, value in (vars(receivers) if receivers else {}).items():
            if is_signal(value) and id(value) not in known:
                known.add(id(value))
                signals.append((name, value))
        rows = [
            (name, *row)
            for name, signal in signals
            for row in connections(signal, labels)
            if row[0].startswith(f"{config.label}.")
            or row[1].startswith(f"{config.name}.")
            or name.startswith(f"{config.label}.")
        ]
        if not rows:
            self.stdout.write(f"No receivers are connected for {config.label}.")
            return
        header = ("signal", "sender", "receiver", "dispatch_uid")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
        for row in [header, *rows]:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
        seen: dict[tuple[str, str, str], int] = {}
        for signal_name, sender, receiver, _ in rows:
            seen[(signal_name, sender, receiver)] = (
                seen.get((signal_name, sender, receiver), 0) + 1
            )
        for (signal_name, sender, receiver), count in seen.items():
            if count > 1:
                self.stdout.write(
                    self.style.WARNING(
                        f"{receiver} is connected {count} times to {signal_name} of {sender}"
                    )
                )
