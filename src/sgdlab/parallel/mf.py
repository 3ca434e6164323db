"""Hogwild! matrix completion (Niu, Recht, Re & Wright, 2011, section 5: the Netflix Prize problem).

Fit ratings r_ui observed on a set Omega of (user, item) entries by a rank-r product L R^T:

    minimize  f(L, R) = sum_{(u,i) in Omega} (L_u . R_i - r_ui)^2 + alpha/2 (||L||_F^2 + ||R||_F^2)

by SGD over the observed entries, with worker threads updating the shared L and R without locks.

The regularizer is spread over the entries as in the paper's code: f = sum_{(u,i) in Omega} f_ui with

    f_ui = (L_u . R_i - r_ui)^2 + alpha / (2 |Omega_u|) ||L_u||^2 + alpha / (2 |Omega^i|) ||R_i||^2

(|Omega_u| the entries of user u, |Omega^i| those of item i), so that one step on f_ui touches only
the rows L_u and R_i, and the steps, summed over an epoch, are a gradient step on f. The step on
entry (u, i), with e = L_u . R_i - r_ui and both rows read before either is written:

    L_u <- L_u - eta_t (2 e R_i + alpha / |Omega_u| L_u)
    R_i <- R_i - eta_t (2 e L_u + alpha / |Omega^i| R_i)

eta_t = lr * decay^t in epoch t = 0, 1, ... . A user (item) with no training entry is in no f_ui: its
row keeps its initial value and is not in the reported objective (its alpha/2 ||L_u||^2 would be a
constant).

Each epoch a seeded permutation of the entries is cut into ``workers`` disjoint shares; each worker,
a Python thread, runs a compiled numba kernel (``nogil=True``: the threads run at once) over its
share in blocks of ``block_size`` entries, reading and writing L and R in place with no lock, and
looks at a shared stop flag between blocks. With ``lock=True`` a single ``threading.Lock`` is held
around each block's kernel call (the granularity: ``block_size`` entries, 1024 by default, ~0.1 ms
of work at rank 10): the workers then take turns, the serialized baseline the paper compares
Hogwild! against.

>>> from sgdlab.data import low_rank_ratings
>>> from sgdlab.parallel.mf import hogwild_mf
>>> train, test = low_rank_ratings(300, 200, rank=5, density=0.2, noise=0.1, seed=0)
>>> result = hogwild_mf(train, rank=5, workers=2, epochs=30, lr=0.02, decay=0.95, test=test)
>>> len(result.objective), result.objective[-1] < result.objective[0] < result.initial_objective
(30, True)
>>> bool(result.test_rmse[-1] < 0.2)  # the noise is 0.1, the ratings' std 1
True
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from .._validation import ArgumentTypeError, ArgumentValueError, Bool, Int, Real, Seq, shown, validate
from ._workers import deferred_interrupt, wait_all

__all__ = ["MFResult", "hogwild_mf"]

THREAD_PREFIX = "sgdlab-mf"


@njit(nogil=True, cache=True)
def _sgd_block(users, items, vals, order, start, end, L, R, reg_u, reg_v, eta):  # pragma: no cover
    """SGD steps on the entries order[start:end], in place on L and R; returns how many."""
    rank = L.shape[1]
    for t in range(start, end):
        e = order[t]
        u = users[e]
        i = items[e]
        err = -vals[e]
        for k in range(rank):
            err += L[u, k] * R[i, k]
        g = 2.0 * err
        cu = reg_u[u]
        ci = reg_v[i]
        for k in range(rank):
            lu = L[u, k]
            ri = R[i, k]
            L[u, k] = lu - eta * (g * ri + cu * lu)
            R[i, k] = ri - eta * (g * lu + ci * ri)
    return end - start


@njit(nogil=True, cache=True)
def _squared_error(users, items, vals, L, R):  # pragma: no cover
    """sum over the entries of (L_u . R_i - r_ui)^2."""
    rank = L.shape[1]
    total = 0.0
    for e in range(vals.shape[0]):
        u = users[e]
        i = items[e]
        err = -vals[e]
        for k in range(rank):
            err += L[u, k] * R[i, k]
        total += err * err
    return total


@dataclass
class MFResult:
    """What :func:`hogwild_mf` returns.

    L, R: the factors (n_users x rank, n_items x rank); ``predict(u, i)`` gives L_u . R_i.
    objective: f(L, R) (see the module) after each epoch; initial_objective: f at the start.
    train_rmse: sqrt(mean squared error) on the training entries after each epoch.
    test_rmse: the same on ``test`` after each epoch, or None without ``test``.
    epoch_times: seconds of parallel SGD per epoch (the evaluation is not in them).
    updates: SGD steps taken in all; updates_per_second: updates / sum(epoch_times).
    wall_time: seconds of the whole call, from validation to the result (numba compilation, or
        loading it from the cache, included).
    """

    L: np.ndarray
    R: np.ndarray
    objective: list[float]
    initial_objective: float
    train_rmse: list[float]
    test_rmse: list[float] | None
    epoch_times: list[float]
    updates: int
    updates_per_second: float
    wall_time: float
    workers: int
    lock: bool
    rank: int
    alpha: float
    block_size: int
    seed: int | None

    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings L_u . R_i for arrays of user and item indices."""
        users, items = np.asarray(users), np.asarray(items)
        return np.einsum("...k,...k->...", self.L[users], self.R[items])


