"""``sgdlab hogwild``: the timing table of Hogwild! beside scikit-learn (sgdlab.parallel.command)."""

import numpy as np
import pytest
import scipy.sparse as sp
import typer
from typer.testing import CliRunner

from sgdlab.parallel import command
from sgdlab.parallel.command import cli_hogwild, format_table, hogwild_command, measure

runner = CliRunner()


def make_app() -> typer.Typer:
    """The command as the sgdlab CLI registers it."""
    app = typer.Typer(add_completion=False)
    app.command("hogwild")(cli_hogwild)

    @app.command("other")
    def _other() -> None:  # a second command, so that typer keeps "hogwild" as a sub-command name
        pass

    return app


def invoke(*args):
    return runner.invoke(make_app(), ["hogwild", *args])


def table_rows(output: str) -> dict[tuple[str, str], list[str]]:
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[1].isdigit():
            rows[(cells[0], cells[1])] = cells
    return rows


def test_synthetic_data_gives_a_row_per_worker_count_lock_and_sklearn():
    result = invoke("--synthetic", "tiny", "--workers", "1,2", "--lock", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert "sgdlab hogwild" in result.output and "synthetic 2000x1000x20" in result.output
    assert "| run | workers | s/epoch (median) |" in result.output
    rows = table_rows(result.output)
    assert set(rows) == {("hogwild", "1"), ("hogwild", "2"), ("hogwild + lock", "1"),
                         ("hogwild + lock", "2"), ("sklearn SGDClassifier", "1")}
    assert rows[("hogwild", "1")][5] == "1.00x"  # speed-up of the reference
    assert rows[("hogwild", "1")][7] == "+0.00%"
    for cells in rows.values():
        assert 0.5 < float(cells[8]) <= 1.0  # test accuracy
    assert "Machine check" in result.output
    assert rows[("hogwild", "1")][9] == "0" and int(rows[("hogwild", "2")][9]) > 0  # hot weights
    assert rows[("hogwild + lock", "2")][9] == "0" and rows[("sklearn SGDClassifier", "1")][9] == "-"
    assert rows[("hogwild", "2")][10] in {"256", "512", "1024", "2048", "4096"}  # fold every, chosen
    assert rows[("hogwild", "1")][10] == "-" and "fold_every=auto" in result.output


def test_plain_adds_a_run_without_hot_copies_per_worker_count_above_one():
    result = invoke("--synthetic", "tiny", "--workers", "1,2", "--plain", "--baseline", "none",
                    "--epochs", "2", "--fold-every", "256")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    assert set(rows) == {("hogwild", "1"), ("hogwild", "2"), ("hogwild, plain", "2")}
    assert rows[("hogwild, plain", "2")][9] == "0" and int(rows[("hogwild", "2")][9]) > 0
    assert "fold_every=256" in result.output and rows[("hogwild", "2")][10] == "256"


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
    assert "small.svm: 300 train rows, 100 test rows" in result.output
    assert set(table_rows(result.output)) == {("hogwild", "2")}
    assert "speed-up vs 2 workers" in result.output


@pytest.mark.parametrize("args, option, message", [
    ([], "--data / --synthetic", "exactly one of --data FILE and --synthetic SIZE"),
    (["--synthetic", "tiny", "--data", "x.svm"], "--data / --synthetic", "exactly one"),
    (["--synthetic", "huge"], "--synthetic", "neither a preset"),
    (["--synthetic", "tiny", "--workers", "1,x"], "--workers", "'1,x' is not a comma-separated list"),
    (["--synthetic", "tiny", "--workers", "0"], "--workers", "worker counts >= 1"),
    (["--synthetic", "tiny", "--loss", "logistic"], "--loss", "loss='logistic' is not one of"),
    (["--synthetic", "tiny", "--lr", "0"], "--lr", "lr=0.0 must be > 0"),
    (["--synthetic", "tiny", "--epochs", "0"], "--epochs", "epochs=0 must be >= 1"),
    (["--synthetic", "tiny", "--baseline", "vw"], "--baseline", "'vw' is not one of sklearn, none"),
    (["--synthetic", "tiny", "--fold-every", "0"], "--fold-every", "fold_every=0 must be >= 1"),
    (["--data", "no/such/file.svm"], "--data", "is not a file"),
])
def test_bad_options_are_usage_errors_naming_the_option(args, option, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.replace("│", " ").split())
    assert option in flat and message in flat


def test_sklearn_runs_the_same_problem_and_schedule():
    X, y = _problem()
    m = measure(X[:3000], y[:3000], X[3000:], y[3000:], workers=[1], baseline="sklearn", epochs=3,
                alpha=1e-5, lr=0.3)
    ours, theirs = m.runs
    assert theirs.name == "sklearn SGDClassifier" and len(theirs.epoch_times) == 3
    # same objective, same schedule: the curves agree closely (the row orders differ)
    np.testing.assert_allclose(theirs.objectives[0], ours.objectives[0], rtol=0.02)
    assert abs(theirs.test_accuracy - ours.test_accuracy) < 0.03


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


def test_the_command_function_returns_its_measurement_and_prints_markdown(monkeypatch):
    X, y = _problem()
    monkeypatch.setattr(command, "_load", lambda data, synthetic, seed: (X, y, "patched"))
    printed = []
    m = hogwild_command(synthetic="anything", workers="1", baseline=None, epochs=2, echo=printed.append)
    assert m.n_train == 3200 and m.n_test == 800
    assert printed[0].startswith("sgdlab hogwild") and "patched: 3200 train rows" in printed[0]
    assert printed[1].startswith("| run | workers |")


def _problem(n=4000, d=300, k=6, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix((np.full(n * k, 1 / np.sqrt(k)), rng.integers(0, d, n * k), np.arange(0, n * k + 1, k)),
                      shape=(n, d))
    X.sum_duplicates()
    y = np.where(X @ rng.standard_normal(d) >= 0, 1.0, -1.0)
    return X, y
