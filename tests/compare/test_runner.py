"""Running a comparison: a trial against training by hand, the three rulesets on a tiny problem, the
store's resume after a crash (your own problems too), parallel workers, failures recorded rather than
raised, calibrated targets, a problem edited during a run, and the same command giving the same
numbers twice."""

import dataclasses
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

import _tiny
from sgdlab.compare import runner
from sgdlab.compare.analysis import analyze
from sgdlab.compare.protocol import TrialSpec, optimizer_defaults
from sgdlab.compare.runner import run_compare, run_trial
from sgdlab.compare.store import Store
from sgdlab.compare.verdict import recommend
from sgdlab.problems import calibrate

GRID = (1e-3, 1e-1, 1e3)
HERE = Path(__file__).parent


def sgd_spec(lr, seed=0, problem=_tiny.TINY, epochs=3):
    return TrialSpec.make(problem.name, problem.fingerprint, "sgd", {**optimizer_defaults("sgd", "paper"), "lr": lr},
                          seed, problem.quick.__class__(epochs, 16))


def _sgd_reference(lr: float, seed: int) -> list[float]:
    """The tiny problem trained by hand (torch's own SGD, the same shuffling as fit): the per-epoch
    validation losses."""
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
    return vals


def test_a_trial_record_matches_training_by_hand():
    record = run_trial(sgd_spec(0.1), _tiny.TINY)
    assert record["status"] == "ok"
    np.testing.assert_allclose([e["val_metric"] for e in record["history"]], _sgd_reference(0.1, 0), rtol=1e-5)
    assert [e["updates"] for e in record["history"]] == [4, 8, 12] and record["budget_steps"] == 12
    assert record["final_val_metric"] == record["history"][-1]["val_metric"]
    assert record["hparams"]["lr"] == 0.1 and record["config"]["optimizer"]["lr"] == 0.1
    # training seconds exclude evaluation: they add up epoch by epoch, below the trial's wall time
    times = [e["time"] for e in record["history"]]
    assert times == sorted(times) and 0 < record["train_seconds"] == times[-1] < record["wall_time"]


def test_a_trial_runs_single_threaded_and_gives_the_threads_back():
    threads = torch.get_num_threads()
    seen = []

    class Probe(torch.nn.Linear):
        def forward(self, x):
            seen.append(torch.get_num_threads())
            return super().forward(x)

    def build(seed):
        task = _tiny.build_tiny(seed)
        task.model = Probe(4, 1)
        return task

    run_trial(sgd_spec(0.1), dataclasses.replace(_tiny.TINY, builder=build))
    assert set(seen) == {1} and torch.get_num_threads() == threads


def test_a_diverging_trial_is_recorded_as_diverged():
    record = run_trial(sgd_spec(1e3), _tiny.TINY)
    assert record["status"] == "diverged" and record["final_val_metric"] is None


def test_a_failing_trial_is_recorded_with_its_traceback():
    spec = sgd_spec(0.1, seed=1, problem=_tiny.BROKEN)
    record = run_trial(spec, _tiny.BROKEN)
    assert record["status"] == "error" and "Traceback" in record["error"]
    assert "seed 1 cannot be built" in record["error"]


def test_the_baseline_runs_its_schedule_over_the_trials_step_budget():
    spec = TrialSpec.make("tiny", _tiny.TINY.fingerprint, "baseline", optimizer_defaults("baseline", "paper"), 0,
                          _tiny.TINY.quick, "torch")
    record = run_trial(spec, _tiny.TINY)
    assert record["status"] == "ok" and record["budget_steps"] == 12
    assert record["config"]["optimizer"]["decoupled_weight_decay"] is True


