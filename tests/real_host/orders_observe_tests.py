"""What the defaults app's receivers show of each run: OpenTelemetry spans (with the
SDK's in-memory exporter) parented under the current span, a failure's span, and
fired() around a request through the test client (the admin's add form)."""

from unittest import mock

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, TestCase
from django.urls import reverse
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from .. import handlers, observe
from ..models import Order, Tag

EXPORTER = InMemorySpanExporter()


class SpanTests(TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        if observe.tracer(float("inf")) is None:  # no provider yet: nothing recorded
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
            trace.set_tracer_provider(provider)
            observe.configure()

    def setUp(self) -> None:
        EXPORTER.clear()

    def spans(self) -> dict:
        return {span.name: span for span in EXPORTER.get_finished_spans()}

    def test_each_run_is_a_child_of_the_current_span(self) -> None:
        with trace.get_tracer("test").start_as_current_span("request") as outer:
            Order.objects.create(name="first")
        span = self.spans()["signal after_order_save"]
        self.assertEqual(span.parent.span_id, outer.get_span_context().span_id)
        self.assertEqual(
            dict(span.attributes),
            {
                "django.signal": "django.db.models.signals.post_save",
                "django.signal.sender": "orders.Order",
                "django.signal.handler": "after_order_save",
                "django.signal.outcome": "ok",
            },
        )
        self.assertIn("signal before_order_save", self.spans())

    def test_an_m2m_change_and_a_delete_are_spans_too(self) -> None:
        order = Order.objects.create(name="first")
        order.tags.add(Tag.objects.create(name="red"))
        order.delete()
        self.assertTrue(
            {"signal on_order_tags_changed", "signal before_order_delete", "signal after_order_delete"}
            <= set(self.spans())
        )

    def test_a_failure_records_the_exception(self) -> None:
        error = RuntimeError("boom")
        with (
            mock.patch.object(handlers.after_order_save, "on_create", side_effect=error),
            self.assertLogs("orders.signals", "ERROR"),
        ):
            Order.objects.create(name="first")
        span = self.spans()["signal after_order_save"]
        self.assertEqual(span.status.status_code, StatusCode.ERROR)
        self.assertEqual(span.attributes["django.signal.outcome"], "error")
        self.assertEqual([event.name for event in span.events], ["exception"])
        self.assertEqual(span.events[0].attributes["exception.type"], "RuntimeError")


class FiredTests(TestCase):
    def test_what_fired_during_a_request(self) -> None:
        admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
        self.client.force_login(admin)
        url = reverse("admin:orders_order_add")
        with observe.fired() as runs:
            response = self.client.post(url, {"name": "first", "status": "pending", "total": "1"})
        self.assertEqual(response.status_code, 302)
        self.assertEqual(
            [(run.handler, run.signal.rsplit(".", 1)[-1], run.sender, run.outcome) for run in runs],
            [
                ("before_order_save", "pre_save", "orders.Order", "ok"),
                ("after_order_save", "post_save", "orders.Order", "ok"),
                ("on_order_tags_changed", "m2m_changed", "orders.Order_tags", "ok"),
            ][: len(runs)],
        )
        self.assertGreaterEqual(len(runs), 2)
        self.assertTrue(all(run.duration_ms >= 0 for run in runs))


class ToolbarPanelTests(TestCase):
    def test_the_panel_lists_the_runs_of_a_request(self) -> None:
        from debug_toolbar.toolbar import DebugToolbar

        from ..toolbar import SignalsPanel

        def view(request: HttpRequest) -> HttpResponse:
            Order.objects.create(name="first")
            return HttpResponse("ok")

        request = RequestFactory().get("/")
        panel = SignalsPanel(DebugToolbar(request, view), view)
        self.assertEqual(panel.process_request(request).content, b"ok")
        runs = panel.get_stats()["runs"]
        self.assertEqual([run["handler"] for run in runs], ["before_order_save", "after_order_save"])
        self.assertIn("<td>after_order_save</td><td>post_save</td><td>orders.Order</td>", panel.content)
        self.assertTrue(panel.nav_subtitle.startswith("2 runs, "))
