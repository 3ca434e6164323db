"""Compiled kernels of Hogwild!: one worker's share of an epoch (``sgd_rows``, tuned, called with an
``SgdRowsArgs``; ``paper_sgd_rows``, the paper's step written plainly, its reference), and the objective.

Every kernel is ``@njit(nogil=True, cache=True)``: it runs without the global interpreter lock, so
Python threads calling it at once run truly in parallel on the same ``w``; the machine code is cached
on disk (``__pycache__``) after its first compile, which is lazy (the first call).

Small LLVM intrinsics give the kernels what numba has no word for on the CPU: an atomic
compare-and-swap and a release store (the spin lock of ``lock=True``), a relaxed atomic load (the stop
flag, which the compiler must not hoist out of the loop), ``sched_yield`` (so that a thread spinning
on a lock whose holder was descheduled gives its core back) and a cache prefetch: rows are visited
in random order, and fetching each row from memory only when it is needed costs more than its
update; asking for the rows a few steps ahead hides that latency (2.7x faster on a 120 MB matrix).

Replicas (HOGWILD!++'s, folded weight by weight): with ``n_fold`` > 0 the ``w`` a worker steps on is
its private replica of all the weights, indexed by column as the shared ones are (so the input's
column indices are used as they are, never copied, and a row's loops read no table); ``fold`` adds
the worker's change to the shared weights, kept in a separate array in the order of their fold
intervals (a power of 2 times ``fold_every``: a fold is of a prefix of them, contiguous, so a cache
line of it holds only weights that fold together), holding a spin lock per block of them so that two
workers' folds of the same weight never interleave (the row updates take no lock; an atomic add per
weight cost ~20 cycles, 6% of the row time at 2 hot weights per row).
"""

from __future__ import annotations

import math
import sys
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba import njit, types, uint64
from numba.core import cgutils
from numba.extending import intrinsic

LOG, HINGE, SQUARED = 0, 1, 2
LOSS_CODES = {"log": LOG, "hinge": HINGE, "squared": SQUARED}

# status returned by ``sgd_rows``
OK, STOPPED, NONFINITE, BAD_INDEX, BAD_LABEL = 0, 1, 2, 3, 4
TWO_TO_MINUS_53 = 2.0**-53
# what ``label_kind`` finds
LABELS_SIGNED, LABELS_ZERO_ONE, LABELS_OTHER = 0, 1, 2

SPINS_BEFORE_YIELD = 64
# rows ahead whose row pointer, and then whose indices and values, are prefetched
PREFETCH_POINTER_AHEAD = 8
PREFETCH_ROW_AHEAD = 4
# rows of the epoch's order a worker takes at a time (>= PREFETCH_POINTER_AHEAD): ~50 microseconds
CHUNK = 256
# rows between two looks at the stop flag: ~50 microseconds of work at 50 non-zeros per row
CHECK_EVERY = 1024


def _first_item_pointer(context, builder, aryty, ary_value):
    ary = context.make_array(aryty)(context, builder, ary_value)
    return cgutils.get_item_pointer(context, builder, aryty, ary, [context.get_constant(types.intp, 0)])


def _int64_array(arr) -> bool:
    return isinstance(arr, types.Array) and arr.dtype == types.int64


@intrinsic
def _compare_and_swap(typingctx, flag, expected, new):
    """Atomically: old = flag[0]; if old == expected: flag[0] = new; return old (acquire order)."""
    if not _int64_array(flag):
        return None

    def codegen(context, builder, signature, args):
        ptr = _first_item_pointer(context, builder, signature.args[0], args[0])
        expected_ = context.cast(builder, args[1], signature.args[1], types.int64)
        new_ = context.cast(builder, args[2], signature.args[2], types.int64)
        pair = builder.cmpxchg(ptr, expected_, new_, "acquire", "monotonic")
        return builder.extract_value(pair, 0)

    return types.int64(flag, expected, new), codegen


@intrinsic
def _store_release(typingctx, flag, value):
    """flag[0] = value, atomically, with release order (everything written before is visible first)."""
    if not _int64_array(flag):
        return None

    def codegen(context, builder, signature, args):
        ptr = _first_item_pointer(context, builder, signature.args[0], args[0])
        value_ = context.cast(builder, args[1], signature.args[1], types.int64)
        builder.store_atomic(value_, ptr, "release", 8)
        return context.get_dummy_value()

    return types.void(flag, value), codegen


