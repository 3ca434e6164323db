"""What a benchmark problem is: data, model, loss, metric, budget and a train/val/test split.

A :class:`Problem` is a recipe; ``problem.build(seed)`` makes one :class:`Task` of it (a freshly
initialised model and the data). The data of a problem is the same for every seed (generated from the
problem's own fixed seed, or shipped); ``seed`` drives the model's initialisation and anything random
inside the loss (DeepOBS's noisy Beale), and the trainer uses it for the shuffling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .._validation import Options, check

#: The budgets a problem has: short for ``sgdlab compare --quick``, long for ``--full``.
MODES = ("quick", "full")


@dataclass(frozen=True)
class Budget:
    """How long one trial trains: ``epochs`` passes over the training split in mini-batches of
    ``batch_size`` examples (``None``: the whole split, batch gradient descent)."""

    epochs: int
    batch_size: int | None


@dataclass
class Task:
    """One built instance of a problem: a fresh model, its loss and the three splits.

    ``train``, ``val`` and ``test`` are ``(X, y)`` pairs in any form ``sgdlab.train.fit`` takes
    (tensors, NumPy arrays, a ``scipy.sparse`` X). ``loss_fn(model(X), y)`` is the mean loss of a
    batch. ``metric_fn(model(X), y)`` is the mean of the problem's metric over the batch (e.g.
    accuracy); ``None`` when the problem's metric is the loss itself.
    """

    model: torch.nn.Module
    loss_fn: Callable[[Any, Any], torch.Tensor]
    train: tuple[Any, Any]
    val: tuple[Any, Any]
    test: tuple[Any, Any]
    metric_fn: Callable[[Any, Any], Any] | None = None


@dataclass(frozen=True)
class Problem:
    """A benchmark problem.

    Attributes:
        name: the registry name (``"quadratic_deep"``).
        title: one line for tables and plots.
        description: a paragraph for the report: what it is, where it comes from.
        metric: the name of the reported metric: ``"loss"`` or ``"accuracy"``.
        higher_is_better: ``True`` for accuracy, ``False`` for a loss.
        target: the metric value a run must reach (on the validation split) to count as "reached"
            (DeepOBS's speed, AlgoPerf's time-to-target).
        quick: the budget of ``sgdlab compare --quick``.
        full: the budget of ``sgdlab compare --full`` (DeepOBS's where DeepOBS has the problem).
        builder: ``builder(seed) -> Task``.
        tags: free-form labels, e.g. ``("sparse",)``, ``("batch_norm",)``.
    """

    name: str
    title: str
    description: str
    metric: str
    higher_is_better: bool
    target: float
    quick: Budget
    full: Budget
    builder: Callable[[int], Task] = field(repr=False, compare=False)
    tags: tuple[str, ...] = ()

    def build(self, seed: int = 0) -> Task:
        """A fresh :class:`Task` whose model is initialised from ``seed``."""
        return self.builder(seed)

    def budget(self, mode: str) -> Budget:
        """The budget of ``mode`` (``"quick"`` or ``"full"``)."""
        return self.quick if check("mode", mode, Options(*MODES)) == "quick" else self.full

    def reached(self, value: float | None) -> bool:
        """Whether a metric value reaches the target (``None``/NaN never does)."""
        if value is None or value != value:
            return False
        return value >= self.target if self.higher_is_better else value <= self.target
