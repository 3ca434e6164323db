"""AlgoPerf's scoring, as its code computes it (``scoring/performance_profile.py`` and
``scoring/compute_speedups.py`` of mlcommons/algorithmic-efficiency).

For problems p and optimizers s with times to target t[p, s] (steps or seconds; ``inf``: never):

1. a time more than ``r_max`` = 4 times the fastest on its problem becomes ``inf``
   (``df[df.apply(lambda x: x > 4 * best_scores, axis=1)] = np.inf``);
2. the performance ratio r[p, s] = t[p, s] / min_s t[p, s];
3. the profile rho_s(tau) = |{p : r[p, s] <= tau}| / n on ``np.linspace(1, r_max, 100)``;
4. the score B_s = ``np.trapezoid(rho_s, taus) / (r_max - 1)``: the trapezoid rule on those 100
   points, normalised by the range (``compute_leaderboard_score(normalize=True)``).

The trapezoid differs from the exact area under the step function rho by up to half a grid step per
jump (0.015 / n per problem): this module keeps AlgoPerf's numbers, not the exact integral.

Speed-up over a baseline (``compute_speedups.py``): per problem the ratio of times with ``inf``
replaced by the budget plus one, then the geometric mean (``scipy.stats.gmean``) over the problems.
AlgoPerf reports t_s / t_baseline (below 1: faster); :func:`speedups` reports its inverse,
t_baseline / t_s (above 1: faster, "1.3x fewer steps").

>>> prof = performance_profile({"a": {"x": 100, "y": 200}, "b": {"x": 300, "y": math.inf}})
>>> prof.ratios.tolist()
[[1.0, 2.0], [1.0, inf]]
>>> {s: round(v, 4) for s, v in prof.scores.items()}
{'x': 1.0, 'y': 0.3359}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import Instance, Real, argument_error, check

#: AlgoPerf's upper integration limit (and plot limit) of the performance profile: an optimizer that
#: needs more than 4x the time of the fastest gets no credit on that problem.
R_MAX = 4.0
#: AlgoPerf evaluates the profile on this many evenly spaced points of [1, r_max].
NUM_POINTS = 100


def taus(r_max: float = R_MAX) -> np.ndarray:
    """The points AlgoPerf evaluates the profile on: ``np.linspace(1, r_max, 100)``."""
    return np.linspace(1.0, r_max, NUM_POINTS)


def ratios(times: np.ndarray, r_max: float = R_MAX) -> np.ndarray:
    """r[..., p, s] of ``times[..., p, s]`` (problems by optimizers; leading axes: a batch of draws),
    ``inf`` where s never reached the target, nobody did, or s took more than ``r_max`` times the
    fastest."""
    t = np.asarray(times, dtype=float)
    best = t.min(axis=-1, initial=math.inf, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(np.isfinite(t) & np.isfinite(best) & (t <= r_max * best), t / best, math.inf)
    return r


def rho(r: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """rho_s(tau) for ratios ``r[..., p, s]``: shape ``(..., optimizers, len(tau))``."""
    r = np.asarray(r, dtype=float)
    tau = np.asarray(tau, dtype=float)
    if r.shape[-2] == 0:
        return np.zeros((*r.shape[:-2], r.shape[-1], len(tau)))
    return (r[..., None] <= tau).sum(axis=-3) / r.shape[-2]


def scores(times: np.ndarray, r_max: float = R_MAX) -> np.ndarray:
    """AlgoPerf's score of each optimizer (last axis) of ``times[..., p, s]``."""
    grid = taus(r_max)
    return np.trapezoid(rho(ratios(times, r_max), grid), grid, axis=-1) / (r_max - 1.0)


@dataclass(frozen=True)
class PerformanceProfile:
    """AlgoPerf's performance profile of ``times[p, s]`` (time to target; ``inf``: never).

    ``ratios[p, s]`` as :func:`ratios`; :meth:`rho` and :attr:`scores` as AlgoPerf computes them.
    """

    problems: tuple[str, ...]
    optimizers: tuple[str, ...]
    times: np.ndarray
    ratios: np.ndarray
    r_max: float = R_MAX

    def rho(self, tau: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """rho_s(tau): the fraction of problems on which ``s`` is within a factor ``tau`` of the
        fastest; shape ``(len(optimizers),)`` for a scalar ``tau``, else ``(len(optimizers), len(tau))``."""
        t = np.asarray(tau, dtype=float)
        out = rho(self.ratios, t.reshape(-1))
        return out[:, 0] if t.ndim == 0 else out

    @property
    def scores(self) -> dict[str, float]:
        """B_s: the trapezoid of rho_s on ``np.linspace(1, r_max, 100)``, divided by ``r_max - 1``."""
        values = scores(self.times, self.r_max) if self.problems else np.zeros(len(self.optimizers))
        return {s: float(v) for s, v in zip(self.optimizers, values)}

    def reached(self) -> dict[str, int]:
        """Per optimizer, on how many problems it reached the target at all."""
        return {s: int(np.isfinite(self.times[:, j]).sum()) for j, s in enumerate(self.optimizers)}


def performance_profile(times: Mapping[str, Mapping[str, float]], r_max: float = R_MAX,
                        optimizers: Sequence[str] | None = None) -> PerformanceProfile:
    """The performance profile of ``times[problem][optimizer]`` (time to target; ``inf``: never).

    An optimizer missing on a problem counts as never reaching its target. ``r_max`` is AlgoPerf's
    upper integration limit (4).
    """
    r_max = check("r_max", r_max, Real(1, closed="neither"))
    check("times", times, Instance(Mapping, what="a dict {problem: {optimizer: time}}"))
    problems = tuple(times)
    names = list(optimizers) if optimizers is not None else sorted({s for p in times.values() for s in p})
    t = np.full((len(problems), len(names)), math.inf)
    for i, p in enumerate(problems):
        for s, value in times[p].items():
            if s not in names:
                raise argument_error(f"times[{p!r}]", {s: value}, f"times of the optimizers {names}")
            value = float(value)
            if math.isnan(value) or value <= 0:
                raise argument_error(f"times[{p!r}][{s!r}]", value, "a positive number, or inf for never")
            t[i, names.index(s)] = value
    return PerformanceProfile(problems, tuple(names), t, ratios(t, r_max), float(r_max))


def speedups(times: np.ndarray, budgets: np.ndarray, baseline: int) -> np.ndarray:
    """Each optimizer's geometric-mean speed-up over column ``baseline`` of ``times[..., p, s]``:
    gmean over p of t[p, baseline] / t[p, s], every ``inf`` replaced by ``budgets[..., p] + 1``
    (AlgoPerf's ``compute_speedups.py``). NaN without problems."""
    from scipy.stats import gmean

    t = np.asarray(times, dtype=float)
    if t.shape[-2] == 0:
        return np.full(t.shape[:-2] + t.shape[-1:], math.nan)
    filled = np.where(np.isfinite(t), t, np.asarray(budgets, dtype=float)[..., None] + 1.0)
    return gmean(filled[..., [baseline]] / filled, axis=-2)
