"""The built pages and their static files (`static/`, written by scripts/build_web.sh).

Files with a content hash in their name never change, so browsers may keep them for a year; the rest
(workers, examples.json) are revalidated. When the pages were never built, every page answers 503 with the
command that builds them instead of a blank screen.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/static"
SITE_MARKER = "__T3000GQL_SITE__"
NOT_BUILT = (
    "<!doctype html><meta charset=utf-8><title>t3000gql: pages not built</title>"
    "<h1>The web pages are not built</h1><p>Run <code>scripts/build_web.sh</code> (it needs Node.js and npm; "
    "<code>scripts/serve.sh</code> runs it for you), then reload this page.</p>"
)
_HASHED = re.compile(r"-[A-Z0-9]{8}\.(?:js|css)$|^/assets/")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class Assets:
    """The pages' HTML templates and the built manifest (sizes per page). A template is read on each request
    (2 KB): after a rebuild the page names the new files without a restart."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.directory = directory

    @property
    def built(self) -> bool:
        return (self.directory / "manifest.json").is_file()

    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.directory / "manifest.json").read_text())
        return data

    def template(self, page: str) -> str | None:
        """The page's HTML with the marker where the site's settings go; None when the pages are not built."""
        try:
            return (self.directory / f"{page}.html").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def static_app(self) -> ASGIApp:
        files = StaticFiles(directory=self.directory, check_dir=False)
        return GZipMiddleware(_CacheHeaders(files), minimum_size=1024)


def render(template: str, site: dict[str, Any]) -> str:
    """The template with the site's settings as JSON in its <script type="application/json"> element."""
    data = json.dumps(site, separators=(",", ":")).replace("<", "\\u003c")
    return template.replace(SITE_MARKER, data, 1)


class _CacheHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        relative = path[len(STATIC_PATH) :] if path.startswith(STATIC_PATH) else path
        policy = IMMUTABLE if _HASHED.search(relative) else REVALIDATE

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"cache-control", policy.encode())]
            await send(message)

        await self.app(scope, receive, send_with_policy)
