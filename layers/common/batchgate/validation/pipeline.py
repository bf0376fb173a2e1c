"""Threads for one file's validation: a reader thread ahead of the workers, workers in order.

Arrow parses, converts, checks and encodes without holding the GIL, so blocks of one file are
worked on side by side: :func:`prefetch` runs the reader (cutting blocks, or decoding Parquet)
one step ahead, :func:`ordered_map` runs the per-block work on ``workers`` threads and hands the
results back in the order of the blocks, so counts, row numbers and outputs come out exactly as a
serial run would write them. Both keep a fixed number of items in flight, so memory stays bounded
whatever the file's size.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_DONE = object()


# A 2 GB CSV peaked at 365 / 433 / 479 / 500 MB of RSS with 1 / 2 / 3 / 4 workers and one
# encoder (the second encoder of decision 64 adds 35-50 MB): 3 workers, the reader and two
# encoders keep about 5 of a large Lambda function's 6 vCPUs busy without a fourth worker's
# memory.
MAX_WORKERS = 3
# Blocks read but not yet written, whatever the number of workers: each holds about 45 MB with
# 8 MB blocks (the text, its parsed and converted columns, the rows waiting to be written).
IN_FLIGHT = 5


def usable_cpus() -> int:
    """The CPUs this process may use (a Lambda function gets 1 to 6 vCPUs with its memory size)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Worker threads for one file: :func:`usable_cpus`, at most :data:`MAX_WORKERS`."""
    return min(MAX_WORKERS, usable_cpus())


def depths(workers: int) -> tuple[int, int]:
    """(blocks the workers may hold, blocks the reader may cut ahead): :data:`IN_FLIGHT` in all.

    A queue one deeper than the workers keeps them busy while the oldest result is written
    (JSON Lines ran ~15 % faster with 3 than with 2 for 2 workers); the reader's share shrinks
    as the workers' grows, so memory does not grow with the vCPUs."""
    held = max(workers, IN_FLIGHT - 2)
    return held, max(1, IN_FLIGHT - held)


def prefetch(items: Iterator[T], depth: int = 2) -> Generator[T, None, None]:
    """``items`` produced by a thread of its own, at most ``depth`` ahead of the consumer. An
    exception in the producer is raised here, after the items produced before it."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        """Queue ``item`` unless the consumer has gone: a blocking put on a full queue nobody
        reads any more would keep this thread, and the consumer's join, waiting for ever."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed over to the consumer, raised there
            put(exc)

    worker = threading.Thread(target=produce, name="batchgate-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def ordered_map(
    fn: Callable[[T], R], items: Iterator[T], *, workers: int, depth: int | None = None
) -> Generator[R, None, None]:
    """``fn(item)`` for every item, on ``workers`` threads, yielded in the items' order.

    At most ``depth`` (default ``workers + 1``) calls are queued or running. If ``items`` raises,
    the results of the items before it are yielded first, then the exception is raised; if a
    call raises, its exception is raised in that call's place and nothing after it is yielded.
    """
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    limit = depth or workers + 1
    pending: deque[Future[R]] = deque()
    source_error: BaseException | None = None
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batchgate-worker")
    try:
        while True:
            try:
                item = next(items)
            except StopIteration:
                break
            except BaseException as exc:  # raised once the results before it are out
                source_error = exc
                break
            pending.append(pool.submit(fn, item))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
        if source_error is not None:
            raise source_error
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
