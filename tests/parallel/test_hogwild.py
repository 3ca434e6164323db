"""Hogwild!: lock-free parallel SGD over one shared weight vector (sgdlab.parallel.hogwild)."""

import importlib
import inspect
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import traceback

import numpy as np
import pytest
import scipy.sparse as sp
from numba import njit

from sgdlab.data import sparse_classification
from sgdlab.parallel import HogwildResult, hogwild
from sgdlab.parallel import _kernels

hogwild_module = importlib.import_module("sgdlab.parallel.hogwild")  # the package exports the function

# the kernel's arguments for plain Hogwild!: no replica, the shrink factors' L2 step, indices checked
# against the length of w
NO_HOT = (0, np.empty(0), np.empty(0, np.int64), np.empty(0), 0, _kernels.fold_locks(0), np.zeros(1, np.int64),
          False, False, 1.0, -1)


def sparse_problem(n=2000, d=500, density=0.02, seed=0):
    """n sparse rows of about density * d non-zeros, unit norm, labels from a hidden linear model."""
    rng = np.random.default_rng(seed)
    k = max(1, round(density * d))
    X = sp.csr_matrix((1.0 + rng.random(n * k), rng.integers(0, d, n * k), np.arange(0, n * k + 1, k)),
                      shape=(n, d))
    X.sum_duplicates()
    X = sp.diags(1.0 / np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())) @ X
    y = np.where(X @ rng.standard_normal(d) >= 0, 1.0, -1.0)
    return X.tocsr(), y


def splitmix64(state, count):
    """The next ``count`` outputs of SplitMix64 (Steele, Lea & Flood 2014) from ``state``, in Python
    integers, as its authors' C code writes it; and the state after them."""
    mask, out = 2**64 - 1, []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(z ^ (z >> 31))
    return out, state


def documented_orders(n, epochs, seed):
    """The rows' order of each epoch as hogwild's docstring states it: Fisher-Yates from the top, each j
    from the top 53 bits of the next SplitMix64 output, its state seeded by SeedSequence(seed)."""
    state = int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])
    for _ in range(epochs):
        outputs, state = splitmix64(state, n - 1)
        order = list(range(n))
        for i, z in zip(range(n - 1, 0, -1), outputs):
            j = min(int((z >> 11) * 2.0**-53 * (i + 1)), i)
            order[i], order[j] = order[j], order[i]
        yield np.array(order)


def reference_sgd(X, y, *, loss, alpha, epochs, lr, decay, seed, fit_intercept=False, progressive=None,
                  l2="dense"):
    """Plain Python SGD with the documented update, visiting rows in the documented seeded order;
    appends to ``progressive`` (a list), per epoch, the mean loss of the rows at the weights their
    steps started from. l2="dense": every weight decays by 1 - eta * alpha at every step (scikit-learn's
    SGDClassifier: the penalty's gradient at the weights before the step); "spread": the paper's,
    w_j shrunk by 1 - eta * alpha * n / d_j on the rows that hold feature j."""
    X = X.tocsr()
    n, d = X.shape
    counts = np.bincount(X.indices, minlength=d)
    reg = alpha * n / np.maximum(counts, 1)
    w, b = np.zeros(d), 0.0
    for epoch, order in enumerate(documented_orders(n, epochs, seed)):
        eta = lr * decay**epoch
        losses = []
        for i in order:
            cols, vals = X.indices[X.indptr[i]:X.indptr[i + 1]], X.data[X.indptr[i]:X.indptr[i + 1]]
            p = w[cols] @ vals + b
            losses.append(pointwise_loss(p, y[i], loss))
            if loss == "log":
                g = -y[i] / (1.0 + np.exp(y[i] * p))
            elif loss == "hinge":
                g = -y[i] if y[i] * p <= 1.0 else 0.0
            else:
                g = p - y[i]
            if l2 == "dense":
                w *= 1.0 - eta * alpha
                w[cols] -= eta * g * vals
            else:
                w[cols] = w[cols] * np.maximum(0.0, 1.0 - eta * reg[cols]) - eta * g * vals
            if fit_intercept:
                b -= eta * g
        if progressive is not None:
            progressive.append(np.mean(losses))
    return w, b


def pointwise_loss(p, y, loss):
    if loss == "log":
        return np.logaddexp(0.0, -y * p)
    if loss == "hinge":
        return np.maximum(0.0, 1.0 - y * p)
    return 0.5 * (p - y) ** 2


def objective(X, y, w, b, loss, alpha):
    return pointwise_loss(X @ w + b, y, loss).mean() + 0.5 * alpha * w @ w