@intrinsic
def _load_relaxed(typingctx, flag):
    """flag[0], read atomically: never cached in a register across iterations."""
    if not _int64_array(flag):
        return None

    def codegen(context, builder, signature, args):
        ptr = _first_item_pointer(context, builder, signature.args[0], args[0])
        return builder.load_atomic(ptr, "monotonic", 8)

    return types.int64(flag), codegen


@intrinsic
def _fetch_add(typingctx, counter, value):
    """old = counter[0]; counter[0] = old + value, as one atomic step; returns old."""
    if not _int64_array(counter):
        return None

    def codegen(context, builder, signature, args):
        ptr = _first_item_pointer(context, builder, signature.args[0], args[0])
        value_ = context.cast(builder, args[1], signature.args[1], types.int64)
        return builder.atomic_rmw("add", ptr, value_, "monotonic")

    return types.int64(counter, value), codegen


@intrinsic
def _yield_cpu(typingctx):
    """sched_yield() on POSIX; nothing elsewhere (the spin then simply continues)."""

    def codegen(context, builder, signature, args):
        if sys.platform != "win32":
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []),
                                                "sched_yield")
            builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


def _prefetch_intrinsic(write: int):
    """An intrinsic hinting the CPU to bring the cache line of arr[index] in: to read (write=0), or
    to write (write=1: ``prefetchw``, the line comes exclusive, so the store that follows does not
    ask the other cores again). Never faults, has no other effect."""

    def typer(typingctx, arr, index):
        if not isinstance(arr, types.Array) or not isinstance(index, types.Integer):
            return None
        return types.void(arr, index), _prefetch_codegen(write)

    return intrinsic(typer)


def _prefetch_codegen(write: int):

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        index_ = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [index_])
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        # the intrinsic's name carries the pointer type: opaque "ptr" from LLVM 17, "i8*" before
        name = "llvm.prefetch.p0" if llvm_version_info >= (17,) else "llvm.prefetch.p0i8"
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), name)
        # read or write, highest temporal locality, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(write), i32(3), i32(1)])
        return context.get_dummy_value()

    return codegen


_prefetch = _prefetch_intrinsic(0)
_prefetch_for_write = _prefetch_intrinsic(1)
# hot weights ahead whose shared line a fold asks for, to write: 16 float64 = two cache lines
FOLD_PREFETCH_AHEAD = 16
# hot weights per fold lock; lock b is fold_locks[LOCK_STRIDE * b], one cache line apart
FOLD_BLOCK = 256
LOCK_STRIDE = 8


@njit(nogil=True, cache=True)
def prefetch_row(indptr, indices, data, i):
    """Prefetch every cache line of row i's indices and values (row pointer assumed cached)."""
    start = indptr[i]
    end = indptr[i + 1]
    if end > start:
        for q in range(start, end, 16):  # 16 int32 per 64-byte line
            _prefetch(indices, q)
        _prefetch(indices, end - 1)
        for q in range(start, end, 8):  # 8 float64 per line
            _prefetch(data, q)
        _prefetch(data, end - 1)


@njit(nogil=True, cache=True)
def acquire(lock):
    """Spin lock on ``lock[0]`` (0 free, 1 held): test, test-and-set, yield the core after a while."""
    spins = 0
    while True:
        if _load_relaxed(lock) == 0 and _compare_and_swap(lock, 0, 1) == 0:
            return
        spins += 1
        if spins >= SPINS_BEFORE_YIELD:
            _yield_cpu()
            spins = 0


@njit(nogil=True, cache=True)
def release(lock):
    _store_release(lock, 0)


@njit(nogil=True, cache=True)
def set_flag(flag):
    _store_release(flag, 1)


@njit(nogil=True, cache=True)
def loss_value(kind, p, y):
    """The loss of prediction p = w.x (+ b) for label y in {-1, +1}."""
    if kind == LOG:
        z = p * y
        if z > 18.0:
            return math.exp(-z)
        if z < -18.0:
            return -z
        return math.log1p(math.exp(-z))
    if kind == HINGE:
        z = p * y
        return 1.0 - z if z < 1.0 else 0.0
    return 0.5 * (p - y) * (p - y)


@njit(nogil=True, cache=True)
def loss_derivative(kind, p, y):
    """d loss / d p, as scikit-learn's SGD computes it (same thresholds)."""
    if kind == LOG:
        z = p * y
        if z > 18.0:
            return -y * math.exp(-z)
        if z < -18.0:
            return -y
        return -y / (1.0 + math.exp(z))
    if kind == HINGE:
        return -y if p * y <= 1.0 else 0.0
    return p - y


