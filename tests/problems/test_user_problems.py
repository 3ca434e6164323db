"""Your own problems: Problem.from_model, the fingerprint that keys their trials, and the files and
modules sgdlab compare --problem loads them from, with one clear error for every way that fails."""

import sys
import textwrap

import numpy as np
import pytest
import torch

from sgdlab import problems
from sgdlab.compare import Problem
from sgdlab.problems.base import Budget

X = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([[1.0], [-1.0], [2.0]])


def linear():
    return torch.nn.Linear(3, 1)


def mse(out, y):
    return torch.nn.functional.mse_loss(out, y)


def _problem(**kw):
    args = {"target": 0.1, "epochs": 2, "batch_size": 8}
    return Problem.from_model(linear, mse, (X[:30], Y[:30]), (X[30:], Y[30:]), **{**args, **kw})


# ---- Problem.from_model ---------------------------------------------------------------------------

def test_from_model_names_the_problem_after_the_model_and_sets_both_budgets():
    p = _problem(epochs=3)
    assert (p.name, p.metric, p.higher_is_better) == ("linear", "loss", False)
    assert (p.quick, p.full) == (Budget(3, 8), Budget(15, 8))
    assert p.target == 0.1 and not p.target_calibrated


def test_from_model_with_a_metric_is_higher_is_better_by_default():
    def accuracy(out, y):
        return (out.argmax(-1) == y).float().mean()

    p = _problem(metric=accuracy)
    assert (p.metric, p.higher_is_better) == ("accuracy", True)
    assert _problem(metric=accuracy, higher_is_better=False).higher_is_better is False


def test_from_model_builds_a_fresh_model_per_seed_without_touching_the_callers_generator():
    p = _problem()
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b, a2 = p.build(0).model, p.build(1).model, p.build(0).model
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(a.weight, a2.weight) and not torch.equal(a.weight, b.weight)


def test_from_model_takes_a_dataloaders_batch_size_by_default():
    ds = torch.utils.data.TensorDataset(X[:30], Y[:30])
    p = Problem.from_model(linear, mse, torch.utils.data.DataLoader(ds, batch_size=5), (X[30:], Y[30:]))
    assert p.quick.batch_size == 5


@pytest.mark.parametrize("kw, error, says", [
    ({"epochs": 0}, ValueError, "Invalid epochs: 0"),
    ({"target": float("nan")}, ValueError, "Invalid target: nan"),
    ({"batch_size": "big"}, ValueError, "Invalid batch_size: 'big'"),
    ({"name": ""}, ValueError, "Invalid name: ''"),
])
def test_from_model_refuses_bad_arguments_naming_them(kw, error, says):
    with pytest.raises(error, match=says):
        _problem(**kw)


def test_from_model_refuses_data_fit_would_refuse_now():
    with pytest.raises(ValueError, match="Invalid val: X has 10 rows and y 9"):
        Problem.from_model(linear, mse, (X, Y), (X[:10], Y[:9]))


# ---- the fingerprint --------------------------------------------------------------------------------

def test_the_fingerprint_changes_with_the_data_and_the_model_but_not_the_name_or_target():
    base = _problem().fingerprint
    assert _problem(name="renamed", target=0.5, epochs=7).fingerprint == base
    Y2 = Y.clone()
    Y2[3] += 1e-3
    assert Problem.from_model(linear, mse, (X[:30], Y2[:30]), (X[30:], Y2[30:]), target=0.1).fingerprint != base

    def wider():
        return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))

    assert Problem.from_model(wider, mse, (X[:30], Y[:30]), (X[30:], Y[30:]), target=0.1).fingerprint != base


def test_the_fingerprint_sees_the_loss_functions_code():
    def mse_sum(out, y):
        return torch.nn.functional.mse_loss(out, y, reduction="sum") / len(y)

    assert Problem.from_model(linear, mse_sum, (X[:30], Y[:30]), (X[30:], Y[30:])).fingerprint != _problem().fingerprint


def test_the_fingerprint_of_every_kind_of_data_is_stable_across_processes(tmp_path):
    import subprocess

    script = textwrap.dedent("""
        from sgdlab import problems
        print(" ".join(problems.get(n).fingerprint for n in problems.available()))
    """)
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120).stdout
            for _ in range(2)}
    assert len(runs) == 1 and len(runs.pop().split()) == 9


def test_a_libsvm_file_changed_in_place_gets_a_new_fingerprint(tmp_path):
    path = tmp_path / "toy.svm"
    rows = "".join(f"{'+1' if i % 2 else '-1'} 1:{i / 10:.1f} 2:{(i % 3) / 3:.3f}\n" for i in range(30))
    path.write_text(rows)
    first = problems.get(f"libsvm:{path}").fingerprint
    path.write_text(rows.replace("1:0.5", "1:0.6"))  # same size, a changed value
    assert problems.get(f"libsvm:{path}").fingerprint != first


