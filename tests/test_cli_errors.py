"""Every usage error of the command line is one line on stderr and exit code 2, never a traceback
(issue 12, item 8). The commands of the extras (hogwild, distributed) have their own such tests in
tests/parallel and tests/distributed."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sgdlab.cli import app

runner = CliRunner()

MALFORMED_LIBSVM = "+1 1:0.5 3:1.0\n-1 2:0.25\n+1 4:oops\n"


def _case(name, args, says, files=None):
    return pytest.param(args, says, files, id=name)


CASES = [
    _case("compare, a store that is not one", ["compare", "--store", "/etc/passwd"],
          "Invalid store: '/etc/passwd' (expected an sgdlab results store"),
    _case("compare, a store that is a folder", ["compare", "--store", "{tmp}"], "(expected a file, not a directory)"),
    _case("compare, unknown problem", ["compare", "--problems", "mnist"], "Invalid problem: 'mnist'"),
    _case("compare, unknown optimizer", ["compare", "--optimizers", "sgd,adamm"],
          "Invalid optimizers[1]: 'adamm' (expected one of 'quick', 'survey', 'modern', 'all', 'sgd'"),
    _case("compare, malformed grid", ["compare", "--grid", "1e-3,fast"], "Invalid grid: '1e-3,fast'"),
    _case("compare, negative learning rate", ["compare", "--grid", "1e-3,-1"],
          "Invalid grid[1]: -1.0 (expected a finite number > 0)"),
    _case("compare, no seeds", ["compare", "--seeds", "0"], "Invalid seeds: 0 (expected an int >= 1)"),
    _case("compare, no jobs", ["compare", "--jobs", "0"], "Invalid jobs: 0 (expected an int >= 1)"),
    _case("compare, jobs not a number", ["compare", "--jobs", "many"], "'--jobs'"),
    _case("compare, unknown convention", ["compare", "--convention", "jax"], "Invalid convention: 'jax'"),
    _case("compare, malformed LIBSVM file", ["compare", "--problems", "libsvm:{tmp}/bad.svm"], "line 3",
          files={"bad.svm": MALFORMED_LIBSVM}),
    _case("compare, missing LIBSVM file", ["compare", "--problems", "libsvm:{tmp}/none.svm"], "none.svm"),
    _case("compare, missing problem file", ["compare", "--problem", "{tmp}/mine.py"],
          "(expected a Python file: there is no file {tmp}/mine.py)"),
    _case("compare, problem file without the attribute", ["compare", "--problem", "{tmp}/mine.py:make_problme"],
          "(expected an attribute make_problme in mine.py; it has make_problem)",
          files={"mine.py": "def make_problem():\n    return 1\n"}),
    _case("compare, problem file returning the wrong thing", ["compare", "--problem", "{tmp}/mine.py"],
          "(expected mine.py:make_problem to be or return a sgdlab.compare.Problem or a list of them, not a int)",
          files={"mine.py": "def make_problem():\n    return 1\n"}),
    _case("compare, problem file that raises", ["compare", "--problem", "{tmp}/mine.py"],
          "(expected mine.py:make_problem() to return problems: it raised KeyError: 'data' at mine.py line 2)",
          files={"mine.py": "def make_problem():\n    return {}['data']\n"}),
    _case("compare, problem file that does not import", ["compare", "--problem", "{tmp}/mine.py"],
          "(expected mine.py to import: it raised ModuleNotFoundError: No module named 'kerass' at mine.py line 1)",
          files={"mine.py": "import kerass\n"}),
    _case("compare, unknown ruleset", ["compare", "--tuning", "random"], "Invalid tuning: 'random'"),
    _case("compare, no trials", ["compare", "--trials", "0"], "Invalid trials: 0 (expected an int >= 1)"),
    _case("compare, unknown score", ["compare", "--score-by", "epochs"], "Invalid score_by: 'epochs'"),
    _case("optimizers, unknown name", ["optimizers", "adamm"], "Invalid name: 'adamm'"),
    _case("bench-step, unknown layout", ["bench-step", "--layouts", "a,z"], "Invalid layouts[1]: 'z'"),
    _case("bench-step, unknown algorithm", ["bench-step", "--algorithms", "adamm"],
          "Invalid algorithms[0]: 'adamm'"),
    _case("bench-step, no steps", ["bench-step", "--layouts", "c", "--algorithms", "sgd", "--steps", "0"],
          "Invalid steps: 0"),
    _case("animate, unknown function", ["animate", "bealee"], "Invalid function: 'bealee'"),
    _case("animate, one frame", ["animate", "--frames", "1"], "Invalid max_frames: 1 (expected an int >= 2)"),
    _case("animate, no steps", ["animate", "--steps", "0"], "Invalid steps: 0"),
    _case("animate, malformed start", ["animate", "--start", "1,x"], "Invalid start: '1,x'"),
    _case("animate, start outside the domain", ["animate", "--start", "9,9"], "Invalid x0: (9.0, 9.0)"),
    _case("animate, malformed lr", ["animate", "--lr", "adam"], "Invalid lr: 'adam'"),
    _case("animate, lr of an optimizer not drawn", ["animate", "--optimizers", "sgd", "--lr", "adam=0.1"],
          "Invalid lr: {'adam': 0.1}"),
    _case("animate, unknown output type", ["animate", "--out", "{tmp}/a.txt"], "Invalid out:"),
    _case("plot, unknown optimizer", ["plot", "--optimizers", "sgd,nope"], "Invalid optimizers[1]: 'nope'"),
    _case("plot, unknown output type", ["plot", "--out", "{tmp}/a.gif"], "Invalid out:"),
    _case("unknown command", ["compar"], "No such command 'compar'"),
    _case("unknown option", ["compare", "--quik"], "No such option"),
]


def _args(args, tmp_path, files):
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    return [a.replace("{tmp}", str(tmp_path)) for a in args]


@pytest.mark.parametrize("args, says, files", CASES)
def test_a_usage_error_is_one_line_on_stderr_with_exit_code_2(args, says, files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written where the tests run
    result = runner.invoke(app, _args(args, tmp_path, files))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    command = "sgdlab" if args[0] in ("compar",) else f"sgdlab {args[0]}"
    assert lines[0].startswith(f"{command}: error: ")
    assert says.replace("{tmp}", str(tmp_path)) in lines[0]
    assert lines[0].endswith(f"(see '{command} --help')")
    assert "Traceback" not in result.output and result.stdout == ""


def test_a_usage_error_of_compare_leaves_no_store_behind(tmp_path):
    store = tmp_path / "results.sqlite"
    result = runner.invoke(app, ["compare", "--optimizers", "adamm", "--store", str(store)])
    assert result.exit_code == 2
    assert not store.exists()


@pytest.mark.parametrize("args, says", [
    (["compare", "--store", "/etc/passwd"], "Invalid store"),
    (["animate", "--frames", "1"], "Invalid max_frames"),
])
def test_the_installed_entry_point_prints_the_same_one_line(args, says, tmp_path):
    run = subprocess.run([sys.executable, "-m", "sgdlab.cli", *args], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert run.returncode == 2
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1 and says in run.stderr and "Traceback" not in run.stderr


def test_plain_sgdlab_prints_the_help_and_exits_0():
    result = runner.invoke(app, [])
    assert result.exit_code == 0
    assert "compare" in result.output and "Usage" in result.output


def test_an_error_that_is_not_about_the_arguments_keeps_its_traceback(monkeypatch):
    import sgdlab.optim

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(sgdlab.optim, "describe", broken)
    result = runner.invoke(app, ["optimizers", "adam"])
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)
