"""`fnproxy serve`'s log handler: one write per event-loop iteration, nothing lost or reordered."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator

import pytest

from handlers.log_batching import LoopBatchedStreamHandler


class RecordingStream:
    """A text stream that keeps each `write` call apart."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        return None


class BrokenStream(RecordingStream):
    def write(self, text: str) -> int:
        raise BrokenPipeError("the reader went away")


@pytest.fixture
def stream() -> RecordingStream:
    return RecordingStream()


@pytest.fixture
def log(stream: RecordingStream) -> Iterator[logging.Logger]:
    logger = logging.getLogger("test.log_batching")
    handler = LoopBatchedStreamHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger
    logger.removeHandler(handler)


async def test_the_lines_of_one_loop_iteration_go_out_in_one_write_once_it_has_run(
    log: logging.Logger, stream: RecordingStream
) -> None:
    log.info("first")
    log.info("second")
    assert stream.writes == []

    await asyncio.sleep(0)

    assert stream.writes == ["first\nsecond\n"]


async def test_the_next_iteration_writes_its_own_lines(
    log: logging.Logger, stream: RecordingStream
) -> None:
    log.info("one")
    await asyncio.sleep(0)
    log.info("two")
    await asyncio.sleep(0)

    assert stream.writes == ["one\n", "two\n"]


def test_a_line_logged_where_no_loop_runs_goes_out_at_once(
    log: logging.Logger, stream: RecordingStream
) -> None:
    log.info("starting")

    assert stream.writes == ["starting\n"]


async def test_an_error_goes_out_at_once_after_the_lines_queued_before_it(
    log: logging.Logger, stream: RecordingStream
) -> None:
    log.info("before")
    log.error("failed")

    assert stream.writes == ["before\nfailed\n"]


async def test_a_line_from_a_thread_without_a_loop_keeps_the_order(
    log: logging.Logger, stream: RecordingStream
) -> None:
    log.info("on the loop")
    worker = threading.Thread(target=log.warning, args=("on a worker thread",))
    worker.start()
    worker.join()  # the loop is held meanwhile: its scheduled write has not run yet

    assert stream.writes == ["on the loop\non a worker thread\n"]


async def test_flush_writes_what_is_queued(log: logging.Logger, stream: RecordingStream) -> None:
    log.info("at shutdown")
    for handler in log.handlers:
        handler.flush()

    assert stream.writes == ["at shutdown\n"]


def test_a_loop_closed_before_its_write_leaves_no_later_line_behind(
    log: logging.Logger, stream: RecordingStream
) -> None:
    loop = asyncio.new_event_loop()
    loop.call_soon(log.info, "last line of a loop")
    loop.call_soon(loop.stop)  # the same iteration: the write the line asked for never runs
    loop.run_forever()
    loop.close()
    assert stream.writes == []

    asyncio.run(_log_then_yield(log, "first line of the next loop"))

    assert "".join(stream.writes) == "last line of a loop\nfirst line of the next loop\n"


async def _log_then_yield(log: logging.Logger, message: str) -> None:
    log.info(message)
    await asyncio.sleep(0)


async def test_a_broken_stream_loses_the_lines_but_never_raises(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logger = logging.getLogger("test.log_batching.broken")
    handler = LoopBatchedStreamHandler(BrokenStream())  # type: ignore[arg-type]
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("one")
        logger.warning("two")
        await asyncio.sleep(0)
    finally:
        logger.removeHandler(handler)

    assert "2 records not written" in capsys.readouterr().err
