"""One broadcaster connection with its channel subscriptions, kept alive.

broadcaster gives no sign when its broker connection drops: with Redis, a killed pub/sub connection ends a
background task of the backend and the subscription simply stays silent forever. So the connection proves
itself: it publishes a small probe on each channel and waits for the probe to come back, once when opening
(which also closes the gap between SUBSCRIBE and the first publish) and then every heartbeat, or at once when a
publish fails. When a probe does not come back it reconnects with backoff, subscribing anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from broadcaster import Broadcast

from t3000gql.compat.broadcaster import disconnect_backend
from t3000gql.errors import LiveBusError
from t3000gql.lifecycle import cancel_and_wait
from t3000gql.live.events import Message, decode, encode_probe

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
"""How often an open connection proves itself with a probe."""
PROBE_TIMEOUT_SECONDS = 5.0
"""How long a probe may take to come back before the connection counts as lost."""
PROBE_RESEND_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 5.0


class BusConnection:
    """Open it with `await open()` (raises LiveBusError when the broker cannot be reached), then it stays up by
    itself until `close()`. Each decoded message of a channel goes to that channel's handler."""

    def __init__(
        self,
        url: str,
        handlers: Mapping[str, Callable[[Message], None]],
        *,
        origin: str,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        probe_timeout_seconds: float = PROBE_TIMEOUT_SECONDS,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.backend = urlsplit(url).scheme
        self._handlers = dict(handlers)
        self._origin = origin
        self._heartbeat = heartbeat_seconds
        self._probe_timeout = probe_timeout_seconds
        self._on_ready = on_ready
        """Called after each successful check or reconnection: a publisher that stopped on an error retries."""
        self._broadcast: Broadcast | None = None
        self._listeners: list[asyncio.Task[None]] = []
        self._opened = contextlib.AsyncExitStack()
        self._check_now = asyncio.Event()
        self._probe_number = 0
        self._probe_seen: dict[str, int] = {}
        self._probe_arrived = asyncio.Event()
        self.connected = False
        self.reconnects = 0
        self.bad_messages = 0

    async def open(self) -> None:
        async with contextlib.AsyncExitStack() as opened:
            await self._connect()
            opened.push_async_callback(self._disconnect)
            watchdog = asyncio.create_task(self._watch(), name="live bus watchdog")
            opened.push_async_callback(cancel_and_wait, watchdog)
            self._opened = opened.pop_all()

    async def close(self) -> None:
        """Stops the watchdog, then disconnects (nothing happens when it is not open)."""
        opened, self._opened = self._opened, contextlib.AsyncExitStack()
        await opened.aclose()

    async def publish(self, channel: str, message: bytes) -> None:
        """Publishes or raises LiveBusError (and has the connection checked at once)."""
        if self._broadcast is None or not self.connected:
            raise LiveBusError(f"the live bus at {safe_url(self.url)} is not connected")
        try:
            await self._broadcast.publish(channel, message)
        except Exception as exc:
            self._check_now.set()
            raise LiveBusError(f"the live bus at {safe_url(self.url)} refused a publish: {exc}") from exc

    # -- connecting -----------------------------------------------------------------------------------------------

    async def _connect(self) -> None:
        broadcast = Broadcast(self.url)
        try:
            await broadcast.connect()
        except Exception as exc:
            await _close_quietly(broadcast)
            raise LiveBusError(f"cannot connect the live bus to {safe_url(self.url)}: {exc}") from exc
        async with contextlib.AsyncExitStack() as connecting:
            self._broadcast = broadcast
            connecting.push_async_callback(self._disconnect)
            self._listeners = [
                asyncio.create_task(self._listen(broadcast, channel, handle), name=f"live bus {channel}")
                for channel, handle in self._handlers.items()
            ]
            await self._prove(broadcast)
            connecting.pop_all()
        self.connected = True

    async def _disconnect(self) -> None:
        self.connected = False
        listeners, self._listeners = self._listeners, []
        await cancel_and_wait(*listeners)
        if self._broadcast is not None:
            await _close_quietly(self._broadcast)
            self._broadcast = None

    async def _prove(self, broadcast: Broadcast) -> None:
        """Publishes a probe on every channel (again every few ms) until each has come back to this process."""
        self._probe_number += 1
        number = self._probe_number
        try:
            async with asyncio.timeout(self._probe_timeout):
                while any(self._probe_seen.get(channel, 0) < number for channel in self._handlers):
                    for task in self._listeners:
                        if task.done():  # a subscription that failed: its error says why
                            task.result()
                    self._probe_arrived.clear()
                    for channel in self._handlers:
                        if self._probe_seen.get(channel, 0) < number:
                            await broadcast.publish(channel, encode_probe(self._origin, number))
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(PROBE_RESEND_SECONDS):
                            await self._probe_arrived.wait()
        except TimeoutError:
            raise LiveBusError(
                f"the live bus at {safe_url(self.url)} did not return a message within {self._probe_timeout} s"
            ) from None
        except LiveBusError:
            raise
        except Exception as exc:
            raise LiveBusError(f"the live bus at {safe_url(self.url)} failed: {exc}") from exc

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat):
                    await self._check_now.wait()
            self._check_now.clear()
            broadcast = self._broadcast
            try:
                if broadcast is None:
                    raise LiveBusError("not connected")
                await self._prove(broadcast)
            except LiveBusError as exc:
                log.warning("the live bus lost its connection (%s); reconnecting", exc)
                await self._reconnect()
            if self._on_ready is not None:
                self._on_ready()

    async def _reconnect(self) -> None:
        self.connected = False
        backoff = 0.1
        while True:
            await self._disconnect()
            try:
                await self._connect()
                break
            except LiveBusError as exc:
                log.warning("the live bus cannot reconnect yet (%s); next try in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        self.reconnects += 1
        log.info("the live bus reconnected to %s", safe_url(self.url))

    # -- receiving ------------------------------------------------------------------------------------------------

    async def _listen(self, broadcast: Broadcast, channel: str, handle: Callable[[Message], None]) -> None:
        async with broadcast.subscribe(channel) as subscription:
            while True:
                event = await subscription.get()
                try:
                    message = decode(event.message)
                except (ValueError, KeyError, TypeError):
                    self.bad_messages += 1
                    log.warning("ignored a malformed live bus message on %s", channel)
                    continue
                if message.probe is not None:
                    if message.origin == self._origin:
                        self._probe_seen[channel] = max(self._probe_seen.get(channel, 0), message.probe)
                        self._probe_arrived.set()
                    continue
                try:
                    handle(message)
                except Exception:
                    log.exception("handling a live bus message on %s failed", channel)


async def _close_quietly(broadcast: Broadcast) -> None:
    """Disconnects, whatever state a failed connection left it in (broadcaster raises the listener's error)."""
    try:
        await broadcast.disconnect()
    except AttributeError:  # connect failed before its listener task existed: close the backend alone
        with contextlib.suppress(Exception):
            await disconnect_backend(broadcast)
    except Exception:
        log.debug("closing a broken live bus connection raised", exc_info=True)


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()
    return url
