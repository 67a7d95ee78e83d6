"""What a handler's failure may harm: only its own work.

A body whose write fails inside the caller's ``atomic()`` (an IntegrityError from the
ORM or from raw SQL, the errors real bodies raise) must lose only its own writes and
on_commit callbacks (on_error: log), or hand the error to the caller (on_error: raise).
On PostgreSQL a failed query aborts the transaction, and Django marks a block for
rollback after a failed ORM write, so these tests fail without the receivers'
savepoints, on SQLite too. The savepoint is opened on the body's first query
(savepoints.py), so the tests below also pin what it costs: nothing for a body that
runs no query, one SAVEPOINT and its RELEASE for one that does.
"""

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, models, transaction
from django.test.utils import CaptureQueriesContext

from .factories import build, make, unused_pk

if TYPE_CHECKING:
    from .cases import HandlerCases as Base
else:
    Base = object

logger = logging.getLogger(__name__)


class FailingBody(Base):
    @property
    def written_model(self) -> type[models.Model]:
        """The model whose rows a failing body writes: the sender's, or for a
        multi-table child (which bulk_create refuses) its topmost parent's."""
        parents = self.model._meta.get_parent_list()
        return parents[-1] if parents else self.model

    def queries_with_and_without_the_receiver(
        self, body: Callable[..., Any] | None = None, in_atomic: bool = False
    ) -> tuple[CaptureQueriesContext, CaptureQueriesContext]:
        """The queries of act() with the handler's ``branch`` replaced by ``body`` (by
        default one that does nothing), and with the receiver disconnected."""
        block = transaction.atomic if in_atomic else contextlib.nullcontext
        with (
            self.spy(self.branch, side_effect=body),
            CaptureQueriesContext(connection) as handled,
            block(),
        ):
            self.act()
        with (
            self.receiver_disconnected(),
            CaptureQueriesContext(connection) as bare,
            block(),
        ):
            self.act()
            self.other_receivers = self.signal.has_listeners(self.connected_sender())
        return handled, bare

    def assert_queries_added(
        self, body: Callable[..., Any] | None, savepoints: int, in_atomic: bool = False
    ) -> None:
        """The receiver adds ``body``'s own queries and ``savepoints`` savepoint
        queries to act(), nothing else."""
        handled, bare = self.queries_with_and_without_the_receiver(body, in_atomic)
        body_queries = 0 if body in (None, only_logs) else 1
        self.assertEqual(
            savepoint_queries(handled) - savepoint_queries(bare), savepoints
        )
        expected = body_queries + savepoints
        if not self.other_receivers:
            expected += self.queries_for_any_listener
        self.assertEqual(
            statements(handled) - statements(bare), expected, handled.captured_queries
        )

    def failing_body(
        self, raw_sql: bool, own_atomic: bool = False, callback_first: bool = False
    ) -> Callable[..., None]:
        """A body that writes a row, queues an on_commit callback (or queues it, then
        writes), then breaks the primary key's unique constraint (with the ORM or raw
        SQL): real handler bugs."""
        existing = make(self.model)
        model = self.written_model
        own_row = build(model, pk=unused_pk(model))
        duplicate = build(model, pk=existing.pk)
        self.own_row = own_row
        self.own_callbacks: list[str] = []

        def write() -> None:
            if callback_first:  # before the body's first query: before its savepoint
                transaction.on_commit(lambda: self.own_callbacks.append("ran"))
            # bulk_create sends no signal, so the body does not run again.
            model._base_manager.bulk_create([own_row])
            if not callback_first:
                transaction.on_commit(lambda: self.own_callbacks.append("ran"))
            if raw_sql:
                table = connection.ops.quote_name(model._meta.db_table)
                column = connection.ops.quote_name(str(model._meta.pk.column))
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"INSERT INTO {table} SELECT * FROM {table} WHERE {column} = %s",
                        [existing.pk],
                    )
            else:
                model._base_manager.bulk_create([duplicate])

        def body(*args: Any, **kwargs: Any) -> None:
            if own_atomic:
                with transaction.atomic():
                    write()
            else:
                write()

        return body

    def assert_failure_contained(
        self,
        raw_sql: bool,
        queries_after: bool,
        own_atomic: bool = False,
        callback_first: bool = False,
    ) -> None:
        """The caller saves inside ``atomic()`` and a body's write fails: only the
        body's work is lost (on_error: log), or the caller's block rolls back with the
        IntegrityError (on_error: raise)."""
        body = self.failing_body(raw_sql, own_atomic, callback_first)
        with (
            self.spy(self.branch, side_effect=body),
            self.captureOnCommitCallbacks(execute=True),
        ):
            if self.on_error == "raise":
                with self.assertRaises(IntegrityError), transaction.atomic():
                    self.act()
                self.assertFalse(
                    self.model._base_manager.filter(pk=self.own_row.pk).exists()
                )
                return
            with self.assertLogs(f"{self.logger_name}.signals", "ERROR") as logs:
                with transaction.atomic():
                    result = self.act()
                    if queries_after:
                        make(self.model)
        exc_info = logs.records[0].exc_info or (None,)
        self.assertIs(exc_info[0], IntegrityError)
        self.assertTrue(self.acted(result), "the caller's work was rolled back")
        self.assert_body_work_undone()

    def assert_body_work_undone(self) -> None:
        """The failed body's row and on_commit callback are gone."""
        self.assertIsNotNone(self.own_row.pk)
        self.assertFalse(
            self.written_model._base_manager.filter(pk=self.own_row.pk).exists(),
            "the failed body's own write was kept",
        )
        self.assertEqual(self.own_callbacks, [], "the failed body's on_commit ran")


