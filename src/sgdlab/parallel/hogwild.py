"""Hogwild! (Niu, Recht, Re & Wright, 2011): lock-free parallel SGD on one shared weight vector.

Workers are Python threads, each calling a compiled numba kernel that releases the global
interpreter lock (``nogil=True``): they run at once, on the same ``w`` in memory, with no lock
between them. With sparse rows two workers rarely touch the same coordinate at the same time, so
their unsynchronized writes rarely collide and the speed-up is close to the number of cores.
docs/hogwild.md has the design, its reasons and the measured speed-ups.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .._checks import check_float as _check_float
from .._checks import check_int as _check_int
from . import _kernels
from ._workers import deferred_interrupt, wait_all

LOSSES = tuple(_kernels.LOSS_CODES)

# rows between two looks at the stop flag: ~50 microseconds of work at 50 non-zeros per row
CHECK_EVERY = 1024

# Test hook: when set, each worker calls it as ``_before_share(worker, epoch)`` before its kernel.
_before_share = None


@dataclass
class HogwildResult:
    """What :func:`hogwild` returns.

    weights: the coefficients w (n_features,); intercept: b (0.0 unless ``fit_intercept``).
    objective: mean loss + alpha/2 ||w||^2 on the training rows after each epoch.
    epoch_times: seconds of parallel SGD per epoch (the objective's evaluation is not in it).
    updates_per_second: rows processed (one update each) / sum(epoch_times).
    wall_time: seconds of the whole call, from validation to the result.
    """

    weights: np.ndarray
    intercept: float
    objective: list[float]
    epoch_times: list[float]
    updates_per_second: float
    wall_time: float
    workers: int
    lock: bool
    loss: str
    alpha: float
    seed: int | None = field(default=None)

    def decision_function(self, X) -> np.ndarray:
        """w.x + b for each row of X."""
        X = _as_csr(X)
        if X.shape[1] != self.weights.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features but the model was fit on {self.weights.shape[0]}")
        return np.asarray(X @ self.weights).ravel() + self.intercept

    def predict(self, X) -> np.ndarray:
        """Labels in {-1, +1}: the sign of w.x + b (+1 at 0)."""
        return np.where(self.decision_function(X) >= 0.0, 1, -1)

    def accuracy(self, X, y) -> float:
        """Fraction of rows whose label (in {-1, +1} or {0, 1}) ``predict`` gets right."""
        return float(np.mean(self.predict(X) == _signed_labels(y, _as_csr(X).shape[0])))


def hogwild(X, y, *, loss: str = "log", alpha: float = 1e-6, workers: int = 1, epochs: int = 5,
            lr: float = 0.5, decay: float = 0.9, lock: bool = False, seed: int | None = 0,
            fit_intercept: bool = False) -> HogwildResult:
    """Fit a linear classifier by Hogwild! SGD: ``workers`` threads updating one ``w`` without locks.

    Minimizes  f(w) = 1/n sum_i loss(w.x_i + b, y_i) + alpha/2 ||w||^2.  Each epoch, a seeded
    permutation of the rows is cut into ``workers`` disjoint shares, one per worker; a worker takes an
    SGD step on each row of its share, with step size eta_t = lr * decay^t (t = 0, 1, ... the epoch).
    A step touches only the row's non-zero coordinates j:

        w_j <- w_j * max(0, 1 - eta_t * alpha * n / d_j) - eta_t * loss'(w.x_i + b, y_i) * x_ij

    with d_j the number of rows having feature j: the L2 gradient alpha * w_j spread over the rows
    that contain j, as in the paper's code, so that the steps stay sparse and their expectation is
    the gradient of f. The workers meet only at the end of each epoch (to evaluate f).

    Args:
        X: scipy.sparse matrix (n, d), converted to CSR (a dense array is accepted and converted).
        y: n labels, in {-1, +1} or {0, 1} (0 means -1).
        loss: "log" (logistic regression), "hinge" (linear SVM) or "squared" (0.5 (p - y)^2).
        alpha: L2 strength (>= 0), as scikit-learn's SGDClassifier ``alpha``.
        workers: threads updating ``w`` at once.
        epochs: passes over the rows.
        lr: initial step size eta_0 (> 0); the default suits rows of unit L2 norm, as RCV1's.
        decay: per-epoch factor of the step size, 0 < decay <= 1.
        lock: hold one spin lock over the whole of ``w`` during each row's read-compute-write:
            the serialized baseline the paper compares Hogwild! against.
        seed: seed of the row permutations; with ``workers=1`` the result is bit-for-bit reproducible.
        fit_intercept: also learn an unpenalized b (every row updates it, so it is the one
            coordinate all workers share; off by default).

    Raises:
        FloatingPointError: a prediction became non-finite (``lr`` too large); an exception raised
            in a worker reaches the caller as itself, with the worker's traceback, after the other
            workers were stopped. Ctrl-C stops every worker and raises KeyboardInterrupt.

    Example:
        >>> import numpy as np, scipy.sparse as sp
        >>> from sgdlab.parallel import hogwild
        >>> rng = np.random.default_rng(0)
        >>> X = sp.random(2000, 500, density=0.02, format="csr", random_state=0)
        >>> y = np.sign(X @ rng.standard_normal(500) + 1e-9)
        >>> result = hogwild(X, y, loss="log", workers=2, epochs=5, lr=0.5, alpha=1e-5)
        >>> bool(result.objective[-1] < result.objective[0] < np.log(2))
        True
        >>> result.accuracy(X, y) > 0.9
        True
    """
    started = time.perf_counter()
    kind = _loss_code(loss)
    workers = _check_int("workers", workers, 1)
    epochs = _check_int("epochs", epochs, 1)
    lr = _check_float("lr", lr, lambda v: v > 0, "> 0")
    decay = _check_float("decay", decay, lambda v: 0 < v <= 1, "in (0, 1]")
    alpha = _check_float("alpha", alpha, lambda v: v >= 0, ">= 0")
    X = _as_csr(X, copy_to_canonical=True)
    n, d = X.shape
    y = _signed_labels(y, n)
    if n == 0:
        raise ValueError("X has no rows")
    if not np.all(np.isfinite(X.data)):
        raise ValueError("X has non-finite values")

    indptr = X.indptr.astype(np.int64, copy=False)
    indices = X.indices if X.indices.dtype == np.int32 else X.indices.astype(np.int32)
    data = X.data
    counts = _kernels.feature_counts(indices, d)
    with np.errstate(divide="ignore"):
        reg = np.where(counts > 0, alpha * n / np.maximum(counts, 1), 0.0)
    w = np.zeros(d + 1 if fit_intercept else d)
    stop = np.zeros(1, np.int64)
    spin_lock = np.zeros(1, np.int64)
    rng = np.random.default_rng(seed)

    def work(worker: int, epoch: int, rows: np.ndarray, eta: float, shrink: np.ndarray) -> int:
        if _before_share is not None:
            _before_share(worker, epoch)
        done, status, row = _kernels.sgd_rows(indptr, indices, data, y, w, shrink, rows, eta, kind,
                                              fit_intercept, stop, spin_lock, lock, CHECK_EVERY)
        if status == _kernels.NONFINITE:
            raise FloatingPointError(
                f"the prediction for row {row} became non-finite in epoch {epoch} (worker {worker}): "
                f"the step size lr={lr} is too large for loss={loss!r} on this data; lower lr")
        return done

    # load the compiled kernel (compiling it on the very first use) before the clock starts
    _kernels.sgd_rows(indptr, indices, data, y, w, reg, np.empty(0, np.int64), lr, kind, fit_intercept,
                      stop, spin_lock, lock, CHECK_EVERY)
    objective, epoch_times, updates = [], [], 0
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sgdlab-hogwild")
    try:
        with deferred_interrupt(stop) as interrupted:
            for epoch in range(epochs):
                shares = np.array_split(rng.permutation(n), workers)
                eta = lr * decay**epoch
                tick = time.perf_counter()
                shrink = _kernels.shrink_factors(reg, eta)
                futures = [pool.submit(work, k, epoch, share, eta, shrink) for k, share in enumerate(shares)]
                updates += sum(wait_all(futures, stop, "Hogwild", epoch))
                if interrupted:  # Ctrl-C: the workers have stopped; raised on leaving the block
                    break
                epoch_times.append(time.perf_counter() - tick)
                if not np.all(np.isfinite(w)):
                    raise FloatingPointError(f"the weights became non-finite in epoch {epoch}: the step "
                                             f"size lr={lr} is too large for loss={loss!r}; lower lr")
                objective.append(float(_kernels.objective(indptr, indices, data, y, w, d, alpha, kind,
                                                          fit_intercept)))
    finally:
        stop[0] = 1
        pool.shutdown(wait=True, cancel_futures=True)
    sgd_time = sum(epoch_times)
    return HogwildResult(weights=w[:d].copy(), intercept=float(w[d]) if fit_intercept else 0.0,
                         objective=objective, epoch_times=epoch_times,
                         updates_per_second=updates / sgd_time if sgd_time > 0 else float("inf"),
                         wall_time=time.perf_counter() - started, workers=workers, lock=lock, loss=loss,
                         alpha=alpha, seed=seed)


def _loss_code(loss) -> int:
    if loss not in _kernels.LOSS_CODES:
        raise ValueError(f"loss={loss!r} is not one of {', '.join(map(repr, LOSSES))}")
    return _kernels.LOSS_CODES[loss]


def _as_csr(X, copy_to_canonical: bool = False) -> sp.csr_matrix:
    if sp.issparse(X):
        X = X.tocsr()
    elif isinstance(X, np.ndarray) and X.ndim == 2:
        X = sp.csr_matrix(X)
    else:
        raise TypeError(f"X must be a scipy.sparse matrix (CSR preferred) or a 2-d array, got {type(X).__name__}")
    if X.dtype != np.float64:
        X = X.astype(np.float64)
    if copy_to_canonical and not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()  # sorted, no duplicate columns: d_j then counts rows
    return X


def _signed_labels(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        y = y.ravel()
    if y.shape[0] != n:
        raise ValueError(f"X has {n} rows but y has {y.shape[0]} labels")
    values = set(np.unique(y).tolist())
    if values <= {-1, 1}:
        return y.astype(np.float64)
    if values <= {0, 1}:
        return np.where(y == 1, 1.0, -1.0)
    shown = sorted(values)[:5]
    raise ValueError(f"y must hold labels in {{-1, +1}} or {{0, 1}}, got values {shown}"
                     + (" ..." if len(values) > 5 else ""))


def live_workers() -> list[threading.Thread]:
    """Hogwild worker threads still alive (none once :func:`hogwild` has returned or raised)."""
    return [t for t in threading.enumerate() if t.name.startswith("sgdlab-hogwild")]