class SgdRowsArgs(NamedTuple):
    """The arguments of :func:`sgd_rows`, by name: build one, then call ``sgd_rows(*args)``. The
    defaults are plain Hogwild! (no hot weights) without the lock."""

    indptr: np.ndarray  # the rows (CSR): row pointers, int64
    indices: np.ndarray  # the column indices
    data: np.ndarray  # the values
    y: np.ndarray  # labels in {-1, +1}
    w: np.ndarray  # the weights the steps update: the shared ones, or with n_fold > 0 the worker's replica
    shrink: np.ndarray  # per column: max(0, 1 - eta * alpha * n / d_j) (shrink_factors; not read if scaled)
    order: np.ndarray  # the epoch's permutation of the rows
    next_row: np.ndarray  # the workers' shared position in ``order`` (row_counter)
    eta: float  # the step size
    kind: int  # LOG, HINGE or SQUARED
    intercept_at: int  # where b is in w (< 0: no intercept)
    stop: np.ndarray  # the stop flag
    lock: np.ndarray  # the spin lock of ``use_lock``
    use_lock: bool = False
    check_every: int = CHECK_EVERY
    n_fold: int = 0  # > 0: ``w`` is the worker's replica, and n_fold weights (all of them) fold into ``shared``
    shared: np.ndarray = np.empty(0)  # with a replica: the shared weights, slot s holding column cols[s]
    cols: np.ndarray = np.empty(0, np.int64)  # with a replica: the column of each slot of ``shared``
    base: np.ndarray = np.empty(0)  # with a replica: each slot's value at the worker's previous fold
    fold_every: int = 0  # rows between two folds of the first fold_ends[phase] slots (<= 0: none)
    fold_locks: np.ndarray = np.zeros(LOCK_STRIDE, np.int64)
    fold_ends: np.ndarray = np.zeros(1, np.int64)  # per phase: how many slots (a prefix) to fold
    track_loss: bool = False  # also return the sum of the rows' losses before their steps
    scaled: bool = False  # the dense L2 step by a scale (w_true = rho^k w at position k), not ``shrink``
    rho: float = 1.0  # with ``scaled``: 1 - eta * alpha, each step's decay of every feature weight
    n_features: int = -1  # column indices must be below it (< 0: the length of ``w``)


