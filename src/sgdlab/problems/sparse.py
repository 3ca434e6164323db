"""Logistic regression on sparse data: the survey's case for Adagrad (large updates for rare
features, small ones for frequent features).

* ``sparse_logreg``: :func:`sgdlab.data.sparse_classification` data, generated from ``DATA_SEED``
  in float32: 10,000 rows, 2,000 features, 20 non-zeros per row drawn with power-law frequencies
  (p_j ~ 1 / (j + 1)^1.1: a few features in most rows, a long tail of rare ones), tf-idf-like
  values, the generator's default label noise (0.05: about 1.6% of the labels across the hidden
  boundary); split at random 80/10/10 (8,000 / 1,000 / 1,000). A quick trial (10 epochs of 125
  mini-batches) takes 0.64 s with Adam on one thread.
* ``libsvm:PATH`` (:func:`libsvm_problem`): the same model on a LIBSVM / svmlight file, labels
  mapped to classes 0..K-1 in sorted order, split at random 80/10/10 (fixed seed). The file's
  contents are hashed into the problem's fingerprint: a file changed in place never reuses the old
  trials of ``sgdlab compare``.

The model is :class:`sgdlab.models.LogisticRegression` with ``sparse=True``; ``fit`` slices each
mini-batch's rows from the CSR matrix and densifies only them.

Calibration of sparse_logreg's target (``python -m sgdlab.problems.calibrate``, 2026-11-30):
the tuned learning rate and the first epoch whose validation accuracy reaches 0.86 (seed 0 / seed 1;
"-": not within the 10 quick epochs): SGD lr 1: - / - (final 0.806), Momentum lr 1: - / 10, Adam lr
1e-2: 6 / 6, Adagrad lr 1: 4 / 2. scikit-learn's LogisticRegression fitted to convergence on the
same training split scores 0.838 on validation at C = 1, 0.868 at C = 10, 0.873 at C = 100.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import scipy.sparse
import torch

from .._validation import ArgumentValueError, Instance, check
from ..data import load_libsvm, sparse_classification
from ..models import LogisticRegression
from .base import Budget, Problem, Task
from .fingerprint import file_digest
from ._common import DATA_SEED, accuracy, cross_entropy, seeded, split_indices, target_note

N_SAMPLES, N_FEATURES, NNZ_PER_ROW = 10000, 2000, 20
FRACTIONS = (0.1, 0.1)  # validation, test; training the rest
#: From ``python -m sgdlab.problems.calibrate`` (see the table in the module docstring).
TARGET = 0.86


def _split(X: scipy.sparse.csr_matrix, labels: np.ndarray):
    """Train, val and test ``(X, y)`` of a fixed random 80/10/10 split; y int64 class ids."""
    train, val, test = split_indices(X.shape[0], FRACTIONS)
    return tuple((X[idx], labels[idx]) for idx in (train, val, test))


@functools.lru_cache(maxsize=1)
def _sparse_data():
    X, y = sparse_classification(N_SAMPLES, N_FEATURES, NNZ_PER_ROW, seed=DATA_SEED, dtype=np.float32)
    return _split(X, (y > 0).astype(np.int64))


def _task(splits, n_features: int, n_classes: int, seed: int) -> Task:
    with seeded(seed):
        model = LogisticRegression(n_features, n_classes=n_classes, sparse=True)
    train, val, test = ((X.copy(), torch.from_numpy(y.copy())) for X, y in splits)
    return Task(model=model, loss_fn=cross_entropy, train=train, val=val, test=test, metric_fn=accuracy)


def build_sparse_logreg(seed: int) -> Task:
    """A fresh sparse_logreg task: the weights initialised from ``seed``, the data fixed."""
    return _task(_sparse_data(), N_FEATURES, 2, seed)


SPARSE_LOGREG = Problem(
    name="sparse_logreg",
    title="Sparse logistic regression, power-law features",
    description=(
        f"Logistic regression on synthetic sparse data shaped like text (sgdlab.data."
        f"sparse_classification): {N_SAMPLES:,} examples, {N_FEATURES:,} features, {NNZ_PER_ROW} "
        "non-zeros per row with power-law frequencies (exponent 1.1), so most features are rare; "
        "split 80/10/10. The survey's case for Adagrad. Metric: validation accuracy. "
        + target_note(TARGET, "accuracy")),
    metric="accuracy",
    higher_is_better=True,
    target=TARGET,
    quick=Budget(epochs=10, batch_size=64),
    full=Budget(epochs=50, batch_size=64),
    builder=build_sparse_logreg,
    tags=("sparse", "convex", "synthetic"),
)

#: Budgets of a ``libsvm:PATH`` problem.
LIBSVM_QUICK = Budget(epochs=5, batch_size=128)
LIBSVM_FULL = Budget(epochs=50, batch_size=128)
#: A ``libsvm:PATH`` problem's target: this far below the validation accuracy of scikit-learn's
#: LogisticRegression fitted to convergence on the training split.
LIBSVM_TARGET_GAP = 0.01


def libsvm_problem(path: str | os.PathLike) -> Problem:
    """Logistic regression on the LIBSVM file ``path`` (what ``get("libsvm:PATH")`` returns).

    The labels found in the file become classes 0..K-1 in sorted order (K >= 2). The split is a
    fixed random 80/10/10 (10% rounded, at least one example each). The target is computed, as
    AlgoPerf sets targets from a well-tuned baseline: the validation accuracy of scikit-learn's
    ``LogisticRegression(C=1.0)`` (L-BFGS to convergence) on the training split, minus
    ``LIBSVM_TARGET_GAP``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a malformed line (the message names it, see :func:`sgdlab.data.load_libsvm`),
            fewer than 3 examples, or a single class.
    """
    given = os.fspath(check("path", path, Instance(str, os.PathLike, what="a path")))
    fspath = os.path.abspath(given)
    digest = file_digest(fspath) if os.path.isfile(fspath) else ""
    return _libsvm_problem(given, fspath, digest)


@functools.lru_cache(maxsize=8)
def _libsvm_problem(given: str, fspath: str, digest: str) -> Problem:
    """The problem on ``fspath`` (cached while the file's contents hash to ``digest``), named
    ``libsvm:`` + the path as the caller gave it, ``digest`` part of its fingerprint."""
    X, y = load_libsvm(fspath)
    classes, labels = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ArgumentValueError(f"Invalid path: {fspath!r} has the one label {classes[0]:g} (expected a "
                                 "LIBSVM file with at least 2 classes)")
    X = X.astype(np.float32)
    splits = _split(X, labels.astype(np.int64))
    target = round(_baseline_accuracy(splits) - LIBSVM_TARGET_GAP, 4)
    n_features, n_classes = X.shape[1], len(classes)

    def build(seed: int) -> Task:
        return _task(splits, n_features, n_classes, seed)

    (n_train, n_val, n_test) = (s[0].shape[0] for s in splits)
    return Problem(
        name=f"libsvm:{given}",
        title=f"Logistic regression on {os.path.basename(fspath)}",
        description=(
            f"Logistic regression on the LIBSVM file {fspath}: {X.shape[0]:,} examples, "
            f"{n_features:,} features, {n_classes} classes; split {n_train}/{n_val}/{n_test} at "
            "random (fixed seed). Metric: validation accuracy. Target: scikit-learn's "
            f"LogisticRegression(C=1) fitted on the training split scores {target + LIBSVM_TARGET_GAP:.4f} "
            f"on validation; the target is {LIBSVM_TARGET_GAP} below it."),
        metric="accuracy", higher_is_better=True, target=target, quick=LIBSVM_QUICK, full=LIBSVM_FULL,
        builder=build, tags=("sparse", "convex", "libsvm"), source=f"libsvm:{given}", digest=digest)


def _baseline_accuracy(splits) -> float:
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    (X_train, y_train), (X_val, y_val), _ = splits
    if len(np.unique(y_train)) < 2:  # tiny files: the split left one class in training
        return float(np.mean(y_val == y_train[0]))
    clf = SkLogisticRegression(C=1.0, max_iter=1000).fit(X_train, y_train)
    return float(clf.score(X_val, y_val))
