"""Hogwild!'s threads and large arrays, kept from one call to the next (sgdlab.parallel._workers.crew)."""

import importlib
import multiprocessing
import os
import threading

import numpy as np
import pytest
import scipy.sparse as sp

from sgdlab.parallel import _workers, hogwild

hogwild_module = importlib.import_module("sgdlab.parallel.hogwild")  # the package exports the function


def problem(n=3000, d=300, k=12, seed=0):
    """n rows of k non-zeros (power-law columns, so that replicas fold), labels from a hidden model."""
    rng = np.random.default_rng(seed)
    columns = np.minimum((rng.pareto(1.0, n * k) * 3).astype(np.int64), d - 1)
    X = sp.csr_matrix((rng.random(n * k), columns, np.arange(0, n * k + 1, k)), shape=(n, d))
    X.sum_duplicates()
    return X, np.where(X @ rng.standard_normal(d) >= 0, 1.0, -1.0)


@pytest.fixture(autouse=True)
def no_idle_crews():
    hogwild_module.release_threads()
    yield
    hogwild_module.release_threads()


def hogwild_threads():
    return {t for t in threading.enumerate() if t.name.startswith(hogwild_module.THREAD_PREFIX)}


def test_a_second_call_runs_on_the_threads_the_first_started():
    X, y = problem()
    hogwild(X, y, workers=2, epochs=1)
    first = hogwild_threads()
    hogwild(X, y, workers=2, epochs=1)
    assert len(first) == 3 and hogwild_threads() == first  # 2 workers and the orders' thread


def test_idle_threads_are_not_live_workers():
    X, y = problem()
    hogwild(X, y, workers=2, epochs=1)
    assert len(hogwild_threads()) == 3 and hogwild_module.live_workers() == []


def test_release_threads_ends_the_idle_threads():
    X, y = problem()
    hogwild(X, y, workers=2, epochs=1)
    threads = hogwild_threads()
    assert hogwild_module.release_threads() == 3
    for t in threads:
        t.join(timeout=10)
    assert hogwild_threads() == set() and hogwild_module.release_threads() == 0


def test_at_most_two_crews_are_kept_the_least_recently_used_ended():
    X, y = problem()
    for workers in (1, 2, 3):
        hogwild(X, y, workers=workers, epochs=1)
    assert sorted(c.workers for c in _workers._idle_crews) == [2, 3]
    assert len(_workers.idle_threads()) == (2 + 1) + (3 + 1)


def test_a_failed_call_ends_its_threads(monkeypatch):
    X, y = problem()

    def failing(worker, epoch):
        raise RuntimeError("injected")

    monkeypatch.setattr(hogwild_module, "_before_share", failing)
    with pytest.raises(RuntimeError, match="injected"):
        hogwild(X, y, workers=2, epochs=1)
    assert _workers._idle_crews == []


def disjoint_rows(n=3000, k=3, seed=0):
    """n rows with k features each that no other row has: a step reads and writes only its own row's
    weights, so two workers' result does not depend on how their steps interleave."""
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix((rng.random(n * k) + 0.5, np.arange(n * k), np.arange(0, n * k + 1, k)), shape=(n, n * k))
    return X, np.where(rng.random(n) < 0.5, -1.0, 1.0)


@pytest.mark.parametrize("workers, hot", [(1, None), (1, 40), (2, 40)])
def test_a_call_after_another_on_other_data_gives_what_it_gives_first(workers, hot):
    # the kept arrays (orders, weights, replicas, slots) carry nothing over
    X, y = disjoint_rows(seed=1)
    other_X, other_y = problem(seed=2)
    first = hogwild(X, y, workers=workers, hot=hot, epochs=2, seed=5)
    hogwild(other_X, other_y, workers=workers, hot=hot, epochs=3, seed=9, fit_intercept=True)
    hogwild(X[::-1], y[::-1], workers=workers, hot=hot, epochs=1, seed=9, fit_intercept=True)  # same shapes
    again = hogwild(X, y, workers=workers, hot=hot, epochs=2, seed=5)
    assert again.replicas == (hot is not None)
    assert np.array_equal(first.weights, again.weights)