class FailureCases(FailingBody):
    """Failing writes in the handler's ``branch``, inside the caller's transaction."""

    def test_failed_orm_write_in_body_inside_atomic(self) -> None:
        self.assert_failure_contained(raw_sql=False, queries_after=True)

    def test_failed_orm_write_in_body_as_last_query_of_atomic(self) -> None:
        self.assert_failure_contained(raw_sql=False, queries_after=False)

    def test_failed_raw_sql_in_body_inside_atomic(self) -> None:
        self.assert_failure_contained(raw_sql=True, queries_after=True)

    def test_failed_raw_sql_in_body_as_last_query_of_atomic(self) -> None:
        self.assert_failure_contained(raw_sql=True, queries_after=False)

    def test_failed_write_in_body_with_its_own_atomic(self) -> None:
        self.assert_failure_contained(
            raw_sql=False, queries_after=True, own_atomic=True
        )

    def test_failed_write_after_an_on_commit_registered_before_any_query(self) -> None:
        """The callback predates the savepoint, opened on the first query: dropped."""
        self.assert_failure_contained(
            raw_sql=False, queries_after=True, callback_first=True
        )

    def test_failure_before_any_query_drops_its_callbacks(self) -> None:
        """A body that queues a callback and raises before querying: no savepoint was
        opened, and its callback is dropped all the same (on_error: log)."""
        if self.on_error == "raise":
            self.skipTest("raise: the caller's block decides (test_error_in_body)")
        callbacks: list[str] = []

        def body(*args: Any, **kwargs: Any) -> None:
            transaction.on_commit(lambda: callbacks.append("ran"))
            raise RuntimeError("before any query")

        with (
            self.spy(self.branch, side_effect=body),
            self.captureOnCommitCallbacks(execute=True),
            self.assertLogs(f"{self.logger_name}.signals", "ERROR"),
            CaptureQueriesContext(connection) as queries,
            transaction.atomic(),
        ):
            result = self.act()
        self.assertTrue(self.acted(result), "the caller's work was rolled back")
        self.assertEqual(callbacks, [], "the failed body's on_commit ran")
        self.assertEqual(savepoint_queries(queries, kinds=("ROLLBACK TO",)), 0)

    def test_nested_receiver_fails_alone(self) -> None:
        """The body runs the operation again, whose receiver (the same one, for another
        row) fails: each has its own savepoint, and only the inner one is undone."""
        if self.on_error == "raise":
            self.skipTest("raise: the inner error fails the outer body too")
        if not self.act_runs_the_receiver_again:
            self.skipTest("act() again runs no receiver: the same row (m2m)")
        failing = self.failing_body(raw_sql=False)
        kept: list[str] = []

        def body(*args: Any, **kwargs: Any) -> None:
            if spy.call_count == 1:
                transaction.on_commit(lambda: kept.append("outer"))
                self.act()  # runs this receiver again, which fails
            else:
                failing()

        with (
            self.spy(self.branch, side_effect=body) as spy,
            self.captureOnCommitCallbacks(execute=True),
            self.assertLogs(f"{self.logger_name}.signals", "ERROR") as logs,
            transaction.atomic(),
        ):
            result = self.act()
        self.assertEqual(spy.call_count, 2)
        self.assertEqual(len(logs.records), 1, "only the inner receiver fails")
        self.assertTrue(self.acted(result), "the caller's work was rolled back")
        self.assertEqual(kept, ["outer"], "the outer body's on_commit was dropped")
        self.assert_body_work_undone()

    def test_savepoint_per_receiver_inside_a_transaction(self) -> None:
        """Inside atomic(), a body that runs no query adds none (a body that only
        logs costs what a save with no receivers does); one that queries adds its
        query and, with on_error log, one SAVEPOINT and its RELEASE."""
        log = self.on_error == "log"
        self.assert_queries_added(None, savepoints=0, in_atomic=True)
        self.assert_queries_added(only_logs, savepoints=0, in_atomic=True)
        self.assert_queries_added(query, savepoints=2 if log else 0, in_atomic=True)


