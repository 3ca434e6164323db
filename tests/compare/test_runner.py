"""Running a comparison: the protocol on a tiny problem, the store's resume after a crash, parallel
workers, failures recorded rather than raised."""

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

import _tiny
from sgdlab.compare.protocol import TrialSpec
from sgdlab.compare.runner import run_compare, run_trial
from sgdlab.compare.store import Store

GRID = (1e-3, 1e-1, 1e3)
HERE = Path(__file__).parent


def _sgd_reference(lr: float, seed: int) -> tuple[float, list[float]]:
    """The tiny problem trained by hand (torch's own SGD, the same shuffling as fit): the final
    validation loss and the per-epoch validation losses."""
    task = _tiny.build_tiny(seed)
    X, y = task.train
    opt = torch.optim.SGD(task.model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(_tiny.TINY.quick.epochs):
        order = rng.permutation(len(X))
        for i in range(0, len(X), 16):
            idx = torch.as_tensor(order[i:i + 16])
            opt.zero_grad()
            torch.nn.functional.mse_loss(task.model(X[idx]), y[idx]).backward()
            opt.step()
        with torch.no_grad():
            vals.append(float(torch.nn.functional.mse_loss(task.model(task.val[0]), task.val[1])))
    return vals[-1], vals


def test_a_trial_record_matches_training_by_hand():
    record = run_trial(TrialSpec("tiny", "sgd", 0.1, 0, 3, 16), "tune", _tiny.TINY)
    final, per_epoch = _sgd_reference(0.1, 0)
    assert record["status"] == "ok"
    np.testing.assert_allclose([e["val_metric"] for e in record["history"]], per_epoch, rtol=1e-5)
    assert [e["updates"] for e in record["history"]] == [4, 8, 12]
    assert record["final_val_metric"] == record["history"][-1]["val_metric"]
    assert record["config"]["optimizer"]["lr"] == 0.1


def test_a_diverging_trial_is_recorded_as_diverged():
    record = run_trial(TrialSpec("tiny", "sgd", 1e3, 0, 3, 16), "tune", _tiny.TINY)
    assert record["status"] == "diverged" and record["final_val_metric"] is None


def test_a_failing_trial_is_recorded_with_its_traceback():
    record = run_trial(TrialSpec("broken", "sgd", 0.1, 1, 2, 16), "rerun", _tiny.BROKEN)
    assert record["status"] == "error" and "seed 1 cannot be built" in record["error"]


def test_the_protocol_tunes_on_the_grid_then_reruns_the_best_lr_with_more_seeds(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        result = run_compare(store, [_tiny.TINY], ["sgd"], grid=GRID, seeds=3, jobs=1, progress=False)
    tune = sorted((r["lr"], r["seed"]) for r in result.records if r["phase"] == "tune")
    rerun = sorted((r["lr"], r["seed"]) for r in result.records if r["phase"] == "rerun")
    # by hand: lr 1e-3 barely moves in 12 steps, 1e3 diverges, 0.1 is best
    assert _sgd_reference(0.1, 0)[0] < _sgd_reference(1e-3, 0)[0]
    assert tune == [(1e-3, 0), (0.1, 0), (1e3, 0)]
    assert rerun == [(0.1, 1), (0.1, 2)]
    assert result.ran == 5 and result.reused == 0


def test_a_second_run_reuses_every_stored_trial(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        first = run_compare(store, [_tiny.TINY], ["sgd", "adam"], grid=GRID, seeds=2, jobs=1, progress=False)
        again = run_compare(store, [_tiny.TINY], ["sgd", "adam"], grid=GRID, seeds=2, jobs=1, progress=False)
        assert again.ran == 0 and again.reused == first.ran == 8
        assert len(store) == 8
        assert sorted(r["key"] for r in again.records) == sorted(r["key"] for r in first.records)


def test_runs_of_different_configurations_share_a_store(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        run_compare(store, [_tiny.TINY], ["sgd"], grid=GRID, seeds=2, jobs=1, progress=False)
        more = run_compare(store, [_tiny.TINY], ["sgd"], grid=GRID, seeds=3, jobs=1, progress=False)
        assert more.ran == 1  # only seed 2 at the selected lr is new
        assert len(store) == 5


def test_failed_trials_are_stored_and_retried_by_the_next_run(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        first = run_compare(store, [_tiny.BROKEN], ["sgd"], grid=(0.1,), seeds=2, jobs=1, progress=False)
        assert [r["status"] for r in first.records] == ["ok", "error"]
        again = run_compare(store, [_tiny.BROKEN], ["sgd"], grid=(0.1,), seeds=2, jobs=1, progress=False)
        assert again.ran == 1 and len(store) == 2


def test_two_worker_processes_give_the_same_results_as_one(tmp_path):
    runs = {}
    for jobs in (1, 2):
        with Store(tmp_path / f"{jobs}.sqlite") as store:
            result = run_compare(store, [_tiny.TINY], ["sgd", "adam"], grid=GRID, seeds=2, jobs=jobs,
                                 progress=False)
        runs[jobs] = {r["key"]: r["final_val_metric"] for r in result.records}
    assert runs[1].keys() == runs[2].keys()
    for key, value in runs[1].items():
        assert runs[2][key] == value or (value is None and runs[2][key] is None)


KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {here!r})
    import _tiny
    from sgdlab.compare.runner import run_compare
    from sgdlab.compare.store import Store
    seen = []
    def kill_after_three(record):
        seen.append(record)
        if len(seen) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
    with Store({store!r}) as store:
        run_compare(store, [_tiny.TINY], ["sgd", "adam"], grid={grid!r}, seeds=3, jobs={jobs},
                    progress=False, on_record=kill_after_three)
""")


def _killed_run(tmp_path, jobs):
    path = tmp_path / "s.sqlite"
    script = KILLED_RUN.format(here=str(HERE), store=str(path), grid=GRID, jobs=jobs)
    proc = subprocess.run([sys.executable, "-c", script], timeout=120, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return path


def test_a_run_killed_with_sigkill_resumes_without_lost_or_duplicated_trials(tmp_path):
    path = _killed_run(tmp_path, jobs=1)
    with Store(path) as store:
        assert len(store) == 3  # the three trials stored before the kill survive it
        result = run_compare(store, [_tiny.TINY], ["sgd", "adam"], grid=GRID, seeds=3, jobs=1, progress=False)
        assert result.ran == 10 - 3
        keys = [r["key"] for r in store.trials()]
    assert len(keys) == len(set(keys)) == 10


def test_a_killed_parallel_run_leaves_whole_trials_and_resumes(tmp_path):
    path = _killed_run(tmp_path, jobs=2)
    with Store(path) as store:
        stored = len(store)
        assert stored >= 3
        assert all(len(r["history"]) == 3 for r in store.trials() if r["status"] == "ok")
        result = run_compare(store, [_tiny.TINY], ["sgd", "adam"], grid=GRID, seeds=3, jobs=2, progress=False)
        assert result.ran == 10 - stored and len(store) == 10
