"""Savepoints that cost nothing until the code inside them touches the database.

Rendered by django-signal-template and copied again by ``copier update``: don't edit.

A receiver that fails inside the caller's transaction must lose only its own work: on
PostgreSQL a failed query aborts the whole transaction, and Django marks an atomic
block for rollback after a failed ORM write. A savepoint around the receiver limits the
damage, but ``transaction.atomic()`` opens it eagerly, two queries per receiver per save
even when the body only logs. These context managers open the savepoint just before the
first query the body runs on the database (an ``execute_wrapper``), so a body that runs
no query adds none, and one that does adds one ``SAVEPOINT`` and its ``RELEASE``, or a
``ROLLBACK TO SAVEPOINT`` when it fails.

When the body fails (it raises, or it leaves the transaction marked for rollback, as a
swallowed ORM error does), its writes are rolled back to the savepoint and the
``transaction.on_commit`` callbacks it registered are dropped, those registered before
its first query included; the caller's transaction goes on. The exception, if any,
propagates: catching it is the caller's choice. Outside an atomic block, or in one
already marked for rollback, nothing is installed (Django's ``atomic()`` takes no
savepoint there either).

The savepoint is opened with ``connection.savepoint()``, not ``atomic()``: from inside
a query, an atomic block would interleave with the ORM's own ``atomic(savepoint=False)``
blocks and leave ``savepoint_ids`` out of order. Django's own bookkeeping
(``savepoint_ids``, ``atomic_blocks``) is never touched. What goes around Django's
``cursor.execute()`` and ``executemany()`` (``callproc()``, psycopg's ``copy()``, the raw
DB-API connection) opens no savepoint: a failure there is not contained, and on
PostgreSQL the caller's next query fails, loudly.

When something in here fails itself, it is loud or harmless: a ``SAVEPOINT`` that fails
fails the body's query, and marks the caller's transaction for rollback (PostgreSQL may
have aborted it); a ``RELEASE`` that fails is rolled back to the savepoint and raised,
as ``atomic()`` does; a ``ROLLBACK TO`` that fails marks the caller's transaction for
rollback, so that it cannot commit half of the body's work, and the body's exception
propagates. A transaction marked for rollback refuses every further query
(``TransactionManagementError``) and rolls back at the end of its ``atomic()``.
"""

import threading
from asyncio import _get_running_loop
from collections.abc import Callable
from contextlib import ExitStack
from types import TracebackType
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, Error, connections
from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["savepoint_on_first_query", "savepoints_on_first_query"]


class _Opening(threading.local):
    """Set while a savepoint of this module is being opened in this thread.

    Its ``SAVEPOINT`` query runs through every execute wrapper installed after it (the
    receivers nested in this one): they must let it pass, not open theirs before it.
    """

    active = False


_opening = _Opening()


class _Connections(threading.local):
    """The connections this thread's receivers used, by alias."""

    def __init__(self) -> None:
        self.by_alias: dict[str, BaseDatabaseWrapper] = {}


_connections = _Connections()


def connection_of(alias: str) -> BaseDatabaseWrapper:
    """``connections[alias]``, remembered per thread: Django's lookup goes through an
    asgiref Local and costs about a microsecond, as much as the rest of a receiver's
    run. Django keeps one connection object per thread, but one per task inside a
    running event loop: there it is looked up each time."""
    if _get_running_loop() is not None:
        return connections[alias]
    try:
        return _connections.by_alias[alias]
    except KeyError:
        connection = _connections.by_alias[alias] = connections[alias]
        return connection


class savepoint_on_first_query:
    """A savepoint on database ``using``, opened on the block's first query there.

    ``with savepoint_on_first_query(using): body()``: no query if ``body`` runs none;
    otherwise ``SAVEPOINT`` just before its first query and ``RELEASE SAVEPOINT`` at
    the end, or ``ROLLBACK TO SAVEPOINT`` if it fails. Either way, a failure drops the
    on_commit callbacks the block registered. Nestable; not reentrant (one ``with``
    per instance).
    """

    __slots__ = ("connection", "sid", "callbacks", "installed", "broken")

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.connection: BaseDatabaseWrapper = connection_of(using)
        self.sid: str | None = None
        self.callbacks = 0  # how many on_commit callbacks were there before the block
        self.installed = False
        self.broken = False  # the SAVEPOINT itself failed

    def __enter__(self) -> None:
        connection = self.connection
        if not connection.in_atomic_block or connection.needs_rollback:
            return  # each query commits on its own, or the transaction is lost anyway
        self.callbacks = len(connection.run_on_commit)
        connection.execute_wrappers.append(self)
        self.installed = True

    def __call__(
        self,
        execute: Callable[[str, Any, bool, dict[str, Any]], Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        """The execute wrapper: open the savepoint before the first query goes out."""
        if self.sid is None and not self.broken and not _opening.active:
            _opening.active = True
            try:
                # Runs "SAVEPOINT" through the wrappers again: this one, and those of
                # nested receivers, let it pass while _opening is set.
                self.sid = self.connection.savepoint()
            except BaseException:
                self.broken = True
                raise
            finally:
                _opening.active = False
        return execute(sql, params, many, context)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.installed:
            return
        connection = self.connection
        connection.execute_wrappers.remove(self)
        self.installed = False
        if exc_type is None and not connection.needs_rollback and not self.broken:
            if self.sid is not None:
                try:
                    connection.savepoint_commit(self.sid)
                except DatabaseError:
                    # E.g. PostgreSQL refuses RELEASE after a failed query the body
                    # caught: undo the body's work and say so, as atomic() does.
                    self._roll_back()
                    raise
            return
        self._roll_back()

    def _roll_back(self) -> None:
        """Undo the block's writes and drop the on_commit callbacks it registered."""
        connection = self.connection
        # Django refuses any query, ROLLBACK TO included, while needs_rollback is set;
        # it was not set when the block began.
        connection.needs_rollback = False
        if self.sid is not None:
            try:
                connection.savepoint_rollback(self.sid)
            except Error:
                # The body's writes may still be there: the caller must not commit.
                connection.needs_rollback = True
        # savepoint_rollback() only drops callbacks tagged with savepoints Django's
        # atomic() opened; these may predate the savepoint, so drop by position.
        del connection.run_on_commit[self.callbacks :]
        if self.broken or connection.closed_in_transaction:
            # Nothing to roll back to: PostgreSQL may have aborted the transaction with
            # the failed SAVEPOINT, or the body closed the connection. The caller must
            # not commit.
            connection.needs_rollback = True


class savepoints_on_first_query:
    """``savepoint_on_first_query`` on every database in an atomic block.

    For code that names no database, like a custom signal's receiver: only the
    databases it queries get a savepoint.
    """

    __slots__ = ("stack",)

    def __init__(self) -> None:
        self.stack = ExitStack()

    def __enter__(self) -> None:
        try:
            for alias in connections:
                if connection_of(alias).in_atomic_block:
                    self.stack.enter_context(savepoint_on_first_query(alias))
        except BaseException:
            self.stack.close()  # no wrapper is left behind
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return self.stack.__exit__(exc_type, exc, traceback)
