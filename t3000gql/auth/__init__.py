"""Access control: who is asking (API tokens), what each role may do, and the decision at the edge.

The interface every API edge (GraphQL in api/, REST in rest/) calls, with `services.auth` the running
`Authenticator`:

    identity = services.auth.authenticate(request.headers.get("authorization"))  # Unauthenticated -> 401
    services.auth.admit(identity)                      # LimitExceeded (RATE_LIMITED) -> 429; counted by role
    require(identity, Role.OPERATOR, what="...")       # Forbidden -> FORBIDDEN; nothing done
    actor = Actor(identity.name, client_address)       # hand to the registry, the write path, commands (audit)

roles.py          Role (viewer < ingest < operator < admin), Identity, ANONYMOUS
policy.py         allows / require: the decision
tokens.py         making, hashing and parsing tokens; create and revoke (audited)
authenticator.py  tokens in memory, kept in step with the database; sockets of revoked tokens closed
rate_limit.py     the per-token rate limit and the counts by role
"""

from __future__ import annotations

from t3000gql.auth.authenticator import Authenticator
from t3000gql.auth.policy import allows, require
from t3000gql.auth.roles import ANONYMOUS, Identity, Role

__all__ = ["ANONYMOUS", "Authenticator", "Identity", "Role", "allows", "require"]
