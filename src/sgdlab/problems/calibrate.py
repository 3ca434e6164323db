"""How the problems' targets were chosen, as a script: ``python -m sgdlab.problems.calibrate``.

For each problem, SGD, Momentum, Adam and Adagrad (the survey's landmarks) are each tuned over the
quick learning-rate grid (1e-4 .. 1, one value per decade) with seed 0 on the quick budget, trained
exactly as ``sgdlab compare`` trains a trial. Each optimizer's tuned run is the one with the best
final validation metric. A tuned run *holds* a level from the middle of the budget on: its worst
validation metric over epochs ceil(E / 2) .. E. The suggested target is the best level held by the
tuned runs, rounded towards the easier side (down to a multiple of 0.005 for an accuracy, up to three
significant digits for a loss): the best tuned optimizer has reached it by the middle of the budget
and stays there, the others reach it later or not at all, so the target is neither trivial nor
unreachable in the quick budget (and a single lucky epoch of a noisy curve does not set it).

The script prints, per problem, the suggested target, the current one, and for each optimizer its
tuned learning rate, final metric and the first epoch at which it reaches the current target, with
seed 0 and again with seed 1 (the rerun ``sgdlab compare --quick`` makes).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Iterable, Sequence

import torch

from .. import optim
from ..train import fit
from ..train.loop import evaluate
from . import PROBLEMS, get
from .base import Problem

CALIBRATION_OPTIMIZERS = ("sgd", "momentum", "adam", "adagrad")
CALIBRATION_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def run_curve(problem: Problem, optimizer: str, lr: float, seed: int = 0, mode: str = "quick"
              ) -> tuple[list[float] | None, float]:
    """(validation metric after every epoch, or None if the run diverged; seconds taken) of one
    trial, trained as ``sgdlab compare`` trains it (the metric is the loss where the problem has no
    metric function)."""
    started = time.perf_counter()
    budget = problem.budget(mode)
    torch.manual_seed(seed)
    task = problem.build(seed)
    opt = optim.create(optimizer, task.model.parameters(), lr=lr)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hist = fit(task.model, task.loss_fn, task.train, optimizer=opt, epochs=budget.epochs,
                       batch_size=budget.batch_size, val=task.val, metric=task.metric_fn, seed=seed,
                       progress=False)
            evaluate(task.model, task.loss_fn, task.test, task.metric_fn)
    except FloatingPointError:
        return None, time.perf_counter() - started
    curve = [r["val_metric"] if r["val_metric"] is not None else r["val_loss"] for r in hist.records]
    if not all(math.isfinite(v) for v in curve):
        return None, time.perf_counter() - started
    return curve, time.perf_counter() - started


def first_epoch_reaching(problem: Problem, curve: Sequence[float] | None) -> int | None:
    """The first epoch (from 1) whose validation metric reaches the problem's target, or None."""
    for epoch, value in enumerate(curve or (), start=1):
        if problem.reached(value):
            return epoch
    return None


def held_level(curve: Sequence[float], higher_is_better: bool) -> float:
    """The level a run holds from the middle of its budget on: its worst value over epochs
    ceil(E / 2) .. E.

    >>> held_level([0.5, 0.8, 0.9, 0.85, 0.95], higher_is_better=True)  # epochs 3..5
    0.85
    """
    tail = curve[math.ceil(len(curve) / 2) - 1:]
    return min(tail) if higher_is_better else max(tail)


def suggest_target(problem: Problem, tuned: dict[str, list[float] | None]) -> float:
    """The best level held by the tuned runs (:func:`held_level`), rounded towards the easier side."""
    values = [held_level(curve, problem.higher_is_better) for curve in tuned.values() if curve is not None]
    if not values:
        raise ValueError(f"every calibration run of {problem.name} diverged")
    if problem.higher_is_better:
        return round(math.floor(max(values) / 0.005 + 1e-9) * 0.005, 3)
    best = min(values)
    scale = 10 ** (math.floor(math.log10(abs(best))) - 2) if best else 1.0
    return float(f"{math.ceil(best / scale - 1e-9) * scale:.3g}")


def calibrate(name: str, optimizers: Sequence[str] = CALIBRATION_OPTIMIZERS,
              grid: Sequence[float] = CALIBRATION_GRID) -> dict:
    """Tune each optimizer on ``name``; return the tuned runs and the suggested target."""
    problem = get(name)
    runs, seconds = [], []
    for opt in optimizers:
        for lr in grid:
            curve, took = run_curve(problem, opt, lr)
            runs.append((opt, lr, curve))
            seconds.append(took)
    tuned, lrs = tune(problem, runs)
    return {"problem": problem, "tuned": tuned, "lrs": lrs, "target": suggest_target(problem, tuned),
            "mean_seconds": sum(seconds) / len(seconds)}


def tune(problem: Problem, runs: Iterable[tuple[str, float, Sequence[float] | None]]
         ) -> tuple[dict[str, list[float] | None], dict[str, float | None]]:
    """Each optimizer's tuned run among ``runs`` of (optimizer, learning rate, validation curve or
    ``None`` for a diverged run): the one with the best final validation metric (on a tie, the first
    in ``runs``). Returns the tuned curves and learning rates by optimizer (``None`` where every run
    diverged).

    >>> from sgdlab.problems import get
    >>> tune(get("digits_mlp"), [("sgd", 0.1, [0.5, 0.9]), ("sgd", 1.0, None), ("adam", 0.01, [0.7, 0.8])])
    ({'sgd': [0.5, 0.9], 'adam': [0.7, 0.8]}, {'sgd': 0.1, 'adam': 0.01})
    """
    sign = 1.0 if problem.higher_is_better else -1.0
    best: dict[str, tuple[float, float | None, list[float] | None]] = {}
    for opt, lr, curve in runs:
        score = sign * curve[-1] if curve else -math.inf
        if opt not in best or score > best[opt][0]:
            best[opt] = (score, lr if curve else None, list(curve) if curve else None)
    return {o: b[2] for o, b in best.items()}, {o: b[1] for o, b in best.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("problems", nargs="*", default=list(PROBLEMS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for name in args.problems:
        result = calibrate(name)
        problem = result["problem"]
        print(f"{name}: suggested target {result['target']:.6g} (current {problem.target:.6g}), "
              f"mean trial {result['mean_seconds']:.2f} s")
        for opt, curve in result["tuned"].items():
            final = "diverged" if curve is None else f"{curve[-1]:.4g}"
            lr = result["lrs"][opt]
            again = run_curve(problem, opt, lr, seed=1)[0] if lr is not None else None
            print(f"  {opt:9s} lr {lr!s:7s} final {final:9s} reaches the current target at epoch "
                  f"{first_epoch_reaching(problem, curve)} (seed 1: {first_epoch_reaching(problem, again)}); "
                  f"curve {[float(f'{v:.4g}') for v in curve or ()]}")


if __name__ == "__main__":
    main()
