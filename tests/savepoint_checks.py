"""savepoints.py on its own, against real databases and real commits.

Copied into an app rendered with the default answers, as its tests/test_savepoints.py,
by the template's tests/test_savepoints.py, whose settings define two databases,
`default` and `other` (PostgreSQL, or SQLite). The receivers' own tests (tests/
failures.py) go through signals; these drive the context managers directly, so that
each guarantee, and each way the machinery itself can fail, has a test of its own.
"""

import contextlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

from django.db import (
    DatabaseError,
    IntegrityError,
    connection,
    connections,
    transaction,
)
from django.db.transaction import TransactionManagementError
from django.test import TransactionTestCase
from django.test.utils import CaptureQueriesContext

from ..models import Order
from ..savepoints import savepoint_on_first_query, savepoints_on_first_query
from .factories import build

# Primary keys given, not generated: SQLite would give a rolled-back row's key again.
_keys = itertools.count(1_000_000)


def new_row(using: str = "default") -> Order:
    """A row written in one query and without sending a signal (bulk_create), so no
    receiver runs."""
    [row] = Order._base_manager.using(using).bulk_create([build(Order, pk=next(_keys))])
    return row


def duplicate(row: Order) -> None:
    """Break the primary key's unique constraint with raw SQL: an IntegrityError that
    aborts the whole transaction on PostgreSQL."""
    table = connection.ops.quote_name(Order._meta.db_table)
    column = connection.ops.quote_name(str(Order._meta.pk.column))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} SELECT * FROM {table} WHERE {column} = %s", [row.pk]
        )


def exists(row: Order, using: str = "default") -> bool:
    return Order._base_manager.using(using).filter(pk=row.pk).exists()


def kinds(queries: CaptureQueriesContext) -> list[str]:
    """The savepoint queries among ``queries``, by kind, in order; others as "query"."""
    names = []
    for query in queries.captured_queries:
        sql = query["sql"]
        for kind in ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"):
            if sql.startswith(kind):
                names.append(kind)
                break
        else:
            names.append("query")
    return names


