"""Every run of this app's receivers, observable: log records, spans, and what fired.

Rendered by django-signal-template and rendered again by ``copier update``: don't edit.

- A ``DEBUG`` record on the ``<app>.signals`` logger for each run, with the attributes
  ``signal`` (its dotted path), ``sender`` (a model's label, or the sender's dotted
  name), ``handler``, ``duration_ms`` and ``outcome`` (``ok``, ``error``, or
  ``skipped``: a raw save, a re-entry for the same row, a muted handler). A failure in
  on_error: log is an ``ERROR`` record with its traceback; a run slower than
  ``settings.SIGNAL_TEMPLATE_SLOW_RECEIVER_MS`` (default 200) a ``WARNING``. Records
  carry names, never a row's field values or a signal's arguments.
- With ``opentelemetry-api`` installed and a tracer provider configured, a span per run,
  a child of the current one (a request's, say), named ``signal <handler>``.
- ``fired()``: the runs of a block, in the order they started, with their durations.

While the logger is above ``DEBUG`` and no tracer is configured, a run costs two clock
reads and two checks.
"""

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

try:  # OpenTelemetry is optional: without it nothing of it is imported
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace
except ImportError:  # pragma: no cover - depends on the environment
    otel_trace = None  # type: ignore[assignment]

# Logged where the receivers of 2.x logged, so existing LOGGING settings keep working.
logger = logging.getLogger(f"{__package__}.signals")

SLOW_SETTING = "SIGNAL_TEMPLATE_SLOW_RECEIVER_MS"
DEFAULT_SLOW_MS = 200.0


@dataclass
class Run:
    """One run of a receiver of this app, as ``fired()`` lists it."""

    handler: str
    signal: str
    sender: str
    duration_ms: float = 0.0
    outcome: str = "ok"


@dataclass(frozen=True)
class Wiring:
    """What a receiver is: its handler's name and its signal's dotted path."""

    handler: str
    signal: str

    @property
    def signal_name(self) -> str:
        return self.signal.rsplit(".", 1)[-1]


# The runs fired() is collecting in this context, or None.
_fired: ContextVar[list[Run] | None] = ContextVar("fired", default=None)
# Slower than this, in seconds, a run is logged as a WARNING (settings, see configure).
slow_seconds = DEFAULT_SLOW_MS / 1000
_tracer: Any = None  # the tracer, once a tracer provider is configured
_next_look = 0.0  # when to look for a tracer provider again (perf_counter seconds)


def configure(**kwargs: Any) -> None:
    """Read the slow threshold from the settings (again when a test overrides it), and
    look for a tracer provider on the next run."""
    global slow_seconds, _next_look
    slow_seconds = float(getattr(settings, SLOW_SETTING, DEFAULT_SLOW_MS)) / 1000
    _next_look = 0.0


configure()
setting_changed.connect(configure, dispatch_uid=f"{__package__}.observe.configure")


def sender_name(sender: Any) -> str:
    """A model's label (orders.Order), an app's (app orders), or a dotted name."""
    meta = getattr(sender, "_meta", None)
    if meta is not None and hasattr(meta, "label"):
        return str(meta.label)
    label = getattr(sender, "label", None)
    if isinstance(label, str) and hasattr(sender, "models_module"):
        return f"app {label}"
    if isinstance(sender, str) or sender is None:
        return str(sender)
    kind = sender if isinstance(sender, type) else type(sender)
    return f"{kind.__module__}.{kind.__qualname__}"


# The fired() list of this context, or None; read on every run.
watching = _fired.get


def tracer(now: float) -> Any:
    """The tracer, when OpenTelemetry is installed and a provider configured. Until one
    is, it looks again at most once a second (``now``: perf_counter()), since a look
    costs as much as the rest of a run; configure() makes the next run look."""
    global _tracer, _next_look
    if _tracer is not None or otel_trace is None or now < _next_look:
        return _tracer
    _next_look = now + 1.0
    provider = otel_trace.get_tracer_provider()
    if isinstance(
        provider, otel_trace.ProxyTracerProvider | otel_trace.NoOpTracerProvider
    ):
        return None  # nothing configured: nothing is recorded
    _tracer = provider.get_tracer(__package__ or __name__)
    return _tracer


