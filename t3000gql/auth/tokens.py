"""API tokens: made here, shown once, stored only as a hash (storage/tokens.py keeps the rows).

A token is `t3k_` and 43 characters of URL-safe base64: 256 random bits from `secrets`. With that much
entropy a plain SHA-256 is as strong as a slow password hash, and it lets a request be checked by one dict
lookup. Creating and revoking are audited in the same transaction as the change.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from t3000gql.auth.roles import Role
from t3000gql.domain.audit import Actor
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import NotFoundError, Unauthenticated, ValidationError
from t3000gql.storage.audit import AuditNote
from t3000gql.storage.store import Store
from t3000gql.storage.tokens import TokenRecord
from t3000gql.storage.transaction import transaction

PREFIX = "t3k_"
SECRET_BYTES = 32
DAY_MS = 86_400_000
MAX_EXPIRY_DAYS = 36_500
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
RESERVED_NAMES = frozenset({"anonymous", "system", "cli"})
"""Names the audit trail uses for other actors."""


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def bearer_token(header: str) -> str:
    """The token of an `Authorization: Bearer TOKEN` header; Unauthenticated for any other form."""
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthenticated("send the token as `Authorization: Bearer TOKEN`")
    return token


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValidationError(
            "must be 1 to 64 letters, digits or _ . @ - (starting with a letter or digit)",
            field="name",
            value=name,
        )
    if name.lower() in RESERVED_NAMES:
        raise ValidationError(f"{name!r} is what the audit trail calls other callers", field="name", value=name)
    return name


@dataclass(frozen=True, slots=True)
class CreatedToken:
    secret: str
    """Shown once: only its hash is stored."""
    record: TokenRecord


async def create_token(
    store: Store, clock: Clock, *, name: str, role: Role, expires_days: int | None, actor: Actor
) -> CreatedToken:
    check_name(name)
    if expires_days is not None and (isinstance(expires_days, bool) or not 1 <= expires_days <= MAX_EXPIRY_DAYS):
        raise ValidationError(
            f"must be a whole number of days from 1 to {MAX_EXPIRY_DAYS}", field="expires", value=expires_days
        )
    secret = new_secret()
    now = clock()
    async with transaction(store.db) as tx:
        record = await store.tokens.create_in(
            tx,
            name=name,
            role=role.label,
            token_hash=hash_secret(secret),
            created_by=actor.user,
            now_ms=now,
            expires_at=None if expires_days is None else now + expires_days * DAY_MS,
        )
        note = AuditNote(
            "create_token",
            actor,
            source="auth",
            detail={"name": name, "role": role.label, "expires_at": record.expires_at},
        )
        await store.audit.record_in(tx.conn, [note], now_ms=now)
    return CreatedToken(secret, record)


async def revoke_token(store: Store, clock: Clock, *, name: str, actor: Actor) -> TokenRecord:
    now = clock()
    async with transaction(store.db) as tx:
        record = await store.tokens.revoke_in(tx, name, now_ms=now)
        if record is None:
            raise NotFoundError(f"there is no token named {name!r} (or it is revoked already)")
        note = AuditNote("revoke_token", actor, source="auth", detail={"name": name, "role": record.role})
        await store.audit.record_in(tx.conn, [note], now_ms=now)
    return record
