"""`fnproxy serve`'s log handler: the lines one event-loop iteration logs go out in one write.

At the default LOG_LEVEL (INFO) every request logs its audit line and every invocation its
CloudEvent: two lines, and with a plain StreamHandler two `write` system calls and two
flushes, on the loop's thread. Here a line logged on a thread running an event loop is
formatted at once and queued; the first queued line of an iteration asks the loop for one
write of them all once the callbacks due now have run (`call_soon`), so a busy loop writes
many lines per system call and a line still leaves within the iteration that logged it.

A line goes out at once, after those queued before it, when it is logged where no loop runs
(start-up, the store's worker thread) or at ERROR or above. `flush` and `close` (logging's
shutdown at exit) write what is queued. A process killed outright loses at most the lines of
the iteration it was in. Cloud entry points keep their own handlers, which write each line
at once: a Lambda or Cloud Run instance may be frozen as soon as it has answered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import TextIO


class LoopBatchedStreamHandler(logging.StreamHandler):
    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._queued: list[str] = []
        self._write_on: asyncio.AbstractEventLoop | None = None
        """The loop that will write the queued lines (None: no write is scheduled)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Called by `handle` with the handler's lock held."""
        try:
            line = self.format(record) + self.terminator
        except Exception:  # noqa: BLE001 - as StreamHandler.emit: logging never raises
            self.handleError(record)
            return
        self._queued.append(line)
        loop = _running_loop()
        if loop is None or record.levelno >= logging.ERROR:
            self._write_queued()
        elif self._write_on is None or self._write_on.is_closed():
            self._write_on = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what is queued: the loop's scheduled write, and logging's shutdown."""
        with self.lock:
            self._write_queued()

    def _write_queued(self) -> None:
        """Write the queued lines in one call (with the lock held)."""
        self._write_on = None
        if not self._queued:
            return
        records, text, self._queued = len(self._queued), "".join(self._queued), []
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception as error:  # noqa: BLE001 - a broken stream never breaks callers
            _report_lost(records, error)


def _report_lost(records: int, error: Exception) -> None:
    """Say on stderr that `records` log records could not be written, as `handleError` does."""
    if logging.raiseExceptions and sys.stderr:
        with contextlib.suppress(Exception):
            sys.stderr.write(f"--- Logging error ---\n{records} records not written: {error!r}\n")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
