"""The typed context every resolver gets: the request, the services and this request's DataLoaders."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from t3000gql.api.limits import HistoryBudget
from t3000gql.api.loaders import Loaders
from t3000gql.auth import Identity
from t3000gql.config import DEFAULTS, Settings
from t3000gql.domain.audit import Actor
from t3000gql.domain.points import PointRef
from t3000gql.domain.timeutil import from_datetime
from t3000gql.errors import NotFoundError
from t3000gql.registry import Registry
from t3000gql.services import Services
from t3000gql.storage.records import Device, MonitoringPoint
from t3000gql.storage.store import Store

if TYPE_CHECKING:
    from t3000gql.api.shared_subscriptions import LiveShare


@dataclass
class Context:
    services: Services
    loaders: Loaders
    request: Request | WebSocket | None = None
    response: Response | WebSocket | None = None
    connection_params: dict[str, Any] | None = field(default=None)
    """The payload of a WebSocket `connection_init` (strawberry sets it)."""
    identity: Identity | None = None
    """Who the request acts as (api/authentication.py for HTTP, api/websocket.py for WebSockets); None only
    where no edge authenticated (then every field that needs a role is FORBIDDEN)."""
    history_budget: HistoryBudget = field(default_factory=lambda: HistoryBudget(DEFAULTS.api_max_history_samples))
    """Samples this request may still read, across all its history fields (API_MAX_HISTORY_SAMPLES)."""
    live_share: LiveShare | None = None
    """Set for a subscription that shares its work with others of the same key (api/shared_subscriptions.py)."""
    operation_type: str | None = None
    """"query", "mutation" or "subscription" once execution started (api/execution.py sets it): what the API
    request time is recorded under."""

    @classmethod
    def create(
        cls,
        services: Services,
        request: Request | WebSocket | None = None,
        response: Response | WebSocket | None = None,
        *,
        identity: Identity | None = None,
    ) -> Context:
        """A context with fresh loaders and a fresh history budget: one per HTTP request (and per WebSocket
        connection, whose budget is renewed for each operation)."""
        budget = HistoryBudget(services.settings.api_max_history_samples)
        return cls(
            services=services,
            loaders=Loaders(services, budget),
            request=request,
            response=response,
            identity=identity,
            history_budget=budget,
        )

    def for_shared_group(self) -> Context:
        """A context of its own for a group of shared subscriptions: the same identity, fresh loaders, no
        socket (the group outlives the subscriber that started it)."""
        return Context.create(self.services, identity=self.identity)

    def renew_history_budget(self) -> None:
        """A new operation on a WebSocket connection gets the whole budget (operations running at the same
        time on one socket share it)."""
        self.history_budget.renew()

    @property
    def client(self) -> str | None:
        """The client's address (uvicorn applies X-Forwarded-For from trusted proxies)."""
        client = self.request.client if self.request is not None else None
        return None if client is None else client.host

    @property
    def actor(self) -> Actor:
        """Who asks, for the audit trail: the token's name (or `anonymous`) and the client's address."""
        return Actor(self.identity.name if self.identity is not None else "unknown", self.client)

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def registry(self) -> Registry:
        """Every change to devices, points, trend logs and stations, and reads of them (t3000gql.registry)."""
        return self.services.registry

    @property
    def settings(self) -> Settings:
        return self.services.settings

    async def require_device(self, device_id: int) -> Device:
        """The device, or NOT_FOUND: for fields that answer about a device that must exist."""
        device = await self.loaders.device.load(device_id)
        if device is None:
            raise NotFoundError(f"device {device_id} does not exist")
        return device

    async def require_point(self, ref: PointRef) -> MonitoringPoint:
        point = await self.loaders.point_by_ref.load(ref)
        if point is None:
            raise NotFoundError(f"point {ref} does not exist")
        return point

    def now_ms(self) -> int:
        return self.services.clock()

    def epoch_ms(self, value: datetime) -> int:
        """Epoch ms of a `DateTime` argument; one without an offset is read in the site's TIMEZONE."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=zoneinfo.ZoneInfo(self.settings.timezone))
        return from_datetime(value)


Info: TypeAlias = strawberry.Info[Context]
