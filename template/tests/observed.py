"""Every run of a handler's receiver is observable (observe.py): a DEBUG record with
names only, a WARNING when slow, an entry in fired()."""

import logging
from typing import TYPE_CHECKING

from django.test import override_settings

from .. import observe

if TYPE_CHECKING:
    from .cases import HandlerCases as Base
else:
    Base = object


class ObservedCases(Base):
    signal_path: str  # the signal's dotted path, as the records name it

    @property
    def handler_name(self) -> str:
        return self.handler.__name__.rsplit(".", 1)[-1]

    def observed_sender(self) -> str:
        """What the records call the sender of act()'s run: a model's label."""
        sender = self.connected_sender() or self.model
        meta = getattr(sender, "_meta", None)
        return meta.label if meta is not None else observe.sender_name(sender)

    def records_of_this_handler(self, level: str = "DEBUG") -> list[logging.LogRecord]:
        """The records of act()'s runs of this handler, its body replaced by a spy."""
        with (
            self.spy(self.branch),
            self.assertLogs(f"{self.logger_name}.signals", level) as logs,
        ):
            self.act()
        return [
            r for r in logs.records if getattr(r, "handler", "") == self.handler_name
        ]

    def test_each_run_is_a_debug_record_with_names(self) -> None:
        [record] = self.records_of_this_handler()
        self.assertEqual(record.levelno, logging.DEBUG)
        self.assertEqual(
            (record.signal, record.sender, record.outcome),  # type: ignore[attr-defined]
            (self.signal_path, self.observed_sender(), "ok"),
        )
        self.assertIsInstance(record.duration_ms, float)  # type: ignore[attr-defined]
        signal = self.signal_path.rsplit(".", 1)[-1]
        expected = f"{self.handler_name} ({signal} of {self.observed_sender()}) ran in "
        self.assertTrue(record.getMessage().startswith(expected), record.getMessage())

    def test_a_slow_run_is_a_warning(self) -> None:
        with override_settings(SIGNAL_TEMPLATE_SLOW_RECEIVER_MS=0):
            [record] = self.records_of_this_handler("WARNING")
        self.assertEqual(record.levelno, logging.WARNING)
        self.assertIn("SIGNAL_TEMPLATE_SLOW_RECEIVER_MS", record.getMessage())
        self.assertEqual(record.outcome, "ok")  # type: ignore[attr-defined]

    def test_fired_lists_each_run(self) -> None:
        with self.spy(self.branch), observe.fired() as runs:
            self.act()
        mine = [run for run in runs if run.handler == self.handler_name]
        self.assertEqual(
            [(run.signal, run.sender, run.outcome) for run in mine],
            [(self.signal_path, self.observed_sender(), "ok")],
        )
        self.assertGreaterEqual(mine[0].duration_ms, 0.0)