@njit(nogil=True, cache=True)
def sgd_rows(indptr, indices, data, y, w, shrink, order, next_row, eta, kind, intercept_at, stop, lock,
             use_lock, check_every, n_fold, shared, cols, base, fold_every, fold_locks, fold_ends, track_loss,
             scaled, rho, n_features):
    """One worker's part of an epoch: SGD steps on the rows of ``order``, CHUNK at a time.

    The workers of an epoch share ``order`` (a permutation of the rows) and the counter
    ``next_row[0]`` (0 at the start): each takes the next CHUNK positions of ``order`` with an atomic
    fetch-and-add, steps on those rows in that order, and takes another, until none is left. Each
    row is visited once; the workers finish within a chunk of each other, whatever the speed of
    each core; one worker visits the rows in the order of ``order``. The next chunk is taken when
    one begins, so that the rows a few steps ahead (prefetched) are known across the boundary.

    For row i with support S_i, prediction p = sum_{j in S_i} w_j x_ij (+ b) and g = loss'(p, y_i),
    every j in S_i gets

        w_j <- w_j * shrink_j - eta * g * x_ij,   shrink_j = max(0, 1 - eta * alpha * n / d_j)

    (d_j = number of rows with feature j), and nothing else is touched: the regularizer on the
    support, scaled by the feature frequency, whose expectation over rows is exactly alpha * w.
    The intercept b = w[intercept_at] (``intercept_at`` < 0: none) gets b -= eta * g, no penalty.
    This is the paper's step, :func:`paper_sgd_rows`, with the factor clamped at 0.

    ``scaled``: the dense step instead, SGD on f itself (scikit-learn's SGDClassifier and Bottou's
    sgd take it so): every feature weight decays by rho = 1 - eta * alpha at every step, the decay
    kept in a scale rather than applied, w_true = s_k * w at position k of ``order``, s_k = rho^k
    (the positions' scales are a function of the position alone, so every worker knows its own and
    no shared scale is written). With g computed at p = s_k * (w . x_i) + b, the step
    w_true <- rho * w_true - eta * g * x_i is, on the stored weights, w_j <- w_j - eta * g * x_ij /
    s_{k+1} for j in S_i, and nothing else; ``shrink`` is then not read. The caller multiplies the
    feature weights by s_m (m = len(order)) afterwards, and keeps s_m representable (``hogwild``
    splits an epoch into as many calls as that needs).

    Replica (``n_fold`` > 0): ``w`` is this worker's private copy of every weight, column j at w[j]
    (the intercept at ``intercept_at``), and the shared weights are ``shared``, slot s holding
    column cols[s] (s < n_fold). The replica and ``base`` start as the shared values; every
    ``fold_every`` rows ``fold`` adds the replica's changes to the shared weights for the first
    ``fold_ends[phase]`` slots, phase counting those folds modulo ``len(fold_ends)``, and at the end
    for all n_fold (``fold_locks``: see ``fold``): the slots are sorted by their weights' fold
    intervals, multiples of ``fold_every``, so each fold is of a prefix. With n_fold = 0 this is plain
    Hogwild!, every step on the shared ``w`` (``shared``, ``cols``, ``base`` and ``fold_ends``
    unused).

    ``stop[0]`` (another thread may set it) is read every ``check_every`` rows; with ``use_lock``
    each row's read-compute-write holds the spin lock ``lock``. Returns (rows done, status, row,
    loss): status OK, STOPPED, NONFINITE with the row whose prediction was not finite (a
    non-finite value in the row, or a step size too large), BAD_INDEX with the row that has a
    column index outside [0, n_features) (nothing of that row is written: each row's indices are
    checked before they are used, by a vectorized maximum over them, which cost no measurable time,
    so that no pass over all of X is needed beforehand), or BAD_LABEL with the row whose label is
    not -1 or +1 (checked before its step, so that no pass over y is needed either); with ``track_loss``, loss is the sum over
    the rows done of loss(p, y_i) at the prediction p each was stepped from (progressive
    validation), else 0.

    The row loops index with unsigned integers (``uint64``): numba adds a wrap-around of negative
    indices to every signed one, and without it one worker's epoch ran 1.11-1.19x faster (2026-12-03,
    an A/B of 7 rounds on the issue's 400,000 x 50,000 data, s = 0.5, 0.8, 1.1; the check of the
    indices included). A negative column index, as unsigned, is above n_features and so is caught by
    the same check.
    """
    m = order.shape[0]
    replica = n_fold > 0
    limit = uint64(n_features if n_features >= 0 else w.shape[0])
    if replica:
        start_replica(w, shared, cols, n_fold, base)
    fold_countdown = fold_every
    phase = 0
    countdown = 0
    done = 0
    loss_total = 0.0
    # positions [a, a_end) of order: the chunk being run; [b, b_end): the next one, already taken
    a = min(_fetch_add(next_row, CHUNK), m)
    a_end = min(a + CHUNK, m)
    b = min(_fetch_add(next_row, CHUNK), m)
    b_end = min(b + CHUNK, m)
    while a < a_end:
        scale = rho ** a  # s_k of the chunk's first position (1.0 without ``scaled``: rho = 1)
        for k in range(a, a_end):
            if countdown == 0:
                if _load_relaxed(stop) != 0:
                    if replica:
                        fold(w, shared, cols, n_fold, base, fold_locks)
                    return done, STOPPED, -1, loss_total
                countdown = check_every
            countdown -= 1
            # a position ahead, in this chunk or, past its end, in the next; the next chunk starts
            # at or after this one's end (b >= a_end, b_end >= a_end), so it exists iff < b_end
            ahead = k + PREFETCH_POINTER_AHEAD
            ahead = ahead if ahead < a_end else b + (ahead - a_end)
            if ahead < b_end:
                _prefetch(indptr, order[ahead])
                _prefetch(y, order[ahead])
            ahead = k + PREFETCH_ROW_AHEAD
            ahead = ahead if ahead < a_end else b + (ahead - a_end)
            if ahead < b_end:
                prefetch_row(indptr, indices, data, order[ahead])
            i = order[k]
            start = uint64(indptr[i])
            end = uint64(indptr[i + 1])
            # the row's largest column index (unsigned: a negative one is larger still), a
            # reduction that vectorizes, before any index is used (it reads only X: outside the lock)
            largest = uint64(0)
            for q in range(start, end):
                largest = max(largest, uint64(indices[q]))
            if largest >= limit:
                set_flag(stop)
                return done, BAD_INDEX, i, loss_total
            label = y[i]
            if label != 1.0 and label != -1.0:  # (NaN too)
                set_flag(stop)
                return done, BAD_LABEL, i, loss_total
            if use_lock:
                acquire(lock)
            p = 0.0
            for q in range(start, end):
                p += w[uint64(indices[q])] * data[q]
            p = p * scale + (w[intercept_at] if intercept_at >= 0 else 0.0)
            if not math.isfinite(p):
                if use_lock:
                    release(lock)
                set_flag(stop)
                return done, NONFINITE, i, loss_total
            if track_loss:
                loss_total += loss_value(kind, p, label)
            step = eta * loss_derivative(kind, p, label)
            if scaled:
                scale *= rho
                stored_step = step / scale
                for q in range(start, end):
                    w[uint64(indices[q])] -= stored_step * data[q]
            else:
                for q in range(start, end):
                    j = uint64(indices[q])
                    w[j] = w[j] * shrink[j] - step * data[q]
            if intercept_at >= 0:
                w[intercept_at] -= step
            if use_lock:
                release(lock)
            done += 1
            if replica:
                fold_countdown -= 1
                if fold_countdown == 0:
                    fold(w, shared, cols, fold_ends[phase], base, fold_locks)
                    phase = phase + 1 if phase + 1 < fold_ends.shape[0] else 0
                    fold_countdown = fold_every
        a, a_end = b, b_end
        b = min(_fetch_add(next_row, CHUNK), m)
        b_end = min(b + CHUNK, m)
    if replica:
        fold(w, shared, cols, n_fold, base, fold_locks)
    return done, OK, -1, loss_total


