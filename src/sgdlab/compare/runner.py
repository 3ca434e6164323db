"""Running ``sgdlab compare``: the trials of the protocol, in parallel, into the store.

:func:`run_trial` trains one :class:`~sgdlab.compare.protocol.TrialSpec` and returns its record;
:func:`run_compare` plans the trials of a comparison (:mod:`sgdlab.compare.protocol`), skips those the
store already holds, runs the rest in ``jobs`` worker processes (each single-threaded), stores each
trial as soon as it finishes, and, for ``--tuning lr-grid``, schedules a pair's reruns as soon as its
tuning is complete. Interrupted (Ctrl-C, ``kill -9``), the same call resumes where it stopped.

A problem without a target gets one calibrated from its own trials, the way the built-in problems'
targets were chosen (:mod:`sgdlab.problems.calibrate`): SGD, Momentum, Adam and Adagrad each over
the quick learning-rate grid, seed 0, the quick budget; the best level the tuned runs hold from the
middle of the budget on, rounded to the easier side. These 20 trials go into the store like any
other (so they resume, and are shared with a ``--tuning lr-grid --quick`` run).

Worker processes get the problems once, when they start: a registered problem and one loaded from
a file or a module (``FILE.py:ATTR``) by name, each worker loading it again and checking that its
fingerprint is still the one the trials are keyed by (a file edited during the run fails the trials
that would have used it, rather than storing them under the old key); a problem made in Python is
pickled.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import pickle
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

from . import baseline, protocol
from .._validation import Instance, Int, Options, Real, Seq, argument_error, check
from ..problems.base import MODES, Problem
from ..train.callbacks import Callback
from ..problems.calibrate import CALIBRATION_GRID, CALIBRATION_OPTIMIZERS, suggest_target, tune
from .protocol import Planned, TrialSpec
from .store import Store

#: How many times a trial whose worker process died (a crash, the OOM killer) is tried again.
RETRIES_AFTER_CRASH = 2
#: The main process wakes this often while it waits, so that Ctrl-C is handled promptly.
POLL_SECONDS = 0.2

#: In a worker: problem name -> the Problem (pickled by the parent) or the spec to load it from.
_WORKER_PROBLEMS: dict[str, Problem | str] = {}


class ProblemChanged(RuntimeError):
    """The problem a trial is keyed by is not the one its source gives any more (edited during the run)."""


@functools.lru_cache(maxsize=None)
def _loaded(source: str) -> dict[str, Problem]:
    from .. import problems

    return {p.name: p for p in problems.resolve(source)}


def _problem_for(spec: TrialSpec) -> Problem:
    """The problem of ``spec`` in this process, checked against the fingerprint the trial is keyed by."""
    entry = _WORKER_PROBLEMS.get(spec.problem, spec.problem)
    if isinstance(entry, Problem):
        return entry
    problem = _loaded(entry).get(spec.problem)
    if problem is None:
        raise ProblemChanged(f"{entry} no longer defines a problem named {spec.problem!r}")
    if problem.fingerprint != spec.problem_key:
        raise ProblemChanged(f"the problem {spec.problem!r} ({entry}) changed since the comparison started: its "
                             f"fingerprint is {problem.fingerprint}, the trial's {spec.problem_key}; run the "
                             "comparison again")
    return problem


def _labels(trial: TrialSpec | Planned) -> tuple[TrialSpec, dict[str, Any]]:
    if isinstance(trial, Planned):
        return trial.spec, trial.labels()
    return trial, {"problem": trial.problem, "tuning": "manual", "phase": "run", "study": None, "trial": None}


class _Collect(Callback):
    """Records each epoch (cumulative steps and training seconds, losses, validation metric) and stops
    a trial whose validation loss is not finite. The training seconds of an epoch run from its start
    to the end of its last optimizer step: evaluation is not timed, as in AlgoPerf."""

    def __init__(self, history: list[dict[str, Any]]) -> None:
        self.history = history
        self.updates = 0
        self.seconds = 0.0
        self._start = self._last = 0.0

    def on_epoch_begin(self, ctx: Any) -> None:
        self._start = self._last = time.perf_counter()

    def on_batch_end(self, ctx: Any, loss: float) -> None:
        self._last = time.perf_counter()

    def on_epoch_end(self, ctx: Any, r: dict[str, Any]) -> None:
        self.updates += r["updates"]
        self.seconds += self._last - self._start
        val_metric = r["val_metric"] if r["val_metric"] is not None else r["val_loss"]
        self.history.append({"epoch": r["epoch"], "updates": self.updates, "train_loss": r["train_loss"],
                             "val_loss": r["val_loss"], "val_metric": val_metric, "time": self.seconds})
        if r["val_loss"] is None or not math.isfinite(r["val_loss"]):
            ctx.stop("diverged: the validation loss is not finite")


def _base_record(spec: TrialSpec, labels: dict[str, Any]) -> dict[str, Any]:
    import torch

    import sgdlab

    return {**dataclasses.asdict(spec), **labels, "hparams": spec.params, "lr": spec.lr, "key": spec.key,
            "status": "ok", "error": None, "final_val_metric": None, "final_test_metric": None,
            "final_test_loss": None, "budget_steps": 0, "train_seconds": None, "history": [], "config": {},
            "sgdlab_version": sgdlab.__version__, "torch_version": torch.__version__, "wall_time": 0.0}


def run_trial(trial: TrialSpec | Planned, problem: Problem | None = None) -> dict[str, Any]:
    """Train one trial and return its record (the store's format, see :mod:`sgdlab.compare.store`).

    ``trial`` is a :class:`~sgdlab.compare.protocol.TrialSpec`, or a
    :class:`~sgdlab.compare.protocol.Planned` one (whose labels, ruleset, phase, study, the record
    keeps). The model is built from ``spec.seed`` (``torch.manual_seed`` then ``problem.build``); the
    optimizer is ``sgdlab.optim.create(spec.optimizer, ..., **spec.params, convention=...)``, or the
    baseline (:mod:`sgdlab.compare.baseline`) with its schedule stepped after every step; and
    ``sgdlab.train.fit`` trains it single-threaded (``torch.set_num_threads(1)`` for the trial, so that a
    trial gives the same numbers in a worker and in this process), validating every epoch. Then the
    optimizer is put in eval mode where it has one (Schedule-Free's evaluation point) and the model is
    evaluated on the test split (on the validation split where the problem has none).

    A non-finite training or validation loss ends the trial as ``"diverged"`` (its history keeps the
    epochs before); any other exception ends it as ``"error"`` with the traceback. Never raises for a
    failing trial.

    ``problem`` is the :class:`~sgdlab.problems.base.Problem` to train (default: the one this process
    has under ``spec.problem``: a worker's, or the registry's).
    """
    import torch

    from .. import optim
    from ..train import fit
    from ..train._data import Data
    from ..train.loop import evaluate

    check("trial", trial, Instance(TrialSpec, Planned, what="a TrialSpec or a Planned trial"))
    spec, labels = _labels(trial)
    started = time.perf_counter()
    record = _base_record(spec, labels)
    history: list[dict[str, Any]] = record["history"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        problem = _problem_for(spec) if problem is None else problem
        torch.manual_seed(spec.seed)
        task = problem.build(spec.seed)
        n = len(Data(task.train, "train"))
        record["budget_steps"] = spec.epochs * (1 if spec.batch_size is None else math.ceil(n / spec.batch_size))
        collect = _Collect(history)
        callbacks: list[Any] = [collect]
        if spec.optimizer == baseline.BASELINE:
            opt, schedule = baseline.make(task.model.parameters(), record["budget_steps"], **spec.params)
            callbacks.insert(0, baseline.StepEveryBatch(schedule))
        else:
            opt = optim.create(spec.optimizer, task.model.parameters(), **spec.params, convention=spec.convention)
        record["config"] = {
            "optimizer": {k: v for k, v in opt.defaults.items() if k != "params"},
            "problem": {"title": problem.title, "metric": problem.metric, "target": problem.target,
                        "fingerprint": spec.problem_key},
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hist = fit(task.model, task.loss_fn, task.train, optimizer=opt, epochs=spec.epochs,
                       batch_size=spec.batch_size, val=task.val, metric=task.metric_fn, seed=spec.seed,
                       progress=False, callbacks=callbacks)
            record["train_seconds"] = collect.seconds
            if hist.stopped_early:
                record["status"] = "diverged"
            else:
                if callable(getattr(opt, "eval", None)):
                    opt.eval()  # Schedule-Free: evaluate at the evaluation point (fit leaves it there too)
                test = task.test if task.test is not None else task.val
                test_loss, test_metric = evaluate(task.model, task.loss_fn, test, task.metric_fn)
                test_metric = test_loss if test_metric is None else test_metric
                if not (math.isfinite(test_loss) and math.isfinite(test_metric)):
                    record["status"] = "diverged"
                else:
                    record.update(final_val_metric=history[-1]["val_metric"], final_test_metric=float(test_metric),
                                  final_test_loss=float(test_loss))
    except FloatingPointError:
        record["status"] = "diverged"
        record["train_seconds"] = history[-1]["time"] if history else 0.0
    except Exception:  # noqa: BLE001 - a failing trial is recorded, not raised
        record["status"] = "error"
        record["error"] = traceback.format_exc()
    finally:
        torch.set_num_threads(threads)
    record["config"] = json.loads(json.dumps(record["config"], default=str))
    record["wall_time"] = time.perf_counter() - started
    record["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


def _init_worker(parent: int, problems: dict[str, Problem | str]) -> None:
    import signal

    import torch

    torch.set_num_threads(1)
    _WORKER_PROBLEMS.update(problems)
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
    """What :func:`run_compare` did: the records of the comparison (stored and new, each labelled as
    this run asked for it), how many trials it ran and how many it found in the store, the problems
    (their targets calibrated where they had none), the calibration trials, and the plan."""

    records: list[dict[str, Any]]
    ran: int
    reused: int
    planned: list[Planned] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    calibration: list[dict[str, Any]] = field(default_factory=list)


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


def _pool(jobs: int, problems: dict[str, Problem | str]) -> ProcessPoolExecutor:
    # spawn: a forked child of a process whose torch has started its thread pools can deadlock.
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(os.getpid(), problems))


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
    optimizers: tuple[str, ...]  # the baseline last
    mode: str
    tuning: str
    seeds: int
    trials: int
    lrs: tuple[float, ...]
    convention: str
    jobs: int

    def worker_problems(self) -> dict[str, Problem | str]:
        """What a worker process gets: the source of each problem that has one (a registered name, a
        file), the problem itself (pickled) otherwise."""
        from .. import problems as registry

        return {name: p.source or (name if registry.is_builtin(p) else p) for name, p in self.problems.items()}


_PROBLEM = Instance(str, Problem, what="a problem name, libsvm:PATH, FILE.py[:ATTR], MODULE:ATTR or a Problem")


def settings(problems: Sequence[Any], optimizers: str | Sequence[str], *, mode: str = "quick",
             tuning: str = "external", seeds: int | None = None, trials: int | None = None,
             grid: Sequence[float] | None = None, convention: str = "paper", jobs: int | None = None) -> Settings:
    """The arguments of :func:`run_compare` checked (each error names the argument, the value and what
    was expected), with their defaults filled in, the optimizer groups expanded, the baseline added, and
    the problems resolved and built once (their fingerprints: a problem that cannot be built is an
    error now, not in every trial)."""
    from .. import optim
    from .. import problems as registry

    mode = check("mode", mode, Options(*MODES))
    tuning = check("tuning", tuning, Options(*protocol.TUNINGS))
    names = protocol.select_optimizers(optimizers)
    names = tuple(n for n in names if n != baseline.BASELINE) + (baseline.BASELINE,)
    seeds = check("seeds", protocol.default_seeds(mode, tuning) if seeds is None else seeds, Int(1))
    trials = check("trials", protocol.default_trials(mode) if trials is None else trials, Int(1))
    lrs = check("grid", protocol.grid(mode) if grid is None else grid, Seq(Real(0, closed="neither"), min_length=1))
    convention = check("convention", convention, Options(*optim.CONVENTIONS))
    jobs = check("jobs", (os.cpu_count() or 1) if jobs is None else jobs, Int(1))
    items = check("problems", list(problems) if isinstance(problems, tuple) else problems, Seq(_PROBLEM, min_length=1))
    resolved: dict[str, Problem] = {}
    for i, item in enumerate(items):
        for p in registry.resolve(item) if isinstance(item, str) else [item]:
            if p.name in resolved:
                raise argument_error(f"problems[{i}]", p.name, "problems with different names: two are "
                                     f"called {p.name!r}")
            if not isinstance(item, str):
                _check_python_problem(i, p, jobs)
            resolved[p.name] = p
    return Settings(resolved, names, mode, tuning, seeds, trials, lrs, convention, jobs)


def _check_python_problem(i: int, p: Problem, jobs: int) -> None:
    try:
        p.fingerprint  # noqa: B018 - builds it with seed 0
    except Exception as err:  # noqa: BLE001 - the user's code
        message = " ".join(str(err).split())
        raise argument_error(f"problems[{i}]", p.name, f"a problem that builds: build(0) raised "
                             f"{type(err).__name__}: {message}") from None
    if jobs > 1 and p.source is None:
        from .. import problems as registry

        if registry.is_builtin(p):
            return
        try:
            pickle.dumps(p)
        except Exception as err:  # noqa: BLE001 - pickle raises several kinds
            raise argument_error(f"problems[{i}]", p.name, "a problem that pickles, to train in worker processes "
                                 "(its model_fn, loss_fn, metric and data at module level, not lambdas or local "
                                 f"functions), or jobs=1: {type(err).__name__}: {err}") from None


def calibration_plan(problem: Problem) -> list[Planned]:
    """The trials that calibrate a target for ``problem``: the landmark optimizers of
    :mod:`sgdlab.problems.calibrate` over its grid, seed 0, the quick budget, the paper convention."""
    return [p for opt in CALIBRATION_OPTIMIZERS
            for p in protocol.lr_grid_plan(problem.name, problem.fingerprint, opt, "paper", problem.quick,
                                           CALIBRATION_GRID, phase="calibrate", tuning="calibrate")]


def calibrated(problem: Problem, records: Sequence[dict[str, Any]]) -> Problem:
    """``problem`` with the target its calibration ``records`` give (NaN: every calibration run
    diverged, so no run can count as reaching it)."""
    runs = []
    for r in records:
        curve = [e["val_metric"] for e in r["history"]] if r["status"] == "ok" else None
        ok = curve is not None and all(v is not None and math.isfinite(v) for v in curve)
        runs.append((r["optimizer"], r["lr"], curve if ok else None))
    tuned, _ = tune(problem, runs)
    try:
        target = suggest_target(problem, tuned)
    except ValueError:
        target = math.nan
    return dataclasses.replace(problem, target=target, target_calibrated=True)


def run_compare(
    store: Store,
    problems: Sequence[Any],
    optimizers: str | Sequence[str] = "quick",
    *,
    mode: str = "quick",
    tuning: str = "external",
    seeds: int | None = None,
    trials: int | None = None,
    grid: Sequence[float] | None = None,
    convention: str = "paper",
    jobs: int | None = None,
    progress: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> CompareResult:
    """Run (or resume) a comparison of ``optimizers`` and the baseline on ``problems``.

    ``problems`` are names of :mod:`sgdlab.problems`, ``"libsvm:PATH"``, ``"FILE.py[:ATTR]"``,
    ``"MODULE:ATTR"`` (see :func:`sgdlab.problems.resolve`) or :class:`~sgdlab.problems.base.Problem`
    objects (picklable when ``jobs`` > 1). ``optimizers``: ``"quick"``, ``"survey"``, ``"modern"``,
    ``"all"`` or a list of names (and groups). ``tuning`` is the ruleset (``"external"``,
    ``"defaults"``, ``"lr-grid"``: see :mod:`sgdlab.compare.protocol`); ``seeds`` its studies, runs or
    rerun seeds, ``trials`` the trials per study of ``"external"``, ``grid`` the learning rates of
    ``"lr-grid"``.

    Trials already in ``store`` are not run again. ``jobs`` worker processes (default: the number of
    cores) run the trials; each is stored as soon as it finishes, so an interrupted run loses at most
    the trials that were running. ``on_record(record)`` is called after each new trial is stored.
    """
    check("store", store, Instance(Store, what="a sgdlab.compare.Store"))
    plan = settings(problems, optimizers, mode=mode, tuning=tuning, seeds=seeds, trials=trials, grid=grid,
                    convention=convention, jobs=jobs)
    resolved = plan.problems

    main: list[Planned] = []
    grid_pairs: dict[tuple[str, str], list[Planned]] = {}
    for name, p in resolved.items():
        budget = p.budget(plan.mode)
        for o in plan.optimizers:
            if plan.tuning == "external":
                main += protocol.external_plan(name, p.fingerprint, o, plan.convention, budget, plan.seeds,
                                               plan.trials)
            elif plan.tuning == "defaults":
                main += protocol.defaults_plan(name, p.fingerprint, o, plan.convention, budget, plan.seeds)
            else:
                grid_pairs[name, o] = protocol.lr_grid_plan(name, p.fingerprint, o, plan.convention, budget, plan.lrs)
                main += grid_pairs[name, o]
    calibration = {name: calibration_plan(p) for name, p in resolved.items() if p.target is None}
    planned = [c for cs in calibration.values() for c in cs] + main
    reruns_per_pair = plan.seeds - 1 if plan.tuning == "lr-grid" else 0

    done = store.keys()
    queued: set[str] = set()
    queue: deque[Planned] = deque()

    def enqueue(items: Sequence[Planned], front: bool = False) -> int:
        """Queue the trials of ``items`` not stored nor queued yet; returns how many were stored."""
        fresh = []
        for item in items:
            key = item.spec.key
            if key not in done and key not in queued:
                queued.add(key)
                fresh.append(item)
        if front:
            queue.extendleft(reversed(fresh))
        else:
            queue.extend(fresh)
        return sum(item.spec.key in done for item in items)

    def schedule_reruns(pair: tuple[str, str]) -> int:
        best = protocol.select_best(store.trials(keys=[t.spec.key for t in grid_pairs[pair]]),
                                    resolved[pair[0]].higher_is_better)
        if best is None:
            return 0
        best_planned = next(t for t in grid_pairs[pair] if t.spec.key == best["key"])
        extra = protocol.rerun_plan(best_planned, plan.seeds)
        planned.extend(extra)
        return enqueue(extra, front=True)

    unique = {t.spec.key for t in planned}
    total = len(unique) + len(grid_pairs) * reruns_per_pair
    enqueue(planned)
    waiting: dict[tuple[str, str], set[str]] = {}
    for pair, items in grid_pairs.items():
        missing = {t.spec.key for t in items} - done
        if missing:
            waiting[pair] = missing
    reused = len(unique & done)
    for pair in grid_pairs:
        if pair not in waiting:
            reused += schedule_reruns(pair)
    by_key_pairs: dict[str, list[tuple[str, str]]] = {}
    for pair, keys in waiting.items():
        for key in keys:
            by_key_pairs.setdefault(key, []).append(pair)

    ran = 0
    bar = _ProgressBar(total, reused, enabled=progress)
    workers = plan.worker_problems()
    executor: Any = _InlineExecutor() if plan.jobs == 1 else _pool(plan.jobs, workers)
    inflight: dict[Future, Planned] = {}
    crashes: dict[str, int] = {}
    try:
        while queue or inflight:
            while queue and len(inflight) < 2 * plan.jobs:
                item = queue.popleft()
                problem = resolved[item.spec.problem] if plan.jobs == 1 else None
                inflight[executor.submit(run_trial, item, problem)] = item
            finished, _ = wait(list(inflight), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                item = inflight.pop(future)
                try:
                    record = future.result()
                except BrokenProcessPool:
                    crashes[item.spec.key] = crashes.get(item.spec.key, 0) + 1
                    if crashes[item.spec.key] <= RETRIES_AFTER_CRASH:
                        queue.appendleft(item)
                        continue
                    record = _crashed(item)
                store.add(record)
                ran += 1
                bar.advance(record)
                if on_record is not None:
                    on_record(record)
                for pair in by_key_pairs.get(item.spec.key, []):
                    if pair in waiting:
                        waiting[pair].discard(item.spec.key)
                        if not waiting[pair]:
                            del waiting[pair]
                            bar.skip(schedule_reruns(pair))
            if getattr(executor, "_broken", False):
                # A worker died (a crash, the OOM killer): the pool is unusable. Its other trials
                # go back to the queue and a new pool takes over.
                for other in list(inflight):
                    queue.appendleft(inflight.pop(other))
                _terminate(executor)
                executor = _pool(plan.jobs, workers)
    except BaseException:
        _terminate(executor)
        bar.close()
        raise
    executor.shutdown()
    bar.close()

    stored = {r["key"]: r for r in store.trials(keys={t.spec.key for t in planned})}
    labelled = [{**stored[t.spec.key], **t.labels()} for t in planned if t.spec.key in stored]
    calib_records = [r for r in labelled if r["phase"] == "calibrate"]
    records = [r for r in labelled if r["phase"] != "calibrate"]
    final = [calibrated(p, [r for r in calib_records if r["problem"] == name]) if name in calibration else p
             for name, p in resolved.items()]
    return CompareResult(records=records, ran=ran, reused=total - ran, planned=planned, problems=final,
                         calibration=calib_records)


def _crashed(item: Planned) -> dict[str, Any]:
    record = _base_record(item.spec, item.labels())
    record.update(status="error", created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  error="the worker process running this trial died (a crash or the out-of-memory killer)")
    return record


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
