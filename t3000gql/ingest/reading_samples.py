"""Readings into the samples the write path takes, and the quick check for energy counters going backwards: the
station service's per-value work, which a log import does ten million times (so it is done with C-level
iterators where the common case allows; see docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import chain, islice, repeat
from operator import attrgetter, itemgetter, lt
from typing import TYPE_CHECKING

from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import Quality, Sample
from t3000gql.domain.stations import CHANNEL_COUNT, ENERGY_INDEXES, channel_refs

if TYPE_CHECKING:
    from t3000gql.ingest.stations import PreparedReading

_REFS: dict[int, tuple[PointRef, ...]] = {}


def station_refs(device_id: int) -> tuple[PointRef, ...]:
    """Channel points of a station, built once per station (a log import asks millions of times)."""
    refs = _REFS.get(device_id)
    if refs is None:
        refs = _REFS[device_id] = channel_refs(device_id)
    return refs


def any_backwards(items: Sequence[PreparedReading], last: dict[int, float | None]) -> bool:
    """False when no energy counter of these readings (one station's, in time order) is below the one before:
    the common case, decided with C-level map/zip instead of a Python loop per value. True also when a
    counter is missing somewhere (the careful loop then decides)."""
    values = list(map(attrgetter("values"), items))
    for pos in ENERGY_INDEXES:
        column = list(map(itemgetter(pos), values))
        before = last[pos]
        if before is not None:
            column.insert(0, before)
        if None in column or any(map(lt, islice(column, 1, None), column)):
            return True
    return False


def samples_of(
    prepared: Sequence[PreparedReading], flags_of: Mapping[int, int]
) -> tuple[list[Sample], Callable[[int], int]]:
    """The samples of the readings, and `owner(i)`: the position in `prepared` of the reading samples[i] comes
    from. Built as the tuples they are (Sample is a NamedTuple, its Python-level __new__ skipped): a log import
    builds ten million of them. When every reading has all its channels the samples are built by C-level
    iterators, ten per reading in channel order, and a flagged reading's samples are fixed up after."""
    new_sample = tuple.__new__
    good, uncertain = Quality.GOOD, Quality.UNCERTAIN
    if not any(None in item.values for item in prepared):
        stamps = chain.from_iterable(map(repeat, map(attrgetter("ts_ms"), prepared), repeat(CHANNEL_COUNT)))
        refs = chain.from_iterable(station_refs(item.station.device_id) for item in prepared)
        values = chain.from_iterable(map(attrgetter("values"), prepared))
        rows = zip(refs, stamps, values, repeat(None), repeat(good))
        samples: list[Sample] = list(map(new_sample, repeat(Sample), rows))
        for position, item in enumerate(prepared):
            flags = flags_of.get(item.at, 0)
            for channel in range(CHANNEL_COUNT) if flags else ():
                if flags >> channel & 1:
                    i = position * CHANNEL_COUNT + channel
                    samples[i] = samples[i]._replace(quality=uncertain)
        return samples, lambda i: i // CHANNEL_COUNT
    samples = []
    owner: list[int] = []
    for position, item in enumerate(prepared):
        flags = flags_of.get(item.at, 0)
        before = len(samples)
        samples.extend(
            new_sample(Sample, (ref, item.ts_ms, value, None, uncertain if flags >> channel & 1 else good))
            for channel, (ref, value) in enumerate(
                zip(station_refs(item.station.device_id), item.values, strict=True)
            )
            if value is not None
        )
        owner.extend([position] * (len(samples) - before))
    return samples, owner.__getitem__
