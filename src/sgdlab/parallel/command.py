"""``sgdlab hogwild``: Hogwild! with 1, 2, ... workers, with and without a lock, beside scikit-learn.

:func:`measure` runs every contender on the same train/test split, ``repeats`` rounds in turn
(round-robin, the order rotating each round, so that a slow spell of a shared machine hits them
alike) and returns :class:`Run` records; :func:`format_table` renders them as Markdown;
:func:`hogwild_command` is the command (``cli_hogwild`` its typer signature). ``benchmarks/hogwild.py``
uses the same functions for docs/hogwild.md.

The baseline is scikit-learn's ``SGDClassifier`` with the same loss, L2 penalty, alpha, epochs, no
intercept, and the same step schedule: ``learning_rate="constant"``, one ``partial_fit`` per epoch with
``eta0 = lr * decay^epoch``, reshuffled each epoch (``shuffle=True``, a seeded RandomState). Each epoch's
``partial_fit`` is timed. It applies the L2 term to all coordinates at each step (by rescaling w),
Hogwild! to the row's coordinates scaled by 1/frequency: the same objective, which both report.

"hogwild" runs ``hogwild``'s defaults: with 2+ workers each keeps private copies of the hot weights
(the "hot" column counts them); ``plain=True`` (``--plain``) adds "hogwild, plain" runs (``hot=0``,
every update in place, the paper's algorithm as such) for each worker count above 1.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import typer

from . import _kernels
from .hogwild import _check_float, _check_int, _loss_code, hogwild

SKLEARN_LOSS = {"log": "log_loss", "hinge": "hinge", "squared": "squared_error"}
BASELINES = ("sklearn", "none")


@dataclass
class Run:
    """One contender's measurements over all rounds."""

    name: str  # "hogwild", "hogwild, plain", "hogwild + lock" or "sklearn SGDClassifier"
    workers: int
    lock: bool
    hot: int | None = None  # hogwild's ``hot`` argument (None: its default)
    hot_weights: int = 0  # how many weights each worker kept a private copy of (last round)
    fold_every: int = 0  # rows between two folds of those copies (last round)
    round_times: list[list[float]] = field(default_factory=list)  # per round: seconds of each epoch
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
        return statistics.median(self.epoch_times)

    @property
    def best_seconds_per_epoch(self) -> float:
        return min(self.epoch_times)

    @property
    def final_objective(self) -> float:
        return statistics.median(o[-1] for o in self.objectives)

    @property
    def test_accuracy(self) -> float:
        return statistics.median(self.accuracy)


@dataclass
class Measurement:
    runs: list[Run]
    machine_parallelism: list[float]  # per round: k-thread throughput / 1-thread, pure arithmetic
    round_trip_ns: list[float]  # per round: core-to-core round trip of a cache line (nan: 1 thread)
    probe_threads: int
    n_train: int
    n_test: int
    n_features: int
    nnz: int

    def reference(self) -> Run | None:
        """The lock-free Hogwild! run with the fewest workers: the speed-ups are relative to it."""
        free = [r for r in self.runs if r.name == "hogwild"]
        return min(free, key=lambda r: r.workers) if free else None