class CommitCases(FailingBody):
    """A failing body and a real commit (for a TransactionTestCase)."""

    def test_failed_body_and_a_real_commit(self) -> None:
        committed: list[str] = []
        with self.spy(self.branch, side_effect=self.failing_body(raw_sql=True)):
            if self.on_error == "raise":
                with self.assertRaises(IntegrityError), transaction.atomic():
                    self.act()
                    transaction.on_commit(lambda: committed.append("caller"))
                self.assertEqual(committed, [])
                return
            with self.assertLogs(f"{self.logger_name}.signals", "ERROR"):
                with transaction.atomic():
                    result = self.act()
                    transaction.on_commit(lambda: committed.append("caller"))
        self.assertTrue(self.acted(result), "the caller's work was not committed")
        self.assertEqual(committed, ["caller"])
        self.assert_body_work_undone()

    def test_savepoints_outside_a_transaction(self) -> None:
        """Outside atomic(), a body that runs no query adds none; one that queries adds
        its query and a savepoint only where Django opens a transaction itself (around
        the receivers of a delete, an m2m change or a child model's save)."""
        log = self.on_error == "log"
        self.assert_queries_added(None, savepoints=0)
        self.assert_queries_added(only_logs, savepoints=0)
        expected = 2 if log and self.in_django_transaction() else 0
        self.assert_queries_added(query, savepoints=expected)


def savepoint_queries(
    queries: CaptureQueriesContext,
    kinds: tuple[str, ...] = ("SAVEPOINT", "RELEASE SAVEPOINT"),
) -> int:
    """How many of ``queries`` are of ``kinds``: by default, savepoints opened and
    released."""
    return sum(query["sql"].startswith(kinds) for query in queries.captured_queries)


def statements(queries: CaptureQueriesContext) -> int:
    """How many queries ran, less BEGIN and COMMIT: outside a transaction Django deletes
    a row with no listener in one DELETE, and with one in a transaction of its own."""
    return sum(
        query["sql"] not in ("BEGIN", "COMMIT") for query in queries.captured_queries
    )


def only_logs(*args: Any, **kwargs: Any) -> None:
    """A body that logs and runs no query, as the starter bodies do."""
    logger.info("a body that only logs")


def query(*args: Any, **kwargs: Any) -> None:
    """A body that runs one query; fails in an event loop's thread."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
