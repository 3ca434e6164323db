"""Pieces the problems share: the seeded model initialisation, classification losses and metrics,
and the fixed random split."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from .._validation import argument_error

#: Seed of every fixed data split and generated data set: the data do not depend on a trial's seed.
DATA_SEED = 0


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's global RNG seeded by ``seed``, then restore it: a model built
    inside depends on ``seed`` alone, and building it does not disturb the caller's RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def mean_output(out: Tensor, y: Tensor) -> Tensor:
    """The loss of models whose output is already the per-example loss (DeepOBS's quadratic and
    2-D problems): its mean over the batch; ``y`` is a placeholder."""
    return out.mean()


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Mean softmax cross-entropy of ``logits`` (N, K) against class ids ``y`` (N,)."""
    return torch.nn.functional.cross_entropy(logits, y)


def accuracy(logits: Tensor, y: Tensor) -> Tensor:
    """The fraction of examples whose largest logit is the true class."""
    return (logits.argmax(-1) == y).float().mean()


def target_note(target: float, metric: str) -> str:
    """The sentence of a problem's description that says how its target was chosen."""
    return (f"Target {target:g} (validation {metric}): the best level that SGD, Momentum, Adam and "
            "Adagrad, each tuned over the quick learning-rate grid, hold from the middle of the quick "
            "budget on, rounded to the easier side (python -m sgdlab.problems.calibrate).")


def split_indices(n: int, fractions: tuple[float, float], seed: int = DATA_SEED
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed random split of ``range(n)`` into train, val and test, val and test taking
    ``round(fraction * n)`` examples each (at least one), train the rest; each part sorted.

    >>> tr, va, te = split_indices(10, (0.1, 0.1))
    >>> len(tr), len(va), len(te), sorted([*tr, *va, *te]) == list(range(10))
    (8, 1, 1, True)
    """
    n_val = max(1, int(round(fractions[0] * n)))
    n_test = max(1, int(round(fractions[1] * n)))
    if n - n_val - n_test < 1:
        raise argument_error("n", n, "at least 3 examples, for a train/val/test split")
    perm = np.random.default_rng(seed).permutation(n)
    val, test, train = perm[:n_val], perm[n_val:n_val + n_test], perm[n_val + n_test:]
    return np.sort(train), np.sort(val), np.sort(test)
