"""The data-quality detectors of t3000gql/domain/quality.py on crafted series: each rule at its edge."""

from __future__ import annotations

import math

import pytest

from t3000gql.domain.quality import (
    SPIKE_MAX_SAMPLES,
    Finding,
    FindingKind,
    QualityRules,
    bucket_qualities,
    find_counter_backwards,
    find_flatlines,
    find_gaps,
    find_out_of_range,
    find_sample_issues,
    find_spikes,
    is_counter,
    sample_qualities,
)
from t3000gql.domain.samples import Aggregate, Quality

MIN = 60_000


def minutes(count: int, start: int = 0) -> list[int]:
    return [start + i * MIN for i in range(count)]


def wave(count: int) -> list[float]:
    """A believable sensor: 20 degC with a small zig-zag (spread 0.2 between neighbours)."""
    return [20.0 + (0.2 if i % 2 else 0.0) for i in range(count)]


def spans(found: list[Finding]) -> list[tuple[FindingKind, int, int, int, int]]:
    return [(f.kind, f.start_ms, f.end_ms, f.first, f.last) for f in found]


class TestGaps:
    def test_a_stretch_longer_than_the_minimum_is_a_gap_and_one_as_long_is_not(self) -> None:
        stamps = [0, MIN, 2 * MIN, 4 * MIN, 7 * MIN, 8 * MIN]
        assert spans(find_gaps(stamps, 0, 9 * MIN, 2 * MIN)) == [(FindingKind.GAP, 4 * MIN, 7 * MIN, -1, -1)]

    def test_the_edges_of_the_range_count_as_samples(self) -> None:
        found = find_gaps([5 * MIN, 6 * MIN], 0, 10 * MIN, 90_000)
        assert spans(found) == [
            (FindingKind.GAP, 0, 5 * MIN, -1, -1),
            (FindingKind.GAP, 6 * MIN, 10 * MIN, -1, -1),
        ]

    def test_no_samples_at_all_is_one_gap_over_the_range(self) -> None:
        assert spans(find_gaps([], 0, 10 * MIN, MIN)) == [(FindingKind.GAP, 0, 10 * MIN, -1, -1)]
        assert find_gaps([], 0, MIN, MIN) == []


class TestOutOfRange:
    def test_runs_outside_either_bound_and_non_finite_values(self) -> None:
        values = [5.0, 11.0, 12.0, 5.0, -1.0, 5.0, math.nan, math.inf]
        found = find_out_of_range(minutes(8), values, 0.0, 10.0)
        assert spans(found) == [
            (FindingKind.OUT_OF_RANGE, MIN, 2 * MIN, 1, 2),
            (FindingKind.OUT_OF_RANGE, 4 * MIN, 4 * MIN, 4, 4),
            (FindingKind.OUT_OF_RANGE, 6 * MIN, 7 * MIN, 6, 7),
        ]

    def test_the_bounds_themselves_are_inside_and_an_open_side_has_no_limit(self) -> None:
        assert find_out_of_range(minutes(3), [0.0, 10.0, 1e9], 0.0, None) == []
        assert find_out_of_range(minutes(2), [0.0, 10.0], 0.0, 10.0) == []


class TestFlatlines:
    def test_a_value_unchanged_for_longer_than_the_setting(self) -> None:
        values = [1.0, 2.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0]
        found = find_flatlines(minutes(8), values, 2 * MIN)
        # 2.0 from minute 1 to 4 (3 minutes > 2); 3.0 from 5 to 7 (2 minutes, not longer)
        assert spans(found) == [(FindingKind.FLATLINE, MIN, 4 * MIN, 1, 4)]

    def test_a_flatline_running_to_the_end_counts_and_zero_turns_it_off(self) -> None:
        values = [1.0, 5.0, 5.0, 5.0, 5.0]
        assert spans(find_flatlines(minutes(5), values, 2 * MIN)) == [(FindingKind.FLATLINE, MIN, 4 * MIN, 1, 4)]
        assert find_flatlines(minutes(5), values, 0) == []


