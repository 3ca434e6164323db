"""Timing Hogwild! with 1, 2, ... workers, with and without a lock, beside scikit-learn: the harness of
``sgdlab hogwild`` and ``benchmarks/hogwild.py`` (the tables of docs/hogwild.md).

:func:`measure` runs every contender on the same train/test split (:func:`split`), ``repeats`` rounds
in turn (round-robin, the order rotating each round, so that a slow spell of a shared machine hits
them alike) and returns a :class:`Measurement` of :class:`Run` records; :func:`header`,
:func:`format_table` and :func:`format_notes` render it as Markdown. :func:`machine_parallelism` and
:func:`core_to_core_round_trip_ns` probe how much of the machine the runs had.

Every contender is timed for the whole call, as a user times it (for Hogwild!, ``hogwild(...)`` from its
checks to its result, with its default ``objective="final"``), and per epoch. The baselines are
scikit-learn's ``SGDClassifier`` with the same loss, L2 penalty, alpha, epochs and no intercept, twice:
"sklearn SGDClassifier.fit", the whole call a user makes (``fit`` with ``max_iter=epochs, tol=None`` and
its default step schedule, "optimal"), and "sklearn SGDClassifier", per epoch with Hogwild!'s step
schedule (``learning_rate="constant"``, one ``partial_fit`` per epoch with ``eta0 = lr * decay^epoch``,
reshuffled each epoch, ``shuffle=True``, a seeded RandomState; each ``partial_fit`` timed). It applies the
L2 term to all coordinates at each step (by rescaling w), as Hogwild!'s default ``l2="dense"`` does
(``l2="spread"``: to the row's coordinates scaled by 1/frequency): the same objective, which all report
(scikit-learn's computed after the clock stops).

"hogwild" runs ``hogwild``'s defaults: with 2+ workers each steps on a private replica of the weights
and folds it into the shared ones (the "hot weights" column counts those that fold during an epoch);
``plain=True`` adds "hogwild, plain" runs (``hot=0``, every update on the shared weights, the paper's
algorithm as such) for each worker count above 1.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._validation import Bool, Int, Options, Seq, validate
from . import _kernels
from .hogwild import HYPERPARAMETERS, hogwild

SKLEARN_LOSS = {"log": "log_loss", "hinge": "hinge", "squared": "squared_error"}
SKLEARN_FIT = "sklearn SGDClassifier.fit"


@dataclass
class Run:
    """One contender's measurements over all rounds."""

    name: str  # "hogwild", "hogwild, plain", "hogwild + lock", "sklearn SGDClassifier" or SKLEARN_FIT
    workers: int
    lock: bool
    hot: int | None = None  # hogwild's ``hot`` argument (None: its default)
    hot_weights: int = 0  # how many of the replicas' weights folded during an epoch (last round)
    fold_every: int = 0  # the shortest interval, in rows, between two of those folds (last round)
    round_times: list[list[float]] = field(default_factory=list)  # per round: seconds of each epoch
    wall_times: list[float] = field(default_factory=list)  # per round: seconds of the whole call
    setup_times: list[float] = field(default_factory=list)  # per round: seconds before the first epoch
    updates_per_second: list[float] = field(default_factory=list)  # one per round
    objectives: list[list[float]] = field(default_factory=list)  # per round: objective per epoch
    accuracy: list[float] = field(default_factory=list)  # per round: test accuracy (nan: no test set)
    round_trip_ns: list[float] = field(default_factory=list)  # per round: max of the checks before/after
    parallelism: list[float] = field(default_factory=list)  # per round: min of the checks before/after

    @property
    def epoch_times(self) -> list[float]:
        return [t for times in self.round_times for t in times]

    @property
    def seconds_per_epoch(self) -> float:
        return statistics.median(self.epoch_times) if self.epoch_times else float("nan")

    @property
    def best_seconds_per_epoch(self) -> float:
        return min(self.epoch_times) if self.epoch_times else float("nan")

    @property
    def wall_time(self) -> float:
        """Median seconds of the whole call (nan: not one call, as the per-epoch partial_fit baseline)."""
        return statistics.median(self.wall_times) if self.wall_times else float("nan")

    @property
    def setup_share(self) -> float:
        """Median set-up time / median epoch time (nan where there is none)."""
        if not self.setup_times or not self.epoch_times:
            return float("nan")
        return statistics.median(self.setup_times) / self.seconds_per_epoch

    @property
    def final_objective(self) -> float:
        return statistics.median(o[-1] for o in self.objectives)

    @property
    def test_accuracy(self) -> float:
        return statistics.median(self.accuracy)


