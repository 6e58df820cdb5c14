"""The import's progress bar on a terminal (rich): bytes done, readings per second, time left. When output is
not a terminal (piped, redirected, CI) it draws nothing; the final report is printed either way."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _ReadingsRate(ProgressColumn):
    def render(self, task: Task) -> Text:
        elapsed = time.perf_counter() - task.fields["started"]
        rate = task.fields["readings"] / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f} readings/s", style="progress.data.speed")


class RichImportProgress:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            _ReadingsRate(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.console.is_terminal,
            transient=False,
        )
        self._task: TaskID | None = None
        self._readings = 0

    def __enter__(self) -> RichImportProgress:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def start_file(self, path: str, total_bytes: int, done_bytes: int) -> None:
        name = path if len(path) <= 40 else "…" + path[-39:]
        self._readings = 0
        self._task = self._progress.add_task(
            name, total=total_bytes, completed=done_bytes, readings=0, started=time.perf_counter()
        )

    def advance(self, done_bytes: int, readings: int) -> None:
        if self._task is None:
            return
        self._readings += readings
        self._progress.update(self._task, completed=done_bytes, readings=self._readings)