@njit(nogil=True, cache=True)
def paper_sgd_rows(indptr, indices, data, y, w, reg, order, eta, kind, intercept_at):
    """The Hogwild! step of Niu, Recht, Re & Wright (2011), plainly: the rows of ``order`` in turn,
    in place on ``w``, as one worker (no chunks, prefetches, locks or replicas): the readable
    reference of :func:`sgd_rows`, which computes the same while eta * reg_v <= 1 (it clamps the
    factor 1 - eta * reg_v at 0: a large step on a rare feature stops the weight at 0, never flips
    it).

    The paper minimizes f(w) = sum_e f_e(w_e), e the support of a row, with the L2 term of its
    sparse SVM (eq. 2.2) spread over the rows by feature frequency; here, for row e:

        f_e(w) = loss(w.x_e + b, y_e) + alpha/2 sum_{v in e} (n / d_v) w_v^2,   reg_v = alpha n / d_v

    (d_v the rows having feature v; the mean over the rows of f_e is mean loss + alpha/2 ||w||^2).
    """
    for e in order:
        p = w[intercept_at] if intercept_at >= 0 else 0.0
        for q in range(indptr[e], indptr[e + 1]):
            p += w[indices[q]] * data[q]
        g = loss_derivative(kind, p, y[e])
        # Algorithm 1: for v in e:  w_v <- w_v - eta * b_v^T G_e(w),  G_e the gradient of f_e
        for q in range(indptr[e], indptr[e + 1]):
            v = indices[q]
            w[v] = w[v] - eta * (g * data[q] + reg[v] * w[v])
        if intercept_at >= 0:
            w[intercept_at] = w[intercept_at] - eta * g  # b: not penalized


def row_counter() -> np.ndarray:
    """A zeroed ``next_row`` counter for ``sgd_rows``, alone on its cache line (its neighbours in the
    array are never used, whatever the array's alignment)."""
    return np.zeros(3 * 8, np.int64)[8:9]


@njit(nogil=True, cache=True)
def start_replica(w, shared, cols, n_fold, base):
    """A worker's replica ``w`` and its ``base`` start as the shared values: w[cols[s]] = base[s] = shared[s]."""
    for s in range(n_fold):
        value = shared[s]
        w[uint64(cols[s])] = value
        base[s] = value