# --- the algorithm ---------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["log", "hinge", "squared"])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("l2", ["dense", "spread"])
def test_one_worker_is_the_documented_sgd_update_step_for_step(loss, fit_intercept, l2):
    X, y = sparse_problem(n=300, d=60, density=0.1)
    kwargs = dict(loss=loss, alpha=1e-3, epochs=3, lr=0.3, decay=0.8, seed=5, l2=l2)
    result = hogwild(X, y, workers=1, fit_intercept=fit_intercept, **kwargs)
    assert result.l2 == l2
    w, b = reference_sgd(X, y, fit_intercept=fit_intercept, **kwargs)
    np.testing.assert_allclose(result.weights, w, rtol=1e-12, atol=1e-14)
    assert result.intercept == pytest.approx(b, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("loss", ["log", "hinge", "squared"])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_the_tuned_kernel_with_one_worker_and_no_replica_is_the_papers_step(loss, fit_intercept):
    X, y = sparse_problem(n=300, d=60, density=0.1)
    n, d = X.shape
    reg = 1e-3 * n / np.maximum(np.bincount(X.indices, minlength=d), 1)  # alpha n / d_v
    eta = 0.3
    assert eta * reg.max() <= 1  # where the tuned kernel's clamp of 1 - eta reg_v at 0 does not bind
    rng = np.random.default_rng(1)
    order = np.concatenate([rng.permutation(n) for _ in range(3)])  # three passes
    at = d if fit_intercept else -1
    kind = _kernels.LOSS_CODES[loss]
    indptr = X.indptr.astype(np.int64)
    tuned, paper = np.zeros(d + 1), np.zeros(d + 1)
    args = _kernels.SgdRowsArgs(indptr=indptr, indices=X.indices, data=X.data, y=y, w=tuned,
                                shrink=_kernels.shrink_factors(np.append(reg, 0.0), eta), order=order,
                                next_row=_kernels.row_counter(), eta=eta, kind=kind, intercept_at=at,
                                stop=np.zeros(1, np.int64), lock=np.zeros(1, np.int64))
    assert _kernels.sgd_rows(*args) == (order.size, _kernels.OK, -1, 0.0)
    _kernels.paper_sgd_rows(indptr, X.indices, X.data, y, paper, np.append(reg, 0.0), order, eta, kind, at)
    assert np.abs(paper).max() > 0.1 and (paper[d] != 0) == fit_intercept
    np.testing.assert_allclose(tuned, paper, rtol=1e-12, atol=1e-15)


def test_the_kernel_argument_record_names_the_kernel_arguments_in_order():
    assert _kernels.SgdRowsArgs._fields == tuple(inspect.signature(_kernels.sgd_rows.py_func).parameters)


def test_the_losses_are_the_kernels():
    assert hogwild_module.LOSSES == tuple(_kernels.LOSS_CODES)


@pytest.mark.parametrize("loss", ["log", "hinge", "squared"])
@pytest.mark.parametrize("workers", [1, 3])
def test_the_final_objective_by_default_is_mean_loss_plus_half_alpha_squared_norm(loss, workers):
    X, y = sparse_problem()
    result = hogwild(X, y, loss=loss, alpha=1e-3, epochs=2, lr=0.2, fit_intercept=True, workers=workers)
    assert result.objective_kind == "final" and len(result.objective) == 1
    expected = objective(X, y, result.weights, result.intercept, loss, 1e-3)
    assert result.objective[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("loss, sklearn_loss", [("log", "log_loss"), ("hinge", "hinge"), ("squared", "squared_error")])
def test_one_worker_with_the_dense_step_is_scikit_learns_sgd_on_the_same_row_order(loss, sklearn_loss):
    # scikit-learn's SGDClassifier with a constant step, shuffle=False and one partial_fit per epoch on
    # the rows in hogwild's documented order: the same steps (its L2 decay kept in a scale, too)
    sklearn = pytest.importorskip("sklearn.linear_model")
    import warnings

    X, y = sparse_problem(n=400, d=80, density=0.1)
    kwargs = dict(alpha=1e-3, lr=0.2, decay=0.8, seed=3)
    result = hogwild(X, y, workers=1, loss=loss, epochs=3, **kwargs)
    clf = sklearn.SGDClassifier(loss=sklearn_loss, penalty="l2", alpha=1e-3, fit_intercept=False,
                                learning_rate="constant", eta0=0.2, shuffle=False, max_iter=1, tol=None)
    for epoch, order in enumerate(documented_orders(400, 3, 3)):
        clf.eta0 = 0.2 * 0.8**epoch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(X[order], y[order], classes=np.array([-1.0, 1.0]))
    assert np.abs(result.weights).max() > 0.05
    np.testing.assert_allclose(result.weights, clf.coef_.ravel(), rtol=1e-10, atol=1e-13)


def test_the_dense_step_with_a_large_penalty_runs_each_epoch_in_parts_and_is_still_the_update():
    # eta * alpha = 0.9 * 0.9: (1 - 0.81)^rows underflows within an epoch of 300 rows; the kernel runs
    # parts of 230 / -ln(0.19) = 138 rows, each with its own scale
    X, y = sparse_problem(n=300, d=60, density=0.1)
    assert len(hogwild_module._scale_parts(300, 1 - 0.81)) == 3
    kwargs = dict(loss="log", alpha=0.9, epochs=2, lr=0.9, decay=1.0, seed=2)
    w, _ = reference_sgd(X, y, **kwargs)
    assert 0 < np.abs(w).max() < 1
    np.testing.assert_allclose(hogwild(X, y, workers=1, **kwargs).weights, w, rtol=1e-10, atol=1e-15)


def test_the_dense_step_makes_no_pass_over_x_to_count_the_features(monkeypatch):
    X, y = sparse_classification(20_000, 2_000, 10, seed=0)

    def counting(*args):
        raise AssertionError("count_features was called")

    monkeypatch.setattr(_kernels, "count_features", counting)
    assert hogwild(X, y, workers=2, epochs=1).hot > 0  # hot weights chosen without the counts (200 per weight)
    with pytest.raises(AssertionError, match="count_features was called"):
        hogwild(X, y, workers=2, epochs=1, l2="spread")


def test_with_the_dense_step_the_hot_weights_are_chosen_from_a_sample_of_rows(monkeypatch):
    X, y = sparse_classification(20_000, 2_000, 10, seed=0)
    n = X.shape[0]
    monkeypatch.setattr(hogwild_module, "SQUARES_SAMPLE", 1024)
    # the documented sample: 16 blocks of 64 consecutive rows, spread evenly from row 0 to the last
    rows = np.concatenate([np.arange(a, a + 64) for a in np.linspace(0, n - 64, 16).astype(int)])
    sample = X[rows]
    counts = np.bincount(sample.indices, minlength=X.shape[1]) * (n / rows.size)
    squares = np.asarray(sample.multiply(sample).mean(axis=0)).ravel()
    expected, _ = hogwild_module.choose_hot(counts, squares, n, None, None, 0.5 * 0.25, False)
    assert 0 < expected.size < 2_000
    assert hogwild(X, y, workers=2, epochs=1, lr=0.5).hot == expected.size
    exact = np.bincount(X.indices, minlength=X.shape[1])  # l2="spread" counts them all
    expected_spread, _ = hogwild_module.choose_hot(exact, squares, n, None, None, 0.5 * 0.25, False)
    assert hogwild(X, y, workers=2, epochs=1, lr=0.5, l2="spread").hot == expected_spread.size


def test_each_epoch_runs_through_the_documented_seeded_order():
    draw = hogwild_module._OrderDrawer(1000, 11)
    for expected in documented_orders(1000, 3, 11):
        np.testing.assert_array_equal(draw(), expected)


def test_drawing_the_next_order_leaves_the_running_epochs_order_as_it_was():
    draw = hogwild_module._OrderDrawer(500, 0)
    running = draw()
    kept = running.copy()
    following = draw()
    assert following is not running and np.array_equal(running, kept)
    assert np.array_equal(np.sort(running), np.arange(500)) and np.array_equal(np.sort(following), np.arange(500))
    assert not np.array_equal(running, following)


def test_the_order_is_a_uniform_permutation():
    # where row 0 lands, over 4000 permutations of 8 rows: each of the 8 places 500 times on average
    state = np.zeros(1, np.uint64)
    places = [int(np.flatnonzero(_kernels.shuffled_order(state, np.empty(8, np.int64)) == 0)[0])
              for _ in range(4000)]
    observed = np.bincount(places, minlength=8)
    chi2 = float(((observed - 500) ** 2 / 500).sum())
    assert chi2 < 24.3  # the 0.999 quantile of chi-square with 7 degrees of freedom


def test_float64_labels_in_minus_one_plus_one_are_used_without_a_copy():
    y = np.where(np.arange(1000) % 3 == 0, 1.0, -1.0)
    assert hogwild_module._signed_labels(y, 1000) is y
    zero_one = (y > 0).astype(np.float64)
    np.testing.assert_array_equal(hogwild_module._signed_labels(zero_one, 1000), y)


@pytest.mark.parametrize("labels, kind", [([1.0, -1.0, 1.0], "SIGNED"), ([1.0, 1.0], "SIGNED"),
                                          ([0.0, 1.0, 0.0], "ZERO_ONE"), ([0.0, 0.0], "ZERO_ONE"),
                                          ([1.0, 2.0], "OTHER"), ([1.0, np.nan], "OTHER"),
                                          ([-1.0, 0.0, 1.0], "OTHER")])
def test_label_kind_tells_signed_zero_one_and_other_labels_apart(labels, kind):
    assert _kernels.label_kind(np.array(labels)) == getattr(_kernels, f"LABELS_{kind}")


def test_objective_epoch_is_the_objective_after_each_epoch():
    X, y = sparse_problem(n=300, d=60, density=0.1)
    kwargs = dict(loss="log", alpha=1e-3, lr=0.3, decay=0.8, seed=5)
    result = hogwild(X, y, workers=1, epochs=3, objective="epoch", **kwargs)
    # the reference run repeats the same seeded permutations: its first k epochs are ours
    expected = [objective(X, y, *reference_sgd(X, y, epochs=k, **kwargs), "log", 1e-3) for k in (1, 2, 3)]
    np.testing.assert_allclose(result.objective, expected, rtol=1e-10)


@pytest.mark.parametrize("loss", ["log", "hinge", "squared"])
def test_objective_progressive_is_each_epochs_mean_loss_before_the_steps_plus_the_penalty(loss):
    X, y = sparse_problem(n=300, d=60, density=0.1)
    kwargs = dict(loss=loss, alpha=1e-3, lr=0.3, decay=0.8, seed=5)
    result = hogwild(X, y, workers=1, epochs=3, objective="progressive", **kwargs)
    progressive = []
    reference_sgd(X, y, epochs=3, progressive=progressive, **kwargs)
    penalties = [0.5e-3 * w @ w for w, _ in (reference_sgd(X, y, epochs=k, **kwargs) for k in (1, 2, 3))]
    np.testing.assert_allclose(result.objective, np.add(progressive, penalties), rtol=1e-10)


def test_objective_none_computes_nothing_and_changes_no_weight():
    X, y = sparse_problem()
    none = hogwild(X, y, epochs=2, objective=None)
    assert none.objective == [] and none.objective_kind is None
    assert np.array_equal(none.weights, hogwild(X, y, epochs=2).weights)


def test_one_worker_with_a_seed_is_bit_for_bit_deterministic():
    X, y = sparse_problem()
    a = hogwild(X, y, workers=1, epochs=3, seed=7)
    b = hogwild(X, y, workers=1, epochs=3, seed=7)
    assert np.array_equal(a.weights, b.weights)
    assert a.objective == b.objective
    assert not np.array_equal(a.weights, hogwild(X, y, workers=1, epochs=3, seed=8).weights)


@pytest.mark.parametrize("loss", ["log", "hinge", "squared"])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("fold_every", [1, 7, None])
@pytest.mark.parametrize("hot, l2", [(61, "dense"), (5, "dense"), (61, "spread")])
def test_one_worker_on_a_replica_is_the_documented_update_up_to_rounding(loss, fit_intercept, fold_every, hot, l2):
    X, y = sparse_problem(n=300, d=60, density=0.1)
    kwargs = dict(loss=loss, alpha=1e-3, epochs=3, lr=0.3, decay=0.8, seed=5, l2=l2)
    result = hogwild(X, y, workers=1, fit_intercept=fit_intercept, hot=hot, fold_every=fold_every, **kwargs)
    assert result.replicas
    # 61: every feature (all 60 occur) and the intercept; 5: the others fold only at the epochs' ends
    assert result.hot == min(hot, 60 + fit_intercept)
    # fold_every None: each weight at its own interval, the folds of prefixes of the sorted weights
    assert len(result.fold_intervals) >= (2 if fold_every is None and hot == 61 else 1)
    w, b = reference_sgd(X, y, fit_intercept=fit_intercept, **kwargs)
    # the fold computes w + (u - base) instead of u: equal up to rounding
    np.testing.assert_allclose(result.weights, w, rtol=1e-10, atol=1e-13)
    assert result.intercept == pytest.approx(b, rel=1e-10, abs=1e-13)


def test_fold_adds_the_private_change_to_the_shared_weight_and_restarts_the_replica():
    # the shared weights of columns 3 and 1 in slots 0 and 1; the worker's replica indexed by column
    shared = np.array([2.0, 4.0])
    cols = np.array([3, 1])
    u = np.array([0.5, 4.0, -1.0, 2.75])
    base = np.array([1.5, 4.0])  # the replica's values at the previous fold
    locks = _kernels.fold_locks(2)
    _kernels.fold(u, shared, cols, 2, base, locks)
    # column 3: 2.0 + (2.75 - 1.5) = 3.25 (another worker had moved it from 1.5 to 2.0); column 1 unchanged
    np.testing.assert_array_equal(shared, [3.25, 4.0])
    np.testing.assert_array_equal(u, [0.5, 4.0, -1.0, 3.25])  # columns 0 and 2: not folded, untouched
    np.testing.assert_array_equal(base, [3.25, 4.0])
    assert not locks.any()  # released


def test_a_fold_of_a_prefix_folds_only_its_slots():
    shared, cols, base = np.zeros(3), np.array([2, 0, 1]), np.zeros(3)
    u = np.array([1.0, 2.0, 3.0])  # every column moved since the previous fold
    _kernels.fold(u, shared, cols, 1, base, _kernels.fold_locks(3))
    np.testing.assert_array_equal(shared, [3.0, 0.0, 0.0])  # slot 0 (column 2) only
    np.testing.assert_array_equal(base, [3.0, 0.0, 0.0])


def test_a_replica_starts_as_the_shared_weights():
    u, base = np.full(4, 9.0), np.full(3, 9.0)
    _kernels.start_replica(u, np.array([1.0, 2.0, 3.0]), np.array([3, 0, 1]), 3, base)
    np.testing.assert_array_equal(u, [2.0, 3.0, 9.0, 1.0])  # column 2 has no slot: not written
    np.testing.assert_array_equal(base, [1.0, 2.0, 3.0])


@njit(nogil=True, cache=True)
def _add_and_fold(u, shared, cols, base, locks, times):
    for _ in range(times):
        u[0] += 1.0  # one private step of +1 on each weight, then a fold of all
        u[1] += 1.0
        _kernels.fold(u, shared, cols, shared.shape[0], base, locks)


def test_concurrent_folds_lose_no_addition():
    # slot 0 folds holding the first block's lock, the last slot (past the first FOLD_BLOCK) the second's
    slots = _kernels.FOLD_BLOCK + 1
    cols = np.full(slots, 2, np.int64)  # every other slot holds column 2, which never moves
    cols[0], cols[-1] = 0, 1
    shared = np.zeros(slots)
    replicas, bases = [np.zeros(3), np.zeros(3)], [np.zeros(slots), np.zeros(slots)]
    locks = _kernels.fold_locks(slots)
    _add_and_fold(replicas[0], shared, cols, bases[0], locks, 1)  # compiled before the threads start
    shared[:] = replicas[0][:] = bases[0][:] = 0.0
    threads = [threading.Thread(target=_add_and_fold, args=(u, shared, cols, base, locks, 200_000))
               for u, base in zip(replicas, bases)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # without the locks, two interleaved read-add-writes lose one addition
    assert shared[0] == 400_000.0 and shared[-1] == 400_000.0
    assert not np.any(shared[1:-1])


def test_replicas_by_default_only_with_several_workers_no_lock_and_enough_non_zeros_per_weight():
    X, y = sparse_classification(4000, 500, 20, seed=0)  # 80,000 non-zeros, 160 per weight
    assert hogwild(X, y, workers=2, epochs=1).replicas
    assert hogwild(X, y, workers=2, epochs=1, fit_intercept=True).replicas
    assert not hogwild(X, y, workers=1, epochs=1).replicas
    assert not hogwild(X, y, workers=2, epochs=1, lock=True).replicas
    plain = hogwild(X, y, workers=2, epochs=1, hot=0)
    assert not plain.replicas and plain.hot == 0 and plain.fold_every == 0
    assert hogwild(X, y, workers=1, epochs=1, hot=5).replicas  # asked for
    thin = X[:60]  # 60 rows: at most 1,200 non-zeros, under 4 per weight
    assert thin.nnz < hogwild_module.MIN_NONZEROS_PER_WEIGHT * (500 + 1) <= X.nnz
    assert not hogwild(thin, y[:60], workers=2, epochs=1).replicas


def test_by_default_the_hot_weights_are_those_updated_twice_per_fold_or_too_heavy_for_an_epochs_delay():
    X, y = sparse_classification(4000, 500, 10, seed=0)  # power-law feature frequencies
    X = sp.hstack([X, sp.csr_matrix(np.full((4000, 1), 0.5))]).tocsr()  # in every row, but heavy
    counts = np.bincount(X.indices, minlength=X.shape[1])
    squares = np.asarray(X.multiply(X).mean(axis=0)).ravel()
    # updated at least twice per fold_every = 50 rows, or too heavy for an epoch's delay (lr * 1/4
    # (log loss) * n * mean(x^2) > 0.5); the last, in every row, is too heavy for the delay rule even at
    # 50 rows (lr * fold_every * 1/4 * mean(x^2) > 0.5) and folds at 50 rows all the same
    frequent = counts * 50 >= 2 * 4000
    expected = int(np.sum(frequent | (0.5 * 0.25 * 4000 * squares > 0.5)))
    assert 10 <= frequent.sum() < expected < 501 and counts[-1] == 4000 and 0.5 * 50 * 0.25 * squares[-1] > 0.5
    result = hogwild(X, y, workers=2, epochs=1, fold_every=50)
    assert result.replicas and result.hot == expected and result.fold_intervals == {50: expected}
    assert hogwild(X, y, workers=2, epochs=1, fold_every=50, fit_intercept=True).hot == expected + 1  # and b


def test_the_hot_weights_choice_lays_out_the_slots_hot_first_then_the_rest_ascending():
    rng = np.random.default_rng(4)
    counts, squares = rng.integers(0, 300, 1000), rng.random(1000) ** 4
    hot, _ = hogwild_module.choose_hot(counts, squares, 1000, None, None, 0.125, True)
    slots = np.full(1001, -1, np.int64)
    sizes = _kernels.hot_by_interval(counts.astype(np.float64), 1.0, squares, 1.0, 1000.0, 0.125, 1000, 0,
                                     np.asarray(hogwild_module.FOLD_INTERVALS, np.int64), 2, 0.5, slots)
    assert 0 < sizes.sum() == hot.size < 1001
    assert slots[:hot.size].tolist() == hot.tolist()
    assert slots[hot.size:].tolist() == np.setdiff1d(np.arange(1001), hot).tolist()  # ascending


def test_a_weight_too_heavy_for_every_interval_folds_at_the_shortest():
    # n = 1000 rows, log loss at lr 0.5: step 0.125; the rule: 0.125 * interval * q_j <= 0.5
    counts = np.array([1000, 900, 800, 700])
    squares = np.array([0.05, 1e-3, 1e-5, 0.5])  # limits 80, 4000, 400000, 8 rows
    hot, intervals = hogwild_module.choose_hot(counts, squares, 1000, None, None, 0.125, False)
    assert hot.tolist() == [3, 0, 1, 2] and intervals.tolist() == [16, 64, 2048, 65536]  # 3: not even 16 rows
    assert hogwild_module.FOLD_INTERVALS == tuple(16 * 2**k for k in range(13))  # 16 .. 65536


def test_a_weight_is_hot_only_if_a_worker_updates_it_twice_within_its_interval():
    counts = np.array([100_000, 4, 3])  # n = 100000: twice in 65536 rows needs 4 rows of the 100000
    hot, intervals = hogwild_module.choose_hot(counts, np.full(3, 1e-9), 100_000, None, None, 0.125, False)
    assert hot.tolist() == [0, 1] and intervals.tolist() == [65536, 65536]


def test_a_rare_weight_too_heavy_for_an_epochs_delay_folds_at_the_longest_interval():
    # n = 100000, step 0.125: an epoch's delay is allowed while 0.125 * 100000 * q_j <= 0.5
    counts = np.array([3, 3])  # both updated less than twice in 65536 rows
    squares = np.array([1e-6, 1e-4])  # 0.0125 and 1.25
    hot, intervals = hogwild_module.choose_hot(counts, squares, 100_000, None, None, 0.125, False)
    assert hot.tolist() == [1] and intervals.tolist() == [65536]
    hot, intervals = hogwild_module.choose_hot(counts, squares, 100_000, None, 64, 0.125, False)
    assert hot.tolist() == [1] and intervals.tolist() == [64]


def test_a_given_fold_interval_is_every_hot_weights():
    counts, squares = np.array([1000, 900, 800, 10]), np.array([0.05, 1e-3, 1e-5, 1e-5])
    hot, intervals = hogwild_module.choose_hot(counts, squares, 1000, None, 128, 0.125, False)
    assert hot.tolist() == [0, 1, 2] and intervals.tolist() == [128, 128, 128]  # 3: 1.3 rows in 128


def test_the_lock_changes_the_timing_only():
    X, y = sparse_problem()
    free = hogwild(X, y, workers=1, epochs=2, seed=3)
    locked = hogwild(X, y, workers=1, epochs=2, seed=3, lock=True)
    assert locked.lock and not free.lock
    assert np.array_equal(free.weights, locked.weights)


@pytest.mark.parametrize("lock, hot, l2", [(False, None, "dense"), (False, 0, "dense"), (True, None, "dense"),
                                          (False, None, "spread")])
def test_two_workers_reach_the_objective_of_one_within_one_percent(lock, hot, l2):
    X, y = sparse_classification(20_000, 5_000, 20, seed=1)  # power-law: hot features by default
    one = hogwild(X, y, workers=1, epochs=4, alpha=1e-5, seed=1, l2=l2)
    two = hogwild(X, y, workers=2, epochs=4, alpha=1e-5, seed=1, lock=lock, hot=hot, objective="epoch", l2=l2)
    assert two.workers == 2 and two.replicas == (hot is None and not lock)
    assert abs(two.objective[-1] / one.objective[-1] - 1) < 0.01
    assert two.objective[-1] < two.objective[0] < np.log(2)
    assert two.accuracy(X, y) > 0.9


def test_more_workers_than_cores_and_than_rows_still_converge():
    X, y = sparse_problem(n=200, d=50, density=0.1)
    result = hogwild(X, y, workers=8, epochs=3, lock=True)
    assert result.objective[-1] < np.log(2)


def test_result_reports_times_rates_and_predicts():
    X, y = sparse_problem()
    result = hogwild(X, y, workers=2, epochs=3)
    assert isinstance(result, HogwildResult)
    assert len(result.epoch_times) == 3 and all(t > 0 for t in result.epoch_times)
    assert result.updates_per_second == pytest.approx(3 * X.shape[0] / sum(result.epoch_times))
    assert result.wall_time >= sum(result.epoch_times)
    assert set(np.unique(result.predict(X))) <= {-1, 1}
    assert result.accuracy(X, y) == result.accuracy(X, (y > 0).astype(int))  # {0, 1} labels too
    assert result.weights.shape == (X.shape[1],)


def test_labels_in_zero_one_are_read_as_minus_one_plus_one():
    X, y = sparse_problem()
    a = hogwild(X, y, epochs=2)
    b = hogwild(X, (y > 0).astype(np.int64), epochs=2)
    assert np.array_equal(a.weights, b.weights)


def test_other_sparse_formats_and_dense_arrays_are_converted():
    X, y = sparse_problem(n=300, d=40, density=0.1)
    a = hogwild(X, y, epochs=2)
    for other in (X.tocsc(), X.tocoo(), X.toarray()):
        np.testing.assert_allclose(hogwild(other, y, epochs=2).weights, a.weights, rtol=1e-12)


# --- real parallelism ------------------------------------------------------------------------


def test_the_kernels_run_without_the_global_interpreter_lock():
    assert _kernels.sgd_rows.targetoptions["nogil"] is True
    X, y = sparse_problem(n=2000, d=500)
    indptr = X.indptr.astype(np.int64)
    rows = np.tile(np.arange(2000), 400)  # a long share: ~0.2 s of work
    w, shrink = np.zeros(500), np.ones(500)
    flags = np.zeros(1, np.int64), np.zeros(1, np.int64)
    head = (indptr, X.indices, X.data, y, w, shrink)
    tail = (0.01, _kernels.LOG, -1, *flags, False, 1024, *NO_HOT)
    _kernels.sgd_rows(*head, rows[:10], _kernels.row_counter(), *tail)  # compiled before timing
    worker = threading.Thread(target=_kernels.sgd_rows, args=(*head, rows, _kernels.row_counter(), *tail))
    ticks = 0
    worker.start()
    while worker.is_alive():  # Python code runs here only if the kernel released the GIL
        ticks += 1
    worker.join()
    assert ticks > 1000


def test_a_stop_flag_set_by_another_thread_stops_a_running_kernel_promptly():
    X, y = sparse_problem(n=2000, d=500)
    rows = np.tile(np.arange(2000), 2000)  # ~1 s of work if nothing stops it
    stop, lock = np.zeros(1, np.int64), np.zeros(1, np.int64)
    out = {}

    def run():
        out["result"] = _kernels.sgd_rows(X.indptr.astype(np.int64), X.indices, X.data, y, np.zeros(500),
                                          np.ones(500), rows, _kernels.row_counter(), 0.01, _kernels.LOG,
                                          -1, stop, lock, False, 1024, *NO_HOT)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.02)
    tick = time.perf_counter()
    stop[0] = 1
    worker.join(timeout=5)
    assert not worker.is_alive() and time.perf_counter() - tick < 0.5
    done, status, _, _ = out["result"]
    assert status == _kernels.STOPPED and done < rows.size


def test_workers_sharing_an_epoch_order_step_on_each_row_exactly_once():
    # row i has the single feature i (value 1); squared loss, no penalty, w = 0: one step on row i
    # sets w_i = eta * y_i, a second would set it to eta * y_i * (2 - eta), none leaves 0
    n = 100_003  # not a multiple of the chunk
    X = sp.identity(n, format="csr")
    y = np.where(np.arange(n) % 3 == 0, 1.0, -1.0)
    order = np.random.default_rng(0).permutation(n)
    w, counter = np.zeros(n), _kernels.row_counter()
    stop, lock = np.zeros(1, np.int64), np.zeros(1, np.int64)
    head = (X.indptr.astype(np.int64), X.indices, X.data, y, w, np.ones(n))
    tail = (0.5, _kernels.SQUARED, -1, stop, lock, False, 1024, *NO_HOT)
    _kernels.sgd_rows(*head, order[:0], _kernels.row_counter(), *tail)  # compiled before the threads
    done = []
    threads = [threading.Thread(target=lambda: done.append(_kernels.sgd_rows(*head, order, counter, *tail)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sum(rows for rows, *_ in done) == n and all(status == _kernels.OK for _, status, *_ in done)
    np.testing.assert_array_equal(w, 0.5 * y)


@njit(nogil=True, cache=True)
def _locked_increments(lock, counter, n):
    for _ in range(n):
        _kernels.acquire(lock)
        counter[0] += 1  # a read-modify-write that loses counts unless the lock excludes
        _kernels.release(lock)


def test_the_spin_lock_excludes_other_threads():
    lock, counter = np.zeros(1, np.int64), np.zeros(1, np.int64)
    _locked_increments(lock, counter, 1)
    counter[0] = 0
    threads = [threading.Thread(target=_locked_increments, args=(lock, counter, 200_000)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert counter[0] == 600_000 and lock[0] == 0


# --- reliability -----------------------------------------------------------------------------


def test_an_exception_in_a_worker_reaches_the_caller_with_its_traceback_and_stops_the_others(monkeypatch):
    X, y = sparse_problem(n=20_000, d=2_000, density=0.005)
    seen = []

    def failing_hook(worker, epoch):
        seen.append((worker, epoch))
        if worker == 1 and epoch == 1:
            raise RuntimeError("injected failure")

    monkeypatch.setattr(hogwild_module, "_before_share", failing_hook)
    tick = time.perf_counter()
    with pytest.raises(RuntimeError, match="injected failure") as info:
        hogwild(X, y, workers=3, epochs=1000)
    assert time.perf_counter() - tick < 10
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "failing_hook" in frames and "work" in frames  # the worker's own frames
    assert any("worker 1" in note for note in getattr(info.value, "__notes__", ["worker 1"]))
    assert max(epoch for _, epoch in seen) == 1  # no worker went on to epoch 2
    assert hogwild_module.live_workers() == []


def test_non_finite_weights_raise_floating_point_error_naming_the_step_size():
    X, y = sparse_problem()
    with pytest.raises(FloatingPointError, match=r"lr=1000\.0"):
        hogwild(X, y, loss="squared", lr=1e3, epochs=50, workers=2)
    assert hogwild_module.live_workers() == []


def test_ctrl_c_stops_every_worker_and_raises_keyboard_interrupt():
    script = textwrap.dedent("""
        import os, signal, threading, time
        import numpy as np, scipy.sparse as sp
        # as in an interactive terminal: a parent started in the background (CI) may pass SIGINT on
        # as ignored, and then no Ctrl-C would reach this process at all
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from sgdlab.parallel import hogwild
        from sgdlab.parallel.hogwild import live_workers
        X = sp.random(20000, 2000, density=0.005, format="csr", random_state=0)
        y = np.where(np.arange(20000) % 2 == 0, 1.0, -1.0)
        hogwild(X[:100], y[:100], epochs=1)  # compiled (or loaded) before the clock starts
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        tick = time.perf_counter()
        try:
            hogwild(X, y, workers=2, epochs=100000)
        except KeyboardInterrupt:
            print("interrupted after %.2f s, live workers %d" % (time.perf_counter() - tick, len(live_workers())))
        else:
            print("finished without interruption")
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "live workers 0" in done.stdout, done.stdout + done.stderr
    assert float(done.stdout.split("after ")[1].split(" s")[0]) < 3


# --- arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(loss="logistic"), ValueError, "Invalid loss: 'logistic' (expected one of 'log', 'hinge', 'squared')"),
    (dict(workers=0), ValueError, "Invalid workers: 0 (expected an int >= 1)"),
    (dict(workers=1.5), TypeError, "Invalid workers: 1.5 of type float (expected an int >= 1)"),
    (dict(workers="2"), TypeError, "Invalid workers: '2' of type str (expected an int >= 1)"),
    (dict(epochs=0), ValueError, "Invalid epochs: 0 (expected an int >= 1)"),
    (dict(lr=0.0), ValueError, "Invalid lr: 0.0 (expected a finite number > 0)"),
    (dict(lr=float("nan")), ValueError, "Invalid lr: nan (expected a finite number > 0)"),
    (dict(alpha=float("inf")), ValueError, "Invalid alpha: inf (expected a finite number >= 0)"),
    (dict(decay=1.5), ValueError, "Invalid decay: 1.5 (expected a number in (0, 1])"),
    (dict(alpha=-1.0), ValueError, "Invalid alpha: -1.0 (expected a finite number >= 0)"),
    (dict(hot=-1), ValueError, "Invalid hot: -1 (expected an int >= 0 or None)"),
    (dict(hot=2.5), TypeError, "Invalid hot: 2.5 of type float (expected an int >= 0 or None)"),
    (dict(fold_every=0), ValueError, "Invalid fold_every: 0 (expected an int >= 1 or None)"),
    (dict(seed="1"), TypeError, "Invalid seed: '1' of type str (expected an int >= 0 or None)"),
    (dict(lock=1), TypeError, "Invalid lock: 1 of type int (expected True or False)"),
    (dict(hot=5, lock=True), ValueError, "Invalid hot: 5 with lock=True (expected 0 or None"),
    (dict(objective="each"), ValueError, "Invalid objective: 'each' (expected one of 'epoch', 'final', "
                                         "'progressive' or None)"),
    (dict(l2="l1"), ValueError, "Invalid l2: 'l1' (expected one of 'dense', 'spread')"),
    (dict(lr=2.0, alpha=0.5), ValueError, "Invalid lr: 2.0 with alpha=0.5 (expected lr * alpha < 1"),
])
def test_invalid_arguments_are_refused_naming_the_argument_and_value(kwargs, error, message):
    X, y = sparse_problem(n=50, d=10, density=0.3)
    with pytest.raises(error, match=re.escape(message)):
        hogwild(X, y, **kwargs)


def test_numpy_numbers_are_taken_as_python_numbers():
    X, y = sparse_problem(n=50, d=10, density=0.3)
    a = hogwild(X, y, workers=np.int64(1), epochs=np.int32(2), lr=np.float32(0.25), seed=np.uint8(3))
    b = hogwild(X, y, workers=1, epochs=2, lr=float(np.float32(0.25)), seed=3)
    assert np.array_equal(a.weights, b.weights) and type(a.workers) is int


@pytest.mark.parametrize("make_y, message", [
    (lambda y: y[:-1], "Invalid y: 49 labels (expected one per row of X: 50)"),
    (lambda y: np.where(np.arange(50) == 7, np.nan, y), "Invalid y: 1 non-finite label (expected labels in"),
    (lambda y: np.arange(50) % 3, "Invalid y: the values 0, 1, 2 (expected labels in {-1, +1} or {0, 1})"),
    (lambda y: y * 2.5, "Invalid y: the values -2.5, 2.5 (expected labels in {-1, +1} or {0, 1})"),
])
@pytest.mark.parametrize("loss", ["log", "hinge", "squared"])
def test_labels_not_one_binary_label_per_row_are_refused(make_y, message, loss):
    X, y = sparse_problem(n=50, d=10, density=0.3)
    with pytest.raises(ValueError, match=re.escape(message)):
        hogwild(X, make_y(y), loss=loss)


@pytest.mark.parametrize("value, message", [
    (np.nan, "Invalid y: 1 non-finite label (expected labels in {-1, +1} or {0, 1})"),
    (0.0, "Invalid y: the values -1, 0, 1 (expected labels in {-1, +1} or {0, 1})"),
    (2.0, "Invalid y: the values -1, 1, 2 (expected labels in {-1, +1} or {0, 1})"),
])
@pytest.mark.parametrize("workers", [1, 2])
def test_a_bad_label_far_into_the_rows_is_refused_as_one_near_the_start(value, message, workers):
    # the first 1024 labels are looked at before the epochs; the others by the steps of the first epoch
    X, y = sparse_problem(n=5000, d=100, density=0.05)
    bad = y.copy()
    bad[4321] = value
    assert hogwild_module.LABELS_LOOKED_AT < 4321 and (bad[:1024] == -1).any()
    with pytest.raises(ValueError, match=re.escape(message)):
        hogwild(X, bad, workers=workers)
    assert hogwild_module.live_workers() == []


def test_zero_one_labels_sorted_ones_first_are_taken_as_zero_one():
    X, y = sparse_problem(n=5000, d=100, density=0.05)
    order = np.argsort(-y, kind="stable")  # every +1 first: the first 1024 labels are all 1
    X, y = X[order], y[order]
    zero_one = hogwild(X, np.where(y > 0, 1.0, 0.0), epochs=2)
    signed = hogwild(X, y, epochs=2)
    assert np.array_equal(zero_one.weights, signed.weights)


def test_labels_that_are_not_numbers_are_a_type_error():
    X, y = sparse_problem(n=50, d=10, density=0.3)
    with pytest.raises(TypeError, match=re.escape("Invalid y: an array of dtype <U3 (expected labels in")):
        hogwild(X, np.where(y > 0, "yes", "no"))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("workers", [1, 2])
def test_a_non_finite_value_in_x_is_refused_naming_its_row_and_column(value, workers):
    X, y = sparse_problem(n=5000, d=100, density=0.05)
    bad = X.copy()
    q = bad.indptr[1717] + 2
    bad.data[q] = value
    with pytest.raises(ValueError, match=re.escape(f"Invalid X: row 1717 has the non-finite value {value} in "
                                                   f"column {bad.indices[q]} (expected finite values)")):
        hogwild(bad, y, workers=workers)
    assert hogwild_module.live_workers() == []


@pytest.mark.parametrize("index", [-1, -70_000, 100, 2**31 - 1])
@pytest.mark.parametrize("workers, l2, lock", [(1, "dense", False), (2, "dense", False), (2, "spread", False),
                                              (2, "dense", True)])
def test_a_column_index_outside_x_is_refused_naming_its_row(index, workers, l2, lock):
    # scipy builds such a matrix from (data, indices, indptr) without a full check; the kernels would
    # otherwise read and write outside w
    X, y = sparse_problem(n=5000, d=100, density=0.05)
    bad = X.copy()
    bad.indices[bad.indptr[1717] + 2] = index
    with pytest.raises(ValueError, match=re.escape(f"Invalid X: row 1717 has the column index {index} "
                                                   "(expected 0 <= index < 100, the number of columns")):
        hogwild(bad, y, workers=workers, l2=l2, lock=lock)
    assert hogwild_module.live_workers() == []


def test_the_kernel_writes_nothing_of_a_row_with_a_bad_index_and_says_which_row():
    X, y = sparse_problem(n=50, d=10, density=0.3)
    X.indices[X.indptr[7]] = 10  # = d: the intercept's position if w held one
    w = np.zeros(11)
    order = np.array([3, 7, 9], np.int32)
    stop = np.zeros(1, np.int64)
    args = _kernels.SgdRowsArgs(indptr=X.indptr.astype(np.int64), indices=X.indices, data=X.data, y=y, w=w,
                                shrink=np.ones(11), order=order, next_row=_kernels.row_counter(), eta=0.5,
                                kind=_kernels.SQUARED, intercept_at=-1, stop=stop, lock=np.zeros(1, np.int64),
                                n_features=10)
    done, status, row, _ = _kernels.sgd_rows(*args)
    assert (done, status, row, stop[0]) == (1, _kernels.BAD_INDEX, 7, 1)
    reference = np.zeros(11)  # row 3 alone, by the step's equation
    p = X[3].toarray().ravel()
    reference[:10] -= 0.5 * (0.0 - y[3]) * p
    np.testing.assert_allclose(w, reference, rtol=1e-15, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_csr_input_with_float64_or_float32_values_is_never_copied(dtype):
    import tracemalloc

    X, y = sparse_classification(50_000, 2_000, 40, seed=0, dtype=dtype)  # 2M non-zeros
    assert X.indices.dtype == np.int32 and X.data.dtype == dtype
    hogwild(X[:100], y[:100], workers=2, epochs=1)  # kernels loaded
    tracemalloc.start()
    try:
        result = hogwild(X, y, workers=2, epochs=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.replicas  # each worker's replica of the weights
    assert peak < X.indices.nbytes / 2  # O(n + d) arrays only: a copy of the indices alone is 8 MB


def test_float32_values_give_the_float64_result_of_the_same_values():
    X, y = sparse_problem()
    X32 = X.astype(np.float32)
    np.testing.assert_allclose(hogwild(X32, y, epochs=2).weights, hogwild(X32.astype(np.float64), y, epochs=2).weights,
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("X, error, message", [
    ([[1.0]], TypeError, "Invalid X: [[1.0]] of type list (expected a scipy.sparse matrix (CSR preferred) or a "
                         "2-d NumPy array)"),
    (np.ones(3), ValueError, "Invalid X: an array of shape (3,) (expected a scipy.sparse matrix"),
    (sp.csr_matrix((0, 5)), ValueError, "Invalid X: no rows (expected at least one)"),
    (sp.csr_matrix((3, 0)), ValueError, "Invalid X: no columns (expected at least one feature)"),
])
def test_x_that_is_not_a_non_empty_matrix_is_refused(X, error, message):
    with pytest.raises(error, match=re.escape(message)):
        hogwild(X, [1])


def test_predicting_with_another_number_of_features_names_it():
    X, y = sparse_problem(n=50, d=10, density=0.3)
    result = hogwild(X, y, epochs=1)
    with pytest.raises(ValueError, match=re.escape("Invalid X: 9 features (expected the 10 of the fit)")):
        result.predict(X[:, :9])


def test_docstring_examples_run():
    import doctest

    from sgdlab.parallel import benchmark, command

    for module in (hogwild_module, benchmark, command):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__
