"""Learning-rate annealing the survey cites that ``torch.optim.lr_scheduler`` lacks.

The survey (Sec. 3, "Challenges") describes annealing "according to a pre-defined schedule or when the
change in objective between epochs falls below a threshold", citing Robbins & Monro (1951) and Darken,
Chang & Moody (1992). The threshold kind is torch's ``ReduceLROnPlateau`` (``fit`` gives it the
validation loss); the pre-defined 1/t kinds are here:

* :class:`InverseTimeDecay`: eta_t = eta_0 / (1 + k t), the Robbins-Monro rate (sum eta_t = inf,
  sum eta_t^2 < inf).
* :class:`SearchThenConverge`: eta_t = eta_0 / (1 + t / tau), Darken & Moody's "search then
  converge" schedule.

Both are ``torch.optim.lr_scheduler.LRScheduler`` subclasses: ``step()``, ``get_last_lr()``,
``state_dict()`` / ``load_state_dict()`` and ``last_epoch`` behave as for torch's own schedulers. ``t``
counts ``step()`` calls: ``fit`` steps once per epoch; step one yourself per update (e.g. from a
callback's ``on_batch_end``) for a per-update schedule. Their ``step`` is *chainable* (each multiplies
the current rate by eta_t / eta_{t-1}, as ``ExponentialLR`` does), so they compose with other
schedulers in ``ChainedScheduler``.

>>> import torch, sgdlab
>>> model = torch.nn.Linear(2, 1)
>>> opt = sgdlab.optim.SGD(model.parameters(), lr=0.1)
>>> sched = sgdlab.train.SearchThenConverge(opt, tau=4)
>>> for _ in range(4):
...     opt.step(); sched.step()
>>> round(sched.get_last_lr()[0], 6)    # 0.1 / (1 + 4 / 4)
0.05
"""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from .._validation import Int, Real, validate

__all__ = ["InverseTimeDecay", "SearchThenConverge"]


class _HyperbolicDecay(LRScheduler):
    """eta_t = eta_0 / (1 + rate * t), for ``rate = self._rate()``."""

    def _rate(self) -> float:
        raise NotImplementedError

    def _factor(self, t: int) -> float:
        return 1.0 / (1.0 + self._rate() * t)

    def get_lr(self) -> list[Any]:
        t = self.last_epoch
        if t <= 0:  # the constructor's initial step: eta_0 itself
            return [group["lr"] for group in self.optimizer.param_groups]
        # Chainable: scale the current rate, so another scheduler's factor (ChainedScheduler) survives.
        ratio = self._factor(t) / self._factor(t - 1)
        return [group["lr"] * ratio for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[Any]:
        # torch calls this for the deprecated step(epoch): jump straight to eta_0 / (1 + rate * t).
        return [base_lr * self._factor(self.last_epoch) for base_lr in self.base_lrs]


class InverseTimeDecay(_HyperbolicDecay):
    """Inverse-time decay: eta_t = eta_0 / (1 + k t).

    The schedule of stochastic approximation (Robbins & Monro 1951, the survey's [1]): for k > 0 the
    rates sum to infinity while their squares do not, which is what SGD's almost-sure convergence
    needs. ``t`` is the number of ``step()`` calls; ``eta_0`` is each param group's rate when the
    scheduler is built (its ``initial_lr``).

    Args:
        optimizer: the optimizer whose param groups' ``lr`` this sets.
        k: the decay rate, >= 0 (0 keeps the rate constant).
        last_epoch: as for every torch scheduler: -1 starts afresh.

    Example:
        >>> import torch, sgdlab
        >>> opt = sgdlab.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=1.0)
        >>> sched = sgdlab.train.InverseTimeDecay(opt, k=0.5)
        >>> lrs = []
        >>> for _ in range(3):
        ...     opt.step(); sched.step(); lrs.append(round(sched.get_last_lr()[0], 6))
        >>> lrs                                  # 1 / (1 + 0.5 t), t = 1, 2, 3
        [0.666667, 0.5, 0.4]
    """

    @validate(k=Real(0), last_epoch=Int(-1))
    def __init__(self, optimizer: Optimizer, k: float, last_epoch: int = -1) -> None:
        self.k = k
        super().__init__(optimizer, last_epoch)

    def _rate(self) -> float:
        return self.k


class SearchThenConverge(_HyperbolicDecay):
    """Darken & Moody's search-then-converge schedule: eta_t = eta_0 / (1 + t / tau).

    Darken, Chang & Moody (1992), "Learning rate schedules for faster stochastic gradient search" (the
    survey's [2]; the schedule is from Darken & Moody 1990/1991), in its simplest form. For t << tau
    the rate stays near eta_0 (*search*: large steps that roam between basins); for t >> tau it
    behaves as c / t with c = eta_0 tau (*converge*: the asymptotically optimal 1/t rate of stochastic
    approximation, provided c is large enough). It is :class:`InverseTimeDecay` with k = 1 / tau,
    parameterised by the search time tau. (The paper also proposes a "rational" variant with a second
    constant; not implemented.)

    Args:
        optimizer: the optimizer whose param groups' ``lr`` this sets.
        tau: the search time, in ``step()`` calls, > 0.
        last_epoch: as for every torch scheduler: -1 starts afresh.

    Example:
        >>> import torch, sgdlab
        >>> opt = sgdlab.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.2)
        >>> sched = sgdlab.train.SearchThenConverge(opt, tau=10)
        >>> for _ in range(30):
        ...     opt.step(); sched.step()
        >>> round(sched.get_last_lr()[0], 6)    # 0.2 / (1 + 30 / 10)
        0.05
    """

    @validate(tau=Real(0, closed="neither"), last_epoch=Int(-1))
    def __init__(self, optimizer: Optimizer, tau: float, last_epoch: int = -1) -> None:
        self.tau = tau
        super().__init__(optimizer, last_epoch)

    def _rate(self) -> float:
        return 1.0 / self.tau
