"""`t3000gql archive-restore FILE`: a retention archive (storage/archive.py) loaded back into the database.

History rows go through the one write path, by point (device id, point type, point number) and source name,
in batches of the archive's row groups; every point the file names must exist first, or nothing is written.
The readings' index rows go through their owner (`power_readings.restore_in`). Rows already stored are kept
once (the write path merges by point and time), so loading a file twice, or again after an interruption,
stores nothing twice. The restore is audited (one entry per device per batch, as bulk history writes are).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from t3000gql.domain.audit import Actor
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Quality, Sample
from t3000gql.storage import power_readings
from t3000gql.storage.archive import HISTORY, ArchiveError, describe, read_batches
from t3000gql.storage.write_path import Audit

if TYPE_CHECKING:
    from t3000gql.storage.store import Store

OPERATION = "archive-restore"


@dataclass(frozen=True, slots=True)
class ArchiveRestoreReport:
    path: Path
    kind: str
    table: str
    rows: int
    inserted: int
    updated: int
    unchanged: int


async def restore_archive(store: Store, path: Path, *, actor: Actor) -> ArchiveRestoreReport:
    kind, table, rows = describe(path)
    if kind == HISTORY:
        refs = await _check_points(store, path)
        qualities = {q.value: q for q in Quality}
        inserted = updated = unchanged = 0
        for columns in read_batches(path):
            by_source: dict[str, list[Sample]] = {}
            for device, ptype, number, ts, value, trend_log, quality, source in zip(
                columns["device_id"],
                columns["point_type"],
                columns["point_number"],
                columns["ts"],
                columns["value"],
                columns["trend_log_id"],
                columns["quality"],
                columns["source"],
                strict=True,
            ):
                sample = Sample(refs[device, ptype, number], ts, value, trend_log, qualities[quality])
                by_source.setdefault(source or OPERATION, []).append(sample)
            for source, samples in by_source.items():
                result = await store.writes.record(
                    samples, source, audit=Audit(OPERATION, actor, per_device=True, detail={"archive": str(path)})
                )
                inserted, updated, unchanged = (
                    inserted + result.inserted,
                    updated + result.updated,
                    unchanged + result.unchanged,
                )
        return ArchiveRestoreReport(path, kind, table, rows, inserted, updated, unchanged)
    written = 0
    for columns in read_batches(path):
        async with store.db.writer() as conn:
            written += await power_readings.restore_in(
                conn,
                list(
                    zip(
                        columns["device_id"],
                        columns["ts"],
                        columns["created_at"],
                        columns["source"],
                        columns["flags"],
                        strict=True,
                    )
                ),
            )
    return ArchiveRestoreReport(path, kind, table, rows, written, 0, rows - written)


async def _check_points(store: Store, path: Path) -> dict[tuple[int, int, int], PointRef]:
    """Every point the archive names must exist (created again first if it was deleted): else nothing is loaded.
    Returns each (device, type, number) of the file as a PointRef, made once (not once per row)."""
    keys: set[tuple[int, int, int]] = set()
    for columns in read_batches(path):
        keys.update(zip(columns["device_id"], columns["point_type"], columns["point_number"], strict=True))
    refs = {key: PointRef(key[0], PointType(key[1]), key[2]) for key in keys}
    wanted = set(refs.values())
    known = await store.points.resolve(wanted)
    missing = sorted(str(ref) for ref in wanted if ref not in known)
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise ArchiveError(
            f"{path} names points that do not exist (create them first): {shown}; nothing was loaded"
        )
    return refs
