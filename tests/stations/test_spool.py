"""The spool file: append in order, read back in batches, survive a torn last line."""

from __future__ import annotations

from pathlib import Path

from t3000gql.domain.stations import ReadingInput
from t3000gql.ingest.spool import Spool


def readings(start: int, n: int) -> list[ReadingInput]:
    return [
        ReadingInput(1000 + i, (float(i), *(None,) * 8, 9.5), station_id=4_000_000)
        for i in range(start, start + n)
    ]


def test_batches_come_back_in_order_with_offsets(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.jsonl")
    spool.append(readings(0, 3))
    spool.append(readings(3, 2))
    batches = list(spool.batches(2))
    assert [b for b, _ in batches] == [readings(0, 2), readings(2, 2), readings(4, 1)]
    assert batches[-1][1] == spool.size()
    assert [b for b, _ in spool.batches(10, batches[0][1])] == [readings(2, 3)]
    spool.remove()
    assert not spool.exists() and list(spool.batches(2)) == []


def test_a_torn_last_line_is_skipped_and_later_lines_start_clean(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    Spool(path).append(readings(0, 2))
    with path.open("ab") as f:
        f.write(b'{"stationId": 4000000, "timest')  # the process died mid-write
    restarted = Spool(path)
    restarted.append(readings(2, 1))
    assert [b for b, _ in restarted.batches(10)] == [readings(0, 2) + readings(2, 1)]
