"""Who is asking: bearer tokens checked in memory, kept in step with the database, and their sockets watched.

Every valid token is held in memory by the hash of its secret, so checking a request is a SHA-256 and a dict
lookup: never a database read per request. The tokens are read again when they change: at once after a
change made through this process, and within AUTH_TOKEN_REFRESH_SECONDS after one made by another process
sharing the database (a `t3000gql token` command, another server), which the refresh loop notices by one
indexed read of the tokens' change counter. The same loop closes the WebSockets of tokens that were revoked or
have expired (expiry is measured on the server's clock), and records when tokens were last used, in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable

from t3000gql.auth.rate_limit import RateLimiter
from t3000gql.auth.roles import ANONYMOUS, Identity, Role
from t3000gql.auth.tokens import CreatedToken, bearer_token, create_token, hash_secret, revoke_token
from t3000gql.config import Settings
from t3000gql.domain.audit import Actor
from t3000gql.domain.timeutil import Clock, to_datetime
from t3000gql.errors import ConfigError, Unauthenticated
from t3000gql.storage.store import Store
from t3000gql.storage.tokens import TokenRecord

log = logging.getLogger(__name__)

LAST_USED_FLUSH_MS = 60_000
"""How often the time tokens were last used is written (a write per request would cost more than the request)."""
Revoked = Callable[[str], None]
"""Told why (revoked, expired) when a watched token stops being valid; must not block."""


def check_can_start(settings: Settings, usable: list[TokenRecord]) -> None:
    """ConfigError (naming the command that makes the first token) when a token is required and none is usable."""
    if not settings.requires_auth or usable:
        return
    value = (
        "true"
        if settings.auth_required == "true"
        else f"(empty, so true: HOST={settings.host} is not a loopback address)"
    )
    raise ConfigError(
        "AUTH_REQUIRED",
        value,
        "false, or an API token to exist (none is, or all expired): create the first with "
        "`t3000gql token create --name admin --role admin`",
    )


class Authenticator:
    def __init__(self, store: Store, settings: Settings, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.required = settings.requires_auth
        self.refresh_seconds = settings.auth_token_refresh_seconds
        self.limiter = RateLimiter(settings.api_rate_limit_per_minute, clock)
        self.unauthenticated = 0
        """Requests refused with UNAUTHENTICATED since start."""
        self.settings = settings
        self._by_hash: dict[str, TokenRecord] = {}
        self._by_id: dict[int, TokenRecord] = {}
        self._version = -1
        self._used: dict[int, int] = {}
        self._flushed_at = clock()
        self._watchers: dict[int, dict[int, Revoked]] = {}
        self._watch_ids = itertools.count()
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle --------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Loads the tokens; refuses to start when a token is required and none is usable."""
        await self.reload()
        check_can_start(self.settings, self.usable_tokens())
        self._task = asyncio.create_task(self._refresh_forever(), name="token refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._flush_used()

    def usable_tokens(self) -> list[TokenRecord]:
        now = self.clock()
        return [record for record in self._by_hash.values() if record.valid_at(now)]

    # --- checking requests ------------------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Identity:
        """The identity of a request's Authorization header. Without one: anonymous (full rights) while no
        token is required, else Unauthenticated. A token that is malformed, unknown, revoked or expired is
        refused either way."""
        if not authorization:
            if self.required:
                self.unauthenticated += 1
                raise Unauthenticated(
                    "this server needs an API token: send `Authorization: Bearer TOKEN` (an admin creates one "
                    "with `t3000gql token create`)"
                )
            return ANONYMOUS
        try:
            secret = bearer_token(authorization)
            record = self._by_hash.get(hash_secret(secret))
            if record is None:
                raise Unauthenticated("the token is not valid: unknown, or revoked")
            now = self.clock()
            if record.expires_at is not None and now >= record.expires_at:
                raise Unauthenticated(
                    f"the token {record.name!r} expired at {to_datetime(record.expires_at).isoformat()}"
                )
        except Unauthenticated:
            self.unauthenticated += 1
            raise
        self._used[record.id] = now
        return Identity(record.name, Role.parse(record.role), record.id, record.expires_at)

    def admit(self, identity: Identity) -> None:
        """Counts one request or WebSocket operation; RATE_LIMITED past API_RATE_LIMIT_PER_MINUTE."""
        self.limiter.admit(identity)

    def invalid_reason(self, identity: Identity) -> str | None:
        """Why a token that was valid no longer is (revoked, expired); None while it is (and for anonymous)."""
        if identity.token_id is None:
            return None
        record = self._by_id.get(identity.token_id)
        if record is None:
            return f"the token {identity.name!r} was revoked"
        if record.expires_at is not None and self.clock() >= record.expires_at:
            return f"the token {identity.name!r} expired"
        return None

    def watch(self, identity: Identity, on_invalid: Revoked) -> Callable[[], None]:
        """Calls `on_invalid(reason)` once the token is revoked or expires (a WebSocket closes itself then).
        Returns the function that stops watching."""
        if identity.token_id is None:
            return lambda: None
        token_id = identity.token_id
        watch_id = next(self._watch_ids)
        self._watchers.setdefault(token_id, {})[watch_id] = on_invalid

        def unwatch() -> None:
            watchers = self._watchers.get(token_id)
            if watchers is not None:
                watchers.pop(watch_id, None)
                if not watchers:
                    del self._watchers[token_id]

        return unwatch

    @property
    def watched(self) -> int:
        """Open WebSockets authenticated by a token."""
        return sum(len(watchers) for watchers in self._watchers.values())

    # --- managing tokens --------------------------------------------------------------------------------------

    async def create(self, *, name: str, role: Role, expires_days: int | None, actor: Actor) -> CreatedToken:
        created = await create_token(
            self.store, self.clock, name=name, role=role, expires_days=expires_days, actor=actor
        )
        await self.reload()
        return created

    async def revoke(self, *, name: str, actor: Actor) -> TokenRecord:
        """Revokes the token; its open WebSockets are closed at once."""
        record = await revoke_token(self.store, self.clock, name=name, actor=actor)
        await self.reload()
        return record

    async def reload(self) -> None:
        """Reads the tokens again, then tells the watchers of tokens no longer valid."""
        version = await self.store.tokens.version()
        records = await self.store.tokens.list()
        self._by_hash = {record.token_hash: record for record in records}
        self._by_id = {record.id: record for record in records}
        self._version = version
        self._sweep()

    def _sweep(self) -> None:
        now = self.clock()
        valid = {record.id: record for record in self._by_hash.values() if record.valid_at(now)}
        for token_id in [token_id for token_id in self._watchers if token_id not in valid]:
            reason = "expired" if token_id in self._by_id else "revoked"
            self.limiter.forget(token_id)
            for on_invalid in list(self._watchers.pop(token_id, {}).values()):
                try:
                    on_invalid(f"the token was {reason}")
                except Exception:
                    log.exception("closing a socket of a %s token failed", reason)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                if await self.store.tokens.version() != self._version:
                    await self.reload()
                else:
                    self._sweep()
                if self.clock() - self._flushed_at >= LAST_USED_FLUSH_MS:
                    await self._flush_used()
            except Exception:
                log.exception("refreshing the API tokens failed; trying again in %s s", self.refresh_seconds)

    async def _flush_used(self) -> None:
        used, self._used = self._used, {}
        self._flushed_at = self.clock()
        await self.store.tokens.mark_used(used)
