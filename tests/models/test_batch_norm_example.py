"""The batch-norm example of docs/batch_norm.md, reduced to 3 epochs: at the same learning rate the MLP
without batch norm diverges (its loss reaches NaN in the first epoch) while the one with batch norm
trains; and at a tenth of that rate the plain MLP trains too (so the contrast is the learning rate's)."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "batch_norm.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("sgdlab_example_batch_norm", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.fixture(scope="module")
def data(example):
    return example.make_data()


def test_without_batch_norm_the_mlp_diverges_at_the_example_lr(example, data):
    run = example.train(False, example.LR, epochs=3, data=data)
    assert example.outcome(run) == "diverged"
    assert run.diverged_at <= run.steps_per_epoch  # within the first epoch
    assert not math.isfinite(run.step_loss[-1])
    assert run.peak_loss > 1e6  # it exploded on the way
    assert math.isnan(run.final_loss)


def test_with_batch_norm_the_same_mlp_trains_at_the_same_lr(example, data):
    run = example.train(True, example.LR, epochs=3, data=data)
    assert example.outcome(run) == "trained"
    assert all(math.isfinite(v) for v in run.step_loss)
    assert run.peak_loss < 1.2 * math.log(example.N_CLASSES)  # never worse than a uniform guess by much
    assert run.epoch_loss[0] > run.epoch_loss[-1]
    assert run.epoch_loss[-1] < 0.5
    assert run.final_loss < 0.5 and run.test_accuracy > 0.85


def test_without_batch_norm_the_mlp_trains_at_a_tenth_of_the_lr(example, data):
    run = example.train(False, example.LR / 10, epochs=3, data=data)
    assert example.outcome(run) == "trained"
    assert run.final_loss < 0.6 and run.test_accuracy > 0.8


def test_figure_is_written(example, data, tmp_path):
    runs = [example.train(bn, example.LR, epochs=2, data=data) for bn in (False, True)]
    example.plot(runs, tmp_path / "bn.png")
    assert (tmp_path / "bn.png").stat().st_size > 10_000
