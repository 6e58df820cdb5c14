"""Health: seed 000's SystemHealthMetrics measured in this process, judged against their thresholds, alerts on
each change of state, readiness, and the histograms /metrics shows.

- `service.py`: `HealthService`, what Services starts (a periodic check; `report()`, `readiness()`, `alerts()`,
  `contribute()` for a part of the server that has something of its own to show, such as a write backlog).
- `measure.py`: where each metric comes from; `window.py`: rates and averages over HEALTH_WINDOW_SECONDS.
- `histograms.py`: cheap bucket counters on the hot paths, written out by prometheus-client at scrape time.
- `requests.py`: API requests as the HTTP edge reports them.
"""

from t3000gql.health.service import Component, HealthReport, HealthService, Readiness

__all__ = ["Component", "HealthReport", "HealthService", "Readiness"]
