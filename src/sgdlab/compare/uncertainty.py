"""How sure ``sgdlab compare`` is: bootstrap intervals over seeds, and over problems for the overall score.

A comparison repeats every optimizer on every problem a few times: the studies of ``--tuning
external``, the runs of ``--tuning defaults``, the seeds of ``--tuning lr-grid``. Call each repetition
a *seed* (study ``s`` trains from seed ``s``, for every optimizer alike). The bootstrap (Efron 1979)
asks how much a number would move had other seeds been drawn:

* **per problem** :func:`pair_draws`: draw as many seeds as there are, with replacement, the *same*
  draw for every optimizer (their seed-``s`` runs share the initialisation and the data order, so
  they are compared pairwise), and recompute each optimizer's median time to target and mean final
  metric;
* **overall** :func:`overall_draws`: draw as many problems as there are, with replacement, and on
  each drawn problem its seeds as above; recompute the times, AlgoPerf's scores and the speed-ups
  over the baseline from them.

:data:`DRAWS` draws from a generator with a fixed seed (:data:`SEED`), so the same records give the
same intervals; :func:`interval` is the percentile interval (90% by default: from the 5th to the
95th percentile of the draws, taken as values of the draws, ``method="inverted_cdf"``, so that an
``inf`` time stays ``inf`` rather than turning into NaN).

With 3 seeds a seed draw has only 10 distinct outcomes, so the per-problem intervals are coarse:
they say whether the seeds agree, not more. The overall interval also moves with the problems,
which is what "would the verdict hold on other problems like these?" asks.

>>> import numpy as np
>>> steps = np.array([[10.0, 12.0, 11.0], [30.0, 28.0, np.inf]])  # 2 optimizers x 3 seeds
>>> medians, means = pair_draws(steps, np.zeros_like(steps), draws=200, seed=0)
>>> interval(medians[0]), interval(medians[1])
((10.0, 12.0), (28.0, inf))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .scoring import R_MAX, scores, speedups

#: Bootstrap draws, the generator's seed, and the interval's coverage.
DRAWS = 1000
SEED = 20261202
CONFIDENCE = 0.9


def interval(draws: np.ndarray | Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile interval of ``draws`` (NaNs left out; ``(nan, nan)`` when nothing is left)."""
    values = np.asarray(draws, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (math.nan, math.nan)
    lo, hi = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2], method="inverted_cdf")
    return (float(lo), float(hi))


def _medians(times: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Median over the drawn seeds ``idx`` (draws x seeds) of ``times`` (optimizers x seeds):
    (optimizers x draws); ``inf`` (never) counts as the slowest."""
    return np.median(times[:, idx], axis=-1)


def _means(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mean over the drawn seeds of ``values`` (NaN: no finished run) leaving NaNs out."""
    drawn = values[:, idx]
    count = np.sum(~np.isnan(drawn), axis=-1)
    total = np.nansum(drawn, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), math.nan)


def pair_draws(times: np.ndarray, metric: np.ndarray, *, draws: int = DRAWS, seed: int = SEED
               ) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap over the seeds of one problem: ``times`` and ``metric`` are (optimizers x seeds)
    (``inf``: never reached; NaN: no finished run). Returns the median times and the mean metrics,
    each (optimizers x draws), every draw taking the same seeds for every optimizer."""
    times, metric = np.asarray(times, dtype=float), np.asarray(metric, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, times.shape[1], size=(draws, times.shape[1]))
    return _medians(times, idx), _means(metric, idx)


def overall_draws(times: Sequence[np.ndarray], budgets: Sequence[float], baseline: int | None, *,
                  r_max: float = R_MAX, draws: int = DRAWS, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap over problems and seeds: ``times[p]`` is (optimizers x seeds) of problem p,
    ``budgets[p]`` its step budget (for the speed-ups). Returns the scores and the speed-ups over the
    optimizer ``baseline`` (NaN without one), each (optimizers x draws). Each draw takes n problems
    with replacement and, for each of them, its own draw of the problem's seeds."""
    n = len(times)
    k = times[0].shape[0] if n else 0
    if n == 0:
        return np.zeros((k, draws)), np.full((k, draws), math.nan)
    rng = np.random.default_rng(seed)
    problems = rng.integers(0, n, size=(draws, n))
    # per problem, a median time for every (draw, slot), from its own draw of the seeds
    medians = np.empty((n, draws, n, k))
    for p, t in enumerate(times):
        idx = rng.integers(0, t.shape[1], size=(draws * n, t.shape[1]))
        medians[p] = _medians(t, idx).T.reshape(draws, n, k)
    slot = np.arange(n)
    drawn = medians[problems, np.arange(draws)[:, None], slot[None, :]]  # (draws, n, k)
    out_scores = scores(drawn, r_max).T
    out_speedups = np.full((k, draws), math.nan)
    if baseline is not None:
        out_speedups = speedups(drawn, np.asarray(budgets, dtype=float)[problems], baseline).T
    return out_scores, out_speedups


def separated(winner: tuple[float, float], runner_up: tuple[float, float], higher_is_better: bool) -> bool:
    """Whether the winner's interval lies wholly on the better side of the runner-up's."""
    if any(math.isnan(v) for v in (*winner, *runner_up)):
        return False
    return winner[0] > runner_up[1] if higher_is_better else winner[1] < runner_up[0]
