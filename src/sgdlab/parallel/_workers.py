"""Waiting for worker threads so that a failure or Ctrl-C never hangs: shared by hogwild and
hogwild_mf."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, wait
from contextlib import contextmanager

import numpy as np

#: How often the main thread wakes while it waits: KeyboardInterrupt is delivered only to it.
POLL_SECONDS = 0.05


def wait_all(futures, stop: np.ndarray, what: str, epoch: int) -> list[int]:
    """Wait for every worker of an epoch; on a worker's exception or Ctrl-C, stop the others first.

    The workers check ``stop`` between blocks of work. A worker's exception is raised as itself (its
    traceback shows the worker's frames), with a note naming ``what`` worker and the epoch."""
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                break
    except BaseException:
        stop_and_drain(futures, stop)
        raise
    failed = [(k, f.exception()) for k, f in enumerate(futures) if f.done() and f.exception() is not None]
    if failed:
        stop_and_drain(futures, stop)
        worker, err = failed[0]
        err.add_note(f"(raised in {what} worker {worker} of {len(futures)}, epoch {epoch}; "
                     "the other workers were stopped)")
        raise err
    return [f.result() for f in futures]


def stop_and_drain(futures, stop: np.ndarray) -> None:
    """Raise the stop flag, cancel what has not started, and wait until every worker has returned."""
    stop[0] = 1
    for f in futures:
        f.cancel()
    while not all(f.done() for f in futures):  # short: a worker stops within one block
        wait(futures, timeout=POLL_SECONDS)


@contextmanager
def deferred_interrupt(stop: np.ndarray) -> Iterator[list[int]]:
    """Turn Ctrl-C into "raise the stop flag", then KeyboardInterrupt once the workers are out.

    A KeyboardInterrupt raised asynchronously can land between a lock's acquire and the block that
    releases it (inside the thread pool, say) and hang the shutdown. Here SIGINT only sets ``stop``:
    the kernels return within a block, the caller sees the returned list non-empty and stops
    submitting work, and KeyboardInterrupt is raised on the way out. Only in the main thread with
    Python's default handler installed; elsewhere Ctrl-C is left as it is."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield []
        return
    interrupted: list[int] = []

    def on_sigint(signum, frame):
        interrupted.append(signum)
        stop[0] = 1

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt

