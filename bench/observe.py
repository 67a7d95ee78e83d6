"""What observing the receivers costs (observe.py), beside Sentry's signal spans.

Two ORM groups, each run by orm.py in a subprocess of its own:

- ``observe``: creates of orders.Order with its receivers (pre_save and post_save run on
  each) and with none, in interleaved rounds: as rendered (the logger above DEBUG, no
  tracer), with the ``orders.signals`` records on (DEBUG, formatted by a handler that
  writes nowhere), and with spans on (the OpenTelemetry SDK, a SimpleSpanProcessor and
  an in-memory exporter, under an outer span, as in a request).
- ``sentry``: the same creates with sentry-sdk's DjangoIntegration, inside a transaction,
  with ``signals_spans`` on and off (its default since 1.17 is on), sending nothing.
"""

import logging
from decimal import Decimal

from timing import rotations, summary, timed

RECEIVERS_PER_CREATE = 2  # pre_save and post_save


class _Formatted(logging.Handler):
    """Formats each record, as a real handler does, and writes it nowhere."""

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


def _creates(model, n: int):
    def run():
        for i in range(n):
            model(name=f"name-{i}", total=Decimal("9.99")).save()

    return run


def worker_observe(cfg: dict, order, receivers) -> dict:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )
    from orders import observe  # type: ignore[import-not-found]

    n, rounds = cfg["saves"], cfg["save_rounds"]
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    tracer = provider.get_tracer("bench")
    logger = logging.getLogger("orders.signals")
    handler = _Formatted()

    def no_tracer() -> None:
        observe._tracer, observe._next_look = None, float("inf")

    variants = ["bare", "order", "records", "spans"]
    times: dict = {v: [] for v in variants}
    run = _creates(order, n)
    for r, sequence in rotations(variants, rounds):
        for v in sequence:
            no_tracer()
            if v == "bare":
                receivers.disconnect()
            if v == "records":
                logger.addHandler(handler)
                logger.setLevel(logging.DEBUG)
            if v == "spans":
                observe.configure()  # look for the provider on the next run
            try:
                with tracer.start_as_current_span("request"):
                    t = timed(run)
            finally:
                receivers.connect()
                logger.removeHandler(handler)
                logger.setLevel(logging.NOTSET)
                exporter.clear()
            if r >= 0:
                times[v].append(t / n)
        order._base_manager.all()._raw_delete(order._base_manager.db)
    no_tracer()
    return {v: summary(ts) for v, ts in times.items()}


def worker_sentry(cfg: dict, order, receivers) -> dict:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.transport import Transport

    class Nowhere(Transport):
        def capture_envelope(self, envelope) -> None:
            pass

    integration = DjangoIntegration(signals_spans=True)
    sentry_sdk.init(
        dsn="https://public@127.0.0.1/1",
        transport=Nowhere,
        integrations=[integration],
        traces_sample_rate=1.0,
        default_integrations=False,
    )
    n, rounds = cfg["saves"], cfg["save_rounds"]
    variants = ["bare", "spans_off", "spans_on"]
    times: dict = {v: [] for v in variants}
    run = _creates(order, n)
    for r, sequence in rotations(variants, rounds):
        for v in sequence:
            integration.signals_spans = v == "spans_on"
            if v == "bare":
                receivers.disconnect()
            try:
                with sentry_sdk.start_transaction(name="bench", op="bench"):
                    t = timed(run)
            finally:
                receivers.connect()
            if r >= 0:
                times[v].append(t / n)
        order._base_manager.all()._raw_delete(order._base_manager.db)
    return {v: summary(ts) for v, ts in times.items()}
