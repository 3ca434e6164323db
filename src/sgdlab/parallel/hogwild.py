"""Hogwild! (Niu, Recht, Re & Wright, 2011): lock-free parallel SGD on one shared weight vector.

Workers are Python threads, each calling a compiled numba kernel that releases the global
interpreter lock (``nogil=True``): they run at once, on the same ``w`` in memory, with no lock
between them. With sparse rows two workers rarely touch the same coordinate at the same time, so
their unsynchronized writes rarely collide and the speed-up is close to the number of cores.

What the paper's "rarely" does not cover is the hardware's unit of sharing, a cache line: the
weights of the most frequent features (and the intercept) are written by every worker at nearly
every row, and each such write waits for the line to come over from the other core. So by default,
with several workers, each worker keeps a private copy of those *hot* weights and adds its change
to the shared ones every ``fold_every`` rows (no change is lost): a bounded delay, which the
paper's analysis allows, on at most a few thousand coordinates; every other weight is updated in
place as in the paper. docs/hogwild.md has the design, its reasons and the measured speed-ups.

The compiled kernels (``_kernels``, numba) load on the first fit: importing this module is light.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .._validation import (ArgumentTypeError, ArgumentValueError, Bool, Instance, Int, Options, Real, check,
                           validate)
from ._workers import deferred_interrupt, wait_all

LOSSES = ("log", "hinge", "squared")  # as _kernels.LOSS_CODES

#: the hyper-parameters :func:`hogwild`, the benchmark's ``measure`` and ``sgdlab hogwild`` share
HYPERPARAMETERS = dict(loss=Options(*LOSSES), alpha=Real(0), epochs=Int(1), lr=Real(0, closed="neither"),
                       decay=Real(0, 1, closed="right"), seed=(Int(0), None), fold_every=(Int(1), None))
# Which weights are hot by default (see hot_weights), for a fold every fold_every rows:
# - a worker updates w_j at least MIN_UPDATES_PER_FOLD times between two folds on average
#   (counts_j * fold_every >= MIN_UPDATES_PER_FOLD * n), else the copy saves no transfer of its line;
# - lr * c * q_j * fold_every <= MAX_DELAYED_STEP, q_j = mean_i x_ij^2, c the loss's largest
#   curvature: how far the steps of one fold window can move w_j toward its optimum, on the quadratic
#   that bounds the loss, i.e. step * curvature * delay. Gradient steps delayed by tau are stable while
#   that product is below pi/2 (x_{t+1} = x_t - a x_{t-tau} is stable iff a < 2 sin(pi / (4 tau + 2)));
#   0.5 keeps a margin of 3, and excludes the intercept (q = 1) unless lr * c <= 0.5 / 256;
# - at most MAX_HOT of them, the most frequent: each costs a worker 24 bytes of cache (its copy, the
#   copy's base, its shrink factor), 192 KiB for 8192, a fifth of a 1 MiB L2;
# - none unless they take at least MIN_HOT_SHARE of all the updates: where no weights stand out (every
#   feature about as frequent as the others) the copies cost cache and delay without taking most of
#   the sharing away (uniform features: 8192 of 50000 took 18% of the updates, and 2 workers ran
#   2-4% slower than without copies in three runs of four).
# fold_every=None tries these and keeps the one whose hot weights take the largest share of the
# updates (the shortest on a tie): longer intervals admit rarer features but, by the delay rule, fewer
# heavy ones
FOLD_CHOICES = (256, 512, 1024, 2048, 4096)
MIN_UPDATES_PER_FOLD = 2
MAX_DELAYED_STEP = 0.5
MAX_HOT = 8192
MIN_HOT_SHARE = 0.5
# sup of loss''(p): log 1/4; squared 1; hinge has none (piecewise linear): 1, to be safe
CURVATURE = {"log": 0.25, "squared": 1.0, "hinge": 1.0}
# float64s between two workers' private regions of w (and after the shared weights): 64 bytes, one
# cache line, so that no line holds weights of two regions whatever the array's alignment
GAP = 8

# Test hook: when set, each worker calls it as ``_before_share(worker, epoch)`` before its kernel
# (which then runs the worker's part of the epoch).
_before_share = None


@dataclass
class HogwildResult:
    """What :func:`hogwild` returns.

    weights: the coefficients w (n_features,); intercept: b (0.0 unless ``fit_intercept``).
    objective: mean loss + alpha/2 ||w||^2 on the training rows after each epoch.
    epoch_times: seconds of parallel SGD per epoch (the objective's evaluation is not in it).
    updates_per_second: rows processed (one update each) / sum(epoch_times).
    wall_time: seconds of the whole call, from validation to the result.
    hot: how many weights (features, and the intercept if it is hot) each worker kept a private copy
    of; fold_every: rows between two folds of those copies into the shared weights (0 without).
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
    hot: int = 0
    fold_every: int = 0

    def decision_function(self, X) -> np.ndarray:
        """w.x + b for each row of X."""
        X = _as_csr(X)
        if X.shape[1] != self.weights.shape[0]:
            raise ArgumentValueError(f"Invalid X: {X.shape[1]} features (expected the "
                                     f"{self.weights.shape[0]} of the fit)")
        return np.asarray(X @ self.weights).ravel() + self.intercept

    def predict(self, X) -> np.ndarray:
        """Labels in {-1, +1}: the sign of w.x + b (+1 at 0)."""
        return np.where(self.decision_function(X) >= 0.0, 1, -1)

    def accuracy(self, X, y) -> float:
        """Fraction of rows whose label (in {-1, +1} or {0, 1}) ``predict`` gets right."""
        return float(np.mean(self.predict(X) == _signed_labels(y, _as_csr(X).shape[0])))


@validate(**HYPERPARAMETERS, workers=Int(1), lock=Bool(), fit_intercept=Bool(), hot=(Int(0), None))
def hogwild(X, y, *, loss: str = "log", alpha: float = 1e-6, workers: int = 1, epochs: int = 5,
            lr: float = 0.5, decay: float = 0.9, lock: bool = False, seed: int | None = 0,
            fit_intercept: bool = False, hot: int | None = None,
            fold_every: int | None = None) -> HogwildResult:
    """Fit a linear classifier by Hogwild! SGD: ``workers`` threads updating one ``w`` without locks.

    Minimizes  f(w) = 1/n sum_i loss(w.x_i + b, y_i) + alpha/2 ||w||^2.  Each epoch, the workers run
    through a seeded permutation of the rows, each taking the next 256 rows of it when it needs more
    (so each row is visited once, and the workers finish together); a worker takes an SGD step on
    each of its rows, with step size eta_t = lr * decay^t (t = 0, 1, ... the epoch).
    A step touches only the row's non-zero coordinates j:

        w_j <- w_j * max(0, 1 - eta_t * alpha * n / d_j) - eta_t * loss'(w.x_i + b, y_i) * x_ij

    with d_j the number of rows having feature j: the L2 gradient alpha * w_j spread over the rows
    that contain j, as in the paper's code, so that the steps stay sparse and their expectation is
    the gradient of f. The workers meet only at the end of each epoch (to evaluate f).

    Hot weights (``hot``): each worker keeps a private copy u_j of the weights of the most frequent
    features (and of b, if it is hot); its steps update u_j instead of w_j, and every
    ``fold_every`` of its rows, and at the end of the epoch, it folds: w_j <- w_j + (u_j - u_j at
    the previous fold), then u_j <- w_j (folds of the same weights exclude each other by a spin lock
    per block of them). A worker thus sees its own steps at once and the others' steps on a hot
    weight at most ``fold_every`` of their rows late; none is lost. With one worker, the
    result equals the plain update's up to rounding.

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
        hot: how many weights get a private copy per worker. None (default): with 2+ workers and no
            lock, those of the features j present in at least 2 rows in ``fold_every`` (d_j >= 2 n /
            fold_every: a worker updates them twice or more between two folds) whose values are
            small enough for the delay, lr * fold_every * c * mean_i(x_ij^2) <= 0.5 with c the
            loss's largest curvature (log 1/4, squared and hinge 1; so b, in every row with value 1,
            is not), at most 8192 of them (the most frequent), and none unless they take at least
            half of all the updates; with 1 worker or ``lock``, none. An
            int: the ``hot`` most frequent weights whatever their values (b counting as in every
            row, ties to the lower column), with any number of workers; 0 is plain Hogwild!. Not
            with ``lock=True``, which serializes every update of the shared weights.
        fold_every: rows a worker runs between two folds of its private copies (>= 1). None
            (default): of 256, 512, 1024, 2048 and 4096, the one whose hot weights (as above) take
            the largest share of the updates, the shortest on a tie.

    Raises:
        TypeError / ValueError: an invalid argument (the message names it): a hyper-parameter out of
            its range, X not a matrix, an empty X, non-finite values in X, labels not one per row
            or not binary.
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
    from . import _kernels  # numba

    started = time.perf_counter()
    if hot and lock:
        raise ArgumentValueError(f"Invalid hot: {hot} with lock=True (expected 0 or None: the locked "
                                 "baseline updates the shared weights at every row)")
    X = _as_csr(X, copy_to_canonical=True)
    n, d = X.shape
    if n == 0:
        raise ArgumentValueError("Invalid X: no rows (expected at least one)")
    bad = int(np.count_nonzero(~np.isfinite(X.data)))
    if bad:
        raise ArgumentValueError(f"Invalid X: {bad} non-finite value{'s' if bad > 1 else ''} (expected "
                                 "finite values)")
    y = _signed_labels(y, n)

    indptr = X.indptr.astype(np.int64, copy=False)
    indices = X.indices if X.indices.dtype == np.int32 else X.indices.astype(np.int32)
    data = X.data
    counts = _kernels.feature_counts(indices, d)
    with np.errstate(divide="ignore"):
        reg = np.where(counts > 0, alpha * n / np.maximum(counts, 1), 0.0)
    if hot is None and (workers == 1 or lock):
        hot = 0  # no other worker to share a cache line with, or every update serialized anyway
    squares = np.bincount(indices, weights=data * data, minlength=d) / n  # q_j = mean_i x_ij^2
    chosen, fold_every = choose_hot(counts, squares, n, hot, fold_every, lr * CURVATURE[loss], fit_intercept)
    layout = WeightLayout.build(indices, counts, n, workers, chosen)
    w = np.zeros(layout.size)  # shared weights, the intercept, then each worker's private copies
    reg = layout.extend(reg)
    stop = np.zeros(1, np.int64)
    rng = np.random.default_rng(seed)
    next_row = _kernels.row_counter()
    kind = _kernels.LOSS_CODES[loss]
    common = _kernels.SgdRowsArgs(
        indptr=indptr, indices=indices, data=data, y=y, w=w, shrink=reg, order=np.empty(0, np.int64),
        next_row=next_row, eta=lr, kind=kind, intercept_at=-1, stop=stop,
        lock=np.zeros(1, np.int64), use_lock=lock, n_hot=layout.hot.size, shared_at=layout.shared_at,
        fold_every=fold_every, fold_locks=_kernels.fold_locks(layout.hot.size))
    # each worker: its own column indices, and its own copies of the hot weights with their base
    shares = [common._replace(indices=layout.indices[k], private_at=layout.private_at[k],
                              intercept_at=layout.intercept_at[k] if fit_intercept else -1,
                              base=np.zeros(layout.hot.size + 2 * GAP)[GAP:GAP + layout.hot.size])
              for k in range(workers)]
    shrink_buffer = np.empty_like(reg)

    def work(worker: int, epoch: int, order: np.ndarray, eta: float, shrink: np.ndarray) -> int:
        if _before_share is not None:
            _before_share(worker, epoch)
        done, status, row = _kernels.sgd_rows(*shares[worker]._replace(order=order, eta=eta, shrink=shrink))
        if status == _kernels.NONFINITE:
            raise FloatingPointError(
                f"the prediction for row {row} became non-finite in epoch {epoch} (worker {worker}): "
                f"the step size lr={lr} is too large for loss={loss!r} on this data; lower lr")
        return done

    # load the compiled kernel (compiling it on the very first use) before the clock starts: no rows
    _kernels.sgd_rows(*shares[0])
    objective, epoch_times, updates = [], [], 0
    layout.gather(w)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sgdlab-hogwild")
    try:
        # start every worker thread before the clock does (the pool starts them on demand: the first
        # epoch would time their creation); the barrier holds each task until all threads run
        ready = threading.Barrier(workers + 1)
        for _ in range(workers):
            pool.submit(ready.wait, 60)
        ready.wait(60)
        with deferred_interrupt(stop) as interrupted:
            for epoch in range(epochs):
                order = rng.permutation(n)
                next_row[0] = 0
                eta = lr * decay**epoch
                tick = time.perf_counter()
                shrink = _kernels.shrink_factors(reg, eta, shrink_buffer)
                futures = [pool.submit(work, k, epoch, order, eta, shrink) for k in range(workers)]
                updates += sum(wait_all(futures, stop, "Hogwild", epoch))
                layout.scatter(w)  # the hot weights back in place, for the objective and the result
                if interrupted:  # Ctrl-C: the workers have stopped; raised on leaving the block
                    break
                epoch_times.append(time.perf_counter() - tick)
                if not np.all(np.isfinite(w[:d + 1])):
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
                         alpha=alpha, seed=seed, hot=int(layout.hot.size),
                         fold_every=fold_every if layout.hot.size else 0)


def choose_hot(counts: np.ndarray, squares: np.ndarray, n: int, hot: int | None, fold_every: int | None,
               step: float, fit_intercept: bool) -> tuple[np.ndarray, int]:
    """The hot weights (``hot_weights``) and the fold interval: ``fold_every`` if given, else the
    one of FOLD_CHOICES whose hot weights have the largest sum of counts (the first on a tie)."""
    if fold_every is not None:
        return hot_weights(counts, squares, n, hot, fold_every, step, fit_intercept), fold_every
    all_counts = np.append(counts, n if fit_intercept else 0)
    best, best_every, best_share = None, FOLD_CHOICES[0], -1
    for every in FOLD_CHOICES:
        chosen = hot_weights(counts, squares, n, hot, every, step, fit_intercept)
        share = int(all_counts[chosen].sum())
        if share > best_share:
            best, best_every, best_share = chosen, every, share
    return best, best_every


def hot_weights(counts: np.ndarray, squares: np.ndarray, n: int, hot: int | None, fold_every: int,
                step: float, fit_intercept: bool) -> np.ndarray:
    """Positions in w (d = len(counts) is the intercept) of the weights to copy per worker, sorted.

    ``hot`` None: the features j with counts_j * fold_every >= MIN_UPDATES_PER_FOLD * n (a worker
    updates it that often between two folds) and step * fold_every * squares_j <= MAX_DELAYED_STEP
    (squares_j = mean_i x_ij^2, step = lr * the loss's largest curvature; the intercept has count n
    and squares 1), the MAX_HOT with the largest counts if there are more; none if together they
    have less than MIN_HOT_SHARE of all the counts. An int: the ``hot`` with the largest counts (the
    intercept counting n). Ties go to the lower position; a feature in no row is never hot (no step
    touches it).

    >>> counts, squares = np.array([10, 0, 3, 7, 1]), np.array([0.01, 0.0, 0.003, 0.5, 0.001])
    >>> hot_weights(counts, squares, 10, None, 16, 0.125, fit_intercept=False).tolist()  # 3: too heavy
    [0, 2]
    >>> hot_weights(counts, squares, 10, 2, 4, 0.5, fit_intercept=True).tolist()  # b counts 10
    [0, 5]
    >>> hot_weights(np.array([5, 4, 4, 4, 4]), np.zeros(5), 10, None, 4, 0.5, False).tolist()  # 5/21
    []
    """
    counts = np.append(counts, n if fit_intercept else 0)
    squares = np.append(squares, 1.0)
    total = counts.sum()
    automatic = hot is None
    if automatic:
        eligible = ((counts > 0) & (counts * fold_every >= MIN_UPDATES_PER_FOLD * n)
                    & (step * fold_every * squares <= MAX_DELAYED_STEP))
        counts = np.where(eligible, counts, 0)
        hot = MAX_HOT
    order = np.argsort(-counts, kind="stable")
    chosen = order[:min(hot, int(np.count_nonzero(counts)))]
    if automatic and counts[chosen].sum() < MIN_HOT_SHARE * total:
        chosen = chosen[:0]
    return np.sort(chosen).astype(np.int64)


@dataclass
class WeightLayout:
    """Where each weight lives in the one float64 array the workers share.

    w[0:d] are the feature weights, w[d] the intercept. With hot weights, then, GAP floats apart (no
    cache line holds two regions): the shared hot region, w[shared_at + s] holding w[hot[s]] during
    an epoch (``gather``; ``scatter`` puts them back in place for the objective), contiguous so that
    a cache line of it holds only hot weights, whatever their columns; then one region per worker
    with its private copies, w[private_at[k] + s]. Worker k reads the rows through ``indices[k]``, a
    copy of the column indices in which each hot feature points to its copy instead of its column:
    the kernel's row loop is the same with or without hot weights (no test per non-zero).
    """

    size: int
    hot: np.ndarray
    shared_at: int
    private_at: list[int]
    intercept_at: list[int]
    indices: list[np.ndarray]

    @classmethod
    def build(cls, indices: np.ndarray, counts: np.ndarray, n: int, workers: int,
              hot: np.ndarray) -> "WeightLayout":
        d = counts.shape[0]
        region = hot.size + GAP
        shared_at = d + 1 + GAP
        private_at = [shared_at + (k + 1) * region for k in range(workers)]
        size = shared_at + (workers + 1) * region if hot.size else d + 1
        if not hot.size:
            return cls(size, hot, shared_at, private_at, [d] * workers, [indices] * workers)
        slot = np.full(d + 1, -1, np.int64)
        slot[hot] = np.arange(hot.size)
        slots = slot[indices]
        is_hot = slots >= 0
        dtype = np.int32 if size < 2**31 else np.int64
        per_worker = []
        for k in range(workers):
            moved = indices.astype(dtype)
            moved[is_hot] = private_at[k] + slots[is_hot]
            per_worker.append(moved)
        intercept_at = [at + slot[d] if slot[d] >= 0 else d for at in private_at]
        return cls(size, hot, shared_at, private_at, intercept_at, per_worker)

    def gather(self, w: np.ndarray) -> None:
        """The hot weights into the shared hot region."""
        w[self.shared_at:self.shared_at + self.hot.size] = w[self.hot]

    def scatter(self, w: np.ndarray) -> None:
        """The shared hot region back to the hot weights' places."""
        w[self.hot] = w[self.shared_at:self.shared_at + self.hot.size]

    def extend(self, reg: np.ndarray) -> np.ndarray:
        """A per-feature array laid out as w: the hot features' values repeated in each private region."""
        out = np.zeros(self.size)
        d = reg.shape[0]
        out[:d] = reg
        features = self.hot[self.hot < d]  # sorted: the intercept, if hot, is the last slot
        if features.size:
            for at in self.private_at:
                out[at:at + features.size] = reg[features]
        return out


_MATRIX = "a scipy.sparse matrix (CSR preferred) or a 2-d NumPy array"


def _as_csr(X, copy_to_canonical: bool = False) -> sp.csr_matrix:
    check("X", X, Instance(sp.spmatrix, sp.sparray, np.ndarray, what=_MATRIX))
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise ArgumentValueError(f"Invalid X: an array of shape {X.shape} (expected {_MATRIX})")
        X = sp.csr_matrix(X)
    else:
        X = X.tocsr()
    if X.dtype != np.float64:
        X = X.astype(np.float64)
    if copy_to_canonical and not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()  # sorted, no duplicate columns: d_j then counts rows
    return X


_LABELS = "labels in {-1, +1} or {0, 1}"


def _signed_labels(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype != np.bool_ and not np.issubdtype(y.dtype, np.number):
        raise ArgumentTypeError(f"Invalid y: an array of dtype {y.dtype} (expected {_LABELS})")
    y = y.ravel()
    if y.shape[0] != n:
        raise ArgumentValueError(f"Invalid y: {y.shape[0]} labels (expected one per row of X: {n})")
    bad = int(np.count_nonzero(~np.isfinite(y)))
    if bad:
        raise ArgumentValueError(f"Invalid y: {bad} non-finite label{'s' if bad > 1 else ''} "
                                 f"(expected {_LABELS})")
    values = np.unique(y)
    labels = set(values.tolist())
    if labels <= {-1, 1}:
        return y.astype(np.float64)
    if labels <= {0, 1}:
        return np.where(y == 1, 1.0, -1.0)
    shown = ", ".join(f"{v:g}" for v in values[:5]) + (", ..." if values.size > 5 else "")
    raise ArgumentValueError(f"Invalid y: the values {shown} (expected {_LABELS})")


def live_workers() -> list[threading.Thread]:
    """Hogwild worker threads still alive (none once :func:`hogwild` has returned or raised)."""
    return [t for t in threading.enumerate() if t.name.startswith("sgdlab-hogwild")]
