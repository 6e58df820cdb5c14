"""History requests as the API serves them: checked arguments, raw or bucketed reads, the sample limit.

A request never returns more than API_MAX_HISTORY_SAMPLES samples. Without a `limit` a range that holds more is
refused (with a suggested `intervalSeconds`) rather than cut silently; with a `limit` the series is cut there
and says where to continue (`nextStart`). The read asks for one sample more than allowed instead of counting
first, so a refused request costs no more than an accepted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from t3000gql.domain.samples import Aggregate
from t3000gql.errors import ValidationError
from t3000gql.storage.history import Series
from t3000gql.storage.store import Store

# Bucket widths offered when a request is too large: the chart time bases T3000's frontends use.
_SUGGESTED_INTERVALS = (60, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 4 * 86400, 7 * 86400)
_TARGET_BUCKETS = 10_000


@dataclass(frozen=True, slots=True)
class HistoryArgs:
    """One history request for any number of points; hashable, so it groups DataLoader keys."""

    start_ms: int
    end_ms: int
    interval_seconds: int | None = None
    aggregate: Aggregate | None = None
    trend_log_id: int | None = None
    limit: int | None = None

    @classmethod
    def checked(
        cls,
        start_ms: int,
        end_ms: int,
        *,
        interval_seconds: int | None,
        aggregate: Aggregate | None,
        trend_log_id: int | None,
        limit: int | None,
        max_samples: int,
        names: tuple[str, str] = ("start", "end"),
    ) -> HistoryArgs:
        """Arguments as the caller gave them, or a ValidationError naming the argument to fix."""
        if end_ms <= start_ms:
            raise ValidationError(f"must be later than {names[0]}", field=names[1], value=end_ms)
        if interval_seconds is not None and interval_seconds < 1:
            raise ValidationError(
                "must be a whole number of seconds >= 1", field="intervalSeconds", value=interval_seconds
            )
        if aggregate is not None and interval_seconds is None:
            raise ValidationError(
                "needs intervalSeconds: the width of the buckets to aggregate",
                field="aggregate",
                value=aggregate.name,
            )
        if limit is not None and not 1 <= limit <= max_samples:
            raise ValidationError(
                f"must be from 1 to {max_samples} (API_MAX_HISTORY_SAMPLES)", field="limit", value=limit
            )
        if interval_seconds is not None and aggregate is None:
            aggregate = Aggregate.AVG
        return cls(start_ms, end_ms, interval_seconds, aggregate, trend_log_id, limit)


async def read_history(
    store: Store, point_ids: Sequence[int], args: HistoryArgs, *, max_samples: int
) -> dict[int, Series | ValidationError]:
    """Each point's series, or the error that refuses it (too many samples without a limit)."""
    cap = args.limit or max_samples
    result: dict[int, Series | ValidationError] = {}
    if args.interval_seconds is None:
        raw = await store.history.read_range(
            point_ids, args.start_ms, args.end_ms, limit=cap, trend_log_id=args.trend_log_id
        )
        for point_id, series in raw.items():
            result[point_id] = too_many(args, max_samples) if series.truncated and args.limit is None else series
        return result
    assert args.aggregate is not None
    buckets = await store.history.aggregate(
        point_ids,
        args.start_ms,
        args.end_ms,
        args.interval_seconds,
        [args.aggregate],
        trend_log_id=args.trend_log_id,
    )
    for point_id, bucketed in buckets.items():
        starts, values = bucketed.bucket_starts, bucketed.values[args.aggregate]
        if len(starts) <= cap:
            result[point_id] = Series(starts, values)
        elif args.limit is None:
            result[point_id] = too_many(args, max_samples)
        else:
            result[point_id] = Series(starts[:cap], values[:cap], truncated=True, next_start=starts[cap])
    return result


def too_many(args: HistoryArgs, max_samples: int, *, scope: str = "per point") -> ValidationError:
    seconds = (args.end_ms - args.start_ms) / 1000
    wanted = seconds / _TARGET_BUCKETS
    suggestion = next((s for s in _SUGGESTED_INTERVALS if s >= wanted), _SUGGESTED_INTERVALS[-1])
    if args.interval_seconds is not None:
        suggestion = max(suggestion, args.interval_seconds * 2)
    what = "buckets" if args.interval_seconds is not None else "samples"
    return ValidationError(
        f"the range holds more than {max_samples} {what} {scope}, more than one request may return "
        f"(API_MAX_HISTORY_SAMPLES); ask for buckets with a larger intervalSeconds (e.g. intervalSeconds: "
        f"{suggestion}), a shorter range, or pages of `limit` samples continued from `nextStart`",
        field="intervalSeconds",
        value=args.interval_seconds,
    )