@validate(rank=Int(1), workers=Int(1), epochs=Int(1), lr=Real(0, closed="neither"),
          decay=Real(0, 1, closed="right"), alpha=Real(0), lock=Bool(), seed=(Int(0), None),
          shape=(Seq(Int(1), length=2), None), init_scale=Real(0, closed="neither"), block_size=Int(1))
def hogwild_mf(ratings, rank: int, *, workers: int = 2, epochs: int = 10, lr: float = 0.01,
               decay: float = 0.9, alpha: float = 0.01, lock: bool = False, seed: int | None = 0,
               test=None, shape: tuple[int, int] | None = None, init_scale: float = 0.1,
               block_size: int = 1024) -> MFResult:
    """Matrix completion by Hogwild! SGD: ``workers`` threads updating shared factors without locks.

    Args:
        ratings: the observed training entries: a scipy.sparse matrix or array (users x items; COO
            or CSR, any format converts) whose every stored entry is one observation (explicit
            zeros included, duplicates as separate observations), or a triple (users, items,
            values) of equal-length 1-d arrays, integer indices.
        rank: the number of columns of L and R (>= 1).
        workers: threads updating L and R at once (>= 1).
        epochs: passes over the entries (>= 1).
        lr: the initial step size eta_0 (> 0); the objective above is not averaged, so a step's
            scale does not depend on the number of entries.
        decay: the per-epoch factor of the step size, in (0, 1].
        alpha: L2 strength (>= 0), spread over the entries as in the module's docstring.
        lock: hold one ``threading.Lock`` around each block's kernel call (``block_size`` entries):
            the serialized baseline.
        seed: seeds the initial factors (normal, standard deviation ``init_scale``) and the
            permutations; with ``workers=1`` the result is bit-for-bit reproducible; None: fresh.
        test: held-out entries in the same format as ``ratings`` (same shape): the test RMSE is
            recorded after each epoch.
        shape: (n_users, n_items) when ``ratings`` is a triple (default: the largest indices of
            ratings and test, + 1); must agree with a sparse matrix's shape.
        init_scale: standard deviation of the initial factors (> 0). Zero factors are a saddle
            point of f, whence small random ones.
        block_size: entries per kernel call (>= 1): between two calls a worker looks at the stop
            flag; with ``lock=True`` the lock is held for one call. Smaller blocks stop sooner
            and interleave finer, at ~5 microseconds of Python per call.

    Returns:
        :class:`MFResult`.

    Raises:
        TypeError / ValueError: an invalid argument; the message names it.
        FloatingPointError: the factors became non-finite (``lr`` too large).
        Any exception raised in a worker reaches the caller as itself, its traceback showing the
        worker's frames, with a note naming the worker and the epoch; the other workers are stopped
        first (they see the stop flag within one block). Ctrl-C stops every worker and raises
        KeyboardInterrupt.
    """
    started = time.perf_counter()
    users, items, vals, shape_r = _entries("ratings", ratings)
    if test is not None:
        t_users, t_items, t_vals, shape_t = _entries("test", test)
    if shape is None:
        if shape_r is not None:
            shape = shape_r
        elif test is not None and shape_t is not None:
            shape = shape_t
        else:
            shape = (_extent(users, t_users if test is not None else None),
                     _extent(items, t_items if test is not None else None))
    if shape_r is not None and shape_r != shape:
        raise ArgumentValueError(f"Invalid shape: {shape} (expected the shape of ratings, {shape_r})")
    if vals.shape[0] == 0:
        raise ArgumentValueError("Invalid ratings: no entries (expected at least one)")
    _check_bounds("ratings", users, items, shape)
    if test is not None:
        if shape_t is not None and shape_t != shape:
            raise ArgumentValueError(f"Invalid test: shape {shape_t} (expected the shape of ratings, {shape})")
        _check_bounds("test", t_users, t_items, shape)
    n_users, n_items = shape

    per_user = np.bincount(users, minlength=n_users)
    per_item = np.bincount(items, minlength=n_items)
    reg_u = alpha / np.maximum(per_user, 1).astype(np.float64)
    reg_v = alpha / np.maximum(per_item, 1).astype(np.float64)
    seen_u, seen_i = per_user > 0, per_item > 0
    rng = np.random.default_rng(seed)
    L = rng.normal(0.0, init_scale, (n_users, rank))
    R = rng.normal(0.0, init_scale, (n_items, rank))
    n = vals.shape[0]

    def evaluate() -> tuple[float, float, float | None]:
        sq = float(_squared_error(users, items, vals, L, R))
        obj = sq + 0.5 * alpha * (float(np.einsum("ij,ij->", L[seen_u], L[seen_u]))
                                  + float(np.einsum("ij,ij->", R[seen_i], R[seen_i])))
        test_rmse = None
        if test is not None and t_vals.shape[0]:
            test_rmse = float(np.sqrt(_squared_error(t_users, t_items, t_vals, L, R) / t_vals.shape[0]))
        return obj, float(np.sqrt(sq / n)), test_rmse

    initial_objective = evaluate()[0]  # also compiles the kernels (or loads them from the cache)
    _sgd_block(users, items, vals, np.zeros(0, np.int64), 0, 0, L, R, reg_u, reg_v, lr)

    stop = np.zeros(1, np.uint8)
    the_lock = threading.Lock() if lock else None

    def work(worker: int, order: np.ndarray, lo: int, hi: int, eta: float) -> int:
        done = 0
        try:
            for start in range(lo, hi, block_size):
                if stop[0]:
                    break
                end = min(start + block_size, hi)
                if the_lock is not None:
                    with the_lock:
                        done += _sgd_block(users, items, vals, order, start, end, L, R, reg_u, reg_v, eta)
                else:
                    done += _sgd_block(users, items, vals, order, start, end, L, R, reg_u, reg_v, eta)
        except BaseException:
            stop[0] = 1  # the other workers stop at their next block, before the main thread wakes
            raise
        return done

    objective, train_rmse, test_rmse, epoch_times, updates = [], [], [] if test is not None else None, [], 0
    bounds = np.linspace(0, n, workers + 1).astype(np.int64)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=THREAD_PREFIX)
    try:
        with deferred_interrupt(stop) as interrupted:
            for epoch in range(epochs):
                order = rng.permutation(n)
                eta = lr * decay**epoch
                tick = time.perf_counter()
                futures = [pool.submit(work, w, order, int(bounds[w]), int(bounds[w + 1]), eta)
                           for w in range(workers)]
                updates += sum(wait_all(futures, stop, "hogwild_mf", epoch))
                if interrupted:  # Ctrl-C: the workers have stopped; raised on leaving the block
                    break
                epoch_times.append(time.perf_counter() - tick)
                obj, rmse, t_rmse = evaluate()
                if not np.isfinite(obj):
                    raise FloatingPointError(f"the factors became non-finite in epoch {epoch}: the step "
                                             f"size lr={lr} is too large for these ratings; lower lr")
                objective.append(obj)
                train_rmse.append(rmse)
                if test_rmse is not None:
                    test_rmse.append(t_rmse if t_rmse is not None else float("nan"))
    finally:
        stop[0] = 1
        pool.shutdown(wait=True, cancel_futures=True)
    sgd_time = sum(epoch_times)
    return MFResult(L=L, R=R, objective=objective, initial_objective=initial_objective,
                    train_rmse=train_rmse, test_rmse=test_rmse, epoch_times=epoch_times,
                    updates=updates, updates_per_second=updates / sgd_time if sgd_time > 0 else float("inf"),
                    wall_time=time.perf_counter() - started, workers=workers, lock=bool(lock), rank=rank,
                    alpha=alpha, block_size=block_size, seed=seed)