@njit(nogil=True, cache=True)
def fold(w, shared, cols, count, base, fold_locks):
    """For each slot s < count, with v = shared[s] the shared value of column j = cols[s], u = w[j] the
    worker's replica of it and base[s] the replica's value at the previous fold:

        v <- v + (u - base_s)      (the worker's change since then: none of it is lost)
        u <- base_s <- v           (the replica goes on from the shared value, others' changes in)

    Block b of FOLD_BLOCK slots is folded holding the spin lock fold_locks[LOCK_STRIDE * b]: only
    folds write the shared weights, so two folds never interleave their read-add-writes of a weight.
    The shared lines are asked for, to write, two lines ahead.
    """
    for first in range(0, count, FOLD_BLOCK):
        block_lock = fold_locks[LOCK_STRIDE * (first // FOLD_BLOCK):]
        acquire(block_lock)
        for s in range(first, min(first + FOLD_BLOCK, count)):
            if s + FOLD_PREFETCH_AHEAD < count:
                _prefetch_for_write(shared, s + FOLD_PREFETCH_AHEAD)
            j = uint64(cols[s])
            value = shared[s] + (w[j] - base[s])
            shared[s] = value
            w[j] = value
            base[s] = value
        release(block_lock)


def fold_locks(n_fold: int) -> np.ndarray:
    """The spin locks of ``fold`` for ``n_fold`` slots, each on its own cache line."""
    return np.zeros(LOCK_STRIDE * max(1, -(-n_fold // FOLD_BLOCK)), np.int64)


@njit(nogil=True, cache=True)
def shrink_factors(reg, eta, out=None):
    """shrink_j = max(0, 1 - eta * reg_j): the L2 step of a row update on feature j, for one epoch
    (into ``out`` if given: one pass, no temporaries; a quarter of the time of the NumPy expression)."""
    if out is None:
        out = np.empty_like(reg)
    for j in range(reg.shape[0]):
        out[j] = max(0.0, 1.0 - eta * reg[j])
    return out


@njit(nogil=True, cache=True)
def loss_sum(indptr, indices, data, y, w, first, last, kind, intercept_at):
    """sum of loss(w.x_i + b, y_i) over rows first <= i < last (b = w[intercept_at], none if < 0):
    a worker's part of the objective, run by several threads at once on disjoint row ranges. NaN if
    a column index is outside ``w`` (unsigned indices, as in ``sgd_rows``)."""
    total = 0.0
    limit = uint64(w.shape[0])
    for i in range(first, last):
        p = w[intercept_at] if intercept_at >= 0 else 0.0
        for q in range(uint64(indptr[i]), uint64(indptr[i + 1])):
            c = uint64(indices[q])
            if c >= limit:
                return math.nan
            p += w[c] * data[q]
        total += loss_value(kind, p, y[i])
    return total


@njit(nogil=True, cache=True)
def squared_norm(w, count):
    """sum of w[j]^2 for j < count, compiled rather than ``np.dot``: NumPy's OpenBLAS splits a dot of
    more than 10,000 entries over its threads, and its idle thread then spins for a while (2026-12-03:
    54 ms of a core during the next call's first epoch, which ran 1.3-1.5x as long as the others with
    2 workers)."""
    total = 0.0
    for j in range(count):
        total += w[j] * w[j]
    return total


def objective(indptr, indices, data, y, w, n_features, alpha, kind, fit_intercept):
    """mean_i loss(w.x_i + b, y_i) + alpha/2 ||w||^2 (the intercept is not penalized), in one thread."""
    n = indptr.shape[0] - 1
    total = loss_sum(indptr, indices, data, y, w, 0, n, kind, n_features if fit_intercept else -1)
    return total / max(n, 1) + 0.5 * alpha * squared_norm(w, n_features)


@njit(nogil=True, cache=True)
def count_features(indptr, indices, first, last, counts):
    """counts[j] += the stored entries of column j in rows first <= i < last (one pass, no copy of
    ``indices`` whatever its integer type; several threads count disjoint row ranges into their own
    ``counts``). Indices outside ``counts`` are skipped: ``sgd_rows`` reports them."""
    limit = uint64(counts.shape[0])
    for q in range(uint64(indptr[first]), uint64(indptr[last])):
        c = uint64(indices[q])
        if c < limit:
            counts[c] += 1


@njit(nogil=True, cache=True)
def sampled_features(indptr, indices, data, starts, rows, squares, counts):
    """On the blocks of rows starts[b] <= i < starts[b] + rows (a sample of consecutive rows, read as
    a stream, where rows drawn one by one would each wait for memory): squares[j] += x_ij^2 and
    counts[j] += 1 for each of their entries. Returns how many rows the blocks have. Indices outside
    ``counts`` are skipped: ``sgd_rows`` reports them."""
    total = 0
    limit = uint64(counts.shape[0])
    for first in starts:
        for q in range(uint64(indptr[first]), uint64(indptr[first + rows])):
            c = uint64(indices[q])
            if c < limit:
                squares[c] += data[q] * data[q]
                counts[c] += 1
        total += rows
    return total


@njit(nogil=True, cache=True)
def shuffled_order(state, out):
    """out = a random permutation of 0 .. n - 1 (n = len(out)), by Fisher-Yates (Durstenfeld's,
    backward): out = 0, 1, ..., n - 1, then for i = n - 1 down to 1, out[i] and out[j] swap, j =
    floor(u * (i + 1)) for u the next uniform of SplitMix64 (Steele, Lea & Flood, 2014: passes
    BigCrush) from ``state`` (one uint64, advanced in place: the next call draws the next permutation),
    u = the top 53 bits / 2^53 (j uniform in 0 .. i up to 2^-53).

    One compiled call, without the GIL: ``Generator.permutation`` draws a bounded integer at a time
    (400,000 rows: 7.5 ms against 2.4-3.0 ms for this in int64, 2026-12-03) and, drawn on a thread of
    its own beside the set-up, arrived 10-25 ms into it."""
    n = out.shape[0]
    for i in range(n):
        out[i] = i
    x = state[0]
    for i in range(n - 1, 0, -1):
        x += np.uint64(0x9E3779B97F4A7C15)
        z = x
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        j = min(int((z >> np.uint64(11)) * TWO_TO_MINUS_53 * (i + 1)), i)
        value = out[i]
        out[i] = out[j]
        out[j] = value
    state[0] = x
    return out


@njit(nogil=True, cache=True)
def longest_interval_index(step_square, intervals, max_step):
    """The index of the longest of ``intervals`` (ascending) with step_square * interval <= max_step,
    -1 if none is (the delay rule of ``hogwild.choose_hot``)."""
    for k in range(intervals.shape[0] - 1, -1, -1):
        if intervals[k] * step_square <= max_step:
            return k
    return -1


@njit(nogil=True, cache=True)
def longest_interval(step_square, intervals, max_step):
    """The longest of ``intervals`` (ascending) with step_square * interval <= max_step, 0 if none is."""
    k = longest_interval_index(step_square, intervals, max_step)
    return intervals[k] if k >= 0 else 0


@njit(nogil=True, cache=True)
def longest_intervals(step_squares, intervals, max_step):
    """``longest_interval`` of each of ``step_squares``."""
    out = np.zeros(step_squares.shape[0], np.int64)
    for j in range(step_squares.shape[0]):
        out[j] = longest_interval(step_squares[j], intervals, max_step)
    return out


@njit(nogil=True, cache=True)
def hot_by_interval(counts, count_scale, squares, squares_rows, intercept_count, step, n, fold_every, intervals,
                    min_updates, max_step, slots):
    """The hot weights by ``hogwild.choose_hot``'s default rule, for the d = len(counts) features and
    the intercept (position d), into ``slots`` (d + 1): the hot weights first, sorted by interval,
    then position, then the others in ascending order (the columns of the shared weights' slots,
    ``slot_columns``); returns how many of them fold at each of ``intervals`` (all at the first
    with ``fold_every`` > 0).

    Feature j has the count counts[j] * count_scale and the squares squares[j] / squares_rows (a
    sample's counts and sums of x_ij^2 as they are: no array is made of them); the intercept,
    ``intercept_count`` (0: none) and 1. Weight j is hot at the interval k = ``fold_every`` if > 0,
    else the longest of ``intervals`` (ascending) with step * squares_j * k <= max_step (the delay
    rule), the shortest if none is; and only if count_j * k >= min_updates * n (a worker updates it
    at least min_updates times between two of its folds) or the delay rule does not allow it an
    epoch's delay (step * squares_j * n > max_step: then at the longest of ``intervals``, or
    ``fold_every``). A stable counting sort, two passes over the d + 1 weights."""
    d = counts.shape[0]
    bucket = np.full(d + 1, -1, np.int8)  # per weight: its interval's index, -1 if not hot
    sizes = np.zeros(intervals.shape[0] + 1, np.int64)
    for j in range(d + 1):
        if j < d:
            count, square = counts[j] * count_scale, squares[j] / squares_rows
        else:
            count, square = intercept_count, 1.0
        if count < 1.0:
            continue
        b = 0 if fold_every > 0 else max(longest_interval_index(step * square, intervals, max_step), 0)
        k = fold_every if fold_every > 0 else intervals[b]
        if count * k < min_updates * n:  # rarely updated: at the epoch's end, if it tolerates that
            if step * square * n <= max_step:
                continue
            if fold_every <= 0:
                b = intervals.shape[0] - 1
        bucket[j] = b
        sizes[b + 1] += 1
    counts = sizes[1:].copy()
    for b in range(intervals.shape[0]):
        sizes[b + 1] += sizes[b]
    rest = sizes[-1]  # the weights that are not hot, after the hot ones
    for j in range(d + 1):
        b = bucket[j]
        if b >= 0:
            slots[sizes[b]] = j
            sizes[b] += 1
        else:
            slots[rest] = j
            rest += 1
    return counts


@njit(nogil=True, cache=True)
def slot_columns(hot, d, out):
    """The columns of the d slots of the shared weights while the workers step on replicas, into
    ``out`` (d int64): ``hot`` first, as they are, then every other column in ascending order."""
    taken = np.zeros(d, np.bool_)
    for s in range(hot.shape[0]):
        taken[hot[s]] = True
        out[s] = hot[s]
    s = hot.shape[0]
    for j in range(d):
        if not taken[j]:
            out[s] = j
            s += 1
    return out


@njit(nogil=True, cache=True)
def counting_order(keys, buckets):
    """The positions of ``keys`` (integers in 0 .. buckets - 1) sorted by key, ties in position order:
    a stable counting sort, O(len + buckets)."""
    starts = np.zeros(buckets + 1, np.int64)
    for key in keys:
        starts[key + 1] += 1
    for b in range(buckets):
        starts[b + 1] += starts[b]
    order = np.empty(keys.shape[0], np.int64)
    for i in range(keys.shape[0]):
        order[starts[keys[i]]] = i
        starts[keys[i]] += 1
    return order


@njit(nogil=True, cache=True)
def label_kind(y):
    """What the labels y (float64) are, in one pass: LABELS_SIGNED (every one -1 or +1),
    LABELS_ZERO_ONE (every one 0 or 1, some 0) or LABELS_OTHER (anything else, NaN included). The
    pass only counts (no branch, so it vectorizes: 0.1 ms for 400,000 labels; 0.5 ms when it added
    the comparisons' booleans as they are, 3 ms with an early exit at the first odd label)."""
    ones = minus_ones = zeros = np.int64(0)
    for i in range(y.shape[0]):
        v = y[i]
        ones += np.int64(v == 1.0)
        minus_ones += np.int64(v == -1.0)
        zeros += np.int64(v == 0.0)
    if ones + minus_ones == y.shape[0]:
        return LABELS_SIGNED
    if ones + zeros == y.shape[0]:
        return LABELS_ZERO_ONE
    return LABELS_OTHER


@njit(nogil=True, cache=True)
def first_non_finite(indptr, data, i):
    """Position in row i of its first non-finite value (-1: none)."""
    for q in range(indptr[i], indptr[i + 1]):
        if not math.isfinite(data[q]):
            return q - indptr[i]
    return -1


@njit(nogil=True, cache=True)
def busy_arithmetic(n):
    """n rounds of four independent multiply-adds: pure arithmetic, no memory traffic.

    Timed in 1 and in k threads at once, it measures how many cores the machine gives right now
    (a shared or virtual machine may give fewer than it shows).
    """
    a, b, c, e = 1.0, 1.1, 1.2, 1.3
    for _ in range(n):
        a = a * 0.999999 + 1e-6
        b = b * 0.999999 + 1e-6
        c = c * 0.999999 + 1e-6
        e = e * 0.999999 + 1e-6
    return a + b + c + e


@njit(nogil=True, cache=True)
def ping_pong(flag, me, other, rounds):
    """Wait until flag[0] == me, then set it to other; ``rounds`` times.

    Two threads playing (0 -> 1 and 1 -> 0) hand one cache line back and forth: the time per round
    is a core-to-core round trip, what a write to a weight the other core holds costs.
    """
    for _ in range(rounds):
        spins = 0
        while _load_relaxed(flag) != me:
            spins += 1
            if spins >= 1 << 16:  # the other thread is not running: give it the core
                _yield_cpu()
                spins = 0
        _store_release(flag, other)
