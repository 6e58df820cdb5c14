"""A write transaction that several table owners share, and what each must do once it committed.

Each table has one owner module in storage/ (docs/architecture.md lists them); a change that spans tables (a
station: its device row, its station row and its ten channel points) asks each owner to write its own rows in
one transaction. An owner that keeps records in memory updates them only after the commit (`after_commit`), so
a rolled-back change never leaves a record that the database does not hold.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from t3000gql.storage.connection import Connection
from t3000gql.storage.database import Database


@dataclass(slots=True)
class Transaction:
    conn: Connection
    """The writer connection, inside its write transaction."""
    _after_commit: list[Callable[[], object]] = field(default_factory=list)

    def after_commit(self, action: Callable[[], object]) -> None:
        """Runs `action` once the transaction committed (in the order given); never when it rolled back."""
        self._after_commit.append(action)


@contextlib.asynccontextmanager
async def transaction(db: Database) -> AsyncIterator[Transaction]:
    """One write transaction on the writer: committed when the block ends, rolled back when it raises."""
    async with db.writer() as conn:
        tx = Transaction(conn)
        yield tx
    for action in tx._after_commit:
        action()