# ---- FILE.py[:ATTR] and MODULE:ATTR ----------------------------------------------------------------

USER_FILE = textwrap.dedent("""
    import torch
    from sgdlab.compare import Problem

    g = torch.Generator().manual_seed(0)
    X = torch.randn(40, 3, generator=g)
    Y = X.sum(1, keepdim=True)

    def mlp():
        return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))

    def make_problem():
        return Problem.from_model(mlp, torch.nn.functional.mse_loss, (X[:30], Y[:30]), (X[30:], Y[30:]),
                                  target=0.05, epochs=2, batch_size=10)

    def two():
        return [make_problem(), Problem.from_model(lambda: torch.nn.Linear(3, 1), torch.nn.functional.mse_loss,
                                                   (X, Y), (X, Y), name="linear", epochs=1)]
""")


def _write(tmp_path, text=USER_FILE, name="my_problems.py"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_file_gives_its_make_problem_with_its_source_and_the_files_hash(tmp_path):
    path = _write(tmp_path)
    (p,) = problems.resolve(str(path))
    assert p.name == "mlp" and p.source == str(path) and len(p.digest) == 64
    (q,) = problems.resolve(f"{path}:make_problem")
    assert q.fingerprint == problems.resolve(f"{path}:make_problem")[0].fingerprint


def test_an_attribute_may_return_several_problems(tmp_path):
    path = _write(tmp_path)
    assert [p.name for p in problems.resolve(f"{path}:two")] == ["mlp", "linear"]


def test_an_edited_file_gives_new_fingerprints_even_where_the_data_is_the_same(tmp_path):
    path = _write(tmp_path)
    before = problems.resolve(str(path))[0].fingerprint
    _write(tmp_path, USER_FILE + "\n# a comment\n")
    assert problems.resolve(str(path))[0].fingerprint != before


def test_module_attr_imports_an_installed_module(tmp_path, monkeypatch):
    _write(tmp_path, name="my_module_of_problems.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    (p,) = problems.resolve("my_module_of_problems:make_problem")
    assert p.name == "mlp" and p.source == "my_module_of_problems:make_problem"


@pytest.mark.parametrize("text, spec, says", [
    (None, "{tmp}/none.py:make_problem", "(expected a Python file: there is no file {tmp}/none.py)"),
    (USER_FILE, "{path}:make_problme", "(expected an attribute make_problme in my_problems.py; it has make_problem, "
                                       "mlp, two)"),
    (USER_FILE + "\nX = 3\ndef make_problem():\n    return {'model': 1}\n", "{path}",
     "(expected my_problems.py:make_problem to be or return a sgdlab.compare.Problem or a list of them, not a dict)"),
    ("import torch\nraise RuntimeError('no data here')\n", "{path}",
     "(expected my_problems.py to import: it raised RuntimeError: no data here at my_problems.py line 2)"),
    (USER_FILE + "\ndef make_problem():\n    return 1 / 0\n", "{path}",
     "(expected my_problems.py:make_problem() to return problems: it raised ZeroDivisionError: division by zero "
     f"at my_problems.py line {USER_FILE.count(chr(10)) + 3})"),
    (USER_FILE.replace("torch.nn.Linear(8, 1))", "torch.nn.Linear(8, 1), torch.nn.Linear(2, 2))")
     .replace("def mlp():", "def mlp():\n    raise ValueError('bad width')"), "{path}",
     "(expected the problem 'mlp' of my_problems.py to build: it raised ValueError: bad width at my_problems.py "
     "line 10)"),
    (None, "no_such_module_xyz:make", "there is no module no_such_module_xyz"),
    (None, "{tmp}:make", "(it is a folder)"),
])
def test_a_user_problem_that_cannot_be_loaded_is_one_line_naming_the_file_and_what_went_wrong(text, spec, says,
                                                                                                tmp_path):
    path = _write(tmp_path, text) if text is not None else tmp_path / "my_problems.py"
    spec = spec.format(path=path, tmp=tmp_path)
    with pytest.raises(ValueError) as info:
        problems.resolve(spec)
    message = str(info.value)
    assert message.startswith("Invalid problem: '") and "\n" not in message
    assert says.format(tmp=tmp_path) in message, message


def test_an_unknown_name_lists_the_kinds_of_problem_there_are():
    with pytest.raises(ValueError, match="FILE.py\\[:ATTR\\] or MODULE:ATTR"):
        problems.resolve("mnist")


def test_a_problem_from_a_file_trains_like_any_other(tmp_path):
    import sgdlab

    (p,) = problems.resolve(str(_write(tmp_path)))
    task = p.build(0)
    h = sgdlab.train.fit(task.model, task.loss_fn, task.train, val=task.val, optimizer="adam", epochs=2,
                         batch_size=p.quick.batch_size, progress=False)
    assert np.isfinite(h.val_loss).all()