def measure(X_train, y_train, X_test=None, y_test=None, *, workers: list[int], lock: bool = False,
            baseline: str | None = "sklearn", epochs: int = 5, loss: str = "log", alpha: float = 1e-6,
            lr: float = 0.5, decay: float = 0.9, seed: int = 0, repeats: int = 1, plain: bool = False,
            fold_every: int | None = None, progress: Callable[[str], None] | None = None) -> Measurement:
    """Time each contender ``repeats`` times, round-robin, on the same data; see the module docstring.

    Contenders: Hogwild! with each worker count (``hogwild``'s defaults, ``fold_every``), with
    ``plain`` the same without hot copies (``hot=0``) for each worker count above 1, with ``lock``
    the same with ``lock=True``, and scikit-learn's SGDClassifier if ``baseline == "sklearn"``. Every
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
    workers = sorted({_check_int("workers", k, 1) for k in workers})
    contenders = [("hogwild", k, False, None) for k in workers]
    if plain:
        contenders += [("hogwild, plain", k, False, 0) for k in workers if k > 1]
    if lock:
        contenders += [("hogwild + lock", k, True, None) for k in workers]
    if baseline == "sklearn":
        contenders.append(("sklearn SGDClassifier", 1, False, None))
    runs = {c: Run(*c) for c in contenders}
    threads = max(workers)
    # compile (or load from the cache) and touch every page of the data before anything is timed
    hogwild(X_train, y_train, loss=loss, alpha=alpha, lr=lr, epochs=1, workers=1)
    _kernels.busy_arithmetic(10)
    if threads > 1:
        core_to_core_round_trip_ns(1000)
    parallelism, round_trips = [], []
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
            if name.startswith("sklearn"):
                times, objective, accuracy = _sklearn(X_train, y_train, X_test, y_test, loss=loss,
                                                      alpha=alpha, lr=lr, decay=decay, epochs=epochs,
                                                      seed=seed + round_)
                run.updates_per_second.append(X_train.shape[0] * len(times) / sum(times))
            else:
                result = hogwild(X_train, y_train, loss=loss, alpha=alpha, workers=k, epochs=epochs,
                                 lr=lr, decay=decay, lock=locked, seed=seed + round_, hot=hot,
                                 fold_every=fold_every)
                times, objective = result.epoch_times, result.objective
                run.hot_weights, run.fold_every = result.hot, result.fold_every
                accuracy = result.accuracy(X_test, y_test) if _has_rows(X_test) else float("nan")
                run.updates_per_second.append(result.updates_per_second)
            run.round_times.append(list(times))
            run.round_trip_ns.append(max(before, core_to_core_round_trip_ns(5_000)) if threads > 1
                                     else float("nan"))
            run.parallelism.append(min(free_before, machine_parallelism(threads, 2_000_000)))
            run.objectives.append(objective)
            run.accuracy.append(accuracy)
    return Measurement(runs=list(runs.values()), machine_parallelism=parallelism, round_trip_ns=round_trips,
                       probe_threads=threads,
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
    """The Markdown table: time per epoch, updates/s, speed-up, final objective, test accuracy, and
    how many hot weights each worker kept a private copy of."""
    ref = m.reference()
    ref_label = f"{ref.workers} worker" + ("s" if ref.workers > 1 else "") if ref else "-"
    lines = [f"| run | workers | s/epoch (median) | s/epoch (best) | updates/s | speed-up vs {ref_label} "
             f"| final objective | objective vs {ref_label} | test accuracy | hot weights | fold every |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in m.runs:
        speedup = f"{ref.seconds_per_epoch / r.seconds_per_epoch:.2f}x" if ref else "-"
        change = f"{100 * (r.final_objective / ref.final_objective - 1):+.2f}%" if ref else "-"
        accuracy = "-" if np.isnan(r.test_accuracy) else f"{r.test_accuracy:.4f}"
        lines.append(f"| {r.name} | {r.workers} | {r.seconds_per_epoch:.4f} | {r.best_seconds_per_epoch:.4f} "
                     f"| {statistics.median(r.updates_per_second):.3g} | {speedup} "
                     f"| {r.final_objective:.5f} | {change} | {accuracy} "
                     f"| {r.hot_weights if not r.name.startswith('sklearn') else '-'} "
                     f"| {r.fold_every if r.hot_weights else '-'} |")
    return "\n".join(lines)


def format_notes(m: Measurement) -> str:
    """What the table's numbers are, and how parallel the machine was while they were measured."""
    rounds = len(m.machine_parallelism)
    notes = [f"Medians over {rounds} round(s) of every contender in turn (all epochs of all rounds for "
             "s/epoch); the speed-up is the ratio of medians. updates/s = rows / s of SGD (one update "
             "per row); the objective is mean loss + alpha/2 ||w||^2 on the training rows."]
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