def start_span(wiring: Wiring, sender: Any) -> tuple[Any, Any]:
    """Open a span for one run, as the current span; end it with end_span()."""
    span = _tracer.start_span(
        f"signal {wiring.handler}",
        attributes={
            "django.signal": wiring.signal,
            "django.signal.sender": sender_name(sender),
            "django.signal.handler": wiring.handler,
            "django.signal.outcome": "ok",
        },
    )
    return span, otel_context.attach(otel_trace.set_span_in_context(span))


def end_span(opened: tuple[Any, Any], error: BaseException | None) -> None:
    span, token = opened
    otel_context.detach(token)
    if error is not None:
        span.set_attribute("django.signal.outcome", "error")
        span.record_exception(error)
        span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, repr(error)))
    span.end()


def _log(
    level: int,
    msg: str,
    args: tuple[Any, ...],
    extra: dict[str, Any],
    exc_info: Any = None,
) -> None:
    """Log a record as ``logger.log()`` would, without looking for the caller's line
    in the stack (the costliest part of a record): it would be this module's anyway."""
    if logger.isEnabledFor(level):
        logger.handle(
            logger.makeRecord(
                logger.name, level, __file__, 0, msg, args, exc_info, None, extra
            )
        )


def report(
    wiring: Wiring,
    sender: Any,
    seconds: float,
    error: BaseException | None,
    logged: bool,
    run: Run | None,
) -> None:
    """Log one finished run: ERROR for a failure contained by on_error: log, WARNING
    when slow, else DEBUG; and complete its fired() entry."""
    duration_ms = round(seconds * 1000, 3)
    outcome = "ok" if error is None else "error"
    if run is not None:
        run.duration_ms, run.outcome = duration_ms, outcome
    name = sender_name(sender)
    extra = {
        "signal": wiring.signal,
        "sender": name,
        "handler": wiring.handler,
        "duration_ms": duration_ms,
        "outcome": outcome,
    }
    what = f"{wiring.handler} ({wiring.signal_name} of {name})"
    if error is not None and logged:
        exc_info = (type(error), error, error.__traceback__)
        logger.error(
            "%s failed after %.1f ms", what, duration_ms, exc_info=exc_info, extra=extra
        )
    elif seconds >= slow_seconds:
        logger.warning(
            "%s ran in %.1f ms, over %s ms (%s)",
            what,
            duration_ms,
            f"{slow_seconds * 1000:g}",
            SLOW_SETTING,
            extra=extra,
        )
    elif logger.isEnabledFor(logging.DEBUG):
        verb = "ran" if error is None else "failed"
        logger.debug("%s %s in %.1f ms", what, verb, duration_ms, extra=extra)


def skipped(wiring: Wiring, sender: Any, why: str) -> None:
    """A run the guard skipped: a raw save, a re-entry, a muted handler."""
    name = sender_name(sender)
    fired = _fired.get()
    if fired is not None:
        fired.append(Run(wiring.handler, wiring.signal, name, 0.0, "skipped"))
    _log(
        logging.DEBUG,
        "%s (%s of %s) skipped: %s",
        (wiring.handler, wiring.signal_name, name, why),
        {
            "signal": wiring.signal,
            "sender": name,
            "handler": wiring.handler,
            "duration_ms": 0.0,
            "outcome": "skipped",
        },
    )


@contextmanager
def fired() -> Iterator[list[Run]]:
    """The runs of this app's receivers in the block, in the order they started, with
    their durations and outcomes: for a shell, a test or a request.

        with fired() as runs:
            client.post("/orders/", {...})
        for run in runs:
            print(run.handler, run.signal, run.sender, run.duration_ms, run.outcome)
    """
    runs: list[Run] = []
    token = _fired.set(runs)
    try:
        yield runs
    finally:
        _fired.reset(token)


def print_fired(runs: list[Run], file: Any = None) -> None:
    """Print ``runs`` as a table, for a shell."""
    out = file or sys.stdout
    for run in runs:
        print(
            f"{run.duration_ms:8.1f} ms  {run.outcome:7}  {run.handler}"
            f" ({run.signal.rsplit('.', 1)[-1]} of {run.sender})",
            file=out,
        )