class TestSpikes:
    def test_a_one_sample_excursion_that_comes_back_is_a_spike(self) -> None:
        values = wave(20)
        values[12] = 25.0
        found = find_spikes(minutes(20), values, 10.0, 30)
        assert spans(found) == [(FindingKind.SPIKE, 12 * MIN, 12 * MIN, 12, 12)]

    def test_an_excursion_of_up_to_three_samples_and_not_longer(self) -> None:
        values = wave(30)
        values[10:13] = [30.0, 31.0, 30.0]
        assert spans(find_spikes(minutes(30), values, 10.0, 30)) == [
            (FindingKind.SPIKE, 10 * MIN, 12 * MIN, 10, 12)
        ]
        longer = wave(30)
        longer[10 : 11 + SPIKE_MAX_SAMPLES] = [30.0] * (SPIKE_MAX_SAMPLES + 1)
        assert find_spikes(minutes(30), longer, 10.0, 30) == []

    def test_a_step_that_stays_is_no_spike(self) -> None:
        values = wave(12) + [v + 10 for v in wave(12)]
        assert find_spikes(minutes(24), values, 10.0, 30) == []

    def test_a_jump_within_the_factor_of_the_spread_is_no_spike(self) -> None:
        values = wave(20)
        values[12] = 20.0 + 0.2 * 9  # 1.8 from its neighbour: within 10 times the spread of 0.2
        assert find_spikes(minutes(20), values, 10.0, 30) == []
        values[12] = 20.0 + 0.2 * 12
        assert len(find_spikes(minutes(20), values, 10.0, 30)) == 1

    def test_too_little_history_or_a_flat_stretch_finds_nothing(self) -> None:
        assert find_spikes(minutes(5), [20.0, 20.2, 20.0, 99.0, 20.0], 10.0, 30) == []
        assert find_spikes(minutes(12), [20.0] * 8 + [99.0, 20.0, 20.0, 20.0], 10.0, 30) == []

    def test_a_flat_window_after_a_long_noisy_stretch_has_no_spread_left(self) -> None:
        """The moving sum of changes must come back to exactly zero (no drift from adding and taking away)."""
        noisy = [20.0 + ((i * 7919) % 97) / 97.3 for i in range(5000)]
        values = [*noisy, *([21.0] * 40), 21.5, 21.0, 21.0]
        assert find_spikes(minutes(len(values)), values, 10.0, 30) == []

    def test_a_spike_does_not_widen_the_spread_for_the_next_one(self) -> None:
        values = wave(40)
        values[10] = 60.0
        values[20] = 30.0  # 10 above: with the first spike in the window the spread would be ~2.8
        found = find_spikes(minutes(40), values, 10.0, 30)
        assert [f.first for f in found] == [10, 20]


class TestCounters:
    def test_each_value_lower_than_the_one_before(self) -> None:
        values = [100.0, 101.0, 101.0, 50.0, 51.0, 49.0]
        assert spans(find_counter_backwards(minutes(6), values)) == [
            (FindingKind.COUNTER_BACKWARDS, 2 * MIN, 3 * MIN, 3, 3),
            (FindingKind.COUNTER_BACKWARDS, 4 * MIN, 5 * MIN, 5, 5),
        ]

    @pytest.mark.parametrize(
        ("unit", "options", "expected"),
        [("KWH", {}, True), ("GAL", {}, True), ("degC", {}, False), ("degC", {"counter": True}, True)],
    )
    def test_which_points_are_counters(self, unit: str, options: dict, expected: bool) -> None:
        assert is_counter(unit, options) is expected
        assert is_counter(unit, {**options, "counter": False}) is False


class TestSampleQualities:
    def test_bad_beats_uncertain_and_a_stored_flag_is_kept_when_worse(self) -> None:
        values = wave(20)
        values[12] = 25.0  # a spike, inside the range
        values[15] = 45.0  # out of range (a spike too): BAD wins
        rules = QualityRules(min_value=0.0, max_value=40.0)
        found = find_sample_issues(minutes(20), values, rules)
        qualities = sample_qualities(20, found, {3: int(Quality.UNCERTAIN), 15: int(Quality.UNCERTAIN)})
        assert qualities[12] is Quality.UNCERTAIN
        assert qualities[15] is Quality.BAD
        assert qualities[3] is Quality.UNCERTAIN
        assert qualities.count(Quality.GOOD) == 17

    def test_digital_points_have_no_flatlines_or_spikes_and_counters_are_checked_only_on_counters(self) -> None:
        stamps = minutes(600)
        switch = [0.0] * 300 + [1.0] + [0.0] * 299
        assert find_sample_issues(stamps, switch, QualityRules(digital=True, flatline_ms=MIN)) == []
        meter = [float(i) for i in range(10)] + [0.0]
        assert find_sample_issues(minutes(11), meter, QualityRules()) == []
        assert [f.kind for f in find_sample_issues(minutes(11), meter, QualityRules(counter=True))] == [
            FindingKind.COUNTER_BACKWARDS
        ]

    def test_buckets_are_checked_against_the_range_only_for_value_aggregates(self) -> None:
        rules = QualityRules(min_value=0.0, max_value=10.0)
        assert bucket_qualities([5.0, 11.0, math.nan], Aggregate.AVG, rules) == [
            Quality.GOOD,
            Quality.BAD,
            Quality.BAD,
        ]
        assert bucket_qualities([500.0], Aggregate.SUM, rules) == [Quality.GOOD]
        assert bucket_qualities([42.0], Aggregate.COUNT, rules) == [Quality.GOOD]