@dataclass
class Measurement:
    """What :func:`measure` returns: the runs, the machine checks of each round, the data's size."""

    runs: list[Run]
    machine_parallelism: list[float]  # per round: k-thread throughput / 1-thread, pure arithmetic
    round_trip_ns: list[float]  # per round: core-to-core round trip of a cache line (nan: 1 thread)
    probe_threads: int
    n_train: int
    n_test: int
    n_features: int
    nnz: int
    load: list[tuple[float, float, float]] = field(default_factory=list)  # load average at start and end

    def reference(self) -> Run | None:
        """The lock-free Hogwild! run with the fewest workers: the speed-ups are relative to it."""
        free = [r for r in self.runs if r.name == "hogwild"]
        return min(free, key=lambda r: r.workers) if free else None


@validate(**HYPERPARAMETERS | dict(seed=Int(0)), workers=Seq(Int(1), min_length=1), lock=Bool(), plain=Bool(),
          repeats=Int(1), baseline=(Options("sklearn", "sklearn-fit"), None))
def measure(X_train, y_train, X_test=None, y_test=None, *, workers: list[int], lock: bool = False,
            baseline: str | None = "sklearn", epochs: int = 5, loss: str = "log", alpha: float = 1e-6,
            lr: float = 0.5, decay: float = 0.9, seed: int = 0, repeats: int = 1, plain: bool = False,
            fold_every: int | None = None, l2: str = "dense",
            progress: Callable[[str], None] | None = None) -> Measurement:
    """Time each contender ``repeats`` times, round-robin, on the same data; see the module docstring.

    Contenders: Hogwild! with each worker count (``hogwild``'s defaults, ``fold_every``, ``l2``), with
    ``plain`` the same without replicas (``hot=0``) for each worker count above 1, with ``lock``
    the same with ``lock=True``, and scikit-learn's SGDClassifier, per epoch and as one ``fit``, if
    ``baseline == "sklearn"`` (``"sklearn-fit"``: as one ``fit`` only). Every
    round starts with a check of the machine's parallelism (max(workers) threads of pure arithmetic
    against one); each run records the lowest parallelism and the slowest core-to-core round trip
    measured just before and after it (``Run.parallelism``, ``Run.round_trip_ns``).

    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.random(3000, 400, density=0.03, format="csr", random_state=0)
    >>> y = np.sign(X @ np.random.default_rng(0).standard_normal(400) + 1e-9)
    >>> m = measure(X, y, workers=[1, 2], lock=True, baseline=None, epochs=2)
    >>> [(r.name, r.workers) for r in m.runs]
    [('hogwild', 1), ('hogwild', 2), ('hogwild + lock', 1), ('hogwild + lock', 2)]
    """
    say = progress or (lambda message: None)
    workers = sorted(set(workers))
    contenders = [("hogwild", k, False, None) for k in workers]
    if plain:
        contenders += [("hogwild, plain", k, False, 0) for k in workers if k > 1]
    if lock:
        contenders += [("hogwild + lock", k, True, None) for k in workers]
    if baseline == "sklearn":
        contenders.append(("sklearn SGDClassifier", 1, False, None))
    if baseline in ("sklearn", "sklearn-fit"):
        contenders.append((SKLEARN_FIT, 1, False, None))
    runs = {c: Run(*c) for c in contenders}
    threads = max(workers)
    # compile (or load from the cache) and touch every page of the data before anything is timed
    hogwild(X_train, y_train, loss=loss, alpha=alpha, lr=lr, epochs=1, workers=1, l2=l2)
    _kernels.busy_arithmetic(10)
    if threads > 1:
        core_to_core_round_trip_ns(1000)
    parallelism, round_trips, load = [], [], [os.getloadavg()]
    for round_ in range(repeats):
        parallelism.append(machine_parallelism(threads))
        round_trips.append(core_to_core_round_trip_ns() if threads > 1 else float("nan"))
        shift = round_ % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            name, k, locked, hot = contender
            say(f"round {round_ + 1}/{repeats}: {name}, {k} worker(s)")
            run = runs[contender]
            before = core_to_core_round_trip_ns(5_000) if threads > 1 else float("nan")
            free_before = machine_parallelism(threads, 2_000_000)
            if name == SKLEARN_FIT:
                wall, objective, accuracy = _sklearn_fit(X_train, y_train, X_test, y_test, loss=loss,
                                                         alpha=alpha, epochs=epochs, seed=seed + round_)
                run.wall_times.append(wall)
                run.updates_per_second.append(X_train.shape[0] * epochs / wall)
                times = []
            elif name.startswith("sklearn"):
                times, objective, accuracy = _sklearn(X_train, y_train, X_test, y_test, loss=loss,
                                                      alpha=alpha, lr=lr, decay=decay, epochs=epochs,
                                                      seed=seed + round_)
                run.updates_per_second.append(X_train.shape[0] * len(times) / sum(times))
            else:
                result = hogwild(X_train, y_train, loss=loss, alpha=alpha, workers=k, epochs=epochs,
                                 lr=lr, decay=decay, lock=locked, seed=seed + round_, hot=hot,
                                 fold_every=fold_every, l2=l2)
                times, objective = result.epoch_times, result.objective
                run.wall_times.append(result.wall_time)
                run.setup_times.append(result.setup_time)
                run.hot_weights, run.fold_every = result.hot, result.fold_every
                accuracy = result.accuracy(X_test, y_test) if _has_rows(X_test) else float("nan")
                run.updates_per_second.append(result.updates_per_second)
            run.round_times.append(list(times))
            run.round_trip_ns.append(max(before, core_to_core_round_trip_ns(5_000)) if threads > 1
                                     else float("nan"))
            run.parallelism.append(min(free_before, machine_parallelism(threads, 2_000_000)))
            run.objectives.append(objective)
            run.accuracy.append(accuracy)
    load.append(os.getloadavg())
    return Measurement(runs=list(runs.values()), machine_parallelism=parallelism, round_trip_ns=round_trips,
                       probe_threads=threads, load=load,
                       n_train=X_train.shape[0], n_test=X_test.shape[0] if _has_rows(X_test) else 0,
                       n_features=X_train.shape[1], nnz=X_train.nnz)