def hogwild_command(data: Path | None = None, synthetic: str | None = None, workers: str = "1,2",
                    lock: bool = False, baseline: str | None = "sklearn", epochs: int = 5,
                    loss: str = "log", alpha: float = 1e-6, lr: float = 0.5, decay: float = 0.9,
                    seed: int = 0, test_fraction: float = 0.2, repeats: int = 1, plain: bool = False,
                    fold_every: int | None = None, echo: Callable[[str], None] = typer.echo) -> Measurement:
    """``sgdlab hogwild``: print the Markdown table of :func:`measure` on a LIBSVM file or synthetic data.

    Exactly one of ``data`` (a LIBSVM file, read by ``sgdlab.data.load_libsvm``) and ``synthetic``
    (``NxDxK`` or a preset of ``sgdlab.data.parse_size``, made by
    ``sgdlab.data.sparse_classification(..., seed=seed)``). A random ``test_fraction`` of the rows is
    held out for the test accuracy. ``workers`` is a comma-separated list; ``lock`` adds a
    ``lock=True`` run per worker count; ``plain`` a ``hot=0`` run per worker count above 1;
    ``fold_every`` goes to ``hogwild``; ``baseline`` is "sklearn" or "none". Errors in the arguments
    are ``typer.BadParameter`` naming the option. Progress goes to stderr, the table to ``echo``.
    """
    worker_counts = _parse_workers(workers)
    baseline = _check_baseline(baseline)
    _check_options(epochs=epochs, loss=loss, alpha=alpha, lr=lr, decay=decay, test_fraction=test_fraction,
                   repeats=repeats, **({} if fold_every is None else {"fold_every": fold_every}))
    if (data is None) == (synthetic is None):
        raise typer.BadParameter("give exactly one of --data FILE and --synthetic SIZE",
                                 param_hint="--data / --synthetic")
    X, y, source = _load(data, synthetic, seed)
    X_train, y_train, X_test, y_test = _split(X, y, test_fraction, seed)
    if X_train.shape[0] == 0:
        raise typer.BadParameter(f"no training rows left with test_fraction={test_fraction}",
                                 param_hint="--test-fraction")

    def progress(message: str) -> None:
        typer.echo(message, err=True)

    m = measure(X_train, y_train, X_test, y_test, workers=worker_counts, lock=lock, baseline=baseline,
                epochs=epochs, loss=loss, alpha=alpha, lr=lr, decay=decay, seed=seed, repeats=repeats,
                plain=plain, fold_every=fold_every, progress=progress)
    echo(header(source, m, loss=loss, alpha=alpha, lr=lr, decay=decay, epochs=epochs, seed=seed,
                fold_every=fold_every) + "\n")
    echo(format_table(m) + "\n")
    echo(format_notes(m))
    return m


def header(source: str, m: Measurement, *, loss, alpha, lr, decay, epochs, seed, fold_every=None) -> str:
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
            f"fold_every={'auto' if fold_every is None else fold_every} · {versions} · "
            f"{platform.machine()}, "
            f"{os.cpu_count()} cores")


def cli_hogwild(
    data: Path = typer.Option(None, "--data", metavar="FILE", help="A LIBSVM / svmlight file."),
    synthetic: str = typer.Option(None, "--synthetic", metavar="SIZE",
                                  help="Synthetic RCV1-like data: NxDxK (rows x features x non-zeros "
                                       "per row, e.g. 200000x50000x50) or tiny, small, rcv1."),
    workers: str = typer.Option("1,2", help="Worker counts, comma-separated."),
    lock: bool = typer.Option(False, "--lock", help="Also run each worker count with a lock around "
                                                    "each update (the serialized baseline)."),
    plain: bool = typer.Option(False, "--plain", help="Also run each worker count above 1 without "
                                                      "private copies of the hot weights (hot=0)."),
    fold_every: int = typer.Option(None, "--fold-every", help="Rows between two folds of a worker's private "
                                                              "copies of the hot weights (default: chosen "
                                                              "from the data)."),
    baseline: str = typer.Option("sklearn", help="sklearn (SGDClassifier, same loss, penalty, epochs "
                                                 "and step schedule) or none."),
    epochs: int = typer.Option(5, help="Passes over the training rows."),
    loss: str = typer.Option("log", help="log, hinge or squared."),
    alpha: float = typer.Option(1e-6, help="L2 strength: objective = mean loss + alpha/2 ||w||^2."),
    lr: float = typer.Option(0.5, help="Initial step size."),
    decay: float = typer.Option(0.9, help="Step size factor per epoch: lr * decay^epoch."),
    seed: int = typer.Option(0, help="Seed of the data, the split and the row order."),
    test_fraction: float = typer.Option(0.2, help="Fraction of rows held out for the test accuracy."),
    repeats: int = typer.Option(1, help="Rounds of every contender in turn; medians are shown."),
) -> None:
    """Time Hogwild! (lock-free parallel SGD) with 1, 2, ... workers beside scikit-learn's SGDClassifier."""
    hogwild_command(data=data, synthetic=synthetic, workers=workers, lock=lock, baseline=baseline,
                    epochs=epochs, loss=loss, alpha=alpha, lr=lr, decay=decay, seed=seed,
                    test_fraction=test_fraction, repeats=repeats, plain=plain, fold_every=fold_every)


