"""The parsing worker of `import-logs` (t3000gql.ingest.parsing): the same batches as parsing in-process, and it
always ends when the importer is done with it, also with an answer left unread (an interrupted import)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil

from t3000gql.ingest.parsing import ParseWorker, parse_batch
from tests.stations.station_helpers import DATA
from tests.stations.test_import import write_log


async def test_the_worker_gives_the_batches_parse_batch_gives(tmp_path: Path) -> None:
    worker = await ParseWorker.start()
    try:
        for path in (DATA / "monitor.log", DATA / "monitor.jsonl"):
            offset, line_no, at_end = 0, 0, False
            while not at_end:
                here = parse_batch(str(path), offset, line_no, 3, "UTC")
                there = await worker.parse(str(path), offset, line_no, 3, "UTC")
                assert repr(there) == repr(here)  # repr: a line's NaN is a value, and NaN != NaN
                offset, line_no, at_end = here.end_offset, here.end_line, here.at_end
    finally:
        await worker.close()


async def test_closing_a_worker_with_an_unread_answer_ends_it(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    write_log(log, 5000)  # an answer of ~1 MB: more than the pipe and the reader's buffer hold
    worker = await ParseWorker.start()
    process = psutil.Process(worker.pid)
    asking = asyncio.create_task(worker.parse(str(log), 0, 0, 5000, "UTC"))
    await asyncio.sleep(0)  # the task sends the request and waits for the answer
    asking.cancel()  # as an interrupted import does: the answer will stay unread
    await asyncio.wait_for(worker.close(), 30)  # this once waited forever for the worker's pipes to close
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
