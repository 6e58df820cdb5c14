"""Scheduled backups: BACKUP_SCHEDULE (a cron expression read in TIMEZONE, run by aiocron) takes a backup into
BACKUP_DIR and keeps the newest BACKUP_KEEP. Every process keeps the schedule, but only the leader takes the
backup (`is_leader`, from t3000gql/leadership.py), so servers sharing a database take one backup, not N.
A failed backup is logged as an error and the next one comes on schedule."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiocron

from t3000gql.config import Settings
from t3000gql.errors import StorageError
from t3000gql.storage.backup import BackupReport, backup_dir_of, backup_into

log = logging.getLogger(__name__)
KIND = "scheduled"


class BackupSchedule:
    def __init__(self, settings: Settings, local_path: str, is_leader: Callable[[], bool]) -> None:
        self._settings = settings
        self.folder: Path = backup_dir_of(settings.backup_dir, local_path)
        self._is_leader = is_leader
        self._cron: Any = None
        self._running: asyncio.Task[BackupReport | None] | None = None
        self.taken: list[BackupReport] = []
        """Backups this process took (newest last); tests and /health read it."""

    async def start(self) -> None:
        self._cron = aiocron.crontab(
            self._settings.backup_schedule, func=self._due, start=True, tz=ZoneInfo(self._settings.timezone)
        )

    async def stop(self) -> None:
        if self._cron is not None:
            self._cron.stop()
            self._cron = None
        running, self._running = self._running, None
        if running is not None and not running.done():
            running.cancel()
            try:
                await running
            except (asyncio.CancelledError, Exception):  # stopping: its outcome no longer matters here
                pass

    async def _due(self) -> None:
        if not self._is_leader():
            return
        if self._running is not None and not self._running.done():
            log.warning("a scheduled backup is still running; this one is skipped")
            return
        self._running = asyncio.ensure_future(self.take())

    async def take(self) -> BackupReport | None:
        try:
            report = await backup_into(
                self._settings.database_url, self.folder, KIND, keep=self._settings.backup_keep
            )
        except StorageError as exc:
            log.error("the scheduled backup failed: %s", exc)
            return None
        log.info("scheduled backup written: %s (%d bytes)", report.path, report.size_bytes)
        self.taken.append(report)
        return report
