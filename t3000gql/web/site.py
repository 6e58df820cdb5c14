"""The web routes: the trend viewer at /, GraphiQL (rendered for browsers by the /graphql view), the static
files under /static and `/export.csv`. Each handler is a few lines over `Assets` or the CSV export."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route

from t3000gql.config import Settings
from t3000gql.errors import ValidationError
from t3000gql.services import Services
from t3000gql.web.assets import NOT_BUILT, STATIC_PATH, Assets, render
from t3000gql.web.export_csv import prepare_export
from t3000gql.web.export_params import parse_export_query

GRAPHQL_PATH = "/graphql"


class WebSite:
    def __init__(self, settings: Settings, assets: Assets | None = None) -> None:
        self.settings = settings
        self.assets = assets or Assets()

    @property
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.trend_page, methods=["GET"]),
            Route("/export.csv", self.export_csv, methods=["GET"]),
            Mount(STATIC_PATH, app=self.assets.static_app(), name="static"),
        ]

    def _page(self, request: Request, name: str) -> Response:
        template = self.assets.template(name)
        if template is None:
            return HTMLResponse(NOT_BUILT, status_code=503)
        services: Services = request.app.state.services
        site = {
            "timezone": self.settings.timezone,
            "cacheDurationSeconds": self.settings.cache_duration_seconds,
            "serverNowMs": services.clock(),
            "graphqlPath": GRAPHQL_PATH,
        }
        return HTMLResponse(render(template, site), headers={"Cache-Control": "no-cache"})

    async def trend_page(self, request: Request) -> Response:
        return self._page(request, "trend")

    async def graphiql_page(self, request: Request) -> Response:
        """What /graphql answers a browser (the view calls it instead of strawberry's CDN page)."""
        return self._page(request, "graphiql")

    async def export_csv(self, request: Request) -> Response:
        services: Services = request.app.state.services
        try:
            query = parse_export_query(request.query_params.multi_items(), self.settings.timezone)
            export = await prepare_export(services.store, query, self.settings.timezone)
        except ValidationError as exc:
            return JSONResponse(bad_parameter(exc), status_code=400)
        return StreamingResponse(
            export.chunks(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="t3000gql-export.csv"'},
        )


def bad_parameter(error: ValidationError) -> dict[str, object]:
    """The API's error shape (as GraphQL request errors), with the parameter and value that are wrong."""
    message = f"parameter {error.field!r} {error.reason}" if error.field else str(error)
    if error.index is not None:
        message = f"parameter {error.field!r}, item {error.index}: {error.reason}"
    extensions: dict[str, object] = {"code": error.code, "parameter": error.field}
    if error.value is not None:
        extensions["value"] = error.value if isinstance(error.value, str | int | float) else str(error.value)
    return {"errors": [{"message": message, "extensions": extensions}]}
