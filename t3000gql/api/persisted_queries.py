"""Automatic persisted queries: the protocol of Apollo's persisted-query link (urql's persistedExchange speaks it
too), so a client can send a query's SHA-256 instead of its text, and send it by GET so that proxies can cache it.

    1. the client sends only `extensions.persistedQuery = {version: 1, sha256Hash}` (often as GET)
    2. a hash this server does not know: HTTP 200 with the error `PersistedQueryNotFound`
       (`extensions.code = PERSISTED_QUERY_NOT_FOUND`) and `Cache-Control: no-store`, so no proxy keeps the miss
    3. the client sends the text with the hash (by POST); the server checks that the hash is the text's SHA-256
       (a mismatch is HTTP 400 BAD_REQUEST, nothing runs), remembers the text and runs it
    4. later requests with the hash alone, POST or GET, run the remembered text

Texts are kept per process in a bounded LRU (API_PERSISTED_QUERY_CACHE_SIZE entries, 0 turns the protocol off:
the error is then `PersistedQueryNotSupported` and clients stop hashing); after a restart or on another process a
client simply sends the text once more. GET still runs queries only: a remembered mutation sent by GET is 405.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections import OrderedDict
from typing import Any, ClassVar

from cross_web import HTTPException
from strawberry.http import GraphQLRequestData

from t3000gql.errors import T3000Error

VERSION = 1
MAX_QUERY_CHARS = 100_000
"""Longer texts run but are not remembered: with the LRU's size this bounds the memory the texts may take."""
_SHA256 = re.compile(r"[0-9a-f]{64}")


class PersistedQueryError(T3000Error):
    """Answered as Apollo Server answers it: HTTP 200, the exact message clients look for, never cached."""

    status: ClassVar[int] = 200
    headers: ClassVar[dict[str, str]] = {"Cache-Control": "no-store"}


class PersistedQueryNotFound(PersistedQueryError):
    code = "PERSISTED_QUERY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class PersistedQueryNotSupported(PersistedQueryError):
    code = "PERSISTED_QUERY_NOT_SUPPORTED"

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotSupported")


def _requested_hash(persisted: Any) -> str:
    if not isinstance(persisted, dict):
        raise HTTPException(400, "extensions.persistedQuery must be an object {version: 1, sha256Hash: ...}")
    if persisted.get("version") != VERSION:
        raise HTTPException(
            400, f"extensions.persistedQuery.version must be {VERSION}, not {persisted.get('version')!r}"
        )
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256.lower()):
        raise HTTPException(400, "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits")
    return sha256.lower()


class PersistedQueries:
    """The remembered texts by hash, least recently used first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._texts: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._texts)

    def resolve(self, request: GraphQLRequestData) -> GraphQLRequestData:
        """The request with its query text: as given (checked against its hash, then remembered), or the one
        remembered for its hash. A request without `persistedQuery` comes back as it is."""
        persisted = (request.extensions or {}).get("persistedQuery")
        if persisted is None:
            return request
        sha256 = _requested_hash(persisted)
        if request.query is None:
            if self.size == 0:
                raise PersistedQueryNotSupported
            text = self._texts.get(sha256)
            if text is None:
                raise PersistedQueryNotFound
            self._texts.move_to_end(sha256)
            return dataclasses.replace(request, query=text)
        actual = hashlib.sha256(request.query.encode()).hexdigest()
        if actual != sha256:
            raise HTTPException(
                400,
                f"provided sha does not match query: the query's SHA-256 is {actual}, the request says {sha256}",
            )
        self._remember(sha256, request.query)
        return request

    def _remember(self, sha256: str, text: str) -> None:
        if self.size == 0 or len(text) > MAX_QUERY_CHARS:
            return
        self._texts[sha256] = text
        self._texts.move_to_end(sha256)
        while len(self._texts) > self.size:
            self._texts.popitem(last=False)