class SavepointOnFirstQuery(TransactionTestCase):
    databases = {"default", "other"}

    def tearDown(self) -> None:
        for alias in self.databases:
            self.assertEqual(connections[alias].execute_wrappers, [], "wrapper left")
            self.assertFalse(connections[alias].in_atomic_block)
        super().tearDown()

    @contextlib.contextmanager
    def committed(self) -> Iterator[list[str]]:
        """The caller's atomic(), with an on_commit callback of its own: it commits."""
        ran: list[str] = []
        with transaction.atomic():
            transaction.on_commit(lambda: ran.append("caller"))
            yield ran
        self.assertIn("caller", ran, "the caller's transaction did not commit")

    def test_no_query_no_savepoint(self) -> None:
        with self.committed(), CaptureQueriesContext(connection) as queries:
            with savepoint_on_first_query("default"):
                pass
        self.assertEqual(kinds(queries), [])

    def test_integrity_error_after_a_lazy_savepoint_spares_the_caller(self) -> None:
        with self.committed():
            caller = new_row()
            with CaptureQueriesContext(connection) as queries:
                with self.assertRaises(IntegrityError):
                    with savepoint_on_first_query("default"):
                        own = new_row()
                        duplicate(caller)
            later = new_row()  # PostgreSQL takes queries again
        self.assertEqual(
            kinds(queries), ["SAVEPOINT", "query", "query", "ROLLBACK TO SAVEPOINT"]
        )
        self.assertTrue(exists(caller) and exists(later))
        self.assertFalse(exists(own))

    def test_success_releases_the_savepoint(self) -> None:
        with self.committed(), CaptureQueriesContext(connection) as queries:
            with savepoint_on_first_query("default"):
                own = new_row()
        self.assertEqual(kinds(queries), ["SAVEPOINT", "query", "RELEASE SAVEPOINT"])
        self.assertTrue(exists(own))

    def test_a_callback_registered_before_the_first_query_is_dropped(self) -> None:
        body: list[str] = []
        with self.committed() as ran:
            caller = new_row()
            with self.assertRaises(IntegrityError):
                with savepoint_on_first_query("default"):
                    transaction.on_commit(lambda: body.append("before the query"))
                    duplicate(caller)
        self.assertEqual(ran, ["caller"])
        self.assertEqual(body, [])

    def test_a_failure_before_any_query_drops_its_callbacks(self) -> None:
        body: list[str] = []
        with self.committed(), CaptureQueriesContext(connection) as queries:
            with self.assertRaises(RuntimeError):
                with savepoint_on_first_query("default"):
                    transaction.on_commit(lambda: body.append("ran"))
                    raise RuntimeError("before any query")
        self.assertEqual(kinds(queries), [])  # no savepoint was needed
        self.assertEqual(body, [])

    def test_a_body_whose_first_statement_is_its_own_atomic(self) -> None:
        """The outer savepoint opens before the body's, so rolling back to it undoes
        the body's committed inner block too; Django's savepoint_ids stay in order."""
        with self.committed():
            ids = list(connection.savepoint_ids)
            with CaptureQueriesContext(connection) as queries:
                with self.assertRaises(RuntimeError):
                    with savepoint_on_first_query("default"):
                        with transaction.atomic():
                            own = new_row()
                        raise RuntimeError("after its atomic()")
            self.assertEqual(connection.savepoint_ids, ids)
            with transaction.atomic():  # the caller's later blocks still work
                later = new_row()
        self.assertEqual(
            kinds(queries),
            [
                "SAVEPOINT",  # ours, opened by the body's SAVEPOINT query
                "SAVEPOINT",
                "query",
                "RELEASE SAVEPOINT",
                "ROLLBACK TO SAVEPOINT",
            ],
        )
        self.assertFalse(exists(own))
        self.assertTrue(exists(later))

    def test_nested_savepoints_open_in_order_and_fail_alone(self) -> None:
        """An inner receiver's first query is the outer one's too: the outer savepoint
        opens first, and the inner failure undoes only the inner writes."""
        with self.committed():
            caller = new_row()
            with CaptureQueriesContext(connection) as queries:
                with savepoint_on_first_query("default"):
                    with (
                        contextlib.suppress(IntegrityError),
                        savepoint_on_first_query("default"),
                    ):
                        inner = new_row()
                        duplicate(caller)
                    outer = new_row()
        self.assertEqual(
            kinds(queries),
            [
                "SAVEPOINT",  # the outer one
                "SAVEPOINT",  # the inner one
                "query",
                "query",
                "ROLLBACK TO SAVEPOINT",
                "query",
                "RELEASE SAVEPOINT",
            ],
        )
        self.assertTrue(exists(caller) and exists(outer))
        self.assertFalse(exists(inner))

    def test_outside_atomic_no_wrapper_and_no_savepoint(self) -> None:
        with CaptureQueriesContext(connection) as queries:
            with savepoint_on_first_query("default"):
                self.assertEqual(connection.execute_wrappers, [])
                own = new_row()  # bulk_create's own transaction: BEGIN, INSERT, COMMIT
        self.assertEqual(set(kinds(queries)), {"query"})
        self.assertTrue(exists(own))

    def test_every_database_gets_a_savepoint_only_if_queried(self) -> None:
        """savepoints_on_first_query(), for custom signals: a body that writes to
        `other` only takes a savepoint there, and its failure rolls back only there."""
        with (
            self.committed(),
            transaction.atomic(using="other"),
            CaptureQueriesContext(connection) as on_default,
            CaptureQueriesContext(connections["other"]) as on_other,
        ):
            with self.assertRaises(RuntimeError), savepoints_on_first_query():
                own = new_row("other")
                raise RuntimeError("after writing to other")
            kept = new_row("other")
        self.assertEqual(kinds(on_default), [])
        self.assertEqual(
            kinds(on_other), ["SAVEPOINT", "query", "ROLLBACK TO SAVEPOINT", "query"]
        )
        self.assertFalse(exists(own, "other"))
        self.assertTrue(exists(kept, "other"))

    # How the machinery's own failures end: each is loud (an exception, a transaction
    # that cannot commit) or harmless (the caller's transaction goes on and commits).

    def test_a_swallowed_orm_error_is_rolled_back_quietly(self) -> None:
        """Harmless, as atomic() does: Django marked the block for rollback, so the
        body's writes are undone and the caller goes on."""
        with self.committed():
            caller = new_row()
            with savepoint_on_first_query("default"):
                own = new_row()
                with contextlib.suppress(IntegrityError):
                    Order._base_manager.bulk_create([build(Order, pk=caller.pk)])
            self.assertFalse(connection.needs_rollback)
        self.assertFalse(exists(own))

    def test_a_release_that_fails_is_rolled_back_and_raised(self) -> None:
        """Loud and contained: on PostgreSQL a body that swallows a failed raw query
        leaves the transaction aborted, RELEASE fails, the body's writes are rolled
        back and the error is raised; the caller commits. SQLite aborts nothing."""
        with self.committed():
            caller = new_row()
            expected = (
                self.assertRaises(DatabaseError)
                if connection.vendor == "postgresql"
                else contextlib.nullcontext()
            )
            with expected, savepoint_on_first_query("default"):
                own = new_row()
                with contextlib.suppress(IntegrityError):
                    duplicate(caller)
        self.assertEqual(exists(own), connection.vendor != "postgresql")

    def test_a_rollback_that_fails_dooms_the_caller(self) -> None:
        """Loud: when ROLLBACK TO fails, the body's writes may still be there, so the
        caller's block is marked for rollback (no query, no commit) and the body's
        own error propagates."""
        failing = mock.patch.object(
            connection, "savepoint_rollback", side_effect=DatabaseError("gone")
        )
        ran: list[str] = []
        with transaction.atomic():
            transaction.on_commit(lambda: ran.append("caller"))
            caller = new_row()
            with failing, self.assertRaises(RuntimeError):
                with savepoint_on_first_query("default"):
                    new_row()
                    raise RuntimeError("the body's error")
            self.assertTrue(connection.needs_rollback)
            with self.assertRaises(TransactionManagementError):
                new_row()
        self.assertEqual(ran, [])
        self.assertFalse(exists(caller))

    def test_a_savepoint_that_fails_dooms_the_caller(self) -> None:
        """Loud: the body's first query raises the SAVEPOINT's error, and, with nothing
        to roll back to (PostgreSQL may have aborted the transaction), the caller's
        block is marked for rollback: it takes no query and commits nothing."""
        failing: Callable[[], Any] = mock.Mock(side_effect=DatabaseError("refused"))
        ran: list[str] = []
        with transaction.atomic():
            transaction.on_commit(lambda: ran.append("caller"))
            caller = new_row()
            with mock.patch.object(connection, "savepoint", failing):
                with self.assertRaisesMessage(DatabaseError, "refused"):
                    with savepoint_on_first_query("default"):
                        new_row()
            self.assertTrue(connection.needs_rollback)
            with self.assertRaises(TransactionManagementError):
                new_row()
        self.assertEqual(ran, [])
        self.assertFalse(exists(caller))