def machine_parallelism(threads: int, n: int = 10_000_000) -> float:
    """Throughput of ``threads`` threads of pure arithmetic relative to one (``threads`` if ideal)."""
    if threads <= 1:
        return 1.0

    def timed(k: int) -> float:
        pool = [threading.Thread(target=_kernels.busy_arithmetic, args=(n,)) for _ in range(k)]
        tick = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return time.perf_counter() - tick

    one = timed(1)
    return threads * one / timed(threads)


def core_to_core_round_trip_ns(rounds: int = 20_000) -> float:
    """Nanoseconds for two threads to hand a cache line there and back (median of 3 runs)."""
    flag = np.zeros(1, np.int64)
    _kernels.ping_pong(flag, 0, 0, 1)
    times = []
    for _ in range(3):
        flag[0] = 0
        players = [threading.Thread(target=_kernels.ping_pong, args=(flag, me, 1 - me, rounds)) for me in (0, 1)]
        tick = time.perf_counter()
        for t in players:
            t.start()
        for t in players:
            t.join()
        times.append((time.perf_counter() - tick) / rounds * 1e9)
    return statistics.median(times)


def format_table(m: Measurement) -> str:
    """The Markdown table: the whole call and its set-up, time per epoch, updates/s, speed-ups (whole
    call and per epoch), final objective, test accuracy, and how many of the replicas' weights folded
    during an epoch (hot)."""
    ref = m.reference()
    ref_label = f"{ref.workers} worker" + ("s" if ref.workers > 1 else "") if ref else "-"
    lines = [f"| run | workers | whole call (s) | set-up (% of an epoch) | s/epoch (median) | s/epoch (best) "
             f"| updates/s | speed-up vs {ref_label}: whole call | per epoch | final objective "
             f"| objective vs {ref_label} | test accuracy | hot weights | fold every |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def number(value: float, fmt: str) -> str:
        return "-" if np.isnan(value) else format(value, fmt)

    for r in m.runs:
        whole = number(ref.wall_time / r.wall_time, ".2f") + "x" if ref and r.wall_times else "-"
        epoch = number(ref.seconds_per_epoch / r.seconds_per_epoch, ".2f") + "x" if ref and r.epoch_times else "-"
        change = f"{100 * (r.final_objective / ref.final_objective - 1):+.2f}%" if ref else "-"
        hogwild_run = not r.name.startswith("sklearn")
        lines.append(f"| {r.name} | {r.workers} | {number(r.wall_time, '.3f')} | {number(100 * r.setup_share, '.1f')} "
                     f"| {number(r.seconds_per_epoch, '.4f')} | {number(r.best_seconds_per_epoch, '.4f')} "
                     f"| {statistics.median(r.updates_per_second):.3g} | {whole} | {epoch} "
                     f"| {r.final_objective:.5f} | {change} | {number(r.test_accuracy, '.4f')} "
                     f"| {r.hot_weights if hogwild_run else '-'} "
                     f"| {r.fold_every if r.hot_weights else '-'} |")
    return "\n".join(lines)


def whole_call_versus_sklearn(m: Measurement) -> tuple[float, float] | None:
    """(median whole call of SGDClassifier.fit / that of the reference Hogwild! run, the reference's final
    objective / fit's - 1), or None without both."""
    ref = m.reference()
    fit = next((r for r in m.runs if r.name == SKLEARN_FIT), None)
    if ref is None or fit is None:
        return None
    return fit.wall_time / ref.wall_time, ref.final_objective / fit.final_objective - 1


def format_notes(m: Measurement) -> str:
    """What the table's numbers are, and how parallel the machine was while they were measured."""
    rounds = len(m.machine_parallelism)
    notes = [f"Medians over {rounds} round(s) of every contender in turn (all epochs of all rounds for "
             "s/epoch); the speed-ups are ratios of medians. Whole call: from the call to its result "
             "(Hogwild!'s checks, set-up, epochs and final objective; SGDClassifier.fit with its default "
             "schedule). updates/s = rows / s of SGD (one update per row); the objective is mean loss + "
             "alpha/2 ||w||^2 on the training rows."]
    versus = whole_call_versus_sklearn(m)
    if versus is not None:
        ref = m.reference()
        notes.append(f"**Whole call, Hogwild! with {ref.workers} worker(s) against SGDClassifier.fit: "
                     f"{versus[0]:.2f}x faster**, final objective {100 * versus[1]:+.2f}% against fit's.")
    if m.load:
        notes.append("Load average (1, 5, 15 min) at the start: " + ", ".join(f"{x:.2f}" for x in m.load[0])
                     + "; at the end: " + ", ".join(f"{x:.2f}" for x in m.load[-1]) + ".")
    if m.probe_threads > 1:
        p = m.machine_parallelism
        r = m.round_trip_ns
        notes.append(f"Machine check, each round: {m.probe_threads} threads of pure arithmetic ran "
                     f"{statistics.median(p):.2f}x the throughput of one (median; min {min(p):.2f}, "
                     f"max {max(p):.2f}; {m.probe_threads:.2f} = every core free); a cache line went from "
                     f"one core to the other and back in {statistics.median(r):.0f} ns (median; min "
                     f"{min(r):.0f}, max {max(r):.0f}): what a worker waits when it writes a weight the "
                     "other core wrote last.")
    return "\n\n".join(notes)


def header(source: str, m: Measurement, *, loss, alpha, lr, decay, epochs, seed, fold_every=None,
           l2: str = "dense") -> str:
    """The line above the table: the date, the data (``source``, its sizes), the settings, the versions
    and the machine."""
    import numba

    versions = f"numba {numba.__version__}"
    try:
        import sklearn

        versions += f" · scikit-learn {sklearn.__version__}"
    except ImportError:
        pass
    return (f"sgdlab hogwild · {datetime.date.today()} · {source}: {m.n_train} train rows, {m.n_test} "
            f"test rows, {m.n_features} features, {m.nnz} non-zeros in train · loss={loss} alpha={alpha:g} "
            f"lr={lr:g} decay={decay:g} epochs={epochs} seed={seed} "
            f"fold_every={'auto' if fold_every is None else fold_every} l2={l2} · {versions} · "
            f"{platform.machine()}, "
            f"{os.cpu_count()} cores")


def _sklearn(X_train, y_train, X_test, y_test, *, loss, alpha, lr, decay, epochs, seed):
    import warnings

    from sklearn.linear_model import SGDClassifier

    clf = SGDClassifier(loss=SKLEARN_LOSS[loss], penalty="l2", alpha=alpha, fit_intercept=False,
                        learning_rate="constant", eta0=lr, max_iter=1, tol=None, shuffle=True,
                        random_state=np.random.RandomState(seed))
    classes = np.array([-1.0, 1.0])
    indptr = X_train.indptr
    times, objective = [], []
    for epoch in range(epochs):
        clf.eta0 = lr * decay**epoch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tick = time.perf_counter()
            clf.partial_fit(X_train, y_train, classes=classes)
            times.append(time.perf_counter() - tick)
        w = np.ascontiguousarray(clf.coef_.ravel(), dtype=np.float64)
        objective.append(float(_kernels.objective(indptr, X_train.indices, X_train.data, y_train, w,
                                                  X_train.shape[1], alpha, _kernels.LOSS_CODES[loss], False)))
    accuracy = float(clf.score(X_test, y_test)) if _has_rows(X_test) else float("nan")
    return times, objective, accuracy


def _sklearn_fit(X_train, y_train, X_test, y_test, *, loss, alpha, epochs, seed):
    """The whole call a user makes: SGDClassifier(...).fit, timed; its objective computed afterwards."""
    import warnings

    from sklearn.linear_model import SGDClassifier

    clf = SGDClassifier(loss=SKLEARN_LOSS[loss], penalty="l2", alpha=alpha, fit_intercept=False,
                        max_iter=epochs, tol=None, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tick = time.perf_counter()
        clf.fit(X_train, y_train)
        wall = time.perf_counter() - tick
    w = np.ascontiguousarray(clf.coef_.ravel(), dtype=np.float64)
    objective = [_kernels.objective(X_train.indptr, X_train.indices, X_train.data, y_train, w,
                                    X_train.shape[1], alpha, _kernels.LOSS_CODES[loss], False)]
    accuracy = float(clf.score(X_test, y_test)) if _has_rows(X_test) else float("nan")
    return wall, objective, accuracy


def _has_rows(X) -> bool:
    return X is not None and X.shape[0] > 0


def split(X, y, test_fraction: float, seed: int):
    """``(X_train, y_train, X_test, y_test)``: a seeded random ``test_fraction`` of the rows held out,
    both parts in the rows' order."""
    n = X.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return X[train], y[train], X[test], y[test]
