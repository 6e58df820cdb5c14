"""Data quality of a time series: gaps, flatlines, spikes, values out of range, counters going backwards, and
each sample's quality (GOOD, UNCERTAIN, BAD) derived from them. Pure functions over two parallel lists
(epoch-ms timestamps, values); nothing here reads or changes what is stored.

The rules (docs/quality.md says the same for people):

- **Gap**: a stretch longer than `min_gap_ms` with no sample. The edges of the range count as samples, so a
  range that starts or ends inside a stretch without samples reports it cut at the edge.
- **Flatline**: consecutive samples with exactly the same value spanning more than `flatline_ms` (first to
  last of them). Not looked for on digital points (an off switch is flat for weeks) or when `flatline_ms` is 0.
- **Spike**: at most `SPIKE_MAX_SAMPLES` consecutive samples that all lie more than `spike_factor` times the recent
  spread away from the sample before them, followed by a sample back within that distance. The recent spread is
  the mean absolute change between neighbours over the last `spike_window` changes (spikes left out); it needs
  `SPIKE_MIN_HISTORY` changes first, and a spread of 0 (a flat stretch) finds no spike. A step that stays is not
  a spike. Not looked for on digital points.
- **Out of range**: a value below the point's minimum or above its maximum (where configured), or not finite.
- **Counter backwards**: on a counter point, a value lower than the one before it (a reset, a swapped meter).

Each sample's quality: BAD when out of range; else UNCERTAIN when it is one of a spike's samples, one of a
flatline's samples, or a counter value lower than the one before; else GOOD. A quality stored with the sample
(ingest flags a counter going backwards, for example) is kept when it is worse.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, islice, pairwise
from operator import ne

from t3000gql.domain.samples import Aggregate, Quality

SPIKE_MAX_SAMPLES = 3
"""The longest excursion that counts as a spike; a longer one is a change of level."""
SPIKE_MIN_HISTORY = 5
"""Changes between neighbours needed before the spread means anything."""
VALUE_AGGREGATES = frozenset({Aggregate.AVG, Aggregate.MIN, Aggregate.MAX, Aggregate.FIRST, Aggregate.LAST})
"""Aggregates whose bucket value is a value of the point (in its units and range); SUM and COUNT are not."""


class FindingKind(enum.Enum):
    GAP = "gap"
    FLATLINE = "flatline"
    SPIKE = "spike"
    OUT_OF_RANGE = "out_of_range"
    COUNTER_BACKWARDS = "counter_backwards"


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding over [start_ms, end_ms]; `first`..`last` are the indexes of the samples it marks (inclusive;
    both -1 for a gap, which has no samples)."""

    kind: FindingKind
    start_ms: int
    end_ms: int
    first: int = -1
    last: int = -1

    @property
    def samples(self) -> int:
        return 0 if self.first < 0 else self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class QualityRules:
    """What the detectors need to know about one point, and the site's settings."""

    min_value: float | None = None
    max_value: float | None = None
    counter: bool = False
    digital: bool = False
    flatline_ms: int = 6 * 3600 * 1000
    spike_factor: float = 10.0
    spike_window: int = 30


COUNTER_UNITS = frozenset({"KWH", "GAL", "CF", "BTU", "counts"})
"""T3000 range units that accumulate (energy, volume, pulses): their points are counters."""


def is_counter(unit_symbol: str | None, options: Mapping[str, object]) -> bool:
    """A point counts up when its options say so (`"counter": true/false` wins) or its unit accumulates."""
    flag = options.get("counter")
    if isinstance(flag, bool):
        return flag
    return unit_symbol in COUNTER_UNITS


def find_gaps(timestamps: Sequence[int], start_ms: int, end_ms: int, min_gap_ms: int) -> list[Finding]:
    """Stretches of [start_ms, end_ms) longer than `min_gap_ms` without a sample, oldest first."""
    gaps: list[Finding] = []
    previous = start_ms
    for ts in timestamps:
        if ts - previous > min_gap_ms:
            gaps.append(Finding(FindingKind.GAP, previous, ts))
        previous = ts
    if end_ms - previous > min_gap_ms:
        gaps.append(Finding(FindingKind.GAP, previous, end_ms))
    return gaps


def find_out_of_range(
    timestamps: Sequence[int], values: Sequence[float], low: float | None, high: float | None
) -> list[Finding]:
    """Runs of consecutive samples outside [low, high] (either side may be open) or not finite."""
    low_bound = -math.inf if low is None else low
    high_bound = math.inf if high is None else high
    found: list[Finding] = []
    if not values or (low_bound <= min(values) and max(values) <= high_bound and math.isfinite(math.fsum(values))):
        return found  # the common case, decided at C speed
    first = -1
    for i, value in enumerate(values):
        outside = not low_bound <= value <= high_bound or not math.isfinite(value)
        if outside and first < 0:
            first = i
        elif not outside and first >= 0:
            found.append(Finding(FindingKind.OUT_OF_RANGE, timestamps[first], timestamps[i - 1], first, i - 1))
            first = -1
    if first >= 0:
        last = len(values) - 1
        found.append(Finding(FindingKind.OUT_OF_RANGE, timestamps[first], timestamps[last], first, last))
    return found


