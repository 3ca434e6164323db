"""Invalid arguments are refused before any cluster starts, each error naming the argument and its
value (TypeError for a wrong type, ValueError for a wrong value); every public function has an explicit,
documented signature; a missing Ray says how to install it; the benchmark problems plug in (no Ray
needed here)."""

import inspect
import pydoc
import re
import sys

import pytest
import torch

import sgdlab.distributed
from sgdlab.distributed import (Cluster, delay_tolerant_adagrad, diloco, downpour, eamsgd, easgd, run, serial_sgd,
                                simulate_workers, sync_sgd)
from sgdlab.distributed.algorithms import FUNCTIONS, TAKEN_BY

X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
Y = X.sum(1, keepdim=True)
MSE = torch.nn.functional.mse_loss


def model():
    return torch.nn.Linear(3, 1)


@pytest.mark.parametrize("call, error, message", [
    (lambda: downpour(model(), MSE, (X, Y), workers=0), ValueError, "Invalid workers: 0 (expected an int >= 1)"),
    (lambda: downpour(model(), MSE, (X, Y), workers=True), TypeError,
     "Invalid workers: True of type bool (expected an int >= 1)"),
    (lambda: downpour(model(), MSE, (X, Y), shards=5), ValueError,
     "Invalid shards: 5 (expected at most the 4 parameters"),
    (lambda: downpour(model(), MSE, (X, Y), workers=65), ValueError,
     "Invalid workers: 65 (expected at most the 64 training examples)"),
    (lambda: downpour(model(), MSE, (X, Y), n_push=0), ValueError, "Invalid n_push: 0 (expected an int >= 1)"),
    (lambda: downpour(model(), MSE, (X, Y), optimizer="adamm"), ValueError, "Invalid optimizer: 'adamm'"),
    (lambda: downpour(model(), MSE, (X, Y), lr=-1.0), ValueError, "Invalid lr: -1.0 (expected a finite number > 0)"),
    (lambda: downpour(model(), MSE, (X, Y), on_worker_failure="retry"), ValueError,
     "Invalid on_worker_failure: 'retry' (expected one of 'replace', 'reassign', 'raise')"),
    (lambda: downpour(model(), MSE, (X, Y), epoch=3), TypeError, "unexpected keyword argument 'epoch'"),
    (lambda: downpour(model(), MSE, (X, Y), cluster="local"), TypeError,
     "Invalid cluster: 'local' of type str (expected a sgdlab.distributed.Cluster or None)"),
    (lambda: delay_tolerant_adagrad(model(), MSE, (X, Y), initial_accumulator=0.0), ValueError,
     "Invalid initial_accumulator: 0.0 (expected a finite number > 0)"),
    (lambda: easgd(model(), MSE, (X, Y), alpha=1.5), ValueError, "Invalid alpha: 1.5 (expected a number in (0, 1)"),
    (lambda: easgd(model(), MSE, (X, Y), workers=2, beta=2.5), ValueError,
     "Invalid beta: 2.5 (expected a number in (0, 2))"),
    (lambda: easgd(model(), MSE, (X, Y), tau=0), ValueError, "Invalid tau: 0 (expected an int >= 1)"),
    (lambda: easgd(model(), MSE, (X, Y), synchronous=1), TypeError,
     "Invalid synchronous: 1 of type int (expected True or False)"),
    (lambda: easgd(model(), MSE, (X, Y), synchronous=True, on_worker_failure="reassign"), ValueError,
     "Invalid on_worker_failure: 'reassign' (expected 'replace' or 'raise'"),
    (lambda: eamsgd(model(), MSE, (X, Y), momentum=0.0), ValueError,
     "Invalid momentum: 0.0 (expected a number in (0, 1))"),
    (lambda: diloco(model(), MSE, (X, Y), inner_steps=0), ValueError, "Invalid inner_steps: 0 (expected an int >= 1)"),
    (lambda: diloco(model(), MSE, (X, Y), outer_optimizer="sgd"), ValueError,
     "Invalid outer_momentum: 0.9 (expected 0: the outer optimizer 'sgd' takes no momentum)"),
    (lambda: diloco(model(), MSE, (X, Y), outer_momentum=1.0), ValueError,
     "Invalid outer_momentum: 1.0 (expected a number in [0, 1))"),
    (lambda: diloco(model(), MSE, (X, Y), optimizer="adamx"), ValueError, "Invalid optimizer: 'adamx'"),
    (lambda: diloco(model(), MSE, (X, Y), on_worker_failure="reassign"), ValueError,
     "Invalid on_worker_failure: 'reassign' (expected 'replace' or 'raise'"),
    (lambda: run("diloco", "digits_logreg", tau=4), ValueError,
     "Invalid tau: 4 (expected no tau: it applies to easgd, eamsgd, not diloco)"),
    (lambda: simulate_workers("sync", "digits_logreg"), ValueError,
     "Invalid algorithm: 'sync' (expected one of 'downpour', 'dtadagrad', 'easgd', 'diloco')"),
    (lambda: simulate_workers("downpour", "digits_logreg", inner_steps=4), ValueError,
     "Invalid inner_steps: 4 (expected no inner_steps: it applies to diloco, not downpour)"),
    (lambda: simulate_workers("easgd", "digits_bn_free", workers=4), ValueError, "Invalid problem: 'digits_bn_free'"),
    (lambda: simulate_workers("easgd", "digits_mlp_bn"), ValueError,
     "Invalid model: 'MLP' (expected a model without buffers"),
    (lambda: sync_sgd(model(), MSE, (X, Y), batch_size=0), ValueError, "Invalid batch_size: 0 (expected an int >= 1)"),
    (lambda: sync_sgd("model", MSE, (X, Y)), TypeError,
     "Invalid model: 'model' of type str (expected a torch.nn.Module)"),
    (lambda: serial_sgd(model(), MSE, (X, Y), curve_points=1), ValueError,
     "Invalid curve_points: 1 (expected an int >= 2)"),
    (lambda: run("hogwild", "digits_logreg"), ValueError, "Invalid algorithm: 'hogwild' (expected one of"),
    (lambda: run("downpour", "no_such_problem"), ValueError, "Invalid problem: 'no_such_problem'"),
    (lambda: run("downpour", 3), TypeError, "Invalid problem: 3 of type int"),
    (lambda: run("downpour", "digits_logreg", tau=4), ValueError,
     "Invalid tau: 4 (expected no tau: it applies to easgd, eamsgd, not downpour)"),
    (lambda: run("serial", "digits_logreg", workers=2), ValueError,
     "Invalid workers: 2 (expected no workers: it applies to downpour, dtadagrad, easgd, eamsgd, diloco, sync, "
     "not serial)"),
    (lambda: Cluster(connect_timeout=0), ValueError, "Invalid connect_timeout: 0 (expected a finite number > 0)"),
    (lambda: Cluster(address=" "), ValueError, "Invalid address: ' '"),
])
def test_invalid_arguments_are_refused_naming_the_argument_and_value(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


PUBLIC = [getattr(sgdlab.distributed, name) for name in sgdlab.distributed.__all__
          if callable(getattr(sgdlab.distributed, name))]


def _parameters(obj):
    return [p for p in inspect.signature(obj).parameters.values() if p.name != "self"]


@pytest.mark.parametrize("obj", PUBLIC, ids=lambda obj: obj.__name__)
def test_every_public_function_has_an_explicit_signature(obj):
    kinds = {p.kind for p in _parameters(obj)}
    assert inspect.Parameter.VAR_KEYWORD not in kinds and inspect.Parameter.VAR_POSITIONAL not in kinds


@pytest.mark.parametrize("obj", PUBLIC, ids=lambda obj: obj.__name__)
def test_every_public_function_documents_every_parameter(obj):
    doc = inspect.getdoc(obj)
    undocumented = [p.name for p in _parameters(obj)
                    if not re.search(rf"^\s*(\w+, )*{p.name}(, \w+)*:", doc, re.MULTILINE)]
    assert not undocumented, f"{obj.__name__} does not document {undocumented}"


def test_help_shows_the_common_arguments_with_their_meaning_and_default():
    text = pydoc.render_doc(downpour, renderer=pydoc.plaintext)
    for shown in ("epochs: 'int' = 1", "batch_size: 'int' = 32", "workers: 'int' = 2",
                  "epochs: passes over the training", "batch_size: examples per minibatch",
                  "workers: N, the worker actors"):
        assert shown in text


def test_eamsgd_takes_the_arguments_of_easgd():
    assert list(inspect.signature(eamsgd).parameters) == list(inspect.signature(easgd).parameters)


def test_run_takes_every_argument_of_every_algorithm_and_says_which_take_which():
    given_by_problem = {"model", "loss_fn", "train", "eval_data", "metric_fn"}
    for fn in FUNCTIONS.values():
        assert set(inspect.signature(fn).parameters) - given_by_problem <= set(inspect.signature(run).parameters)
    assert TAKEN_BY["tau"] == ("easgd", "eamsgd") and TAKEN_BY["n_fetch"] == ("downpour",)
    assert "serial" not in TAKEN_BY["workers"] and all(TAKEN_BY.values())


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'sgdlab\[distributed\]'"):
        Cluster()


def test_importing_the_package_and_the_command_does_not_import_ray():
    import subprocess

    code = ("import sys, sgdlab.distributed, sgdlab.distributed.command; "
            "from sgdlab.distributed import downpour, run; "
            "assert not {'numba', 'llvmlite', 'ray'} & set(sys.modules), sorted({'ray'} & set(sys.modules))")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_benchmark_problem_runs_by_name_with_its_budget_and_metric():
    result = run("serial", "digits_logreg", epochs=2, lr=0.1)
    assert result.steps == 2 * -(-1197 // 64)        # the problem's batch of 64, 1,197 training digits
    assert result.curve.metric is not None and result.curve.metric[-1] > 0.8   # validation accuracy
