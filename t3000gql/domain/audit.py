"""Who asks for a change and from where: what every audit entry records besides the change itself.

The API makes an `Actor` from the caller's identity (a token's name, or `anonymous` when no token is needed)
and the client's address; work the server does on its own (the demo site, an import) is `SYSTEM`. Lower
layers pass it through to the audit trail without knowing about tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DONE: Final = "done"
PENDING: Final = "pending"
"""A command sent to a device whose outcome is not known yet (or never became known: the server stopped)."""
FAILED: Final = "failed"
OUTCOMES: Final = (DONE, PENDING, FAILED)


@dataclass(frozen=True, slots=True)
class Actor:
    user: str
    """The token's name, `anonymous`, `system` or `cli`."""
    client: str | None = None
    """Where the request came from: the client's address (as the proxy headers give it), or `cli`."""


SYSTEM: Final = Actor("system")