def _entries(name: str, data) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int] | None]:
    """(users, items, values, shape or None) of ratings given as a sparse matrix or a triple."""
    if sp.issparse(data):
        if len(data.shape) != 2:
            raise ArgumentValueError(f"Invalid {name}: shape {data.shape} (expected users x items)")
        coo = data.tocoo()
        users, items, vals = coo.row, coo.col, coo.data
        shape = (int(data.shape[0]), int(data.shape[1]))
    elif isinstance(data, (tuple, list)) and len(data) == 3:
        users, items, vals = (np.asarray(a) for a in data)
        shape = None
        for part, a in zip(("users", "items", "values"), (users, items, vals)):
            if a.ndim != 1:
                raise ArgumentValueError(f"Invalid {name}: {part} of shape {a.shape} (expected a 1-d array)")
        if not len(users) == len(items) == len(vals):
            raise ArgumentValueError(f"Invalid {name}: users, items and values of lengths {len(users)}, "
                                     f"{len(items)}, {len(vals)} (expected equal lengths)")
        for part, a in zip(("users", "items"), (users, items)):
            if a.size and not np.issubdtype(a.dtype, np.integer):
                raise ArgumentTypeError(f"Invalid {name}: {part} of dtype {a.dtype} (expected integer "
                                        "indices)")
    else:
        raise ArgumentTypeError(f"Invalid {name}: {shown(data)} of type {type(data).__name__} (expected a "
                                "scipy.sparse matrix or a triple (users, items, values) of arrays)")
    try:
        vals = np.ascontiguousarray(vals, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"Invalid {name}: values of dtype {np.asarray(vals).dtype} (expected "
                                "numbers)") from None
    bad = int(np.count_nonzero(~np.isfinite(vals)))
    if bad:
        raise ArgumentValueError(f"Invalid {name}: {bad} non-finite value{'s' if bad > 1 else ''} (expected "
                                 "finite values)")
    users = np.ascontiguousarray(users, dtype=np.int64)
    items = np.ascontiguousarray(items, dtype=np.int64)
    return users, items, vals, shape


def _extent(a: np.ndarray, b: np.ndarray | None) -> int:
    top = int(a.max()) if a.size else 0
    if b is not None and b.size:
        top = max(top, int(b.max()))
    return max(top + 1, 1)


def _check_bounds(name: str, users: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> None:
    # the kernels do no bounds checks: an index out of range would write outside L or R
    for part, a, size in (("user", users, shape[0]), ("item", items, shape[1])):
        if a.size and (a.min() < 0 or a.max() >= size):
            bad = int(a.min()) if a.min() < 0 else int(a.max())
            raise ArgumentValueError(f"Invalid {name}: {part} index {bad} (expected indices in [0, {size}): "
                                     f"the shape is {shape})")


