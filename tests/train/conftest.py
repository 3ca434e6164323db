"""Shared pieces of the training-loop tests."""

import pytest
import torch
import torch.nn.functional as F


class ScriptedVal:
    """A loss that is the MSE while training and, in validation (no gradients), returns the next
    value of a script: a validation-loss sequence fixed in advance, whatever the weights do."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = 0

    def __call__(self, out, y):
        if torch.is_grad_enabled():
            return F.mse_loss(out, y)
        value = self.script[self.calls]
        self.calls += 1
        return torch.tensor(float(value), dtype=torch.float64)


@pytest.fixture(autouse=True)
def _one_thread():
    """The models here are tiny: one thread is faster than waking a pool, and keeps CPU use low."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def scripted_val():
    """The ScriptedVal class."""
    return ScriptedVal


@pytest.fixture
def regression():
    """A small linear-regression problem: X (64, 3), y (64, 1)."""
    g = torch.Generator().manual_seed(1)
    X = torch.randn(64, 3, generator=g)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(64, 1, generator=g)
    return X, y
