"""Running ``sgdlab compare``: the trials of the protocol, in parallel, into the store.

:func:`run_trial` trains one :class:`~sgdlab.compare.protocol.TrialSpec` and returns its record;
:func:`run_compare` plans the trials of a comparison, skips those the store already holds, runs the
rest in ``jobs`` worker processes (each single-threaded), stores each trial as soon as it finishes,
and schedules a pair's reruns as soon as its tuning is complete. Interrupted (Ctrl-C, ``kill -9``),
the same call resumes where it stopped.
"""

from __future__ import annotations

import functools
import json
import math
import os
import threading
import time
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import multiprocessing

from . import protocol
from .._validation import Instance, Int, Options, Real, Seq, check, validate
from ..problems.base import MODES, Problem
from .protocol import TrialSpec
from .store import Store

#: How many times a trial whose worker process died (a crash, the OOM killer) is tried again.
RETRIES_AFTER_CRASH = 2
#: The main process wakes this often while it waits, so that Ctrl-C is handled promptly.
POLL_SECONDS = 0.2


@functools.lru_cache(maxsize=None)
def _problem(name: str):
    from .. import problems

    return problems.get(name)


@validate(spec=Instance(TrialSpec, what="a TrialSpec"), phase=Options("tune", "rerun"))
def run_trial(spec: TrialSpec, phase: str = "tune", problem: Any = None) -> dict[str, Any]:
    """Train ``spec`` and return its record (the store's format, see :mod:`sgdlab.compare.store`).

    The model is built from ``spec.seed`` (``torch.manual_seed`` then ``problem.build``), the
    optimizer is ``sgdlab.optim.create(spec.optimizer, ..., lr=spec.lr, convention=...)`` with its
    other hyper-parameters at their defaults, and ``sgdlab.train.fit`` trains it with validation
    every epoch; the final model is evaluated on the test split. A non-finite training or
    validation loss ends the trial as ``"diverged"`` (its history keeps the epochs before); any other
    exception ends it as ``"error"`` with the traceback. Never raises for a failing trial.

    ``problem`` is the :class:`~sgdlab.problems.base.Problem` to train (default: the registry's
    ``spec.problem``).
    """
    import torch

    import sgdlab
    from .. import optim
    from ..train import fit
    from ..train.callbacks import Callback
    from ..train.loop import evaluate

    started = time.perf_counter()
    history: list[dict[str, Any]] = []
    record: dict[str, Any] = {
        **spec.as_dict(), "key": spec.key, "phase": phase, "status": "ok", "error": None,
        "final_val_metric": None, "final_test_metric": None, "final_test_loss": None,
        "history": history, "config": {}, "sgdlab_version": sgdlab.__version__,
        "torch_version": torch.__version__,
    }

    class _Collect(Callback):
        updates = 0
        elapsed = 0.0

        def on_epoch_end(self, ctx, r):
            self.updates += r["updates"]
            self.elapsed += r["time"]
            val_metric = r["val_metric"] if r["val_metric"] is not None else r["val_loss"]
            history.append({"epoch": r["epoch"], "updates": self.updates, "train_loss": r["train_loss"],
                            "val_loss": r["val_loss"], "val_metric": val_metric, "time": self.elapsed})
            if r["val_loss"] is None or not math.isfinite(r["val_loss"]):
                ctx.stop("diverged: the validation loss is not finite")

    try:
        problem = _problem(spec.problem) if problem is None else problem
        torch.manual_seed(spec.seed)
        task = problem.build(spec.seed)
        opt = optim.create(spec.optimizer, task.model.parameters(), lr=spec.lr, convention=spec.convention)
        record["config"] = {
            "optimizer": {k: v for k, v in opt.defaults.items() if k != "params"},
            "problem": {"title": problem.title, "metric": problem.metric, "target": problem.target},
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hist = fit(task.model, task.loss_fn, task.train, optimizer=opt, epochs=spec.epochs,
                       batch_size=spec.batch_size, val=task.val, metric=task.metric_fn, seed=spec.seed,
                       progress=False, callbacks=[_Collect()])
        if hist.stopped_early:
            record["status"] = "diverged"
        else:
            last = history[-1]
            test_loss, test_metric = evaluate(task.model, task.loss_fn, task.test, task.metric_fn)
            test_metric = test_loss if test_metric is None else test_metric
            if not (math.isfinite(test_loss) and math.isfinite(test_metric)):
                record["status"] = "diverged"
            else:
                record.update(final_val_metric=last["val_metric"], final_test_metric=float(test_metric),
                              final_test_loss=float(test_loss))
    except FloatingPointError:
        record["status"] = "diverged"
    except Exception:  # noqa: BLE001 - a failing trial is recorded, not raised
        record["status"] = "error"
        record["error"] = traceback.format_exc()
    record["config"] = json.loads(json.dumps(record["config"], default=str))
    record["wall_time"] = time.perf_counter() - started
    record["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


def _init_worker(parent: int) -> None:
    import signal

    import torch

    torch.set_num_threads(1)
    # Ctrl-C is the main process's to handle: it stops the pool; a worker would only die mid-trial.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A main process killed outright (kill -9) cannot stop its pool, and the pool's queue never
    # closes (every worker holds both of its ends): each worker leaves when its parent is gone.
    # The parent's pid comes from the parent: asked here, a worker that starts after its parent died
    # would get its new parent's (init's) and wait for it forever.
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


@dataclass
class CompareResult:
    """What :func:`run_compare` did: the records of the comparison (stored and new), how many trials
    it ran and how many it found in the store, and the problems (resolved from their names)."""

    records: list[dict[str, Any]]
    ran: int
    reused: int
    specs: list[TrialSpec] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class _InlineExecutor:
    """``jobs=1``: trials run in this process, one at a time, when submitted."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as err:  # KeyboardInterrupt propagates from the caller's loop
            if not isinstance(err, Exception):
                raise
            future.set_exception(err)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def _pool(jobs: int) -> ProcessPoolExecutor:
    # spawn: a forked child of a process whose torch has started its thread pools can deadlock.
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(os.getpid(),))


def _terminate(executor: Any) -> None:
    """Stop a process pool now: cancel the queue and end the running trials (their results would be
    thrown away anyway: a trial is stored only when it finishes)."""
    if isinstance(executor, ProcessPoolExecutor):
        processes = list(getattr(executor, "_processes", {}).values())  # no public API before 3.14
        executor.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            if p.is_alive():
                p.terminate()
        for p in processes:
            p.join(timeout=5)


@dataclass(frozen=True)
class Settings:
    """The checked arguments of a comparison (see :func:`settings`)."""

    problems: dict[str, Problem]  # name -> problem, in the order given
    custom: dict[str, Problem]  # those given as Problem objects (they travel with their trials)
    optimizers: tuple[str, ...]
    mode: str
    seeds: int
    lrs: tuple[float, ...]
    convention: str
    jobs: int


def settings(problems: Sequence[Any], optimizers: Sequence[str], *, mode: str = "quick",
             seeds: int | None = None, grid: Sequence[float] | None = None, convention: str = "paper",
             jobs: int | None = None) -> Settings:
    """The arguments of :func:`run_compare` checked (each error names the argument, the value and what
    was expected), with their defaults filled in and the problem names resolved."""
    from .. import optim
    from .. import problems as registry

    mode = check("mode", mode, Options(*MODES))
    optimizers = check("optimizers", optimizers, Seq(Options(*optim.available()), min_length=1))
    seeds = check("seeds", protocol.default_seeds(mode) if seeds is None else seeds, Int(1))
    lrs = check("grid", protocol.grid(mode) if grid is None else grid, Seq(Real(0, closed="neither"), min_length=1))
    convention = check("convention", convention, Options(*optim.CONVENTIONS))
    jobs = check("jobs", (os.cpu_count() or 1) if jobs is None else jobs, Int(1))
    items = check("problems", problems, Seq(_PROBLEM, min_length=1))
    resolved: dict[str, Problem] = {}
    custom: dict[str, Problem] = {}
    for item in items:
        if isinstance(item, str):
            resolved[item] = registry.get(item)  # names the problems there are
        else:
            resolved[item.name] = custom[item.name] = item
    return Settings(resolved, custom, optimizers, mode, seeds, lrs, convention, jobs)


_PROBLEM = Instance(str, Problem, what="a problem name or a sgdlab.problems.Problem")


def run_compare(
    store: Store,
    problems: Sequence[Any],
    optimizers: Sequence[str],
    *,
    mode: str = "quick",
    seeds: int | None = None,
    grid: Sequence[float] | None = None,
    convention: str = "paper",
    jobs: int | None = None,
    progress: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> CompareResult:
    """Run (or resume) a comparison of ``optimizers`` on ``problems`` and return its records.

    ``problems`` are names of :mod:`sgdlab.problems` (``"libsvm:PATH"`` included) or
    :class:`~sgdlab.problems.base.Problem` objects (picklable, i.e. with a module-level
    builder, when ``jobs`` > 1).

    Per optimizer x problem the learning rate is tuned on ``grid`` (default: the mode's, see
    :mod:`sgdlab.compare.protocol`) with seed 0 for the problem's ``mode`` budget, and the best is
    rerun with seeds 1 .. ``seeds``-1. Trials already in ``store`` are not run again. ``jobs`` worker
    processes (default: the number of cores) run the trials; each is stored as soon as it finishes,
    so an interrupted run loses at most the trials that were running. ``on_record(record)`` is
    called after each new trial is stored.
    """
    check("store", store, Instance(Store, what="a sgdlab.compare.Store"))
    plan = settings(problems, optimizers, mode=mode, seeds=seeds, grid=grid, convention=convention, jobs=jobs)
    resolved, custom = plan.problems, plan.custom
    problems, optimizers, seeds, lrs, jobs = list(resolved), plan.optimizers, plan.seeds, plan.lrs, plan.jobs

    pairs = [(p, o) for p in problems for o in optimizers]
    tuning = {}
    for p, o in pairs:
        budget = resolved[p].budget(mode)
        tuning[p, o] = protocol.tuning_specs(p, o, lrs, budget.epochs, budget.batch_size, convention)
    done = store.keys()
    specs: list[TrialSpec] = [s for ss in tuning.values() for s in ss]
    total = len(specs) + len(pairs) * (seeds - 1)
    ran = 0

    def reruns(pair: tuple[str, str]) -> list[TrialSpec]:
        best = protocol.select_best(store.trials(keys=[s.key for s in tuning[pair]]),
                                    resolved[pair[0]].higher_is_better)
        if best is None:
            return []
        best_spec = next(s for s in tuning[pair] if s.key == best["key"])
        return protocol.rerun_specs(best_spec, seeds)

    def schedule_reruns(pair: tuple[str, str], stored: set[str]) -> int:
        """Queue (in front) the reruns of a tuned pair that ``stored`` lacks; returns how many it has."""
        extra = reruns(pair)
        specs.extend(extra)
        fresh = [(s, "rerun") for s in extra if s.key not in stored]
        queue.extendleft(reversed(fresh))
        return len(extra) - len(fresh)

    queue: deque[tuple[TrialSpec, str]] = deque()
    waiting: dict[tuple[str, str], set[str]] = {}
    for pair in pairs:
        missing = {s.key for s in tuning[pair]} - done
        if missing:
            waiting[pair] = missing
            queue.extend((s, "tune") for s in tuning[pair] if s.key in missing)
    for pair in pairs:
        if pair not in waiting:
            schedule_reruns(pair, done)
    reused = total - len(queue) - sum(seeds - 1 for pair in waiting)

    bar = _ProgressBar(total, reused, enabled=progress)
    executor: Any = _InlineExecutor() if jobs == 1 else _pool(jobs)
    inflight: dict[Future, tuple[TrialSpec, str]] = {}
    crashes: dict[str, int] = {}
    try:
        while queue or inflight:
            while queue and len(inflight) < 2 * jobs:
                spec, phase = queue.popleft()
                inflight[executor.submit(run_trial, spec, phase, custom.get(spec.problem))] = (spec, phase)
            finished, _ = wait(list(inflight), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                spec, phase = inflight.pop(future)
                try:
                    record = future.result()
                except BrokenProcessPool:
                    crashes[spec.key] = crashes.get(spec.key, 0) + 1
                    if crashes[spec.key] <= RETRIES_AFTER_CRASH:
                        queue.appendleft((spec, phase))
                        continue
                    record = _crashed(spec, phase)
                store.add(record)
                ran += 1
                bar.advance(record)
                if on_record is not None:
                    on_record(record)
                pair = (spec.problem, spec.optimizer)
                if phase == "tune" and pair in waiting:
                    waiting[pair].discard(spec.key)
                    if not waiting[pair]:
                        del waiting[pair]
                        bar.skip(schedule_reruns(pair, store.keys()))
            if getattr(executor, "_broken", False):
                # A worker died (a crash, the OOM killer): the pool is unusable. Its other trials
                # go back to the queue and a new pool takes over.
                for other in list(inflight):
                    queue.appendleft(inflight.pop(other))
                _terminate(executor)
                executor = _pool(jobs)
    except BaseException:
        _terminate(executor)
        bar.close()
        raise
    executor.shutdown()
    bar.close()
    wanted = {s.key for s in specs}
    return CompareResult(records=store.trials(keys=wanted), ran=ran, reused=total - ran, specs=specs,
                         problems=list(resolved.values()))


def _crashed(spec: TrialSpec, phase: str) -> dict[str, Any]:
    import torch

    import sgdlab

    return {**spec.as_dict(), "key": spec.key, "phase": phase, "status": "error",
            "error": "the worker process running this trial died (a crash or the out-of-memory killer)",
            "final_val_metric": None, "final_test_metric": None, "final_test_loss": None, "history": [],
            "config": {}, "sgdlab_version": sgdlab.__version__, "torch_version": torch.__version__,
            "wall_time": 0.0, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


class _ProgressBar:
    """A rich progress bar over the trials: done/total, diverged and failed counts, time left."""

    def __init__(self, total: int, reused: int, enabled: bool) -> None:
        self.diverged = self.failed = 0
        self.progress = None
        if not enabled:
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.progress = Progress(TextColumn("[bold]compare[/]"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("trials"), TimeElapsedColumn(), TextColumn("left"),
                                 TimeRemainingColumn(), TextColumn("{task.fields[note]}"))
        self.progress.start()
        note = f"({reused} from the store)" if reused else ""
        self.task = self.progress.add_task("trials", total=total, completed=reused, note=note)
        self.reused = reused

    def advance(self, record: dict[str, Any]) -> None:
        self.diverged += record["status"] == "diverged"
        self.failed += record["status"] == "error"
        if self.progress is not None:
            parts = [f"{self.reused} from the store"] if self.reused else []
            if self.diverged:
                parts.append(f"{self.diverged} diverged")
            if self.failed:
                parts.append(f"[red]{self.failed} failed[/]")
            self.progress.update(self.task, advance=1, note=", ".join(parts))

    def skip(self, n: int) -> None:
        if self.progress is not None and n:
            self.reused += n
            self.progress.update(self.task, advance=n)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
