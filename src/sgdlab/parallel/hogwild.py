"""Hogwild! (Niu, Recht, Re & Wright, 2011): lock-free parallel SGD on one shared weight vector.

Workers are Python threads, each calling a compiled numba kernel that releases the global
interpreter lock (``nogil=True``): they run at once, on the same ``w`` in memory, with no lock
between them. With sparse rows two workers rarely touch the same coordinate at the same time, so
their unsynchronized writes rarely collide and the speed-up is close to the number of cores.

What the paper's "rarely" does not cover is the hardware's unit of sharing, a cache line: the
weights of the most frequent features (and the intercept) are written by every worker at nearly
every row, and each such write waits for the line to come over from the other core; and on a
machine whose cache holds all of ``w``, a line of rare weights comes over too, about every other
time it is touched. So by default, with several workers, each worker steps on a private replica of
the weights (HOGWILD!++'s) and adds its change to the shared ones every 16 to 65,536 rows, each
weight at its own interval, the rarest at the end of the epoch (no change is lost): a bounded
delay, which the paper's analysis allows. ``hot=0`` is the paper's plain Hogwild!, every step on
the shared weights. docs/hogwild.md has the design, its reasons and the measured speed-ups.

The compiled kernels (``_kernels``, numba) load on the first fit: importing this module is light.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .._validation import (ArgumentTypeError, ArgumentValueError, Bool, Instance, Int, Options, Real, check,
                           validate)
from ._workers import crew, deferred_interrupt, idle_threads, release_crews, wait_all

LOSSES = ("log", "hinge", "squared")  # as _kernels.LOSS_CODES

#: how ``hogwild(l2=...)`` takes the L2 term's step
L2_STEPS = ("dense", "spread")
#: the hyper-parameters :func:`hogwild`, the benchmark's ``measure`` and ``sgdlab hogwild`` share
HYPERPARAMETERS = dict(loss=Options(*LOSSES), alpha=Real(0), epochs=Int(1), lr=Real(0, closed="neither"),
                       decay=Real(0, 1, closed="right"), seed=(Int(0), None), fold_every=(Int(1), None),
                       l2=Options(*L2_STEPS))
# Replicas (HOGWILD!++'s, folded weight by weight): by default, with 2+ workers and no lock, each
# worker steps on a private replica of all the weights and folds its changes into the shared ones,
# weight j every tau_j of its rows (choose_hot):
# - tau_j, of FOLD_INTERVALS, the longest with lr * c * q_j * tau_j <= MAX_DELAYED_STEP, q_j = mean_i
#   x_ij^2, c the loss's largest curvature: how far the steps of one fold window can move w_j toward
#   its optimum, on the quadratic that bounds the loss, i.e. step * curvature * delay. Gradient steps
#   delayed by tau are stable while that product is below pi/2 (x_{t+1} = x_t - a x_{t-tau} is stable
#   iff a < 2 sin(pi / (4 tau + 2))); 0.5 keeps a margin of 3. Heavy weights fold often, light ones
#   seldom; a weight too heavy for even the shortest interval folds at the shortest;
# - a weight a worker would update fewer than MIN_UPDATES_PER_FOLD times between two folds at its
#   interval (counts_j * tau_j < MIN_UPDATES_PER_FOLD * n) folds only at the end of the epoch: a fold
#   would cost more cache-line transfers than it saves (its line comes over at every fold); unless
#   the delay rule does not allow it a whole epoch's delay (lr * c * q_j * n > MAX_DELAYED_STEP: rare
#   but large values), which then folds at the longest interval. Raising the 2 updates to 32 made
#   5,400 of 28,040 weights hot at s = 1.1 and the others, updated up to ~190 times an epoch, only
#   at its end: the objective of 2 workers doubled (2026-12-04, 8 seeds).
# Before 2026-12-04 only the most frequent weights had copies (at most half of a core's L2 of them),
# which each row reached through a per-worker column table, and the weights too heavy for the
# shortest interval stayed shared: on a 2 MiB-L2 host, 2 workers were 1.05-1.23x faster than 1 per
# epoch at s = 1.1 (the control sharing nothing 2.02x; a full replica without folds 1.58x through
# the table). A replica indexed by column reads no table: 1.87-1.99x at s = 0.5, 0.8, 1.1, with the
# objective of 1 worker (docs/hogwild.md).
# The intervals are powers of 2 times the shortest, so that the weights sorted by interval fold as a
# prefix (fold_schedule); the shortest, 16 rows, keeps a fold's lock and loop small beside the rows
# (2 workers against 1 per epoch at s = 1.1, 10 seeds: 4 rows 1.79x, 8 rows 1.82x, 16 rows 1.91x,
# the objective the same within the seeds' spread; 32 rows: 20% worse in 1 run of 5); the
# longest, 65,536 rows, lets a feature in 1 row of 32,768 fold before the epoch's end.
FOLD_INTERVALS = tuple(16 * 2**k for k in range(13))  # 16 .. 65536
MIN_UPDATES_PER_FOLD = 2
MAX_DELAYED_STEP = 0.5
# replicas by default only where X has at least this many non-zeros per weight: a replica costs O(d)
# per worker and epoch (started from the shared weights, folded at the end), a step O(row). 2 workers
# against 1 per epoch, s = 0.8, 40 non-zeros a row, 2026-12-04: 312 non-zeros per weight, replicas
# 1.92x and plain Hogwild! 0.82x; 39: 1.57x, 0.53x; 10: 0.77x, 0.51x; 5 (d = 400,000): 1.06x,
# 0.88x; 2: 0.75x, 0.95x
MIN_NONZEROS_PER_WEIGHT = 4
# sup of loss''(p): log 1/4; squared 1; hinge has none (piecewise linear): 1, to be safe
CURVATURE = {"log": 0.25, "squared": 1.0, "hinge": 1.0}
# float64s around each replica, its base and the shared weights (``_padded``): 64 bytes, one cache
# line, so that no line holds weights of two of them whatever the arrays' alignment
GAP = 8
# rows on which q_j = mean_i x_ij^2 is estimated for the delay rule (all of them if fewer)
SQUARES_SAMPLE = 8192
SQUARES_BLOCKS = 16
#: what ``hogwild(objective=...)`` computes
OBJECTIVES = ("epoch", "final", "progressive", None)
# with l2="dense", an epoch runs in parts of at most this many times 1 / (eta * alpha) rows, so that the
# scale of the stored weights, (1 - eta * alpha)^rows, stays above e^-230 = 1e-100 (see sgd_rows)
SCALE_EXPONENT = 230.0

# Test hook: when set, each worker calls it as ``_before_share(worker, epoch)`` before its kernel
# (which then runs the worker's part of the epoch).
_before_share = None

#: the names of Hogwild!'s threads start with it (``live_workers``)
THREAD_PREFIX = "sgdlab-hogwild"


@dataclass
class HogwildResult:
    """What :func:`hogwild` returns.

    weights: the coefficients w (n_features,); intercept: b (0.0 unless ``fit_intercept``); l2: the
    L2 step taken ("dense" or "spread").
    objective: f(w) = mean loss + alpha/2 ||w||^2 on the training rows, as asked by ``objective``
    (``objective_kind``): after every epoch ("epoch"), after the last ("final", one value), the
    progressive loss of every epoch ("progressive"), or nothing (None, an empty list).
    epoch_times: seconds of parallel SGD per epoch (the objective's evaluation is not in it).
    updates_per_second: rows processed (one update each) / sum(epoch_times).
    wall_time: seconds of the whole call, from validation to the result.
    setup_time: seconds of it before the first epoch starts (checks, the fold intervals' choice, the
    first epoch's order drawn; with l2="spread" the feature counts; in a process's first call with
    this many workers, the threads' start).
    replicas: whether each worker stepped on a private replica of the weights (else on the shared
    ones: plain Hogwild!, or the lock); hot: how many of the replicas' weights (features, and the
    intercept if it is hot) folded into the shared ones during an epoch, each at its own interval
    (the others only at its end); fold_every: the shortest interval, in rows (0 without);
    fold_intervals: {interval: how many hot weights fold at it}.
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
    setup_time: float = 0.0
    fold_intervals: dict[int, int] = field(default_factory=dict)
    objective_kind: str | None = "final"
    l2: str = "dense"
    replicas: bool = False

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


@validate(**HYPERPARAMETERS, workers=Int(1), lock=Bool(), fit_intercept=Bool(), hot=(Int(0), None),
          objective=(Options(*OBJECTIVES[:-1]), None))
def hogwild(X, y, *, loss: str = "log", alpha: float = 1e-6, workers: int = 1, epochs: int = 5,
            lr: float = 0.5, decay: float = 0.9, lock: bool = False, seed: int | None = 0,
            fit_intercept: bool = False, hot: int | None = None,
            fold_every: int | None = None, objective: str | None = "final", l2: str = "dense") -> HogwildResult:
    """Fit a linear classifier by Hogwild! SGD: ``workers`` threads updating one ``w`` without locks.

    Minimizes  f(w) = 1/n sum_i loss(w.x_i + b, y_i) + alpha/2 ||w||^2.  Each epoch, the workers run
    through a seeded permutation of the rows, each taking the next 256 rows of it when it needs more
    (so each row is visited once, and the workers finish together); a worker takes an SGD step on
    each of its rows, with step size eta_t = lr * decay^t (t = 0, 1, ... the epoch). The permutation:
    Fisher-Yates from the top (for i = n - 1 .. 1 swap positions i and j = floor(u * (i + 1))), u
    from the top 53 bits of the next output of SplitMix64, whose state ``numpy.random.SeedSequence(seed)``
    seeds; the epochs draw in turn from the one stream.

    The L2 term's step, ``l2``:

    - "dense" (default): SGD on f itself, as scikit-learn's SGDClassifier and Bottou's sgd take it:

          w <- (1 - eta_t * alpha) w - eta_t * loss'(w.x_i + b, y_i) x_i

      every weight decaying at every step, kept in a scale of w rather than applied (the scale of
      position k of the epoch's order is (1 - eta_t alpha)^k, a function of k alone, so each worker
      knows its own and no shared scale is written): a step touches only the row's non-zeros. No
      pass over X is needed first. Requires lr * alpha < 1.
    - "spread": the paper's, on the row's non-zero coordinates j only:

          w_j <- w_j * max(0, 1 - eta_t * alpha * n / d_j) - eta_t * loss'(w.x_i + b, y_i) * x_ij

      with d_j the number of rows having feature j: the L2 gradient alpha * w_j spread over the rows
      that contain j, as in the paper's code, so that its expectation over the rows is alpha * w_j.
      Counting d_j is a compiled pass over X's indices, split among the workers, before the first
      epoch.

    The workers meet only at the end of each epoch.

    Set-up costs little beside an epoch: X in CSR with float64 or float32 values is used as it is
    (never copied, row pointers of either integer type included; other formats and value types are
    converted once); with l2="dense", nothing reads all of X or y before the first epoch: the hot
    weights and their fold intervals are chosen from a sample of 8192 rows in one compiled pass, the
    first permutation drawn by a thread of its own meanwhile, and float64 labels whose first 1024
    are -1 or +1 (some -1) are checked by each row's step (any other y is checked, or converted, in
    one pass first). A non-finite value in X, a column index outside it, or a label that is not -1
    or +1 is likewise found by the first epoch's step on its row, not by a pass of its own, and is
    then reported as a pass would (the row and column; the labels' values). The threads are started
    by the first call and kept, idle, for the next one with as many workers, with the large arrays
    (the orders, the replicas): ``sgdlab.parallel.release_threads()`` ends them.

    Replicas (by default with 2+ workers, no lock and X holding at least 4 non-zeros per weight): each
    worker keeps a private replica u of all the weights (and of b), started from the shared w at each
    epoch; its steps update u instead of w, and for a *hot* weight every k_j of its rows (the
    weight's own fold interval), for every weight at the end of the epoch, it folds: w_j <- w_j +
    (u_j - u_j at the previous fold), then u_j <- w_j (folds of the same weights exclude each other
    by a spin lock per block of them). A worker thus sees its own steps at once and the others'
    steps on a hot weight at most k_j of their rows late, on any other weight at the epoch's end;
    none is lost. With one worker, the result equals the plain update's up to rounding. Memory: 16
    bytes per weight per worker (the replica and its base) and 16 more for the shared weights' slots
    and their columns: with d = 1,000,000 and 8 workers, 144 MB.

    Args:
        X: scipy.sparse matrix (n, d), CSR used as it is (any other format, a dense array, or values
            other than float64/float32 are converted). Entries of a row that repeat a column each count
            in d_j and are stepped on one after the other.
        y: n labels, in {-1, +1} or {0, 1} (0 means -1).
        loss: "log" (logistic regression), "hinge" (linear SVM) or "squared" (0.5 (p - y)^2).
        alpha: L2 strength (>= 0), as scikit-learn's SGDClassifier ``alpha``.
        workers: threads updating ``w`` at once.
        epochs: passes over the rows.
        lr: initial step size eta_0 (> 0); the default suits rows of unit L2 norm, as RCV1's.
        decay: per-epoch factor of the step size, 0 < decay <= 1.
        lock: hold one spin lock over the whole of ``w`` during each row's read-compute-write:
            the serialized baseline the paper compares Hogwild! against.
        seed: seed of the row permutations (None: fresh entropy); with ``workers=1`` the result is
            bit-for-bit reproducible.
        fit_intercept: also learn an unpenalized b (every row updates it, so it is the one
            coordinate all workers share; off by default).
        hot: which weights fold during an epoch, with replicas. None (default): replicas with 2+
            workers, no lock and X holding at least 4 non-zeros per weight (a replica costs O(d) per
            epoch); then the hot weights are the features j a worker updates at least twice within
            their fold interval k_j (below: d_j >= 2 n / k_j) or that the delay rule does not allow an
            epoch's delay (lr * c * n * mean_i(x_ij^2) > 0.5: at the longest interval), and b if
            fitted; the others fold at the end of each epoch only. An int: replicas with
            any number of workers, the ``hot`` most frequent weights hot whatever their values (b
            counting as in every row, ties to the lower column); 0: no replicas, plain Hogwild! (with
            1 worker or ``lock``, the default). Not > 0 with ``lock=True``, which serializes every
            update of the shared weights. The frequencies d_j / n and the squares mean_i x_ij^2 come
            from a sample of 8192 rows (16 blocks of consecutive rows spread evenly over X; all rows
            if there are fewer), with l2="spread" the exact d_j.
        fold_every: rows a worker runs between two folds of every hot weight (>= 1). None
            (default): each weight's own k_j, the longest of 16, 32, ..., 65536 rows for which
            lr * k_j * c * mean_i(x_ij^2) <= 0.5, with c the loss's largest curvature (log 1/4,
            squared and hinge 1): the delay a gradient step tolerates; 16 for a weight too heavy
            for that (``choose_hot``).
        objective: what ``result.objective`` holds. "final" (default): f after the last epoch, one
            pass over the rows split among the workers; "epoch": f after every epoch (a pass each,
            which costs about a third of an epoch); "progressive": for each epoch, the mean of each
            row's loss at the weights its step started from, plus alpha/2 ||w||^2 at the epoch's end
            (progressive validation, as Vowpal Wabbit reports: free, computed by the steps, and an
            estimate of f that lags the weights by up to an epoch); None: nothing.
        l2: "dense" (default) or "spread": how the L2 term's step is taken (above).

    Raises:
        TypeError / ValueError: an invalid argument (the message names it): a hyper-parameter out of
            its range, lr * alpha >= 1 with l2="dense", X not a matrix, an X without rows or
            columns, a non-finite value in X (its row and column named), labels not one per row or
            not binary.
        FloatingPointError: a prediction became non-finite (``lr`` too large); an exception raised
            in a worker reaches the caller as itself, with the worker's traceback, after the other
            workers were stopped. Ctrl-C stops every worker and raises KeyboardInterrupt.

    Example:
        >>> import numpy as np, scipy.sparse as sp
        >>> from sgdlab.parallel import hogwild
        >>> rng = np.random.default_rng(0)
        >>> X = sp.random(2000, 500, density=0.02, format="csr", random_state=0)
        >>> y = np.sign(X @ rng.standard_normal(500) + 1e-9)
        >>> result = hogwild(X, y, loss="log", workers=2, epochs=5, lr=0.5, alpha=1e-5, objective="epoch")
        >>> bool(result.objective[-1] < result.objective[0] < np.log(2))
        True
        >>> result.accuracy(X, y) > 0.9
        True
    """
    from . import _kernels  # numba

    started = time.perf_counter()
    if l2 == "dense" and lr * alpha >= 1.0:
        raise ArgumentValueError(f"Invalid lr: {lr} with alpha={alpha} (expected lr * alpha < 1: the dense L2 "
                                 "step multiplies every weight by 1 - lr * alpha; or l2=\"spread\")")
    if hot and lock:
        raise ArgumentValueError(f"Invalid hot: {hot} with lock=True (expected 0 or None: the locked "
                                 "baseline updates the shared weights at every row)")
    X = _as_csr(X)
    n, d = X.shape
    if n == 0:
        raise ArgumentValueError("Invalid X: no rows (expected at least one)")
    if d == 0:
        raise ArgumentValueError("Invalid X: no columns (expected at least one feature)")
    kind = _kernels.LOSS_CODES[loss]
    intercept = d if fit_intercept else -1
    stop = np.zeros(1, np.int64)
    given_y = y
    # the workers' threads, and the orders' thread: the next epoch's row order is drawn by a thread
    # of its own while the workers run (the same seeded sequence: one draw at a time, in order), the
    # main thread only waits meanwhile; started by the first call, kept for the next with the large
    # arrays (``crew``)
    try:
        with crew(workers, THREAD_PREFIX) as team:
            pool, orders = team.pool, team.helper
            draw = _OrderDrawer(n, seed, team.array)
            try:
                # X's arrays used as they are, no copy (int32 row pointers too: converting them to int64
                # cost 0.45 ms of the set-up, and an epoch with int32 ones was 1-3% faster, 2026-12-04).
                indptr, indices, data = X.indptr, X.indices, X.data
                if hot is None and (workers == 1 or lock or indices.size < MIN_NONZEROS_PER_WEIGHT * (d + 1)):
                    # no other worker to share a cache line with, every update serialized anyway, or so few
                    # non-zeros per weight that a replica's O(d) per epoch would cost more than it saves
                    hot = 0
                replicas = hot != 0
                # with replicas, the first order is the orders' thread's task, while this one checks the
                # labels and reads the sample for the hot weights; then this one draws it itself if that
                # thread has not begun (a thread idle for a while took 0.1-2 ms to start a task on
                # 2026-12-04's 2-vCPU VM). Without, this one has nothing else to do: it draws it
                if replicas:
                    team.keep_helper_off_this_cpu()
                    first_draw = orders.submit(draw)
                y = _signed_labels(given_y, n, lazy=True)
                if replicas:  # sums of x_ij^2, counts and rows of the sample
                    squares, sampled, sampled_rows = _sample(indptr, indices, data, d, n, team.array)
                first_order = draw() if not replicas or first_draw.cancel() else None
                row_ranges = _row_ranges(n, workers)
                spread = l2 == "spread"
                counts = reg = None
                if spread:  # d_j, exactly: one compiled pass over the indices, split among the workers
                    parts = [np.zeros(d, np.int64) for _ in row_ranges]
                    wait_all([pool.submit(_kernels.count_features, indptr, indices, a, b, part)
                              for (a, b), part in zip(row_ranges, parts)], stop, "Hogwild", 0)
                    counts = parts[0]
                    for part in parts[1:]:
                        counts += part
                    with np.errstate(divide="ignore"):
                        reg = np.where(counts > 0, alpha * n / np.maximum(counts, 1), 0.0)
                chosen, distinct, sizes = np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
                slots = None  # the shared weights' slot columns, if the hot weights' choice made them
                if replicas:
                    step = lr * CURVATURE[loss]
                    if hot is None:  # q_j, the mean over the sample; d_j, exact with "spread", else estimated
                        slots, chosen, distinct, sizes = _hot_by_interval(
                            counts if spread else sampled, 1.0 if spread else n / sampled_rows, squares,
                            sampled_rows, n if fit_intercept else 0, n, fold_every, step, team.array)
                    else:
                        frequencies = counts if spread else sampled * (n / sampled_rows)
                        chosen, intervals = choose_hot(frequencies, squares / sampled_rows, n, hot, fold_every, step,
                                                       fit_intercept)
                        distinct, sizes = interval_counts(intervals)
                fold_every, fold_ends = _fold_schedule(distinct, sizes)
                w = team.array("w", d + 1)  # the shared weights, then the intercept
                w[:] = 0.0
                reg = reg if spread else np.empty(0)  # (dense: not read)
                next_row = _kernels.row_counter()
                first_order = first_order if first_order is not None else first_draw.result()
                common = _kernels.SgdRowsArgs(
                    indptr=indptr, indices=indices, data=data, y=y, w=w, shrink=reg, order=draw.buffers[0][:0],
                    next_row=next_row, eta=lr, kind=kind, intercept_at=intercept, stop=stop,
                    lock=np.zeros(1, np.int64), use_lock=lock, track_loss=objective == "progressive", scaled=not spread,
                    n_features=d)
                if replicas:  # each worker: its replica and its base, one cache line from any other array
                    shared = Replicas.build(d, chosen, team.array, slots)
                    common = common._replace(n_fold=d + 1, shared=shared.weights, cols=shared.cols, fold_every=fold_every,
                                             fold_locks=_kernels.fold_locks(d + 1), fold_ends=fold_ends)
                    shares = [common._replace(w=_padded(d + 1, team.array, f"replica {k}"),
                                              base=_padded(d + 1, team.array, f"base {k}")) for k in range(workers)]
                else:
                    shares = [common] * workers
                shrink_buffer = np.empty_like(reg)

                def work(worker: int, epoch: int, order: np.ndarray, eta: float, shrink: np.ndarray, rho: float):
                    if _before_share is not None:
                        _before_share(worker, epoch)
                    done, status, row, loss_total = _kernels.sgd_rows(
                        *shares[worker]._replace(order=order, eta=eta, shrink=shrink, rho=rho))
                    if status == _kernels.NONFINITE:
                        _raise_non_finite(indptr, indices, data, row, epoch, worker, lr, loss)
                    if status == _kernels.BAD_INDEX:
                        _raise_bad_index(indptr, indices, row, d)
                    if status == _kernels.BAD_LABEL:
                        raise _UnsignedLabel(row)
                    return done, loss_total

                def exact_objective() -> float:
                    totals = wait_all([pool.submit(_kernels.loss_sum, indptr, indices, data, y, w, a, b, kind, intercept)
                                       for a, b in row_ranges], stop, "Hogwild", len(epoch_times))
                    return sum(totals) / n + 0.5 * alpha * _kernels.squared_norm(w, d)

                # load the compiled kernel (compiling it on the very first use) before the clock starts: no rows
                _kernels.sgd_rows(*shares[0]._replace(n_fold=0))
                values, epoch_times, updates = [], [], 0
                setup_time = time.perf_counter() - started  # up to the first epoch, its order drawn
                next_order = None
                # with replicas, the weights stay in the shared slots from one epoch to the next (no
                # gather and scatter of d + 1 weights between them: 0.3 of the 0.9 ms there on
                # 2026-12-04), and come back to w for an objective and at the end
                in_slots = False
                with deferred_interrupt(stop) as interrupted:
                    for epoch in range(epochs):
                        order = first_order if next_order is None else next_order.result()
                        next_order = None
                        eta = lr * decay**epoch
                        tick = time.perf_counter()
                        shrink = _kernels.shrink_factors(reg, eta, shrink_buffer) if spread else reg
                        rho = 1.0 if spread else 1.0 - eta * alpha
                        results = []
                        for first, last in _scale_parts(n, rho):
                            next_row[0] = 0
                            if replicas and not in_slots:
                                shared.gather(w)
                                in_slots = True
                            futures = [pool.submit(work, k, epoch, order[first:last], eta, shrink, rho)
                                       for k in range(workers)]
                            if next_order is None and epoch + 1 < epochs:
                                # after the workers': woken first, the helper's draw would hold the CPU
                                # a worker is queued on, the other idle (1.4 ms at each epoch's start)
                                next_order = orders.submit(draw)
                            results += wait_all(futures, stop, "Hogwild", epoch)
                            if rho != 1.0:  # the part's decay, kept in a scale by the kernel, applied
                                if in_slots:
                                    shared.decay_features(rho ** (last - first))
                                else:
                                    w[:d] *= rho ** (last - first)
                            if interrupted:
                                break
                        updates += sum(done for done, _ in results)
                        if interrupted:  # Ctrl-C: the workers have stopped; raised on leaving the block
                            break
                        if in_slots and (objective in ("epoch", "progressive") or epoch == epochs - 1):
                            shared.scatter(w)  # back in column order, for the objective and the result
                            in_slots = False
                        epoch_times.append(time.perf_counter() - tick)
                        if not np.all(np.isfinite(shared.weights if in_slots else w[:d + 1])):
                            raise FloatingPointError(f"the weights became non-finite in epoch {epoch}: the step "
                                                     f"size lr={lr} is too large for loss={loss!r}; lower lr")
                        if objective == "progressive":
                            values.append(sum(total for _, total in results) / n
                                          + 0.5 * alpha * _kernels.squared_norm(w, d))
                        elif objective == "epoch" or (objective == "final" and epoch == epochs - 1):
                            values.append(exact_objective())
            finally:
                stop[0] = 1
    except _UnsignedLabel as bad:  # the lazy check's labels (_signed_labels): reported as it would
        bad_row = bad.row
    else:
        sgd_time = sum(epoch_times)
        return HogwildResult(weights=w[:d].copy(), intercept=float(w[d]) if fit_intercept else 0.0,
                             objective=values, epoch_times=epoch_times,
                             updates_per_second=updates / sgd_time if sgd_time > 0 else float("inf"),
                             wall_time=time.perf_counter() - started, workers=workers, lock=lock, loss=loss,
                             alpha=alpha, seed=seed, hot=int(chosen.size), fold_every=fold_every, setup_time=setup_time,
                             fold_intervals=dict(zip(distinct.tolist(), sizes.tolist())),
                             objective_kind=objective, l2=l2, replicas=replicas)
    _signed_labels(given_y, n)  # raises (the labels are -1, +1 and something else)
    raise ArgumentValueError(f"Invalid y: row {bad_row} has the label {np.asarray(given_y).ravel()[bad_row]} "
                             f"(expected {_LABELS})")


class _UnsignedLabel(Exception):
    """A worker's step met a label that is not -1 or +1 (``row``)."""

    def __init__(self, row: int):
        super().__init__(row)
        self.row = row


def _scale_parts(n: int, rho: float) -> list[tuple[int, int]]:
    """The parts [first, last) of an epoch's n positions that ``sgd_rows`` runs one call each with the
    dense L2 step (rho = 1 - eta * alpha, in (0, 1]: ``hogwild`` refuses lr * alpha >= 1): each at
    most SCALE_EXPONENT / -ln(rho) rows long, so that rho^rows >= 1e-100 (one part for any n when
    rho = 1).

    >>> _scale_parts(10, 1.0)
    [(0, 10)]
    >>> _scale_parts(1000, float(np.exp(-0.5)))  # 460 rows a part
    [(0, 460), (460, 920), (920, 1000)]
    """
    if rho >= 1.0:
        return [(0, n)]
    rows = max(1, int(SCALE_EXPONENT / -np.log(rho)))
    return [(a, min(a + rows, n)) for a in range(0, n, rows)]


class _OrderDrawer:
    """Each call, the next epoch's order of the rows: ``shuffled_order``'s permutation of 0 .. n - 1,
    its SplitMix64 state seeded by ``numpy.random.SeedSequence(seed)`` (None: fresh entropy), one
    permutation per epoch, in order; written into the one of two buffers that the epoch before the
    last used (the workers run through the other meanwhile): no allocation after the first two
    (``array(name, size, dtype)`` makes them: by default new ones). Row
    numbers are int32 below 2^31 rows: the shuffle's swaps then stay in half the cache (400,000 rows:
    2.1 ms in int32 against 3.3 ms in int64, 2026-12-03)."""

    def __init__(self, n: int, seed: int | None, array=None):
        self.state = np.random.SeedSequence(seed).generate_state(1, np.uint64)
        dtype = np.int32 if n < 2**31 else np.int64
        self.buffers = [_new(array)("order 0", n, dtype), _new(array)("order 1", n, dtype)]
        self.draws = 0

    def __call__(self) -> np.ndarray:
        from . import _kernels

        out = self.buffers[self.draws % 2]
        self.draws += 1
        return _kernels.shuffled_order(self.state, out)


def _sample_blocks(n: int) -> tuple[int, np.ndarray]:
    """(rows, starts): the sample of rows for the hot weights' choice, which needs each feature's
    frequency and q_j = mean_i x_ij^2 (the delay rule) only for the frequent features, which a
    sample sees often: SQUARES_BLOCKS blocks of ``rows`` consecutive rows spread evenly over X, in
    case its rows come in some order (one block of every row if there are at most SQUARES_SAMPLE)."""
    if n <= SQUARES_SAMPLE:
        return n, np.zeros(1, np.int64)
    block = SQUARES_SAMPLE // SQUARES_BLOCKS
    return block, np.linspace(0, n - block, SQUARES_BLOCKS).astype(np.int64)


def _sample(indptr, indices, data, d: int, n: int, array=None):
    """(sums of x_ij^2, counts, rows) of ``sampled_features`` on the blocks of ``_sample_blocks``, into
    arrays ``array(name, size, dtype)`` makes (by default new ones), zeroed first."""
    from . import _kernels

    block, starts = _sample_blocks(n)
    squares, counts = _new(array)("sample squares", d, np.float64), _new(array)("sample counts", d, np.int64)
    squares[:], counts[:] = 0.0, 0
    return squares, counts, _kernels.sampled_features(indptr, indices, data, starts, block, squares, counts)


def _row_ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ranges of rows of (nearly) equal size covering 0 .. n - 1: the edges of
    ``np.linspace(0, n, parts + 1).round()``, in Python (NumPy's calls took 0.1 ms of the set-up).

    >>> _row_ranges(7, 2)
    [(0, 4), (4, 7)]
    """
    edges = [round(k * (n / parts)) for k in range(parts)] + [n]
    return list(zip(edges[:-1], edges[1:]))


def _raise_bad_index(indptr, indices, row: int, d: int):
    columns = indices[indptr[row]:indptr[row + 1]]
    bad = columns[(columns < 0) | (columns >= d)]
    raise ArgumentValueError(f"Invalid X: row {row} has the column index {bad[0]} (expected 0 <= index < "
                             f"{d}, the number of columns: X is a malformed sparse matrix)")


def _raise_non_finite(indptr, indices, data, row: int, epoch: int, worker: int, lr: float, loss: str):
    from . import _kernels

    at = _kernels.first_non_finite(indptr, data, row)
    if at >= 0:
        q = indptr[row] + at
        raise ArgumentValueError(f"Invalid X: row {row} has the non-finite value {data[q]} in column "
                                 f"{indices[q]} (expected finite values)")
    raise FloatingPointError(
        f"the prediction for row {row} became non-finite in epoch {epoch} (worker {worker}): "
        f"the step size lr={lr} is too large for loss={loss!r} on this data; lower lr")


def choose_hot(counts: np.ndarray, squares: np.ndarray | None, n: int, hot: int | None,
               fold_every: int | None, step: float, fit_intercept: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(positions, intervals)``: the hot weights' positions in w (d = len(counts) is the intercept)
    in the order of their slots, by fold interval and then position, and each one's fold interval.

    Each weight's interval: ``fold_every`` if given; else its own, the longest of FOLD_INTERVALS
    within the delay rule, step * interval * squares_j <= MAX_DELAYED_STEP (squares_j = mean_i
    x_ij^2, step = lr * the loss's largest curvature; the intercept has count n and squares 1), the
    shortest where the rule allows none.

    ``hot`` None: the features (and the intercept, if fitted) with counts_j * interval >=
    MIN_UPDATES_PER_FOLD * n (a worker updates it that often between two folds), and those the delay
    rule does not allow an epoch's delay, step * n * squares_j > MAX_DELAYED_STEP (at the longest
    interval, or ``fold_every``); an int: the ``hot`` with the largest counts whatever their values
    (the intercept counting n). Ties go to the lower position; a feature in no row is never hot (no
    step touches it). The weights that are not hot fold at the end of the epoch only.

    >>> counts, squares = np.array([10, 0, 3, 7, 1]), np.array([0.01, 0.0, 0.003, 0.5, 0.001])
    >>> [a.tolist() for a in choose_hot(counts, squares, 10, None, 16, 0.125, False)]  # 4: 1 row in 16
    [[0, 2, 3], [16, 16, 16]]
    >>> [a.tolist() for a in choose_hot(counts, squares, 10, None, None, 0.125, False)]  # 3: too heavy for 16
    [[3, 0, 2, 4], [16, 256, 1024, 2048]]
    """
    if hot is None:
        _, chosen, distinct, sizes = _hot_by_interval(np.ascontiguousarray(counts, np.float64), 1.0,
                                                      np.ascontiguousarray(squares, np.float64), 1.0,
                                                      n if fit_intercept else 0, n, fold_every, step)
        return chosen.copy(), np.repeat(distinct, sizes)
    all_counts = np.append(counts, n if fit_intercept else 0)
    candidates = np.flatnonzero(all_counts >= 1)  # ascending positions
    chosen = candidates[_largest(all_counts[candidates], hot)].astype(np.int64, copy=False)
    if fold_every is not None or squares is None:
        intervals = np.full(chosen.size, fold_every or FOLD_INTERVALS[0], np.int64)
    else:
        intervals = np.maximum(_longest_intervals(step * np.append(squares, 1.0)[chosen]), FOLD_INTERVALS[0])
    if intervals.size and intervals.min() != intervals.max():
        # by interval, then position (``chosen`` ascends): different intervals are of FOLD_INTERVALS,
        # so a stable counting sort by interval / shortest, O(len) (NumPy's stable int64 sort is a
        # timsort: 2-3 ms for 45,000)
        from . import _kernels

        order = _kernels.counting_order(intervals // FOLD_INTERVALS[0], FOLD_INTERVALS[-1] // FOLD_INTERVALS[0] + 1)
        chosen, intervals = chosen[order], intervals[order]
    return chosen, intervals


def _hot_by_interval(counts: np.ndarray, count_scale: float, squares: np.ndarray, squares_rows: float,
                     intercept_count: int, n: int, fold_every: int | None, step: float, array=None):
    """``(slots, hot, distinct intervals, how many hot weights at each)`` by :func:`choose_hot`'s default
    rule, in one compiled pass (``_kernels.hot_by_interval``) over the features' counts * count_scale
    and squares / squares_rows (a sample's sums, as they are): ``slots``, the columns of the shared
    weights' slots (``Replicas``), in an array ``array(name, size, dtype)`` makes (by default a new
    one), the hot weights first (``hot``, a view), sorted as choose_hot sorts them."""
    from . import _kernels

    intervals = np.asarray(FOLD_INTERVALS, np.int64)
    slots = _new(array)("slot columns", counts.shape[0] + 1, np.int64)
    sizes = _kernels.hot_by_interval(counts, float(count_scale), squares, float(squares_rows), float(intercept_count),
                                     step, n, fold_every or 0, intervals, MIN_UPDATES_PER_FOLD, MAX_DELAYED_STEP, slots)
    hot = slots[:int(sizes.sum())]
    if fold_every:
        return slots, hot, np.array([fold_every], np.int64)[:int(sizes[0] > 0)], sizes[:1][sizes[:1] > 0]
    return slots, hot, intervals[sizes > 0], sizes[sizes > 0]


def _largest(values: np.ndarray, k: int) -> np.ndarray:
    """The positions of the k largest values (all if fewer), ties to the lower positions, ascending:
    O(len(values)) and a sort of the k positions only where there are more than k values.

    >>> _largest(np.array([3, 1, 3, 2, 3]), 2).tolist()
    [0, 2]
    """
    if k >= values.size:
        return np.arange(values.size)
    if k <= 0:
        return np.arange(0)
    kth = np.partition(values, values.size - k)[values.size - k]  # the k-th largest
    above = np.flatnonzero(values > kth)
    return np.sort(np.concatenate([above, np.flatnonzero(values == kth)[:k - above.size]]))


def _longest_intervals(step_squares: np.ndarray) -> np.ndarray:
    """Per weight, the longest of FOLD_INTERVALS with step_squares * interval <= MAX_DELAYED_STEP (0: none).

    >>> _longest_intervals(np.array([0.5 / 16, 0.5 / 17, 0.5 / 15, 0.5 / 64, 0.0])).tolist()
    [16, 16, 0, 64, 65536]
    """
    from . import _kernels

    return _kernels.longest_intervals(np.ascontiguousarray(step_squares, np.float64),
                                      np.asarray(FOLD_INTERVALS, np.int64), MAX_DELAYED_STEP)


def interval_counts(intervals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ascending ``intervals`` and how many times each occurs (np.unique's
    result, without its hash: the values are sorted already).

    >>> [a.tolist() for a in interval_counts(np.array([16, 16, 32, 64]))]
    [[16, 32, 64], [2, 1, 1]]
    """
    if not intervals.size:
        return intervals[:0], np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(intervals)) + 1]).astype(np.int64)
    return intervals[starts], np.diff(np.append(starts, intervals.size))


def fold_schedule(intervals: np.ndarray) -> tuple[int, np.ndarray]:
    """``(fold_every, fold_ends)`` for the kernel: hot weights sorted by their intervals (ascending, multiples of
    the shortest by powers of 2) fold every ``fold_every`` rows, the k-th fold of a period (k = 1 ..
    longest / shortest) folding the first fold_ends[k - 1] of them: those whose interval divides k *
    fold_every.

    >>> fold_schedule(np.array([16, 16, 32, 64]))
    (16, array([2, 3, 2, 4]))
    >>> fold_schedule(np.array([], np.int64))  # no fold before the end
    (0, array([0]))
    """
    return _fold_schedule(*interval_counts(intervals))


def _fold_schedule(distinct: np.ndarray, counts: np.ndarray) -> tuple[int, np.ndarray]:
    """:func:`fold_schedule` of the intervals ``distinct`` (ascending), ``counts`` hot weights at each."""
    if not distinct.size:
        return 0, np.zeros(1, np.int64)
    every = int(distinct[0])
    ratios = distinct // every  # 1, 2, 4, ...: interval 2^e * every divides k * every iff 2^e divides k
    k = np.arange(1, int(ratios[-1]) + 1)
    largest_power_of_2 = k & -k  # of those dividing k
    return every, np.cumsum(counts)[np.searchsorted(ratios, largest_power_of_2, side="right") - 1]


@dataclass
class Replicas:
    """The shared weights while the workers step on replicas: ``weights[s]`` holds column ``cols[s]``
    of w (d + 1 slots, the intercept's at column d): the hot weights first, sorted by fold interval (so
    that a fold is of a prefix, contiguous: a cache line of it holds only weights that fold together,
    whatever their columns), then the others in column order."""

    cols: np.ndarray
    weights: np.ndarray
    _intercept_slot: int = -1

    @classmethod
    def build(cls, d: int, hot: np.ndarray, array=None, cols: np.ndarray | None = None) -> "Replicas":
        """The slots for d features and the intercept, ``hot`` first (``cols``: their columns laid out
        already, as ``_hot_by_interval`` does); ``array(name, size, dtype)`` makes the arrays (by
        default new ones)."""
        from . import _kernels

        if cols is None:
            cols = _kernels.slot_columns(hot, d + 1, _new(array)("slot columns", d + 1, np.int64))
        return cls(cols, _padded(d + 1, array, "shared"))

    def gather(self, w: np.ndarray) -> None:
        """w (in column order) into the slots."""
        self.weights[:] = w[self.cols]

    def scatter(self, w: np.ndarray) -> None:
        """The slots back into w."""
        w[self.cols] = self.weights

    def decay_features(self, factor: float) -> None:
        """Every slot's weight times ``factor``, but the intercept's (column d, the last)."""
        slot = self.intercept_slot
        intercept = self.weights[slot]
        self.weights *= factor
        self.weights[slot] = intercept

    @property
    def intercept_slot(self) -> int:
        if self._intercept_slot < 0:
            self._intercept_slot = int(np.flatnonzero(self.cols == self.cols.shape[0] - 1)[0])
        return self._intercept_slot


def _padded(size: int, array=None, name: str = "") -> np.ndarray:
    """A float64 array with GAP floats of its own on either side: no cache line of it holds anything
    another thread writes, whatever the allocation's alignment; zeroed if new (``array(name, size,
    dtype)`` makes the whole, by default a new one)."""
    return _new(array)(name, size + 2 * GAP, np.float64)[GAP:GAP + size]


def _new(array):
    """``array``, or one that makes new zeroed arrays: ``array(name, size, dtype)``."""
    return array or (lambda name, size, dtype: np.zeros(size, dtype))


_MATRIX = "a scipy.sparse matrix (CSR preferred) or a 2-d NumPy array"


def _as_csr(X):
    """X as CSR with float64 or float32 values: the same object if it already is one (no copy)."""
    check("X", X, Instance(sp.spmatrix, sp.sparray, np.ndarray, what=_MATRIX))
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise ArgumentValueError(f"Invalid X: an array of shape {X.shape} (expected {_MATRIX})")
        X = sp.csr_matrix(X)
    elif X.format != "csr":
        X = X.tocsr()
    if X.dtype not in (np.float64, np.float32):
        X = X.astype(np.float64)
    return X


_LABELS = "labels in {-1, +1} or {0, 1}"
# float64 labels whose first this many are -1 or +1, some -1, are checked by the epoch's steps, not
# by a pass of their own: 0.3-0.5 ms of a 2-worker set-up of 2-4 ms (400,000 labels, 2026-12-04)
LABELS_LOOKED_AT = 1024


def _signed_labels(y, n: int, lazy: bool = False) -> np.ndarray:
    """y as float64 labels in {-1, +1} (0 means -1): the same array if it already is one (no copy; the
    kernels only read it), found in one compiled pass; a clear error for anything else.

    ``lazy``: float64 labels whose first LABELS_LOOKED_AT are -1 or +1, some -1, are returned as they
    are, unchecked: they cannot be {0, 1} labels, so any other value is an error, which the epoch's
    step on its row finds (``sgd_rows``: BAD_LABEL) and ``hogwild`` then reports as this check would."""
    y = np.asarray(y)
    if y.dtype != np.bool_ and not np.issubdtype(y.dtype, np.number):
        raise ArgumentTypeError(f"Invalid y: an array of dtype {y.dtype} (expected {_LABELS})")
    y = y if y.ndim == 1 else y.ravel()
    if y.shape[0] != n:
        raise ArgumentValueError(f"Invalid y: {y.shape[0]} labels (expected one per row of X: {n})")
    if y.dtype == np.float64 and y.flags.c_contiguous:
        from . import _kernels

        head = y[:LABELS_LOOKED_AT]
        if lazy and _kernels.label_kind(head) == _kernels.LABELS_SIGNED and head.min() == -1.0:
            return y
        kind = _kernels.label_kind(y)
        if kind == _kernels.LABELS_SIGNED:
            return y
        if kind == _kernels.LABELS_ZERO_ONE:
            return np.where(y == 1, 1.0, -1.0)
    bad = int(np.count_nonzero(~np.isfinite(y)))
    if bad:
        raise ArgumentValueError(f"Invalid y: {bad} non-finite label{'s' if bad > 1 else ''} "
                                 f"(expected {_LABELS})")
    if np.all((y == 1) | (y == -1)):  # O(n), no sort
        return y.astype(np.float64)
    if np.all((y == 1) | (y == 0)):
        return np.where(y == 1, 1.0, -1.0)
    values = np.unique(y)
    shown = ", ".join(f"{v:g}" for v in values[:5]) + (", ..." if values.size > 5 else "")
    raise ArgumentValueError(f"Invalid y: the values {shown} (expected {_LABELS})")


def live_workers() -> list[threading.Thread]:
    """Hogwild! threads in use: those of a call running now (none once :func:`hogwild` has returned or
    raised; the threads kept idle for the next call are not in use)."""
    idle = idle_threads()
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX) and t not in idle]


def release_threads() -> int:
    """End the threads :func:`hogwild` keeps between calls (its first call starts ``workers`` + 1 of
    them, kept idle for the next call with as many workers, since starting them cost 0.5-1 ms of the
    set-up; at most two such crews are kept). The next call starts new ones. Returns how many
    threads were ended."""
    return release_crews()
