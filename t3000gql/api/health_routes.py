"""/health, /health/live and /health/ready: open to every caller (load balancers and orchestrators have no token).

- `/health/live`: 200 while the process serves requests at all (nothing is asked of the database).
- `/health/ready`: 200 while this process can do its work, else 503 with the reasons: the database cannot take a
  write within HEALTH_WRITE_PROBE_SECONDS, the disk is critical, a migration is pending, or a component of
  health says so (t3000gql/health/service.py).
- `/health`: the whole report as JSON; its HTTP status follows readiness (200 or 503). The devices' and
  collection's last errors are shown to admins only.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from t3000gql.api.authentication import may_see_details
from t3000gql.services import Services


async def health(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    details = may_see_details(services, request.headers.get("authorization"))
    report = await services.health(details=details)
    return JSONResponse(report, status_code=200 if report["ready"] else 503)


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"status": "live"})


async def ready(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    readiness = await services.readiness()
    return JSONResponse(
        {"ready": readiness.ready, "reasons": list(readiness.reasons)},
        status_code=200 if readiness.ready else 503,
    )


def health_routes() -> list[Route]:
    return [Route("/health", health), Route("/health/live", live), Route("/health/ready", ready)]
