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

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

import aiosqlite

from t3000gql.domain.stations import ReadingInput
from t3000gql.errors import T3000Error, ValidationError
from t3000gql.ingest.logformat import LineError, LineParser
from t3000gql.ingest.stations import RecordOutcome, StationService
from t3000gql.storage.import_checkpoints import Checkpoint, CheckpointRepository

SOURCE = "log_migration"
HEAD_BYTES = 4096


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
        timezone: str = "UTC",
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
        self._pending: list[tuple[int, str]] = []

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

    def _invalid(self, result: FileResult, line: int, reason: str) -> None:
        """Counts a bad line; it is written to the report at the next flush, in line order."""
        result.invalid += 1
        self._pending.append((line, f"{result.path}:{line}: invalid: {reason}"))

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

        offset, line_no = checkpoint.byte_offset, checkpoint.line_number
        inputs: list[ReadingInput] = []
        lines: list[int] = []
        since_flush = 0
        parse = self._parser.parse
        with path.open("rb") as f:
            f.seek(offset)
            for raw in f:
                offset += len(raw)
                line_no += 1
                since_flush += 1
                try:
                    entry = parse(raw.decode("utf-8"))
                except (LineError, UnicodeDecodeError) as exc:
                    self._invalid(result, line_no, str(exc) if isinstance(exc, LineError) else "is not UTF-8")
                    continue
                if entry is None:
                    result.skipped += 1
                    continue
                inputs.append(ReadingInput(entry.ts_ms, entry.values, station=entry.station))
                lines.append(line_no)
                if len(inputs) >= self._batch or since_flush >= 4 * self._batch:
                    await self._flush(result, checkpoint, inputs, lines, offset, line_no, False)
                    inputs, lines, since_flush = [], [], 0
        await self._flush(result, checkpoint, inputs, lines, offset, line_no, True)
        result.lines_read = line_no - result.resumed_at_line
        return result

    async def _flush(
        self,
        result: FileResult,
        start: Checkpoint,
        inputs: list[ReadingInput],
        lines: list[int],
        offset: int,
        line_no: int,
        completed: bool,
    ) -> None:
        """Writes one batch and the file's checkpoint in one transaction. `start` is the checkpoint this run
        began from; the saved totals are its totals plus this run's."""
        if self._create_stations:
            await self._service.ensure_stations({r.station for r in inputs if r.station is not None})
        prepared, errors = await self._service.prepare(inputs, skip_invalid=True)
        for error in errors:
            self._invalid(result, lines[error.index or 0], _reason(error))
        notes, self._pending = self._pending, []

        def checkpoint(imported: int, duplicates: int, flagged: int) -> Checkpoint:
            return start.advanced(
                byte_offset=offset,
                line_number=line_no,
                completed=completed,
                imported=start.imported + result.imported + imported,
                duplicates=start.duplicates + result.duplicates + duplicates,
                flagged=start.flagged + result.flagged + flagged,
                invalid=start.invalid + result.invalid,
            )

        async def save(conn: aiosqlite.Connection, outcome: RecordOutcome) -> None:
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
        self._progress.advance(offset, len(prepared))
        if self._on_batch is not None:
            self._on_batch(result)


def _reason(error: ValidationError) -> str:
    if error.field in ("station", "stationId"):
        return f"station {error.value!r} does not exist (create it first, or import with --create-stations)"
    if error.field is None:
        return error.reason
    return f"{error.field}={error.value!r}: {error.reason}"


def default_report_path(now_ms: int) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ms / 1000))
    return Path(os.getcwd()) / f"import-report-{stamp}.txt"
