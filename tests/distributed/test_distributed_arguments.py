"""Invalid arguments are refused before any cluster starts, each error naming the argument and its
value; a missing Ray says how to install it; the benchmark problems plug in (no Ray needed here)."""

import sys

import pytest
import torch

from sgdlab.distributed import Cluster, delay_tolerant_adagrad, downpour, easgd, run, sync_sgd

X = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
Y = X.sum(1, keepdim=True)
MSE = torch.nn.functional.mse_loss


def model():
    return torch.nn.Linear(3, 1)


@pytest.mark.parametrize("call, error, message", [
    (lambda: downpour(model(), MSE, (X, Y), workers=0), ValueError, "workers=0 must be >= 1"),
    (lambda: downpour(model(), MSE, (X, Y), shards=5), ValueError, "shards=5 is more than the 4 parameters"),
    (lambda: downpour(model(), MSE, (X, Y), workers=65), ValueError, "workers=65 is more than the 64 training"),
    (lambda: downpour(model(), MSE, (X, Y), n_push=0), ValueError, "n_push=0 must be >= 1"),
    (lambda: downpour(model(), MSE, (X, Y), optimizer="adamm"), ValueError, "adamm"),
    (lambda: downpour(model(), MSE, (X, Y), lr=-1.0), ValueError, "lr=-1.0 must be > 0"),
    (lambda: downpour(model(), MSE, (X, Y), on_worker_failure="retry"), ValueError,
     "on_worker_failure='retry' must be one of replace, reassign, raise"),
    (lambda: downpour(model(), MSE, (X, Y), epoch=3), TypeError, "unexpected argument.*epoch"),
    (lambda: delay_tolerant_adagrad(model(), MSE, (X, Y), initial_accumulator=0.0), ValueError,
     "initial_accumulator=0.0 must be > 0"),
    (lambda: easgd(model(), MSE, (X, Y), alpha=1.5), ValueError, "alpha=1.5 must be in"),
    (lambda: easgd(model(), MSE, (X, Y), workers=2, beta=2.5), ValueError, "beta=2.5 must be in"),
    (lambda: easgd(model(), MSE, (X, Y), tau=0), ValueError, "tau=0 must be >= 1"),
    (lambda: easgd(model(), MSE, (X, Y), synchronous=True, on_worker_failure="reassign"), ValueError,
     "on_worker_failure='reassign' applies to the asynchronous algorithms"),
    (lambda: sync_sgd(model(), MSE, (X, Y), batch_size=0), ValueError, "batch_size=0 must be >= 1"),
    (lambda: sync_sgd("model", MSE, (X, Y)), TypeError, "model must be a torch.nn.Module"),
    (lambda: run("hogwild", "digits_logreg"), ValueError, "Invalid algorithm: 'hogwild'"),
    (lambda: run("downpour", "no_such_problem"), ValueError, "Invalid problem name: 'no_such_problem'"),
    (lambda: Cluster(connect_timeout=0), ValueError, "connect_timeout=0 must be > 0"),
])
def test_invalid_arguments_are_refused_naming_the_argument_and_value(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'sgdlab\[distributed\]'"):
        Cluster()


def test_a_benchmark_problem_runs_by_name_with_its_budget_and_metric():
    result = run("serial", "digits_logreg", epochs=2, lr=0.1)
    assert result.steps == 2 * -(-1197 // 64)        # the problem's batch of 64, 1,197 training digits
    assert result.curve.metric is not None and result.curve.metric[-1] > 0.8   # validation accuracy
