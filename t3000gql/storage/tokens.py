"""API tokens as stored: a name, a role, the SHA-256 of the secret, when it was made, used, expires, revoked.

The owner of the `api_tokens` table. The secret never reaches this module; `t3000gql.auth` makes tokens,
hashes them and decides what a role may do. Every create and revoke raises `changed_seq`, so a process that
keeps the tokens in memory (the authenticator) notices another process's change with one indexed read.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from t3000gql.errors import ConflictError
from t3000gql.storage.database import Database
from t3000gql.storage.transaction import Transaction

_COLUMNS = "id, name, role, token_hash, created_at, created_by, expires_at, last_used_at, revoked_at"
_NEXT_SEQ = "(SELECT coalesce(max(changed_seq), 0) + 1 FROM api_tokens)"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    name: str
    role: str
    token_hash: str
    created_at: int
    created_by: str
    expires_at: int | None
    last_used_at: int | None
    revoked_at: int | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> TokenRecord:
        return cls(*row)

    def valid_at(self, now_ms: int) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now_ms < self.expires_at)


class TokenRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self, *, include_revoked: bool = False) -> builtins.list[TokenRecord]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = await self._db.fetch_all(f"SELECT {_COLUMNS} FROM api_tokens{where} ORDER BY name, id")
        return [TokenRecord.from_row(tuple(row)) for row in rows]

    async def version(self) -> int:
        """Grows with every create and revoke, in any process sharing the database."""
        row = await self._db.fetch_one("SELECT coalesce(max(changed_seq), 0) FROM api_tokens")
        return int(row[0]) if row else 0

    async def create_in(
        self,
        tx: Transaction,
        *,
        name: str,
        role: str,
        token_hash: str,
        created_by: str,
        now_ms: int,
        expires_at: int | None,
    ) -> TokenRecord:
        if (
            await tx.conn.fetch_one("SELECT 1 FROM api_tokens WHERE name = ? AND revoked_at IS NULL", (name,))
            is not None
        ):
            raise ConflictError(f"a token named {name!r} exists already: revoke it first or choose another name")
        row = await tx.conn.fetch_one(
            "INSERT INTO api_tokens (name, role, token_hash, created_at, created_by, expires_at, changed_seq) "
            f"VALUES (?, ?, ?, ?, ?, ?, {_NEXT_SEQ}) RETURNING {_COLUMNS}",
            (name, role, token_hash, now_ms, created_by, expires_at),
        )
        assert row is not None
        return TokenRecord.from_row(tuple(row))

    async def revoke_in(self, tx: Transaction, name: str, *, now_ms: int) -> TokenRecord | None:
        """Revokes the token of that name that is not revoked yet; None when there is none."""
        row = await tx.conn.fetch_one(
            f"UPDATE api_tokens SET revoked_at = ?, changed_seq = {_NEXT_SEQ} "
            f"WHERE name = ? AND revoked_at IS NULL RETURNING {_COLUMNS}",
            (now_ms, name),
        )
        return None if row is None else TokenRecord.from_row(tuple(row))

    async def mark_used(self, last_used: Mapping[int, int]) -> None:
        """Records when tokens were last used (token id -> epoch ms); never moves a time backwards. Called in
        batches by the authenticator, never per request."""
        if not last_used:
            return
        async with self._db.writer() as conn:
            latest = conn.dialect.greatest("coalesce(last_used_at, 0)", "?")
            await conn.executemany(
                f"UPDATE api_tokens SET last_used_at = {latest} WHERE id = ?",
                [(at, token_id) for token_id, at in last_used.items()],
            )
