"""sgdlab.parallel.mf.hogwild_mf: Hogwild! matrix completion on a small low-rank problem."""

import threading

import numpy as np
import pytest
import scipy.sparse as sp

from sgdlab.data import low_rank_ratings
from sgdlab.parallel import mf
from sgdlab.parallel.mf import MFResult, hogwild_mf

NOISE = 0.1
# 300 x 200, rank 5, 20% observed: 9,600 training ratings for the model's 2,475 free parameters.
# (At 10% the 4,800 ratings are too few: the estimation error alone then matches the noise.)
# lr 0.05 decaying by 0.9 per epoch converges in ~20 epochs; 30 run in ~10 ms.
SETTINGS = dict(epochs=30, lr=0.05, decay=0.9, alpha=0.1)


@pytest.fixture(scope="module")
def problem():
    return low_rank_ratings(300, 200, 5, density=0.2, noise=NOISE, seed=0)


@pytest.fixture(scope="module")
def one_worker(problem):
    train, test = problem
    return hogwild_mf(train, 5, workers=1, test=test, seed=0, **SETTINGS)


def test_objective_decreases_and_test_rmse_reaches_the_noise(one_worker):
    r = one_worker
    assert isinstance(r, MFResult) and r.L.shape == (300, 5) and r.R.shape == (200, 5)
    assert len(r.objective) == len(r.train_rmse) == len(r.test_rmse) == len(r.epoch_times) == 30
    objective = np.array([r.initial_objective] + r.objective)
    # Every epoch: the step shrinks geometrically, so the SGD noise around the descent path
    # shrinks with it and each epoch's progress outweighs it (measured: the last epochs still
    # gain ~3e-5 relative, with 1 worker, deterministic).
    assert (np.diff(objective) < 0).all()
    assert r.objective[-1] < 0.05 * r.initial_objective
    # Unit-variance ratings with noise 0.1: a perfect model has test RMSE 0.1; the estimation
    # error from 9,600 ratings for 2,475 parameters adds ~sqrt(2475 / 9600) in relative variance
    # (0.1 -> ~0.11); measured 0.116-0.120 over data seeds 0-2.
    assert NOISE * 0.9 < r.test_rmse[-1] < NOISE * 1.3, r.test_rmse[-1]
    assert r.train_rmse[-1] < r.test_rmse[-1]
    assert r.updates == 30 * 9600 and r.updates_per_second > 0 and r.wall_time > 0
    np.testing.assert_allclose(r.predict([0, 1], [2, 3]), [r.L[0] @ r.R[2], r.L[1] @ r.R[3]])


def test_one_worker_is_deterministic_by_seed(problem, one_worker):
    train, test = problem
    again = hogwild_mf(train, 5, workers=1, test=test, seed=0, **SETTINGS)
    np.testing.assert_array_equal(again.L, one_worker.L)
    np.testing.assert_array_equal(again.R, one_worker.R)
    assert again.objective == one_worker.objective
    other = hogwild_mf(train, 5, workers=1, seed=1, **SETTINGS)
    assert not np.array_equal(other.L, one_worker.L)


def test_triple_input_gives_the_same_result(problem, one_worker):
    train, test = problem
    r = hogwild_mf((train.row, train.col, train.data), 5, workers=1, seed=0, shape=train.shape,
                   test=(test.row, test.col, test.data), **SETTINGS)
    np.testing.assert_array_equal(r.L, one_worker.L)
    assert r.test_rmse == one_worker.test_rmse
    csr = hogwild_mf(train.tocsr(), 5, workers=1, seed=0, **SETTINGS)  # same entry order as the COO
    np.testing.assert_array_equal(csr.R, one_worker.R)


@pytest.mark.parametrize("lock", [False, True])
def test_two_workers_reach_the_objective_of_one(problem, one_worker, lock):
    train, test = problem
    r = hogwild_mf(train, 5, workers=2, lock=lock, test=test, seed=0, block_size=256, **SETTINGS)
    assert r.workers == 2 and r.lock is lock
    # Lock-free races (two threads writing the same row of R at once) are rare and small here:
    # measured within 0.05% of one worker; allow 3%.
    assert abs(r.objective[-1] / one_worker.objective[-1] - 1) < 0.03
    assert abs(r.test_rmse[-1] / one_worker.test_rmse[-1] - 1) < 0.03
    objective = np.array([r.initial_objective] + r.objective)
    # nearly monotone: the races add noise of the order of one step, far below the per-epoch gain
    assert (objective[1:] < objective[:-1] * (1 + 1e-3)).all()


def test_worker_exception_propagates_and_stops_the_others(problem, monkeypatch):
    train, _ = problem
    kernel = mf._sgd_block
    calls = []
    guard = threading.Lock()

    def failing_block(*args):
        if threading.current_thread().name.startswith(mf.THREAD_PREFIX):
            with guard:
                calls.append(threading.current_thread().name)
                if len(calls) == 5:
                    raise RuntimeError("worker boom")
        return kernel(*args)

    monkeypatch.setattr(mf, "_sgd_block", failing_block)
    with pytest.raises(RuntimeError, match="worker boom") as info:
        hogwild_mf(train, 5, workers=2, epochs=20, block_size=64, **{k: v for k, v in SETTINGS.items()
                                                                      if k != "epochs"})
    notes = getattr(info.value, "__notes__", [])
    assert any("hogwild_mf worker" in note and "epoch 0" in note for note in notes)
    frames = []
    tb = info.value.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert "work" in frames and "failing_block" in frames  # the worker's own traceback
    # 150 blocks per epoch, 20 epochs: the other worker stopped within a block or two of the failure
    assert len(calls) <= 5 + 4
    assert not [t for t in threading.enumerate() if t.name.startswith(mf.THREAD_PREFIX)]