def _sklearn(X_train, y_train, X_test, y_test, *, loss, alpha, lr, decay, epochs, seed):
    import warnings

    from sklearn.linear_model import SGDClassifier

    clf = SGDClassifier(loss=SKLEARN_LOSS[loss], penalty="l2", alpha=alpha, fit_intercept=False,
                        learning_rate="constant", eta0=lr, max_iter=1, tol=None, shuffle=True,
                        random_state=np.random.RandomState(seed))
    classes = np.array([-1.0, 1.0])
    indptr = X_train.indptr.astype(np.int64)
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
                                                  X_train.shape[1], alpha, _loss_code(loss), False)))
    accuracy = float(clf.score(X_test, y_test)) if _has_rows(X_test) else float("nan")
    return times, objective, accuracy


def _has_rows(X) -> bool:
    return X is not None and X.shape[0] > 0


def _parse_workers(text: str) -> list[int]:
    try:
        counts = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of worker counts >= 1 "
                                 "(e.g. 1,2)", param_hint="--workers")
    return sorted(set(counts))


def _check_baseline(baseline: str | None) -> str | None:
    if baseline is None or str(baseline).lower() == "none":
        return None
    if str(baseline).lower() != "sklearn":
        raise typer.BadParameter(f"{baseline!r} is not one of {', '.join(BASELINES)}", param_hint="--baseline")
    return "sklearn"


def _check_options(**options) -> None:
    checks = {
        "epochs": lambda v: _check_int("epochs", v, 1),
        "repeats": lambda v: _check_int("repeats", v, 1),
        "fold_every": lambda v: _check_int("fold_every", v, 1),
        "loss": _loss_code,
        "alpha": lambda v: _check_float("alpha", v, lambda x: x >= 0, ">= 0"),
        "lr": lambda v: _check_float("lr", v, lambda x: x > 0, "> 0"),
        "decay": lambda v: _check_float("decay", v, lambda x: 0 < x <= 1, "in (0, 1]"),
        "test_fraction": lambda v: _check_float("test_fraction", v, lambda x: 0 <= x < 1, "in [0, 1)"),
    }
    for name, value in options.items():
        try:
            checks[name](value)
        except (TypeError, ValueError) as err:
            raise typer.BadParameter(str(err), param_hint="--" + name.replace("_", "-")) from err


def _load(data: Path | None, synthetic: str | None, seed: int):
    if data is not None:
        from sgdlab.data import load_libsvm

        path = Path(data)
        if not path.is_file():
            raise typer.BadParameter(f"{str(path)!r} is not a file", param_hint="--data")
        try:
            X, y = load_libsvm(path)
        except (OSError, ValueError) as err:
            raise typer.BadParameter(str(err), param_hint="--data") from err
        return X.tocsr(), _two_classes(y, path), f"{path.name}"
    from sgdlab.data import parse_size, sparse_classification

    try:
        n, d, k = parse_size(synthetic)
    except (TypeError, ValueError) as err:
        raise typer.BadParameter(str(err), param_hint="--synthetic") from err
    X, y = sparse_classification(n, d, k, seed=seed)
    return X, y, f"synthetic {n}x{d}x{k} (sgdlab.data.sparse_classification, seed {seed})"


def _two_classes(y: np.ndarray, path: Path) -> np.ndarray:
    """Labels as -1/+1: {-1, +1} and {0, 1} as they are, any other two values smaller -> -1."""
    values = np.unique(y)
    if values.size > 2:
        raise typer.BadParameter(f"{path.name} has {values.size} classes ({', '.join(map(str, values[:5]))}"
                                 f"{' ...' if values.size > 5 else ''}); Hogwild! here fits binary "
                                 "classifiers", param_hint="--data")
    if values.size == 1:
        return np.full(y.shape, -1.0 if values[0] in (-1, 0) else 1.0)
    return np.where(y == values.max(), 1.0, -1.0)


def _split(X, y, test_fraction: float, seed: int):
    n = X.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return X[train], y[train], X[test], y[test]
