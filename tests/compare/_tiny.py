"""A tiny least-squares problem for the runner's tests: trains in milliseconds.

Module-level builders, so that worker processes (spawned) can unpickle the problems. ``USER_FILE`` is
the same problem as a user's file for ``--problem FILE.py``."""

from __future__ import annotations

import numpy as np
import torch

from sgdlab.problems.base import Budget, Problem, Task


def _data(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    X = rng.standard_normal((n, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * rng.standard_normal(n)
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y[:, None], dtype=torch.float32)


def build_tiny(seed: int) -> Task:
    rng = np.random.default_rng(1234)  # the data: the same for every seed
    train, val, test = _data(64, rng), _data(32, rng), _data(32, rng)
    torch.manual_seed(seed)
    return Task(model=torch.nn.Linear(4, 1), loss_fn=torch.nn.functional.mse_loss,
                train=train, val=val, test=test)


def build_broken(seed: int) -> Task:
    if seed == 1:
        raise RuntimeError("seed 1 cannot be built")
    return build_tiny(seed)


TINY = Problem(name="tiny", title="Tiny least squares", description="4-d linear regression.",
               metric="loss", higher_is_better=False, target=0.05,
               quick=Budget(epochs=3, batch_size=16), full=Budget(epochs=6, batch_size=16),
               builder=build_tiny)

BROKEN = Problem(name="broken", title="Fails for seed 1", description="For error handling.",
                 metric="loss", higher_is_better=False, target=0.05,
                 quick=Budget(epochs=2, batch_size=16), full=Budget(epochs=2, batch_size=16),
                 builder=build_broken)

USER_FILE = """
import numpy as np
import torch
from sgdlab.compare import Problem

rng = np.random.default_rng(1234)
X = torch.tensor(rng.standard_normal((96, 4)), dtype=torch.float32)
Y = X @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])

def make_problem():
    return Problem.from_model(lambda: torch.nn.Linear(4, 1), torch.nn.functional.mse_loss, (X[:64], Y[:64]),
                              (X[64:], Y[64:]), target={target}, epochs=3, batch_size=16, name="mine")
"""
