"""The log line formats (docs/stations.md): text and JSON lines, skips and precise errors."""

from __future__ import annotations

import pytest

from t3000gql.ingest.logformat import LineError, LineParser, LogEntry, format_text_line

T0 = 1_705_314_600_000  # 2024-01-15T10:30:00Z
NONE = (None,) * 10


def test_text_line() -> None:
    entry = LineParser().parse("[2024-01-15T10:30:00.250Z] TV-1 activePower1=1523.4 muxPower4=7 muxPower1=null\n")
    assert entry == LogEntry(T0 + 250, "TV-1", (1523.4, *NONE[1:9], 7.0))


def test_offsets_and_site_time() -> None:
    assert LineParser().parse("[2024-01-15T17:30:00+07:00] A activePower1=1") == LineParser().parse(
        "[2024-01-15 10:30:00] A activePower1=1"
    )
    bangkok = LineParser("Asia/Bangkok").parse("[2024-01-15 17:30:00] A activePower1=1")
    assert bangkok is not None and bangkok.ts_ms == T0


def test_json_lines_flat_and_nested() -> None:
    parser = LineParser()
    flat = parser.parse('{"timestamp": "2024-01-15T10:30:00Z", "station": "A", "seq": 3, "muxPower2": 5}')
    nested = parser.parse(
        f'{{"timestamp": {T0}, "station": "A", "readings": {{"muxPower2": 5, "muxPower3": null}}}}'
    )
    assert flat == nested == LogEntry(T0, "A", (*NONE[:7], 5.0, None, None))


def test_blank_and_comment_lines_are_skipped() -> None:
    assert LineParser().parse("\n") is None
    assert LineParser().parse("# header\n") is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("2024-01-15 A activePower1=1", "neither a text log line"),
        ("[2024-01-15T10:30:00Z A activePower1=1", "no ']'"),
        ("[yesterday] A activePower1=1", "not an ISO-8601"),
        ("[2024-01-15T10:30:00Z]", "no station name"),
        ("[2024-01-15T10:30:00Z] A", "no readings"),
        ("[2024-01-15T10:30:00Z] A volts=1", "'volts=1' is not channel=value"),
        ("[2024-01-15T10:30:00Z] A activePower1", "is not channel=value"),
        ("[2024-01-15T10:30:00Z] A activePower1=1 activePower1=2", "names activePower1 twice"),
        ("[2024-01-15T10:30:00Z] A activePower1=x", "activePower1='x' is not a number"),
        ('{"station": "A"', "not valid JSON"),
        ("[1, 2]", "not an ISO-8601"),
        ('{"timestamp": 1}', 'no "station"'),
        ('{"station": "A", "timestamp": true}', 'no "timestamp"'),
        ('{"station": "A", "timestamp": 1, "readings": []}', '"readings" is not an object'),
        ('{"station": "A", "timestamp": 1, "readings": {"x": 1}}', "'x' is not a known channel"),
        ('{"station": "A", "timestamp": 1, "activePower1": "1"}', "is not a number"),
    ],
)
def test_bad_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(LineError, match=reason.replace("[", r"\[")):
        LineParser().parse(line)


def test_format_round_trips() -> None:
    values = (1.5, None, 2.0, None, None, None, 100.25, None, None, 4.0)
    assert LineParser().parse(format_text_line(T0 + 5, "S-1", values)) == LogEntry(T0 + 5, "S-1", values)