def find_flatlines(timestamps: Sequence[int], values: Sequence[float], flatline_ms: int) -> list[Finding]:
    """Runs of one unchanged value spanning more than `flatline_ms` (0: none are looked for)."""
    n = len(values)
    if flatline_ms <= 0 or n < 2:
        return []
    # where the value changes, found by map/compress in C; then one step per run, not per sample
    changed = compress(range(1, n), map(ne, islice(values, 1, None), values))
    edges = [0, *changed, n]
    return [
        Finding(FindingKind.FLATLINE, timestamps[first], timestamps[end - 1], first, end - 1)
        for first, end in pairwise(edges)
        if end - first > 1 and timestamps[end - 1] - timestamps[first] > flatline_ms
    ]


def find_spikes(timestamps: Sequence[int], values: Sequence[float], factor: float, window: int) -> list[Finding]:
    """Short excursions beyond `factor` times the recent spread that come back (see the module's rules)."""
    found: list[Finding] = []
    n = len(values)
    ring = [0.0] * window  # the last `window` changes between neighbours, spikes left out
    pos = count = moving = 0
    total = 0.0
    i = 1
    while i < n:
        before = values[i - 1]
        change = values[i] - before
        if change < 0:
            change = -change
        if moving and count >= SPIKE_MIN_HISTORY and change * count > factor * total:
            reach = factor * total / count
            last = i
            while last + 1 < n and last - i + 1 < SPIKE_MAX_SAMPLES and abs(values[last + 1] - before) > reach:
                last += 1
            back = last + 1
            if back < n and abs(values[back] - before) <= reach:
                found.append(Finding(FindingKind.SPIKE, timestamps[i], timestamps[last], i, last))
                i = back + 1  # the excursion's changes stay out of the spread
                continue
        dropped = ring[pos]
        moving += (change != 0) - (dropped != 0)
        total += change - dropped
        ring[pos] = change
        pos += 1
        if pos == window:
            pos = 0
            total = math.fsum(ring)  # no drift from adding and taking away, however long the series
        if count < window:
            count += 1
        i += 1
    return found


def find_counter_backwards(timestamps: Sequence[int], values: Sequence[float]) -> list[Finding]:
    """Each counter value lower than the one before it, from the sample before to the lower one."""
    return [
        Finding(FindingKind.COUNTER_BACKWARDS, timestamps[i - 1], timestamps[i], i, i)
        for i in range(1, len(values))
        if values[i] < values[i - 1]
    ]


def find_sample_issues(timestamps: Sequence[int], values: Sequence[float], rules: QualityRules) -> list[Finding]:
    """Every finding that marks samples (all but gaps), oldest first."""
    found = find_out_of_range(timestamps, values, rules.min_value, rules.max_value)
    if not rules.digital:
        found += find_flatlines(timestamps, values, rules.flatline_ms)
        found += find_spikes(timestamps, values, rules.spike_factor, rules.spike_window)
    if rules.counter:
        found += find_counter_backwards(timestamps, values)
    found.sort(key=lambda finding: (finding.start_ms, finding.end_ms))
    return found


def sample_qualities(
    count: int, findings: Sequence[Finding], stored: Mapping[int, int] | None = None
) -> list[Quality]:
    """Each sample's quality from the findings over them (`find_sample_issues`) and the quality stored with
    some of them (by index; only those not GOOD need be given)."""
    qualities = [Quality.GOOD] * count
    for finding in findings:
        if finding.first < 0:
            continue
        mark = Quality.BAD if finding.kind is FindingKind.OUT_OF_RANGE else Quality.UNCERTAIN
        for i in range(finding.first, finding.last + 1):
            if mark > qualities[i]:
                qualities[i] = mark
    for i, flag in (stored or {}).items():
        if 0 <= i < count and flag > qualities[i]:
            qualities[i] = Quality(min(flag, Quality.BAD))
    return qualities


def bucket_qualities(values: Sequence[float], aggregate: Aggregate, rules: QualityRules) -> list[Quality]:
    """A bucket's quality: BAD when its value is not finite, or (for an aggregate that is a value of the point:
    AVG, MIN, MAX, FIRST, LAST) outside the point's range; else GOOD. Spikes and flatlines are looked for in raw
    samples only."""
    bounded = aggregate in VALUE_AGGREGATES
    low = -math.inf if rules.min_value is None or not bounded else rules.min_value
    high = math.inf if rules.max_value is None or not bounded else rules.max_value
    return [Quality.GOOD if low <= value <= high and math.isfinite(value) else Quality.BAD for value in values]
