"""What a handler's failure may harm: only its own work.

A body whose write fails inside the caller's ``atomic()`` (an IntegrityError from the
ORM or from raw SQL, the errors real bodies raise) must lose only its own writes and
on_commit callbacks (on_error: log), or hand the error to the caller (on_error: raise).
On PostgreSQL a failed query aborts the transaction, and Django marks a block for
rollback after a failed ORM write, so these tests fail without the receivers'
savepoints, on SQLite too.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from .factories import build, make, unused_pk

if TYPE_CHECKING:
    from .cases import HandlerCases as Base
else:
    Base = object


class FailingBody(Base):
    def queries_with_and_without_the_receiver(
        self,
    ) -> tuple[CaptureQueriesContext, CaptureQueriesContext]:
        with self.spy(self.branch), CaptureQueriesContext(connection) as handled:
            self.act()
        with self.receiver_disconnected(), CaptureQueriesContext(connection) as bare:
            self.act()
            self.other_receivers = self.signal.has_listeners(self.connected_sender())
        return handled, bare

    def failing_body(
        self, raw_sql: bool, own_atomic: bool = False
    ) -> Callable[..., None]:
        """A body that writes a row, queues an on_commit callback, then breaks the
        primary key's unique constraint (with the ORM or raw SQL): real handler bugs."""
        existing = make(self.model)
        own_row = build(self.model, pk=unused_pk(self.model))
        duplicate = build(self.model, pk=existing.pk)
        self.own_row = own_row
        self.own_callbacks: list[str] = []

        def write() -> None:
            # bulk_create sends no signal, so the body does not run again.
            self.model._base_manager.bulk_create([own_row])
            transaction.on_commit(lambda: self.own_callbacks.append("ran"))
            if raw_sql:
                table = connection.ops.quote_name(self.model._meta.db_table)
                column = connection.ops.quote_name(str(self.model._meta.pk.column))
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"INSERT INTO {table} SELECT * FROM {table} WHERE {column} = %s",
                        [existing.pk],
                    )
            else:
                self.model._base_manager.bulk_create([duplicate])

        def body(*args: Any, **kwargs: Any) -> None:
            if own_atomic:
                with transaction.atomic():
                    write()
            else:
                write()

        return body

    def assert_failure_contained(
        self, raw_sql: bool, queries_after: bool, own_atomic: bool = False
    ) -> None:
        """The caller saves inside ``atomic()`` and a body's write fails: only the
        body's work is lost (on_error: log), or the caller's block rolls back with the
        IntegrityError (on_error: raise)."""
        body = self.failing_body(raw_sql, own_atomic)
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
            self.model._base_manager.filter(pk=self.own_row.pk).exists(),
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

    def test_savepoint_per_receiver_inside_a_transaction(self) -> None:
        """log: a SAVEPOINT and its RELEASE around the receiver, nothing else; raise:
        no query."""
        handled, bare = self.queries_with_and_without_the_receiver()
        expected = 2 if self.on_error == "log" else 0
        self.assertEqual(savepoint_queries(handled) - savepoint_queries(bare), expected)
        if not self.other_receivers:
            expected += self.queries_for_any_listener
        self.assertEqual(len(handled) - len(bare), expected)


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
        """None for a save, where Django opens no transaction; a savepoint where Django
        opens one: around the receivers of a delete or an m2m change."""
        handled, bare = self.queries_with_and_without_the_receiver()
        log = self.on_error == "log"
        expected = 2 if log and self.in_django_transaction() else 0
        self.assertEqual(savepoint_queries(handled) - savepoint_queries(bare), expected)


def savepoint_queries(queries: CaptureQueriesContext) -> int:
    return sum(
        query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
        for query in queries.captured_queries
    )
