"""Worker threads: waiting for them so that a failure or Ctrl-C never hangs (shared by hogwild and
hogwild_mf), and hogwild's crews of started threads, kept from one call to the next."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
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


#: crews kept idle between calls, at most this many (the least recently used is ended first)
MAX_IDLE_CREWS = 2
#: an idle crew keeps its arrays (``Crew.array``) only while they hold at most this many bytes
MAX_KEPT_BYTES = 64 * 2**20


class Crew:
    """Started threads for one call: ``pool``, ``workers`` threads for the epochs' kernels, and
    ``helper``, one thread for the work beside them (the next epoch's order). All are running, and
    have met at a barrier, when the constructor returns: a pool otherwise starts a thread on its
    first task, and the first epoch would time the start (and a thread's start waits for the
    process's memory map, which running threads' first touches of new arrays hold)."""

    def __init__(self, workers: int, prefix: str):
        self.workers, self.prefix = workers, prefix
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=prefix)
        self.helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{prefix}-order")
        ready = threading.Barrier(workers + 2)
        started = [executor.submit(_meet, ready) for executor in [self.pool] * workers + [self.helper]]
        ready.wait(60)
        self.threads = frozenset(f.result() for f in started)
        self.helper_id = started[-1].result().native_id
        self.helper_cpus: set[int] | None = None  # its affinity as last set (None: as it started)
        self.arrays: dict[str, np.ndarray] = {}

    def keep_helper_off_this_cpu(self) -> None:
        """Let the helper run on any CPU the calling thread may use but the one it runs on now.

        Woken by a thread that goes on computing, an idle thread is queued on the waker's CPU
        (Linux's wake-affine placement) and runs only when the scheduler moves it to an idle one:
        on 2026-12-04's 2-vCPU VM, 1.5-4 ms later for a thread idle 10 ms or more (0.1 ms if the waker
        blocks instead). Kept off the caller's CPU, it is woken on another: the helper's task then
        began 0.3 ms after its submission instead of 0.8-2 ms. Nothing is changed where the CPU or
        the affinity cannot be known or set."""
        cpu = _current_cpu()
        if cpu is None:
            return
        try:
            allowed = os.sched_getaffinity(0)
            cpus = (allowed - {cpu}) or allowed
            if cpus != self.helper_cpus:
                os.sched_setaffinity(self.helper_id, cpus)
                self.helper_cpus = cpus
        except OSError:  # a thread gone, a CPU set the process may not use: leave it
            pass

    def array(self, name: str, size: int, dtype=np.float64) -> np.ndarray:
        """A 1-d array of ``size`` ``dtype`` items, kept with the crew for the next call that asks for one
        of that name, size and type (its contents: what the last call left; zeros when new). Its
        memory stays mapped: each page of a new array costs a page fault when first touched, and
        the 2-worker set-up's new arrays (the orders, the replicas; 7.6 MB for 400,000 rows and
        50,000 features) cost 0.5-1 ms of them on 2026-12-04's VM."""
        kept = self.arrays.get(name)
        if kept is None or kept.size != size or kept.dtype != np.dtype(dtype):
            kept = self.arrays[name] = np.zeros(size, dtype)
        return kept

    def shutdown(self, wait: bool = True) -> None:
        self.arrays.clear()
        self.pool.shutdown(wait=wait, cancel_futures=True)
        self.helper.shutdown(wait=wait, cancel_futures=True)


def _load_sched_getcpu():
    if not hasattr(os, "sched_setaffinity"):  # Linux only
        return None
    try:
        import ctypes

        function = ctypes.CDLL(None).sched_getcpu
    except (OSError, AttributeError):
        return None
    function.restype, function.argtypes = ctypes.c_int, []
    return function


_sched_getcpu = _load_sched_getcpu()


def _current_cpu() -> int | None:
    """The CPU the calling thread runs on (None where it cannot be known)."""
    if _sched_getcpu is None:
        return None
    cpu = _sched_getcpu()
    return cpu if cpu >= 0 else None


def _meet(barrier: threading.Barrier) -> threading.Thread:
    barrier.wait(60)
    return threading.current_thread()


_idle_crews: list[Crew] = []  # least recently used first
_crews_lock = threading.Lock()


@contextmanager
def crew(workers: int, prefix: str) -> Iterator[Crew]:
    """A crew of ``workers`` (+ 1) started threads for the block: an idle one kept by an earlier call
    if there is one (no thread to start: 0.5-1 ms of a call's set-up on 2026-12-04's 2-vCPU VM),
    else a new one. After the block it is kept idle for the next call (at most MAX_IDLE_CREWS are,
    :func:`release_crews` ends them); if the block raised, it is ended, so that no thread of a
    failed call outlives it. Concurrent calls each get a crew of their own."""
    with _crews_lock:
        found = next((c for c in reversed(_idle_crews) if c.workers == workers and c.prefix == prefix), None)
        if found is not None:
            _idle_crews.remove(found)
    team = found if found is not None else Crew(workers, prefix)
    try:
        yield team
    except BaseException:
        team.shutdown()
        raise
    if sum(a.nbytes for a in team.arrays.values()) > MAX_KEPT_BYTES:
        team.arrays.clear()
    with _crews_lock:
        _idle_crews.append(team)
        evicted = _idle_crews[:-MAX_IDLE_CREWS]
        del _idle_crews[:-MAX_IDLE_CREWS]
    for old in evicted:
        old.shutdown(wait=False)


def idle_threads() -> frozenset[threading.Thread]:
    """The threads of the crews kept idle between calls."""
    with _crews_lock:
        return frozenset().union(*(c.threads for c in _idle_crews))


def release_crews() -> int:
    """End the idle crews' threads (they are started again by the next call that needs them);
    returns how many threads were ended."""
    with _crews_lock:
        crews = list(_idle_crews)
        _idle_crews.clear()
    for c in crews:
        c.shutdown()
    return sum(len(c.threads) for c in crews)


def _forget_crews_after_fork() -> None:
    # a forked child has only the forking thread: the crews' threads are not there to run anything
    global _crews_lock
    _idle_crews.clear()
    _crews_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_crews_after_fork)
