"""`t3000gql import-logs`: the old monitor's log files into the database (seed 004's MigrationService).

parse → validate → transform → write, streaming: a file is read line by line and written in batches of
IMPORT_BATCH_READINGS readings through the station service and so through the one write path, so memory does
not grow with the file. Each batch commits together with the file's checkpoint (byte offset and line number),
so an interrupted import, run again, continues after the last committed batch; a finished file is skipped.
Re-importing the same data another way (`rescan`) stores nothing new: identical readings count as duplicates.

A file is known by a hash of its first 4 KiB, not by its path: a log that is moved or renamed is still the same
log, and one that grew is resumed at its old end. A final line without a newline is imported like the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, TextIO

from t3000gql.config import DEFAULTS, Settings
from t3000gql.domain.stations import ReadingInput
from t3000gql.errors import T3000Error, ValidationError
from t3000gql.ingest.logformat import LineError, LineParser
from t3000gql.ingest.stations import RecordOutcome, StationService
from t3000gql.lifecycle import cancel_and_wait
from t3000gql.storage.connection import Connection
from t3000gql.storage.import_checkpoints import Checkpoint, CheckpointRepository
from t3000gql.storage.store import Store

SOURCE = "log_migration"
HEAD_BYTES = 4096
IMPORT_CACHE_KIB = 16 * 1024
"""SQLite page cache of the import's connections: appending in time order touches few pages, and the server's
64 MiB per connection would be most of the import's memory."""


async def open_import_store(settings: Settings) -> Store:
    """The store as the import uses it: two readers (it reads little) and a small page cache."""
    return await Store.open(replace(settings, database_pool_size=2), cache_kib=IMPORT_CACHE_KIB)


class ImportProgress(Protocol):
    """Told about progress (the CLI draws a bar with it); the library default does nothing."""

    def start_file(self, path: str, total_bytes: int, done_bytes: int) -> None: ...

    def advance(self, done_bytes: int, readings: int) -> None: ...


class _NoProgress:
    def start_file(self, path: str, total_bytes: int, done_bytes: int) -> None:
        pass

    def advance(self, done_bytes: int, readings: int) -> None:
        pass


@dataclass(slots=True)
class FileResult:
    """What one run did with one file (a resumed run counts only the lines it read itself)."""

    path: str
    lines_read: int = 0
    skipped: int = 0
    """Blank lines and # comments."""
    imported: int = 0
    duplicates: int = 0
    invalid: int = 0
    flagged: int = 0
    resumed_at_line: int = 0
    """0: started at the beginning; n: continued after line n of an earlier, interrupted run."""
    already_done: bool = False


@dataclass(slots=True)
class ImportReport:
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    def summary(self) -> str:
        rate = self.total("imported") / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{len(self.files)} file(s): {self.total('lines_read')} lines read, "
            f"{self.total('imported')} readings imported, {self.total('duplicates')} duplicates skipped, "
            f"{self.total('invalid')} invalid lines, {self.total('flagged')} readings with a counter going "
            f"backwards (stored, flagged), {self.total('skipped')} blank/comment lines; "
            f"{self.seconds:.1f} s ({rate:,.0f} readings/s)"
        )


BatchCallback = Callable[[FileResult], None]


def file_key(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    return hashlib.sha256(head).hexdigest()


class LogImporter:
    def __init__(
        self,
        service: StationService,
        *,
        batch_readings: int,
        timezone: str = DEFAULTS.timezone,
        create_stations: bool = False,
        rescan: bool = False,
        report_file: TextIO | None = None,
        progress: ImportProgress | None = None,
        on_batch: BatchCallback | None = None,
    ) -> None:
        self._service = service
        self._checkpoints: CheckpointRepository = service.store.import_checkpoints
        self._clock = service.store.clock
        self._batch = batch_readings
        self._parser = LineParser(timezone)
        self._create_stations = create_stations
        self._rescan = rescan
        self._report = report_file
        self._progress: ImportProgress = progress or _NoProgress()
        self._on_batch = on_batch
        self._writing: asyncio.Task[None] | None = None
        """The batch being written while the next one is parsed."""

    async def run(self, paths: Sequence[Path]) -> ImportReport:
        report = ImportReport()
        started = time.perf_counter()
        try:
            for path in paths:
                report.files.append(await self._import_file(path))
        finally:
            report.seconds = time.perf_counter() - started
            self._note(f"# {report.summary()}")
        return report

    def _note(self, text: str) -> None:
        if self._report is not None:
            self._report.write(text + "\n")
            self._report.flush()

    async def _import_file(self, path: Path) -> FileResult:
        result = FileResult(str(path))
        try:
            # Blocking file I/O on purpose: the import owns its event loop (a CLI), and a thread hop per line
            # would cost more than the read.
            size = os.stat(path).st_size
            key = file_key(path)
        except OSError as exc:
            raise T3000Error(f"cannot read {path}: {exc.strerror or exc}") from exc
        saved = None if self._rescan else await self._checkpoints.get(key)
        if saved is not None and saved.byte_offset > size:
            saved = None  # the same beginning but shorter: rewritten, so start again (idempotent writes)
        checkpoint = saved or Checkpoint(file_key=key, path=str(path), size=size)
        checkpoint = checkpoint.advanced(path=str(path), size=size)
        if saved is not None and saved.completed and saved.byte_offset == size:
            result.already_done = True
            self._note(f"{path}: already imported (checkpoint at line {saved.line_number})")
            return result
        result.resumed_at_line = checkpoint.line_number
        if checkpoint.line_number:
            self._note(f"{path}: resuming after line {checkpoint.line_number}")
        self._progress.start_file(str(path), size, checkpoint.byte_offset)

        # Batch k is written by a task while this loop parses batch k+1, so parsing overlaps the write's waits
        # on the disk (commit, WAL checkpoint); CPU work overlaps little, SQLite's thread needs the GIL between
        # rows. Batches still commit one after the other, in file order: batch k+1 starts only once batch k
        # committed, and a failure stops the import at the last committed batch.
        writing, batch = await self._read(path, result, checkpoint)
        if writing is not None:
            await writing  # cancelling this await cancels the write too, and waits for its rollback
        batch.completed = True
        await self._flush(result, checkpoint, batch)
        result.lines_read = batch.line_no - result.resumed_at_line
        return result

    async def _read(
        self, path: Path, result: FileResult, checkpoint: Checkpoint
    ) -> tuple[asyncio.Task[None] | None, _Batch]:
        """Parses the file from the checkpoint on, handing each full batch to a write task; returns the task
        still writing and the last, partial batch."""
        self._writing = None
        try:
            return await self._read_lines(path, result, checkpoint)
        except BaseException:
            in_flight = self._writing
            if in_flight is not None and not in_flight.done():
                # Interrupted while a batch was being written: let it roll back (its checkpoint with it) before
                # the caller closes the database.
                await cancel_and_wait(in_flight)
            raise

    async def _read_lines(
        self, path: Path, result: FileResult, checkpoint: Checkpoint
    ) -> tuple[asyncio.Task[None] | None, _Batch]:
        batch = _Batch(checkpoint.byte_offset, checkpoint.line_number)
        parse = self._parser.parse
        with path.open("rb") as f:
            f.seek(batch.offset)
            for raw in f:
                batch.offset += len(raw)
                batch.line_no += 1
                try:
                    entry = parse(raw.decode("utf-8"))
                except (LineError, UnicodeDecodeError) as exc:
                    reason = str(exc) if isinstance(exc, LineError) else "is not UTF-8"
                    batch.notes.append((batch.line_no, f"{path}:{batch.line_no}: invalid: {reason}"))
                    batch.parse_invalid += 1
                    continue
                if entry is None:
                    batch.skipped += 1
                    continue
                batch.inputs.append(ReadingInput(entry.ts_ms, entry.values, station=entry.station))
                batch.lines.append(batch.line_no)
                if batch.line_no & 255 == 0:
                    await asyncio.sleep(0)  # let the write in flight send its next statement
                if len(batch.inputs) >= self._batch or batch.line_no - batch.first_line >= 4 * self._batch:
                    if self._writing is not None:
                        await self._writing
                    self._writing = asyncio.create_task(self._flush(result, checkpoint, batch))
                    batch = _Batch(batch.offset, batch.line_no)
        return self._writing, batch

    async def _flush(self, result: FileResult, start: Checkpoint, batch: _Batch) -> None:
        """Writes one batch and the file's checkpoint in one transaction. `start` is the checkpoint this run
        began from; the saved totals are its totals plus this run's (only flushes change `result`, one at a
        time, so the totals always describe exactly the lines up to the batch's end)."""
        inputs, lines = batch.inputs, batch.lines
        if self._create_stations:
            await self._service.ensure_stations({r.station for r in inputs if r.station is not None})
        prepared, errors = await self._service.prepare(inputs, skip_invalid=True)
        notes = batch.notes
        for error in errors:
            notes.append(
                (lines[error.index or 0], f"{result.path}:{lines[error.index or 0]}: invalid: {_reason(error)}")
            )
        result.invalid += batch.parse_invalid + len(errors)
        result.skipped += batch.skipped

        def checkpoint(imported: int, duplicates: int, flagged: int) -> Checkpoint:
            return start.advanced(
                byte_offset=batch.offset,
                line_number=batch.line_no,
                completed=batch.completed,
                imported=start.imported + result.imported + imported,
                duplicates=start.duplicates + result.duplicates + duplicates,
                flagged=start.flagged + result.flagged + flagged,
                invalid=start.invalid + result.invalid,
            )

        async def save(conn: Connection, outcome: RecordOutcome) -> None:
            flagged = len({flag.index for flag in outcome.flagged})
            await self._checkpoints.save_on(
                conn, checkpoint(outcome.imported, outcome.duplicates, flagged), self._clock()
            )

        if prepared:
            outcome = await self._service.write(prepared, SOURCE, then=save)
            result.imported += outcome.imported
            result.duplicates += outcome.duplicates
            result.flagged += len({flag.index for flag in outcome.flagged})
            notes.extend(
                (
                    lines[flag.index],
                    f"{result.path}:{lines[flag.index]}: flagged: {flag.field} went backwards "
                    f"({flag.value:g} after {flag.previous:g}); stored with quality UNCERTAIN",
                )
                for flag in outcome.flagged
            )
        else:
            await self._checkpoints.save(checkpoint(0, 0, 0), self._clock())
        for _line, note in sorted(notes, key=lambda item: item[0]):
            self._note(note)
        self._progress.advance(batch.offset, len(prepared))
        if self._on_batch is not None:
            self._on_batch(result)


@dataclass(slots=True)
class _Batch:
    """Lines read since the last cut: the readings to write, the notes for the report, where the batch ends."""

    offset: int
    line_no: int
    first_line: int = -1
    inputs: list[ReadingInput] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)
    parse_invalid: int = 0
    skipped: int = 0
    completed: bool = False

    def __post_init__(self) -> None:
        if self.first_line < 0:
            self.first_line = self.line_no


def _reason(error: ValidationError) -> str:
    if error.field in ("station", "station_id"):
        return f"station {error.value!r} does not exist (create it first, or import with --create-stations)"
    if error.field is None:
        return error.reason
    return f"{error.field}={error.value!r}: {error.reason}"


def default_report_path(now_ms: int) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ms / 1000))
    return Path(os.getcwd()) / f"import-report-{stamp}.txt"
