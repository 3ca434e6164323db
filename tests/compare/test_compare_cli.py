"""``sgdlab compare`` as a user runs it: the report and summary, resuming, bad input, Ctrl-C."""

import signal
import sqlite3
import subprocess
import sys
import time

from typer.testing import CliRunner

from sgdlab.cli import app

runner = CliRunner()


def _text(result) -> str:
    """The output without rich's error box: its lines wrap messages anywhere."""
    return " ".join(result.output.replace("│", " ").split())
SMALL = ["--problems", "digits_logreg,quadratic_deep", "--optimizers", "sgd,adam", "--seeds", "2", "--trials", "2",
         "--no-animations"]
USER_FILE = """
import torch
from sgdlab.compare import Problem

g = torch.Generator().manual_seed(0)
X = torch.randn(80, 3, generator=g)
Y = X @ torch.tensor([[1.0], [-1.0], [0.5]])

def make_problem():
    return Problem.from_model(lambda: torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, (X[:60], Y[:60]),
                              (X[60:], Y[60:]), epochs=2, batch_size=20, name="my_regression")
"""


def test_compare_writes_the_report_and_summary_and_resumes_from_its_store(tmp_path):
    args = ["compare", *SMALL, "--jobs", "1", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "r")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "24 trials (24 run now, 0 from" in first.output  # 2 problems x 3 optimizers (the baseline) x 2 x 2
    html = (tmp_path / "r" / "report.html").read_text()
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "digits_logreg" in html and "quadratic_deep" in html
    assert "| adam |" in summary and "| sgd |" in summary and "| baseline |" in summary
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "24 trials (0 run now, 24 from" in again.output
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert db.execute("select count(*), count(distinct key) from trials").fetchone() == (24, 24)


def test_your_problem_from_a_file_runs_beside_a_built_in_one_and_leads_the_answer(tmp_path):
    (tmp_path / "my_problems.py").write_text(USER_FILE)
    args = ["compare", "--problem", str(tmp_path / "my_problems.py"), "--problem", "digits_logreg", "--optimizers",
            "sgd", "--seeds", "1", "--trials", "2", "--no-animations", "--jobs", "1",
            "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "r")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    # 2 problems x (sgd, baseline) x 1 x 2, and the 20 calibration trials of the problem without a target
    assert "8 trials (28 run now, 0 from" in result.output
    assert "Your problems: my_regression (loss, target" in result.output and "(calibrated)" in result.output
    html = (tmp_path / "r" / "report.html").read_text()
    assert html.index("problem-my_regression") < html.index("problem-digits_logreg")


def test_an_unknown_problem_is_named_with_the_available_ones(tmp_path):
    result = runner.invoke(app, ["compare", "--problems", "mnist", "--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code == 2
    assert "'mnist'" in _text(result) and "digits_mlp" in _text(result)


def test_an_unknown_optimizer_is_named(tmp_path):
    result = runner.invoke(app, ["compare", "--optimizers", "adamm", "--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code == 2 and "'adamm'" in _text(result)


def test_a_malformed_grid_is_named(tmp_path):
    result = runner.invoke(app, ["compare", "--grid", "0.1,fast", "--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code == 2 and "0.1,fast" in _text(result)


def test_a_malformed_libsvm_file_is_refused_naming_the_line(tmp_path):
    data = tmp_path / "bad.svm"
    data.write_text("1 1:0.5 3:1.0\n-1 2:oops\n")
    result = runner.invoke(app, ["compare", "--problems", f"libsvm:{data}", "--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code == 2 and "line 2" in _text(result), _text(result)


CTRL_C = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # a parent in the background passes SIGINT on ignored
from sgdlab.cli import main
sys.argv = ["sgdlab", *sys.argv[1:]]
main()
"""


def test_ctrl_c_stops_the_workers_and_the_same_command_resumes_with_your_problem_too(tmp_path):
    store = tmp_path / "s.sqlite"
    (tmp_path / "my_problems.py").write_text(USER_FILE)
    args = ["compare", "--problem", str(tmp_path / "my_problems.py"), "--problem", "digits_cnn", "--optimizers",
            "sgd,adam,rmsprop", "--seeds", "2", "--trials", "2", "--jobs", "2", "--no-animations", "--store",
            str(store), "--out", str(tmp_path / "r")]
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # interrupt once a few trials are stored
        if store.exists() and sqlite3.connect(store).execute(
                "select count(*) from sqlite_master where name = 'trials'").fetchone()[0]:
            if sqlite3.connect(store).execute("select count(*) from trials").fetchone()[0] >= 2:
                break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)  # the pipes close only once the workers are gone too
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "resume" in err
    stored = sqlite3.connect(store).execute("select count(*) from trials").fetchone()[0]
    # 2 problems x 4 optimizers (the baseline) x 2 x 2, and the 20 trials calibrating my_regression's target
    assert 2 <= stored < 52
    resumed = runner.invoke(app, args)
    assert resumed.exit_code == 0, resumed.output
    assert f"32 trials ({52 - stored} run now, {stored} from" in resumed.output
