"""The import paths of 0.1 (``sgdlab.bench``) keep working for one release, with a DeprecationWarning."""

import subprocess
import sys

import pytest

# each line runs in a fresh interpreter, so that the warning is the first import's
CASES = {
    "from sgdlab.bench import problems; import sgdlab.problems as new; assert problems is new":
        "sgdlab.problems",
    "from sgdlab.bench.problems.base import Problem; from sgdlab.problems import Problem as P; assert Problem is P":
        "sgdlab.problems",
    "import sgdlab.bench.analysis as old, sgdlab.compare.analysis as new; assert old is new":
        "sgdlab.compare",
    "from sgdlab.bench.runner import run_compare; from sgdlab.compare import run_compare as r; assert run_compare is r":
        "sgdlab.compare",
    "from sgdlab.bench import step; import sgdlab.optim.step_time as new; assert step is new":
        "sgdlab.optim.step_time",
}


@pytest.mark.parametrize("code", list(CASES))
def test_old_bench_path_imports_the_moved_module_with_a_deprecation_warning(code):
    run = subprocess.run([sys.executable, "-W", "always::DeprecationWarning", "-c", code],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "DeprecationWarning: sgdlab.bench is deprecated" in run.stderr
    assert CASES[code] in run.stderr


def test_new_paths_import_without_a_deprecation_warning():
    code = "import sgdlab.compare.runner, sgdlab.problems, sgdlab.optim.step_time"
    run = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