def test_too_large_a_step_is_reported(problem):
    train, _ = problem
    with pytest.raises(FloatingPointError, match="lr=50"):
        hogwild_mf(train, 5, workers=1, epochs=5, lr=50.0)


@pytest.mark.parametrize("kwargs, error, name", [
    (dict(rank=0), ValueError, "rank"),
    (dict(rank=2.5), TypeError, "rank"),
    (dict(workers=0), ValueError, "workers"),
    (dict(epochs=0), ValueError, "epochs"),
    (dict(lr=0.0), ValueError, "lr"),
    (dict(decay=1.5), ValueError, "decay"),
    (dict(alpha=-1.0), ValueError, "alpha"),
    (dict(block_size=0), ValueError, "block_size"),
    (dict(init_scale=0.0), ValueError, "init_scale"),
    (dict(test=sp.coo_matrix((10, 7))), ValueError, "Invalid test: shape"),
    (dict(shape=(10, 9)), ValueError, "shape"),
    (dict(shape=(10, "8")), TypeError, r"Invalid shape\[1\]: '8' of type str"),
    (dict(seed="1"), TypeError, "Invalid seed: '1' of type str"),
    (dict(lr=float("nan")), ValueError, r"Invalid lr: nan \(expected a finite number > 0\)"),
    (dict(lock=1), TypeError, "Invalid lock: 1 of type int"),
])
def test_invalid_arguments_name_the_argument(kwargs, error, name):
    ratings = sp.coo_matrix(([1.0, 2.0], ([0, 3], [1, 5])), shape=(10, 8))
    kwargs = {"rank": 2, **kwargs}
    with pytest.raises(error, match=name):
        hogwild_mf(ratings, **kwargs)


def test_invalid_ratings():
    with pytest.raises(ValueError, match=r"Invalid ratings: users, items and values of lengths 2, 1, 2 "
                                         r"\(expected equal lengths\)"):
        hogwild_mf(([0, 1], [0], [1.0, 2.0]), 2)
    with pytest.raises(ValueError, match=r"Invalid ratings: item index 9 \(expected indices in \[0, 5\)"):
        hogwild_mf(([0, 1], [0, 9], [1.0, 2.0]), 2, shape=(4, 5))
    with pytest.raises(ValueError, match=r"Invalid ratings: user index -1"):
        hogwild_mf(([0, -1], [0, 1], [1.0, 2.0]), 2)
    with pytest.raises(ValueError, match=r"Invalid test: user index 7 \(expected"):
        hogwild_mf(sp.coo_matrix(([1.0], ([0], [0])), shape=(4, 5)), 2, test=([7], [0], [1.0]))
    with pytest.raises(TypeError, match=r"Invalid ratings: users of dtype float64 \(expected integer indices\)"):
        hogwild_mf(([0.5, 1.0], [0, 1], [1.0, 2.0]), 2)
    with pytest.raises(ValueError, match=r"Invalid ratings: 1 non-finite value \(expected finite values\)"):
        hogwild_mf(([0, 1], [0, 1], [1.0, np.nan]), 2)
    with pytest.raises(ValueError, match=r"Invalid ratings: no entries \(expected at least one\)"):
        hogwild_mf(sp.coo_matrix((3, 3)), 2)
    with pytest.raises(TypeError, match=r"Invalid ratings: array\(.* of type ndarray \(expected a scipy.sparse"):
        hogwild_mf(np.ones((3, 3)), 2)


def test_docstring_examples_run():
    import doctest

    import sgdlab.data
    import sgdlab.data.libsvm
    import sgdlab.data.synthetic

    for module in (mf, sgdlab.data, sgdlab.data.libsvm, sgdlab.data.synthetic):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_ctrl_c_stops_every_mf_worker_and_raises_keyboard_interrupt():
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import os, signal, threading, time
        from sgdlab.data import low_rank_ratings
        # as in an interactive terminal: a parent started in the background (CI) may pass SIGINT on
        # as ignored, and then no Ctrl-C would reach this process at all
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from sgdlab.parallel import hogwild_mf
        train, _ = low_rank_ratings(300, 200, 5, density=0.2, seed=0)
        hogwild_mf(train, 5, epochs=1)  # compiled (or loaded) before the clock starts
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        tick = time.perf_counter()
        try:
            hogwild_mf(train, 5, workers=2, epochs=10**7)
        except KeyboardInterrupt:
            alive = [t for t in threading.enumerate() if t.name.startswith("sgdlab-mf")]
            print("interrupted after %.2f s, live workers %d" % (time.perf_counter() - tick, len(alive)))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert "live workers 0" in done.stdout, done.stdout + done.stderr
    assert float(done.stdout.split("after ")[1].split(" s")[0]) < 3
