"""Curriculum learning: the order of the examples from easy to hard (the survey, Sec. 6.1).

Bengio, Louradour, Collobert & Weston (2009), "Curriculum learning", train on a distribution that
starts with the easy examples and widens to the hard ones. Zaremba & Sutskever (2014), "Learning to
Execute", compare three ways of doing so, and find the naive one worse than the two that keep some
examples of every difficulty in view:

* naive: only the examples up to the current difficulty, easiest first;
* mixed: every example's difficulty is drawn uniformly from the levels reached so far;
* combined: half naive, half drawn with a difficulty uniform over *all* levels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._validation import ArgumentTypeError, ArgumentValueError, Int, Options, check, validate

STRATEGIES = ("naive", "mixed", "combined")


class Curriculum:
    """The examples of each epoch, from easy to hard, for :func:`sgdlab.train.fit`'s ``curriculum``.

    The examples are binned into ``stages`` difficulty levels 1..stages by the quantiles of their
    difficulty score (level L holds the scores above the (L-1)/stages quantile and up to the
    L/stages quantile; equal scores share a level, so with many ties a level can be empty). The
    ``epochs`` of training are split evenly into the stages: epoch ``e`` (counted from 0) of ``E``
    is in stage ``s = min(stages, 1 + e * stages // E)``. At stage ``s`` an epoch is:

    * ``"naive"``: every example of levels <= s once, sorted by increasing difficulty score (ties
      in random order); so the early epochs are shorter than the data set.
    * ``"mixed"``: ``n`` example slots; each draws a level uniformly from the non-empty levels in
      1..s, then an example of that level uniformly (with replacement).
    * ``"combined"``: ``n // 2`` slots drawn uniformly (with replacement) from the naive pool (the
      examples of levels <= s) and the other ``n - n // 2`` as in "mixed" but over all levels,
      randomly interleaved.

    ``fit`` batches the returned indices in their order (it does not shuffle them).

    Args:
        difficulty: a score per example (higher is harder): an array-like or tensor of length n, or
            a callable computing it once from the training data: ``difficulty(X, y)`` for ``(X, y)``
            data, ``difficulty(dataset)`` for a Dataset.
        strategy: ``"naive"`` (default), ``"mixed"`` or ``"combined"``.
        stages: the number of difficulty levels and of training stages, >= 1.

    Example:
        >>> import numpy as np
        >>> from sgdlab.train import Curriculum
        >>> cur = Curriculum(np.arange(10.0)[::-1], strategy="naive", stages=5)
        >>> cur.levels.tolist()                 # example 9 is the easiest
        [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
        >>> rng = np.random.default_rng(0)
        >>> cur.order(0, 10, 10, rng).tolist()   # stage 1: level 1 only, easiest first
        [9, 8]
        >>> cur.order(9, 10, 10, rng).tolist()   # stage 5: everything
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    """

    @validate(strategy=Options(*STRATEGIES), stages=Int(1))
    def __init__(self, difficulty: Any, strategy: str = "naive", stages: int = 5) -> None:
        self.strategy = strategy
        self.stages = stages
        self.difficulty: Callable[..., Any] | None = difficulty if callable(difficulty) else None
        self.scores: np.ndarray | None = None
        self.levels: np.ndarray | None = None
        if self.difficulty is None:
            self._set_scores(difficulty)

    # ---- the difficulty levels --------------------------------------------------------------------

    def _set_scores(self, scores: Any) -> None:
        if isinstance(scores, torch.Tensor):
            scores = scores.detach().cpu().numpy()
        try:
            scores = np.asarray(scores, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ArgumentTypeError(f"Invalid difficulty: {e} (expected a callable, or one number per "
                                    "example)") from None
        if scores.ndim != 1 or scores.size == 0:
            raise ArgumentValueError(f"Invalid difficulty: scores of shape {scores.shape} (expected a 1-D "
                                     "array with one score per example)")
        if not np.isfinite(scores).all():
            raise ArgumentValueError(f"Invalid difficulty: {int((~np.isfinite(scores)).sum())} scores are "
                                     "not finite (expected finite scores)")
        edges = np.quantile(scores, np.arange(1, self.stages) / self.stages)
        self.scores = scores
        # The number of edges strictly below a score: a score on an edge stays in the lower level, so
        # level 1 always holds the easiest example and equal scores never straddle two levels.
        self.levels = 1 + np.searchsorted(edges, scores, side="left")
        self._members = [np.flatnonzero(self.levels == level) for level in range(1, self.stages + 1)]

    def bind(self, *data: Any) -> Curriculum:
        """Compute the scores from the training data if ``difficulty`` is a callable (``fit`` calls
        this with ``(X, y)`` or ``(dataset,)``), and check there is one per example."""
        if self.difficulty is not None:
            self._set_scores(self.difficulty(*data))
        n = _length(data)
        if n is not None:
            self._check_count(n)
        return self

    def _check_count(self, n: int) -> None:
        if len(self.scores) != n:
            raise ArgumentValueError(f"Invalid difficulty: {len(self.scores)} scores (expected one per "
                                     f"training example: {n})")

    def stage(self, epoch: int, epochs: int) -> int:
        """The stage (1..stages) of ``epoch`` (counted from 0) of ``epochs``."""
        epochs = check("epochs", epochs, Int(1))
        epoch = check("epoch", epoch, Int(0, epochs - 1))
        return min(self.stages, 1 + epoch * self.stages // epochs)

    # ---- the order of an epoch --------------------------------------------------------------------

    def order(self, epoch: int, epochs: int, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """The indices of the examples of ``epoch`` (counted from 0) of ``epochs``, for ``n``
        training examples, in training order, drawn with ``rng`` (a ``numpy.random.Generator``)."""
        if self.scores is None:
            raise RuntimeError("the difficulty callable has not been evaluated yet: call "
                               "bind(X, y) (or bind(dataset)) first; fit does")
        self._check_count(n)
        rng = np.random.default_rng() if rng is None else rng
        s = self.stage(epoch, epochs)
        if self.strategy == "naive":
            return self._naive(s, rng)
        if self.strategy == "mixed":
            return self._mixed(n, s, rng)
        pool = np.flatnonzero(self.levels <= s)
        n_naive = n // 2
        out = np.concatenate([pool[rng.integers(0, len(pool), size=n_naive)],
                              self._mixed(n - n_naive, self.stages, rng)])
        return out[rng.permutation(n)]

    def _naive(self, s: int, rng: np.random.Generator) -> np.ndarray:
        # Shuffle first, then a stable sort: equal scores end up in random order.
        pool = rng.permutation(np.flatnonzero(self.levels <= s))
        return pool[np.argsort(self.scores[pool], kind="stable")]

    def _mixed(self, n: int, max_level: int, rng: np.random.Generator) -> np.ndarray:
        allowed = [level for level in range(1, max_level + 1) if len(self._members[level - 1])]
        slot_levels = rng.choice(np.asarray(allowed), size=n)
        out = np.empty(n, dtype=np.int64)
        for level in allowed:
            slots = np.flatnonzero(slot_levels == level)
            members = self._members[level - 1]
            out[slots] = members[rng.integers(0, len(members), size=len(slots))]
        return out

    def __repr__(self) -> str:
        return f"Curriculum(strategy={self.strategy!r}, stages={self.stages})"


def _length(data: tuple[Any, ...]) -> int | None:
    if not data:
        return None
    first = data[0]
    if hasattr(first, "shape"):
        return int(first.shape[0])
    try:
        return len(first)
    except TypeError:
        return None
