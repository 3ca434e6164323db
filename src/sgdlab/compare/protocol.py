"""The tuning protocol of ``sgdlab compare``, after DeepOBS (Schneider et al. 2019).

Per optimizer x problem:

1. **Tune**: one trial per learning rate of a log grid (DeepOBS: 36 values from 1e-5 to 1e2), seed 0,
   trained for the problem's budget and judged by the final validation metric.
2. **Select**: the learning rate with the best final validation metric; a diverged or failed trial
   is worse than any finished one; ties go to the smaller learning rate.
3. **Rerun**: the selected learning rate with seeds 1 .. N-1 (seed 0 is the tuning trial itself),
   so the reported mean +- std is over N seeds.

A trial is identified by :class:`TrialSpec`; its :attr:`~TrialSpec.key` is what the store keys on, so
that a trial is run once whatever the run that asked for it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .._validation import Options, check
from ..problems.base import MODES

#: DeepOBS's learning-rate grid: 36 log-spaced values from 1e-5 to 1e2 (``--full``).
FULL_GRID: tuple[float, ...] = tuple(float(f"{x:.6g}") for x in np.logspace(-5, 2, 36))
#: The quick grid: one value per decade from 1e-4 to 1.
QUICK_GRID: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: Seeds per (optimizer, problem) at the selected learning rate.
QUICK_SEEDS = 2
FULL_SEEDS = 10


def grid(mode: str) -> tuple[float, ...]:
    """The learning-rate grid of ``mode`` (``"quick"`` or ``"full"``)."""
    return QUICK_GRID if check("mode", mode, Options(*MODES)) == "quick" else FULL_GRID


def default_seeds(mode: str) -> int:
    """Seeds per optimizer x problem in ``mode``."""
    return QUICK_SEEDS if check("mode", mode, Options(*MODES)) == "quick" else FULL_SEEDS


@dataclass(frozen=True)
class TrialSpec:
    """One training run: ``optimizer`` (an ``sgdlab.optim`` name, its ``convention``'s defaults
    except the learning rate) on ``problem`` with ``seed`` for ``epochs`` epochs of ``batch_size``."""

    problem: str
    optimizer: str
    lr: float
    seed: int
    epochs: int
    batch_size: int | None
    convention: str = "paper"

    @property
    def key(self) -> str:
        """A stable identity: the same trial asked for by different runs has the same key."""
        ident = asdict(self)
        ident["lr"] = float(f"{self.lr:.10g}")
        text = json.dumps(ident, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def tuning_specs(problem: str, optimizer: str, lrs: Sequence[float], epochs: int,
                 batch_size: int | None, convention: str = "paper") -> list[TrialSpec]:
    """The tuning trials of one optimizer x problem: every learning rate, seed 0."""
    return [TrialSpec(problem, optimizer, float(lr), 0, epochs, batch_size, convention) for lr in lrs]


def rerun_specs(best: TrialSpec, seeds: int) -> list[TrialSpec]:
    """The trials at the selected learning rate with seeds 1 .. ``seeds``-1."""
    return [TrialSpec(best.problem, best.optimizer, best.lr, s, best.epochs, best.batch_size,
                      best.convention) for s in range(1, seeds)]


def _score(record: Mapping[str, Any], higher_is_better: bool) -> float:
    """A number to maximise: the final validation metric, sign-adjusted; -inf when not finished."""
    value = record.get("final_val_metric")
    if record.get("status") != "ok" or value is None or not math.isfinite(value):
        return -math.inf
    return value if higher_is_better else -value


def select_best(records: Iterable[Mapping[str, Any]], higher_is_better: bool) -> Mapping[str, Any] | None:
    """The tuning record with the best final validation metric (ties: the smaller learning rate);
    ``None`` when there are none. Records that diverged or failed rank below every finished one;
    when all did, the smallest learning rate is returned (the least likely to diverge on a rerun)."""
    records = [r for r in records if r.get("seed") == 0]
    if not records:
        return None
    return max(sorted(records, key=lambda r: r["lr"]), key=lambda r: _score(r, higher_is_better))
