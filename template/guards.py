"""What every receiver of receivers.py runs inside: the guards around a handler's body.

Rendered by django-signal-template and rendered again by ``copier update``: don't edit.

- ``guard(log=...)``, for signals about a row (they send ``instance`` or ``raw``): skips
  raw saves (``loaddata``) and a receiver's re-entry for the row it is already handling,
  so a save inside a handler cannot loop.
- ``guard(log=..., row=False)``, for every other signal: neither applies.

Every receiver first checks whether its handler is muted (testing.mute(), for a test or
a bulk import): a muted receiver returns None and runs nothing. Each run is timed, and
logged, traced and listed when someone looks (observe.py).

With ``log=True``, an exception is logged with its traceback on the
``<app>.signals`` logger and the operation goes on. Inside a transaction the body runs
in a savepoint, opened on its first query (savepoints.py), so a failure loses only the
body's own writes and on_commit callbacks, never the caller's: on PostgreSQL a failed
query aborts the whole transaction, and Django marks an atomic block for rollback after
a failed ORM write. A body that runs no query adds none. With ``log=False``
the exception reaches the code that sent the signal: a ``pre_save`` or ``pre_delete``
handler vetoes the operation by raising.
"""

import functools
import threading
from collections.abc import Callable
from contextvars import ContextVar
from logging import DEBUG
from time import perf_counter
from typing import Any, TypeVar, cast

from . import observe
from .observe import Run, Wiring, logger
from .savepoints import (
    connection_of,
    savepoint_on_first_query,
    savepoints_on_first_query,
)

__all__ = ["guard", "logger", "saved_row", "signal_database"]

Receiver = TypeVar("Receiver", bound=Callable[..., Any])

# The database whose signal a receiver is handling: a task queued from a handler with
# enqueue_on_commit() waits for that database's transaction.
signal_database: ContextVar[str | None] = ContextVar("signal_database", default=None)

# What takes the tasks enqueue_on_commit() queues, instead of queuing them, while
# testing.captured_tasks() is capturing them; else None.
capturing: ContextVar[Callable[[Any, Any, Any, str], None] | None] = ContextVar(
    "capturing", default=None
)

# The handlers muted in this context (testing.mute()): their names, or ALL_HANDLERS. A
# context variable, so muting in one thread or task mutes nothing in another.
muted: ContextVar[frozenset[str]] = ContextVar("muted", default=frozenset())
ALL_HANDLERS = "*"

# m2m_changed is sent before and after each change; the bodies run after it.
_BEFORE_M2M_CHANGES = {"pre_add", "pre_remove", "pre_clear"}


class _Running(threading.local):
    """The guarded receivers running in this thread, each with the row it runs for."""

    def __init__(self) -> None:
        self.keys: set[tuple[Any, ...]] = set()


_running = _Running()


def _run(
    wiring: Wiring,
    receiver_func: Callable[..., Any],
    log: bool,
    sender: Any,
    kwargs: dict[str, Any],
) -> Any:
    """Call the receiver with the signal's database in ``signal_database``; ``log``: in
    savepoints, logging an exception instead of raising it. Each run is timed and, when
    someone looks (observe.py), logged, traced and listed."""
    using = kwargs.get("using")
    token = signal_database.set(using)
    fired = observe.watching()
    run = None
    if fired is not None:
        run = Run(wiring.handler, wiring.signal, observe.sender_name(sender))
        fired.append(run)
    start = perf_counter()
    span = observe.start_span(wiring, sender) if observe.tracer(start) else None
    error: BaseException | None = None
    try:
        if not log:
            return receiver_func(sender, **kwargs)
        # A signal that names its database gets a savepoint there, if it is in a
        # transaction (outside one each query commits on its own); one that names
        # none, on each database in a transaction that the body queries.
        if using and not connection_of(using).in_atomic_block:
            return receiver_func(sender, **kwargs)
        savepoints = (
            savepoint_on_first_query(using) if using else savepoints_on_first_query()
        )
        with savepoints:
            return receiver_func(sender, **kwargs)
    except Exception as exc:
        error = exc
        if not log:
            raise
        return None
    finally:
        seconds = perf_counter() - start
        signal_database.reset(token)
        if span is not None:
            observe.end_span(span, error)
        if (
            error is not None
            or seconds >= observe.slow_seconds
            or run is not None
            or logger.isEnabledFor(DEBUG)
        ):
            observe.report(wiring, sender, seconds, error, log, run)


def guard(
    *, log: bool, signal: str, row: bool = True
) -> Callable[[Receiver], Receiver]:
    """Skip muted handlers; ``row``: skip raw saves and re-entry for the same row;
    ``log``: contain and log errors. ``signal``: the signal's dotted path, for the
    records and spans of observe.py."""

    def decorate(receiver_func: Receiver) -> Receiver:
        name = receiver_func.__name__
        wiring = Wiring(name, signal)
        m2m = signal == "django.db.models.signals.m2m_changed"

        @functools.wraps(receiver_func)
        def row_wrapper(sender: Any, **kwargs: Any) -> Any:
            names = muted.get()
            if names and (name in names or ALL_HANDLERS in names):
                return observe.skipped(wiring, sender, "muted")
            if kwargs.get("raw"):
                return observe.skipped(wiring, sender, "a raw save (loaddata)")
            if m2m and kwargs["action"] in _BEFORE_M2M_CHANGES:
                return None
            instance = kwargs.get("instance")
            pk = getattr(instance, "pk", None)
            key = (receiver_func, type(instance), id(instance) if pk is None else pk)
            if key in _running.keys:
                return observe.skipped(wiring, sender, "already running for this row")
            _running.keys.add(key)
            try:
                return _run(wiring, receiver_func, log, sender, kwargs)
            finally:
                _running.keys.discard(key)

        @functools.wraps(receiver_func)
        def wrapper(sender: Any, **kwargs: Any) -> Any:
            names = muted.get()
            if names and (name in names or ALL_HANDLERS in names):
                return observe.skipped(wiring, sender, "muted")
            return _run(wiring, receiver_func, log, sender, kwargs)

        return cast(Receiver, row_wrapper if row else wrapper)

    return decorate


def saved_row(sender: Any, instance: Any, using: str) -> Any:
    """pre_save's ``original``: the row as it was last loaded, or None for a new row.

    A tracked model (tracking.py) answers without a query when the instance was read
    from the database being written; otherwise the row is read from that database,
    never through the router, since a replica may lag behind it.
    """
    if instance._state.adding or instance.pk is None:
        return None
    if instance._state.db == using and hasattr(instance, "saved_copy"):
        original = instance.saved_copy()
        if original is not None:
            return original
    return sender._base_manager.using(using).filter(pk=instance.pk).first()
