"""A log file read as batches of parsed readings, in a worker process while the importer writes.

Parsing a line costs about as much Python as writing its reading does, and both ran one after the other in
the importer's process (a thread cannot help: SQLite's thread needs the GIL between rows). So the file is read
and parsed by `parse_batch` in a process of its own (`ParseWorker`), one batch ahead of the writer: the
importer writes batch k while the worker parses batch k+1, and receives it as plain lists (cheap to pickle). A file too small to be
worth starting a process for is parsed in the importer's process by the same function.

`parse_batch` is stateless (path, byte offset, line number in; the batch and where it ended out), so the
importer stays the only keeper of progress and checkpoints, and a worker can be dropped at any time.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import pickle
import signal
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from t3000gql.domain.stations import ChannelValues
from t3000gql.ingest.logformat import LineError, LineParser

WORKER_MIN_BYTES = 1 << 20
"""Files with less than this left to read are parsed in the importer's process: starting a worker takes
~0.2 s, about what parsing 1 MiB (4,000 lines) takes."""


@dataclass(slots=True)
class ParsedBatch:
    """The lines of one batch: readings as parallel lists, and the lines that are not readings."""

    end_offset: int
    """Byte offset just after the batch's last line (where the next batch starts)."""
    end_line: int
    """Number of the batch's last line (1-based; the line count before it when the batch is empty)."""
    at_end: bool
    """The file ended within this batch: it is the file's last."""
    lines: list[int] = field(default_factory=list)
    stamps: list[int] = field(default_factory=list)
    stations: list[str] = field(default_factory=list)
    values: list[ChannelValues] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    """(line number, why it is not a reading)."""
    skipped: int = 0
    """Blank lines and # comments."""


@functools.cache
def _parser(timezone: str) -> LineParser:
    return LineParser(timezone)


def parse_batch(path: str, offset: int, line_no: int, batch_readings: int, timezone: str) -> ParsedBatch:
    """Reads lines from `offset` (just after line `line_no`) until the batch holds `batch_readings` readings or
    has read 4x that many lines (a file of mostly bad lines still reports progress), or the file ends."""
    parse = _parser(timezone).parse
    names: dict[str, str] = {}  # one str per station name: pickled once, not once per line
    batch = ParsedBatch(offset, line_no, at_end=False)
    first_line = line_no
    most_lines = 4 * batch_readings
    with open(path, "rb") as f:
        f.seek(offset)
        for raw in f:
            offset += len(raw)
            line_no += 1
            try:
                entry = parse(raw.decode("utf-8"))
            except (LineError, UnicodeDecodeError) as exc:
                batch.problems.append((line_no, str(exc) if isinstance(exc, LineError) else "is not UTF-8"))
                continue
            if entry is None:
                batch.skipped += 1
                continue
            batch.lines.append(line_no)
            batch.stamps.append(entry.ts_ms)
            batch.stations.append(names.setdefault(entry.station, entry.station))
            batch.values.append(entry.values)
            if len(batch.lines) >= batch_readings or line_no - first_line >= most_lines:
                break
        else:
            batch.at_end = True
    batch.end_offset, batch.end_line = offset, line_no
    return batch


_WORKER_MAIN = "from t3000gql.ingest.parsing import serve; serve()"
_HEADER = struct.Struct("!Q")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
"""Put first on the worker's path: it imports the very t3000gql this process runs."""


def serve() -> None:
    """The worker's loop: one request per line on stdin (JSON: path, offset, line number, batch size, time
    zone), one answer per request on stdout (8-byte length, then a pickle: the ParsedBatch, or the text of the
    OSError that stopped it). Ends when stdin closes."""
    # Ctrl-C on a terminal reaches the whole process group: the importer decides what an interrupt means (it
    # stops at its last committed batch and closes this worker), the worker must not die mid-answer.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Parsing makes millions of small tuples and no reference cycles: the cyclic collector would only cost.
    gc.disable()
    out = sys.stdout.buffer
    for request in sys.stdin.buffer:
        path, offset, line_no, batch_readings, timezone = json.loads(request)
        answer: ParsedBatch | str
        try:
            answer = parse_batch(path, offset, line_no, batch_readings, timezone)
        except OSError as exc:
            answer = str(exc.strerror or exc)
        body = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_HEADER.pack(len(body)))
        out.write(body)
        out.flush()


class ParseWorker:
    """`parse_batch` in a process of its own. A plain subprocess running `serve` (not multiprocessing, whose
    spawn re-runs the caller's main module and whose fork would copy SQLite's threads in an unknown state);
    it imports the same t3000gql as this process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls) -> ParseWorker:
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": _PACKAGE_ROOT + (os.pathsep + path if path else "")}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER_MAIN,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        return cls(process)

    @property
    def pid(self) -> int:
        return self._process.pid

    async def parse(self, path: str, offset: int, line_no: int, batch_readings: int, timezone: str) -> ParsedBatch:
        """One batch, as `parse_batch` gives it; OSError when the file cannot be read, WorkerFailed when the
        worker is gone."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        async with self._lock:  # one request at a time: answers come back in order
            try:
                stdin.write(json.dumps([path, offset, line_no, batch_readings, timezone]).encode() + b"\n")
                await stdin.drain()
                (length,) = _HEADER.unpack(await stdout.readexactly(_HEADER.size))
                answer = pickle.loads(await stdout.readexactly(length))
            except (OSError, asyncio.IncompleteReadError) as exc:
                raise WorkerFailed(f"the parsing worker stopped (exit status {self._process.returncode})") from exc
        if isinstance(answer, str):
            raise OSError(answer)
        return cast(ParsedBatch, answer)

    async def close(self) -> None:
        """Closes the worker's input (it ends after the answer in flight) and reads whatever it still sends: an
        interrupted import leaves an answer unread, and asyncio (3.11) reports a subprocess ended only once its
        pipes are closed, so `wait()` alone would never return. Kills it if it has not ended within 5 s."""
        process = self._process
        if process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.communicate(), 5)  # reads stdout to its end, then waits
        except TimeoutError:
            process.kill()
            await process.communicate()


class WorkerFailed(Exception):
    """The parsing worker ended without answering."""