def test_two_workers_on_disjoint_rows_give_one_workers_result():
    # what makes the test above exact with two workers
    X, y = disjoint_rows(seed=1)
    one = hogwild(X, y, workers=1, hot=40, epochs=2, seed=5)
    two = hogwild(X, y, workers=2, hot=40, epochs=2, seed=5)
    np.testing.assert_allclose(two.weights, one.weights, rtol=1e-12, atol=1e-15)


def test_concurrent_calls_each_get_their_own_threads_and_arrays():
    X, y = problem(seed=1)
    other_X, other_y = problem(seed=2)
    alone = hogwild(X, y, workers=1, hot=40, epochs=3, seed=5).weights
    other_alone = hogwild(other_X, other_y, workers=1, hot=40, epochs=3, seed=6).weights
    results = {}

    def fit(name, X, y, seed):
        for _ in range(5):
            results[name] = hogwild(X, y, workers=1, hot=40, epochs=3, seed=seed).weights

    threads = [threading.Thread(target=fit, args=("a", X, y, 5)), threading.Thread(target=fit, args=("b", other_X, other_y, 6))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert np.array_equal(results["a"], alone) and np.array_equal(results["b"], other_alone)


def test_an_idle_crew_keeps_no_arrays_beyond_the_limit(monkeypatch):
    X, y = problem()
    hogwild(X, y, workers=2, epochs=1)
    assert sum(a.nbytes for a in _workers._idle_crews[-1].arrays.values()) > 0
    monkeypatch.setattr(_workers, "MAX_KEPT_BYTES", 1000)
    hogwild(X, y, workers=2, epochs=1)
    assert _workers._idle_crews[-1].arrays == {}


def _fit_in_child(queue):
    X, y = problem()
    queue.put(hogwild(X, y, workers=2, epochs=1).weights.shape)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
def test_a_forked_child_starts_threads_of_its_own():
    X, y = problem()
    hogwild(X, y, workers=2, epochs=1)  # a crew idle in the parent when it forks
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_fit_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0 and queue.get(timeout=5) == (300,)


def test_int32_and_int64_row_pointers_give_the_same_fit():
    X, y = problem()
    wide = X.copy()
    wide.indptr, wide.indices = wide.indptr.astype(np.int64), wide.indices.astype(np.int64)
    assert X.indptr.dtype == np.int32
    a = hogwild(X, y, workers=1, epochs=2, seed=3)
    b = hogwild(wide, y, workers=1, epochs=2, seed=3)
    assert np.array_equal(a.weights, b.weights)


linux_affinity = pytest.mark.skipif(_workers._current_cpu() is None or len(os.sched_getaffinity(0)) < 2,
                                    reason="needs Linux's sched_getcpu and 2 or more CPUs")


@linux_affinity
def test_the_helper_may_run_on_every_cpu_of_the_caller_but_one():
    team = _workers.Crew(1, "sgdlab-test-crew")
    try:
        allowed = os.sched_getaffinity(0)
        team.keep_helper_off_this_cpu()
        helper = os.sched_getaffinity(team.helper_id)
        assert helper < allowed and len(allowed - helper) == 1
    finally:
        team.shutdown()


@linux_affinity
def test_a_caller_with_one_cpu_leaves_the_helper_that_cpu():
    team = _workers.Crew(1, "sgdlab-test-crew")
    allowed = os.sched_getaffinity(0)
    try:
        cpu = min(allowed)
        os.sched_setaffinity(0, {cpu})  # this thread only
        team.keep_helper_off_this_cpu()
        assert os.sched_getaffinity(team.helper_id) == {cpu}
    finally:
        os.sched_setaffinity(0, allowed)
        team.shutdown()


def test_release_threads_is_the_packages():
    import sgdlab.parallel

    X, y = problem()
    hogwild(X, y, workers=1, epochs=1)
    assert sgdlab.parallel.release_threads() == 2 and "release_threads" in sgdlab.parallel.__all__
