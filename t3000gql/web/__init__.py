"""The site in a browser: GraphiQL at /graphql, the trend viewer at /, `/export.csv`, and their static files.

The pages are built from npm packages pinned in `frontend/package-lock.json` by `scripts/build_web.sh` into
`static/` (ignored by git, shipped in the wheel when present). Everything a page loads comes from this server,
so the pages work on a building network cut off from the internet.
"""

from __future__ import annotations

from t3000gql.web.site import WebSite

__all__ = ["WebSite"]
