"""``sgdlab hogwild``: the timing table of Hogwild! beside scikit-learn (sgdlab.parallel.command), and its
harness (sgdlab.parallel.benchmark)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from sgdlab.cli import app
from sgdlab.parallel import command
from sgdlab.parallel.benchmark import format_table, measure

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["hogwild", *args])


def table_rows(output: str) -> dict[tuple[str, str], list[str]]:
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[1].isdigit():
            rows[(cells[0], cells[1])] = cells
    return rows


# the table's columns
RUN, WORKERS, WHOLE, SETUP, EPOCH, BEST, RATE, WHOLE_UP, EPOCH_UP, OBJECTIVE, CHANGE, ACCURACY, HOT, FOLD = range(14)


def test_synthetic_data_gives_a_row_per_worker_count_lock_and_sklearn():
    result = invoke("--synthetic", "tiny", "--workers", "1,2", "--lock", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert "sgdlab hogwild" in result.stdout and "synthetic 2000x1000x20" in result.stdout
    assert "| run | workers | whole call (s) | set-up (% of an epoch) | s/epoch (median) |" in result.stdout
    rows = table_rows(result.stdout)
    assert set(rows) == {("hogwild", "1"), ("hogwild", "2"), ("hogwild + lock", "1"),
                         ("hogwild + lock", "2"), ("sklearn SGDClassifier", "1"), ("sklearn SGDClassifier.fit", "1")}
    assert rows[("hogwild", "1")][WHOLE_UP] == rows[("hogwild", "1")][EPOCH_UP] == "1.00x"  # the reference
    assert rows[("hogwild", "1")][CHANGE] == "+0.00%"
    for cells in rows.values():
        assert 0.5 < float(cells[ACCURACY]) <= 1.0
    assert "Machine check" in result.stdout and "Whole call, Hogwild! with 1 worker(s) against" in result.stdout
    assert rows[("hogwild", "1")][HOT] == "0" and int(rows[("hogwild", "2")][HOT]) > 0
    assert rows[("hogwild + lock", "2")][HOT] == "0" and rows[("sklearn SGDClassifier", "1")][HOT] == "-"
    assert rows[("hogwild", "2")][FOLD] in {"256", "512", "1024", "2048", "4096"}  # fold every, chosen
    assert rows[("hogwild", "1")][FOLD] == "-" and "fold_every=auto" in result.stdout
    # the per-epoch baseline is no one call, the whole-call baseline has no epochs of its own
    assert rows[("sklearn SGDClassifier", "1")][WHOLE] == "-" and rows[("sklearn SGDClassifier.fit", "1")][EPOCH] == "-"
    assert float(rows[("hogwild", "2")][WHOLE]) > 0 and float(rows[("hogwild", "2")][SETUP]) > 0


def test_l2_spread_runs_the_papers_step_and_the_header_says_which():
    dense = invoke("--synthetic", "tiny", "--workers", "1", "--baseline", "none", "--epochs", "2")
    spread = invoke("--synthetic", "tiny", "--workers", "1", "--baseline", "none", "--epochs", "2", "--l2", "spread")
    assert dense.exit_code == 0 and spread.exit_code == 0, spread.output
    assert "l2=dense" in dense.stdout and "l2=spread" in spread.stdout
    objective = {name: table_rows(r.stdout)[("hogwild", "1")][OBJECTIVE] for name, r in (("dense", dense), ("spread", spread))}
    assert objective["dense"] != objective["spread"]  # the two steps differ (alpha 1e-6: in the last digits)


def test_plain_adds_a_run_without_replicas_per_worker_count_above_one():
    result = invoke("--synthetic", "tiny", "--workers", "1,2", "--plain", "--baseline", "none",
                    "--epochs", "2", "--fold-every", "256")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert set(rows) == {("hogwild", "1"), ("hogwild", "2"), ("hogwild, plain", "2")}
    assert rows[("hogwild, plain", "2")][HOT] == "0" and int(rows[("hogwild", "2")][HOT]) > 0
    assert "fold_every=256" in result.stdout and rows[("hogwild", "2")][FOLD] == "256"


def test_libsvm_file_with_zero_one_labels_and_no_baseline(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for i in range(400):
        cols = np.sort(rng.choice(50, size=5, replace=False)) + 1
        label = int(cols[0] <= 10)  # learnable from the features
        lines.append(f"{label} " + " ".join(f"{c}:{rng.random() + 0.5:.3f}" for c in cols))
    path = tmp_path / "small.svm"
    path.write_text("\n".join(lines) + "\n")
    result = invoke("--data", str(path), "--workers", "2", "--baseline", "none", "--epochs", "3",
                    "--test-fraction", "0.25")
    assert result.exit_code == 0, result.output
    assert "small.svm: 300 train rows, 100 test rows" in result.stdout
    assert set(table_rows(result.stdout)) == {("hogwild", "2")}
    assert "speed-up vs 2 workers" in result.stdout


def test_the_command_holds_out_the_test_rows_and_prints_header_table_and_notes(monkeypatch):
    X, y = _problem()
    monkeypatch.setattr(command, "_read", lambda data, synthetic, seed: (X, y, "patched"))
    result = invoke("--synthetic", "anything", "--workers", "1", "--baseline", "none", "--epochs", "2")
    assert result.exit_code == 0, result.output
    header, table, notes = result.stdout.strip().split("\n\n", 2)
    assert header.startswith("sgdlab hogwild") and "patched: 3200 train rows, 800 test rows" in header
    assert table.startswith("| run | workers |") and notes.startswith("Medians over 1 round(s)")
    assert "Load average (1, 5, 15 min) at the start: " in notes


# --- usage errors: one line on stderr, exit code 2, through the real entry point ----------------


def run_cli(*args, block_numba=False):
    """``python -m sgdlab.cli hogwild ARGS`` (without numba: ``block_numba``)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    if not block_numba:
        return subprocess.run([sys.executable, "-m", "sgdlab.cli", "hogwild", *args], capture_output=True,
                              text=True, timeout=120, env=env)
    script = ("import runpy, sys; sys.modules['numba'] = sys.modules['llvmlite'] = None; "
              f"sys.argv = ['sgdlab', 'hogwild', *{list(args)!r}]; runpy.run_module('sgdlab.cli', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)


def assert_usage_error(done, message):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert " hogwild: error: " in lines[0] and message in lines[0], lines[0]
    assert done.stdout == ""


@pytest.mark.parametrize("args, message", [
    ([], "--data / --synthetic: give exactly one of --data FILE and --synthetic SIZE"),
    (["--synthetic", "tiny", "--data", "x.svm"], "give exactly one"),
    (["--synthetic", "huge"], "Invalid size: 'huge' (expected a preset (tiny = 2000x1000x20"),
    (["--synthetic", "100x20x50"], "Invalid size: '100x20x50' (expected at most the 20 features"),
    (["--synthetic", "tiny", "--workers", "1,x"], "--workers: '1,x' is not a comma-separated list"),
    (["--synthetic", "tiny", "--workers", "0"], "worker counts >= 1"),
    (["--synthetic", "tiny", "--loss", "logistic"],
     "Invalid loss: 'logistic' (expected one of 'log', 'hinge', 'squared')"),
    (["--synthetic", "tiny", "--lr", "0"], "Invalid lr: 0.0 (expected a finite number > 0)"),
    (["--synthetic", "tiny", "--lr", "nan"], "Invalid lr: nan (expected a finite number > 0)"),
    (["--synthetic", "tiny", "--epochs", "0"], "Invalid epochs: 0 (expected an int >= 1)"),
    (["--synthetic", "tiny", "--baseline", "vw"], "Invalid baseline: 'vw' (expected one of 'sklearn', 'none')"),
    (["--synthetic", "tiny", "--fold-every", "0"], "Invalid fold_every: 0 (expected an int >= 1 or None)"),
    (["--synthetic", "tiny", "--l2", "l1"], "Invalid l2: 'l1' (expected one of 'dense', 'spread')"),
    (["--synthetic", "tiny", "--lr", "2", "--alpha", "0.6"], "Invalid lr: 2.0 with alpha=0.6 (expected lr * alpha < 1"),
    (["--synthetic", "tiny", "--test-fraction", "1"], "Invalid test_fraction: 1.0 (expected a number in [0, 1))"),
    (["--data", "no/such/file.svm"], "LIBSVM file not found: 'no/such/file.svm'"),
])
def test_a_bad_option_is_one_line_naming_it_with_exit_code_2(args, message):
    assert_usage_error(run_cli(*args), message)


def test_a_malformed_libsvm_file_is_one_line_naming_the_line(tmp_path):
    path = tmp_path / "bad.svm"
    path.write_text("1 1:0.5\n-1 3:abc\n")
    assert_usage_error(run_cli("--data", str(path)),
                       f"{path}, line 2: feature value 'abc' is not a number: '-1 3:abc'")


def test_a_libsvm_file_of_more_than_two_classes_is_one_line(tmp_path):
    path = tmp_path / "three.svm"
    path.write_text("1 1:0.5\n2 2:1\n3 1:1\n")
    assert_usage_error(run_cli("--data", str(path)), "has 3 classes, 1, 2, 3 (expected two")


def test_without_numba_the_command_is_one_line_naming_the_extra_to_install():
    assert_usage_error(run_cli("--synthetic", "tiny", block_numba=True),
                       "needs numba, the parallel extra: pip install 'sgdlab[parallel]'")


def test_importing_the_command_loads_no_numba():
    script = ("import sys, sgdlab.parallel.command; from sgdlab.parallel import hogwild; "
              "print(sorted({'numba', 'llvmlite', 'ray'} & set(sys.modules)), callable(hogwild))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert done.stdout.strip() == "[] True", done.stderr


# --- the harness --------------------------------------------------------------------------------


def test_sklearn_per_epoch_runs_the_same_problem_and_schedule():
    X, y = _problem()
    m = measure(X[:3000], y[:3000], X[3000:], y[3000:], workers=[1], baseline="sklearn", epochs=3,
                alpha=1e-5, lr=0.3)
    ours, theirs, fit = m.runs
    assert theirs.name == "sklearn SGDClassifier" and len(theirs.epoch_times) == 3 and not theirs.wall_times
    # same objective, same schedule: the final objectives agree closely (the row orders differ)
    assert theirs.final_objective == pytest.approx(ours.final_objective, rel=0.02)
    assert abs(theirs.test_accuracy - ours.test_accuracy) < 0.03


def test_sklearn_fit_is_timed_as_one_call_and_scored_on_the_same_objective():
    from sklearn.linear_model import SGDClassifier

    X, y = _problem()
    m = measure(X, y, workers=[1], baseline="sklearn", epochs=3, alpha=1e-4, seed=4)
    fit = m.runs[-1]
    assert fit.name == "sklearn SGDClassifier.fit" and fit.epoch_times == [] and len(fit.wall_times) == 1
    # the user's own call, outside the harness
    clf = SGDClassifier(loss="log_loss", alpha=1e-4, fit_intercept=False, max_iter=3, tol=None,
                        random_state=4).fit(X, y)
    w = clf.coef_.ravel()
    expected = np.logaddexp(0.0, -y * (X @ w)).mean() + 0.5e-4 * w @ w
    assert fit.final_objective == pytest.approx(expected, rel=1e-10)


def test_measure_rounds_are_round_robin_and_the_table_has_a_line_per_run():
    X, y = _problem()
    order = []
    m = measure(X, y, workers=[2, 1], lock=True, baseline=None, epochs=2, repeats=3, progress=order.append)
    assert [(r.name, r.workers) for r in m.runs] == [("hogwild", 1), ("hogwild", 2), ("hogwild + lock", 1),
                                                     ("hogwild + lock", 2)]
    assert all(len(r.round_times) == 3 and len(r.epoch_times) == 6 for r in m.runs)
    assert all(len(r.parallelism) == 3 and len(r.round_trip_ns) == 3 for r in m.runs)  # checks per run
    assert order[0].endswith("hogwild, 1 worker(s)") and order[4].endswith("hogwild, 2 worker(s)")
    assert len(m.machine_parallelism) == 3 and m.probe_threads == 2
    assert len(m.round_trip_ns) == 3 and all(ns > 0 for ns in m.round_trip_ns)
    table = format_table(m)
    assert table.count("\n") == 1 + len(m.runs)
    assert m.reference() is m.runs[0]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(workers=[]), ValueError, "Invalid workers: [] (expected a sequence of at least 1 ints >= 1)"),
    (dict(workers=[1, 0]), ValueError, "Invalid workers[1]: 0 (expected an int >= 1)"),
    (dict(workers="2"), TypeError, "Invalid workers: '2' of type str"),
    (dict(workers=[1], repeats=0), ValueError, "Invalid repeats: 0 (expected an int >= 1)"),
    (dict(workers=[1], baseline="vw"), ValueError, "Invalid baseline: 'vw' (expected one of 'sklearn', 'sklearn-fit' or None)"),
])
def test_measure_refuses_bad_arguments_before_timing_anything(kwargs, error, message):
    X, y = _problem(n=100)
    with pytest.raises(error) as info:
        measure(X, y, **kwargs)
    assert str(info.value).startswith(message)


def _problem(n=4000, d=300, k=6, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix((np.full(n * k, 1 / np.sqrt(k)), rng.integers(0, d, n * k), np.arange(0, n * k + 1, k)),
                      shape=(n, d))
    X.sum_duplicates()
    y = np.where(X @ rng.standard_normal(d) >= 0, 1.0, -1.0)
    return X, y
