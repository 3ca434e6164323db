"""``sgdlab hogwild``: time Hogwild! with 1, 2, ... workers, with and without a lock, beside scikit-learn,
for the whole call and per epoch.

:func:`cli_hogwild` reads the data (a LIBSVM file, or synthetic data of a given size), holds out a test
part, runs :func:`sgdlab.parallel.benchmark.measure` and prints its Markdown table. Importing this
module loads no numba: the harness loads when the command runs, and without numba the command is a
one-line usage error naming ``pip install 'sgdlab[parallel]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from .._validation import ArgumentValueError, Int, Options, Real, validate
from .hogwild import HYPERPARAMETERS


@validate(**HYPERPARAMETERS | dict(seed=Int(0)), baseline=Options("sklearn", "none"), repeats=Int(1),
          test_fraction=Real(0, 1, closed="left"))
def cli_hogwild(
    data: Annotated[Path | None, typer.Option(metavar="FILE", help="A LIBSVM / svmlight file.")] = None,
    synthetic: Annotated[str | None, typer.Option(
        metavar="SIZE", help="Synthetic RCV1-like data: NxDxK (rows x features x non-zeros per row, e.g. "
                             "200000x50000x50) or tiny, small, rcv1.")] = None,
    workers: Annotated[str, typer.Option(help="Worker counts, comma-separated.")] = "1,2",
    lock: Annotated[bool, typer.Option("--lock", help="Also run each worker count with a lock around each "
                                                      "update (the serialized baseline).")] = False,
    plain: Annotated[bool, typer.Option("--plain", help="Also run each worker count above 1 without "
                                                        "replicas: plain Hogwild!, every step on the shared "
                                                        "weights (hot=0).")] = False,
    fold_every: Annotated[int | None, typer.Option(
        help="Rows between two folds of the hot weights of a worker's replica into the shared ones "
             "(default: each weight's own, chosen from the data).")] = None,
    l2: Annotated[str, typer.Option(help="How the L2 term's step is taken: dense (every weight decays by "
                                         "1 - lr * alpha at every step, kept in a scale: SGD on the objective "
                                         "itself, as scikit-learn's) or spread (the paper's: over the rows "
                                         "that hold each feature; one counting pass first).")] = "dense",
    baseline: Annotated[str, typer.Option(help="sklearn (SGDClassifier, same loss, penalty and epochs: "
                                               "its fit, the whole call, and one partial_fit per epoch "
                                               "with Hogwild!'s step schedule) or none.")] = "sklearn",
    epochs: Annotated[int, typer.Option(help="Passes over the training rows.")] = 5,
    loss: Annotated[str, typer.Option(help="log, hinge or squared.")] = "log",
    alpha: Annotated[float, typer.Option(help="L2 strength: objective = mean loss + alpha/2 ||w||^2.")] = 1e-6,
    lr: Annotated[float, typer.Option(help="Initial step size.")] = 0.5,
    decay: Annotated[float, typer.Option(help="Step size factor per epoch: lr * decay^epoch.")] = 0.9,
    seed: Annotated[int, typer.Option(help="Seed of the data, the split and the row order.")] = 0,
    test_fraction: Annotated[float, typer.Option(help="Fraction of rows held out for the test accuracy.")] = 0.2,
    repeats: Annotated[int, typer.Option(help="Rounds of every contender in turn; medians are shown.")] = 1,
) -> None:
    """Time Hogwild! (lock-free parallel SGD) with 1, 2, ... workers beside scikit-learn's SGDClassifier."""
    counts = _worker_counts(workers)
    if (data is None) == (synthetic is None):
        raise typer.BadParameter("give exactly one of --data FILE and --synthetic SIZE",
                                 param_hint="--data / --synthetic")
    try:
        from . import benchmark  # numba
    except ImportError as err:
        raise ArgumentValueError(f"needs numba, the parallel extra: pip install 'sgdlab[parallel]' ({err})") from None
    X, y, source = _read(data, synthetic, seed)
    X_train, y_train, X_test, y_test = benchmark.split(X, y, test_fraction, seed)
    if X_train.shape[0] == 0:
        raise typer.BadParameter(f"no training rows left of {X.shape[0]}", param_hint="--test-fraction")
    m = benchmark.measure(X_train, y_train, X_test, y_test, workers=counts, lock=lock,
                          baseline=None if baseline == "none" else baseline, epochs=epochs, loss=loss,
                          alpha=alpha, lr=lr, decay=decay, seed=seed, repeats=repeats, plain=plain,
                          fold_every=fold_every, l2=l2, progress=lambda message: typer.echo(message, err=True))
    typer.echo(benchmark.header(source, m, loss=loss, alpha=alpha, lr=lr, decay=decay, epochs=epochs,
                                seed=seed, fold_every=fold_every, l2=l2) + "\n")
    typer.echo(benchmark.format_table(m) + "\n")
    typer.echo(benchmark.format_notes(m))


def _worker_counts(text: str) -> list[int]:
    """The distinct worker counts of ``--workers``, sorted.

    >>> _worker_counts("2, 1,2")
    [1, 2]
    """
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of worker counts >= 1 (e.g. 1,2)",
                                 param_hint="--workers")
    return sorted(set(counts))


def _read(data: Path | None, synthetic: str | None, seed: int) -> tuple:
    """``(X, y, what the data is)`` from ``--data FILE`` or ``--synthetic SIZE``."""
    from ..data import load_libsvm, parse_size, sparse_classification

    if data is not None:
        X, y = load_libsvm(data)  # a malformed line: an ArgumentValueError naming it
        return X, _two_classes(y, data), data.name
    n, d, k = parse_size(synthetic)
    X, y = sparse_classification(n, d, k, seed=seed)
    return X, y, f"synthetic {n}x{d}x{k} (sgdlab.data.sparse_classification, seed {seed})"


def _two_classes(y: np.ndarray, path: Path) -> np.ndarray:
    """Labels as -1/+1: {-1, +1} and {0, 1} as they are, any other two values smaller -> -1."""
    values = np.unique(y)
    if values.size > 2:
        shown = ", ".join(f"{v:g}" for v in values[:5]) + (", ..." if values.size > 5 else "")
        raise ArgumentValueError(f"Invalid data: {str(path)!r} has {values.size} classes, {shown} (expected "
                                 "two: Hogwild! here fits binary classifiers)")
    if values.size == 1:
        return np.full(y.shape, -1.0 if values[0] in (-1, 0) else 1.0)
    return np.where(y == values.max(), 1.0, -1.0)