def test_external_runs_studies_x_trials_for_every_optimizer_and_the_baseline(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        result = run_compare(store, [_tiny.TINY], ["sgd"], seeds=2, trials=2, jobs=1, progress=False)
        again = run_compare(store, [_tiny.TINY], ["sgd"], seeds=2, trials=2, jobs=1, progress=False)
    keys = sorted((r["optimizer"], r["study"], r["trial"]) for r in result.records)
    assert keys == [(o, s, k) for o in ("baseline", "sgd") for s in range(2) for k in range(2)]
    assert {r["seed"] for r in result.records if r["study"] == 1} == {1}
    assert result.ran == 8 and again.ran == 0 and again.reused == 8


def test_defaults_trains_every_optimizer_at_its_defaults_for_one_and_a_half_the_epochs(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        result = run_compare(store, [_tiny.TINY], ["adam"], tuning="defaults", seeds=2, jobs=1, progress=False)
    adam = [r for r in result.records if r["optimizer"] == "adam"]
    assert [r["seed"] for r in adam] == [0, 1] and {r["epochs"] for r in adam} == {5}  # ceil(1.5 * 3)
    assert adam[0]["hparams"]["lr"] == 0.001


def test_lr_grid_tunes_on_the_grid_then_reruns_the_best_lr_with_more_seeds(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        result = run_compare(store, [_tiny.TINY], ["sgd"], tuning="lr-grid", grid=GRID, seeds=3, jobs=1,
                             progress=False)
    sgd = [r for r in result.records if r["optimizer"] == "sgd"]
    tune = sorted((r["lr"], r["seed"]) for r in sgd if r["phase"] == "tune")
    rerun = sorted((r["lr"], r["seed"]) for r in sgd if r["phase"] == "rerun")
    # by hand: lr 1e-3 barely moves in 12 steps, 1e3 diverges, 0.1 is best
    assert _sgd_reference(0.1, 0)[-1] < _sgd_reference(1e-3, 0)[-1]
    assert tune == [(1e-3, 0), (0.1, 0), (1e3, 0)] and rerun == [(0.1, 1), (0.1, 2)]


def test_failed_trials_are_stored_and_retried_by_the_next_run(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        first = run_compare(store, [_tiny.BROKEN], ["sgd"], tuning="defaults", seeds=2, jobs=1, progress=False)
        assert sorted(r["status"] for r in first.records) == ["error", "error", "ok", "ok"]
        again = run_compare(store, [_tiny.BROKEN], ["sgd"], tuning="defaults", seeds=2, jobs=1, progress=False)
        assert again.ran == 2 and len(store) == 4


def test_a_problem_without_a_target_gets_one_calibrated_as_the_built_in_ones_were(tmp_path):
    untargeted = dataclasses.replace(_tiny.TINY, target=None)
    with Store(tmp_path / "s.sqlite") as store:
        result = run_compare(store, [untargeted], ["adam"], seeds=1, trials=1, jobs=1, progress=False)
    (problem,) = result.problems
    assert problem.target_calibrated and len(result.calibration) == 4 * 5
    # the calibration by hand: calibrate's own training of each landmark optimizer over its grid
    runs = [(o, lr, calibrate.run_curve(untargeted, o, lr)[0]) for o in calibrate.CALIBRATION_OPTIMIZERS
            for lr in calibrate.CALIBRATION_GRID]
    assert problem.target == calibrate.suggest_target(untargeted, calibrate.tune(untargeted, runs)[0])


def _write_user_file(tmp_path, target=0.05):
    path = tmp_path / "my_problems.py"
    path.write_text(_tiny.USER_FILE.format(target=target))
    return path


def test_a_problem_edited_during_the_run_fails_the_trials_keyed_by_the_old_one(tmp_path, monkeypatch):
    path = _write_user_file(tmp_path)
    from sgdlab import problems

    (mine,) = problems.resolve(str(path))
    spec = TrialSpec.make("mine", mine.fingerprint, "sgd", optimizer_defaults("sgd", "paper"), 0, mine.quick)
    monkeypatch.setitem(runner._WORKER_PROBLEMS, "mine", str(path))  # as a worker has it
    runner._loaded.cache_clear()
    path.write_text(path.read_text().replace("[3.0]]", "[3.5]]"))
    record = run_trial(spec)
    runner._loaded.cache_clear()
    assert record["status"] == "error" and "changed since the comparison started" in record["error"]


def test_two_worker_processes_give_the_same_results_as_one(tmp_path):
    runs = {}
    for jobs in (1, 2):
        with Store(tmp_path / f"{jobs}.sqlite") as store:
            result = run_compare(store, [_tiny.TINY], ["sgd", "adam"], seeds=2, trials=2, jobs=jobs, progress=False)
        runs[jobs] = {r["key"]: ([e["val_metric"] for e in r["history"]], r["final_test_metric"]) for r in result.records}
    assert runs[1] == runs[2]


def _deterministic(result):
    """Everything of a comparison but the seconds."""
    a = analyze(result.records, result.problems)
    pairs = {(p, s.optimizer): (s.steps, s.steps_interval, s.test_mean, s.test_interval, s.hparams)
             for p, ranked in a.rankings.items() for s in ranked}
    records = sorted((r["key"], r["status"], r["final_test_metric"],
                      [(e["updates"], e["val_metric"]) for e in r["history"]]) for r in result.records)
    text = [(topic, t.split(" By seconds to target")[0]) for topic, t in recommend(a, {"mode": "quick"})]
    return pairs, a.scores["steps"], a.speedup, records, text


def test_the_same_comparison_twice_gives_the_same_numbers_but_for_the_seconds(tmp_path):
    path = _write_user_file(tmp_path)
    outcomes = []
    for run in range(2):
        with Store(tmp_path / f"{run}.sqlite") as store:
            result = run_compare(store, [str(path), _tiny.TINY], ["adam"], seeds=2, trials=1, jobs=2,
                                 progress=False)
        outcomes.append(_deterministic(result))
        seconds = sorted(r["train_seconds"] for r in result.records)
    assert outcomes[0] == outcomes[1]
    assert seconds  # measured, but not compared: they are wall-clock times


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
        run_compare(store, {problems}, ["sgd", "adam"], seeds=2, trials=2, jobs={jobs}, progress=False,
                    on_record=kill_after_three)
""")


def _killed_run(tmp_path, jobs, problems="[_tiny.TINY]"):
    path = tmp_path / "s.sqlite"
    script = KILLED_RUN.format(here=str(HERE), store=str(path), jobs=jobs, problems=problems)
    proc = subprocess.run([sys.executable, "-c", script], timeout=120, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return path


def test_a_run_killed_with_sigkill_resumes_without_lost_or_duplicated_trials(tmp_path):
    path = _killed_run(tmp_path, jobs=1)
    with Store(path) as store:
        assert len(store) == 3  # the three trials stored before the kill survive it
        result = run_compare(store, [_tiny.TINY], ["sgd", "adam"], seeds=2, trials=2, jobs=1, progress=False)
        assert result.ran == 12 - 3
        keys = [r["key"] for r in store.trials()]
    assert len(keys) == len(set(keys)) == 12


def test_a_killed_parallel_run_of_your_own_problem_leaves_whole_trials_and_resumes(tmp_path):
    user = _write_user_file(tmp_path)
    path = _killed_run(tmp_path, jobs=2, problems=repr([str(user)]))
    with Store(path) as store:
        stored = len(store)
        assert stored >= 3
        assert all(len(r["history"]) == 3 for r in store.trials() if r["status"] == "ok")
        result = run_compare(store, [str(user)], ["sgd", "adam"], seeds=2, trials=2, jobs=2, progress=False)
        assert result.ran == 12 - stored and len(store) == 12
        assert {r["status"] for r in result.records} <= {"ok", "diverged"}
