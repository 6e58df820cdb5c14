"""`t3000gql import-logs`: the old monitor's log files into the database (seed 004's MigrationService).

parse → validate → transform → write, streaming: a file is read line by line and written in batches of
IMPORT_BATCH_READINGS readings through the station service and so through the one write path, so memory does
not grow with the file. Each batch commits together with the file's checkpoint (byte offset and line number),
so an interrupted import, run again, continues after the last committed batch; a finished file is skipped.
Re-importing the same data another way (`rescan`) stores nothing new: identical readings count as duplicates.

A file is known by a hash of its first 4 KiB, not by its path: a log that is moved or renamed is still the same
log, and one that grew is resumed at its old end. A final line without a newline is imported like the others.

Lines are parsed by a worker process one batch ahead of the writer (t3000gql.ingest.parsing), files with less
than `worker_min_bytes` left in this process; docs/performance.md says what each part costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import os
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from pathlib import Path
from typing import Protocol, TextIO

from t3000gql.config import DEFAULTS, Settings
from t3000gql.domain.stations import ReadingInput
from t3000gql.errors import T3000Error, ValidationError
from t3000gql.ingest.parsing import WORKER_MIN_BYTES, ParsedBatch, ParseWorker, WorkerFailed, parse_batch
from t3000gql.ingest.stations import RecordOutcome, StationService
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
        worker_min_bytes: int = WORKER_MIN_BYTES,
    ) -> None:
        self._service = service
        self._checkpoints: CheckpointRepository = service.store.import_checkpoints
        self._clock = service.store.clock
        self._batch = batch_readings
        self._timezone = timezone
        self._worker_min_bytes = worker_min_bytes
        self._create_stations = create_stations
        self._rescan = rescan
        self._report = report_file
        self._progress: ImportProgress = progress or _NoProgress()
        self._on_batch = on_batch
        self._resources = contextlib.AsyncExitStack()
        self._worker: ParseWorker | None = None

    async def run(self, paths: Sequence[Path]) -> ImportReport:
        report = ImportReport()
        started = time.perf_counter()
        try:
            async with contextlib.AsyncExitStack() as self._resources:
                with _collections_between_batches():
                    for path in paths:
                        report.files.append(await self._import_file(path))
        finally:
            self._worker = None
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

        # The worker parses batch k+1 while batch k is written here (see t3000gql.ingest.parsing). Batches
        # commit one after the other, in file order; a failure or an interrupt stops the import at the last
        # committed batch (cancelling the write in flight rolls it back, its checkpoint with it).
        end_line = checkpoint.line_number
        async with contextlib.aclosing(self._parsed(path, size, checkpoint)) as parsed_batches:
            async for parsed in parsed_batches:
                await self._flush(result, checkpoint, self._batch_of(path, parsed))
                end_line = parsed.end_line
                gc.collect(1)  # see _collections_between_batches
        result.lines_read = end_line - result.resumed_at_line
        return result

    async def _parsed(self, path: Path, size: int, checkpoint: Checkpoint) -> AsyncGenerator[ParsedBatch, None]:
        """The file's batches from the checkpoint on, the last one `at_end`; each next one is already being
        parsed (by the worker) while the caller writes the one it got."""
        offset, line_no = checkpoint.byte_offset, checkpoint.line_number
        if size - offset < self._worker_min_bytes:
            while True:
                batch = _read(path, parse_batch, str(path), offset, line_no, self._batch, self._timezone)
                yield batch
                if batch.at_end:
                    return
                offset, line_no = batch.end_offset, batch.end_line
        worker = await self._start_worker()

        def parse(offset: int, line_no: int) -> asyncio.Task[ParsedBatch]:
            return asyncio.create_task(worker.parse(str(path), offset, line_no, self._batch, self._timezone))

        pending = parse(offset, line_no)
        try:
            while True:
                batch = await _read_async(path, pending)
                if not batch.at_end:
                    pending = parse(batch.end_offset, batch.end_line)
                yield batch
                if batch.at_end:
                    return
        finally:
            pending.cancel()

    async def _start_worker(self) -> ParseWorker:
        if self._worker is None:
            self._worker = await ParseWorker.start()
            self._resources.push_async_callback(self._worker.close)
        return self._worker

    @staticmethod
    def _batch_of(path: Path, parsed: ParsedBatch) -> _Batch:
        new_input = tuple.__new__  # ReadingInput is a NamedTuple: skip its Python-level __new__
        rows = zip(parsed.stamps, parsed.values, parsed.stations, repeat(None))
        return _Batch(
            offset=parsed.end_offset,
            line_no=parsed.end_line,
            inputs=list(map(new_input, repeat(ReadingInput), rows)),
            lines=parsed.lines,
            notes=[(line, f"{path}:{line}: invalid: {reason}") for line, reason in parsed.problems],
            parse_invalid=len(parsed.problems),
            skipped=parsed.skipped,
            completed=parsed.at_end,
        )

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
    """One parsed batch as the writer takes it: the readings, the notes for the report, where the batch ends."""

    offset: int
    line_no: int
    inputs: list[ReadingInput] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)
    parse_invalid: int = 0
    skipped: int = 0
    completed: bool = False


def _read(path: Path, parse: Callable[..., ParsedBatch], *args: object) -> ParsedBatch:
    """`parse(...)` with a file that cannot be read reported as our error, naming the file."""
    try:
        return parse(*args)
    except OSError as exc:
        raise T3000Error(f"cannot read {path}: {exc.strerror or exc}") from exc


async def _read_async(path: Path, pending: Awaitable[ParsedBatch]) -> ParsedBatch:
    """The worker's answer, with its failures reported as our errors, naming the file."""
    try:
        return await pending
    except OSError as exc:
        raise T3000Error(f"cannot read {path}: {exc.strerror or exc}") from exc
    except WorkerFailed as exc:
        raise T3000Error(f"{exc} while reading {path}") from exc


@contextlib.contextmanager
def _collections_between_batches() -> Iterator[None]:
    """Runs the cyclic garbage collector between batches instead of every 700 allocations. An import makes tens
    of millions of short-lived tuples and no reference cycles, and with the default thresholds the collector's
    passes over them took ~40% of the writer's Python time (measured: 13.5 -> 7.6 us per reading). The caller
    collects the young generations after each batch, so whatever cycles there are cannot pile up."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _reason(error: ValidationError) -> str:
    if error.field in ("station", "station_id"):
        return f"station {error.value!r} does not exist (create it first, or import with --create-stations)"
    if error.field is None:
        return error.reason
    return f"{error.field}={error.value!r}: {error.reason}"


def default_report_path(now_ms: int) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ms / 1000))
    return Path(os.getcwd()) / f"import-report-{stamp}.txt"
