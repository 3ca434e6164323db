"""Lookahead (Zhang, Lucas, Hinton & Ba 2019): k steps forward, one step back, for any optimizer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from .._validation import Instance, Int, Real, argument_error, validate
from ._wrapper import OptimizerWrapper


class Lookahead(OptimizerWrapper):
    """Wrap an optimizer: its k steps explore ahead (the fast weights theta), then the slow weights
    phi move a fraction alpha of the way to where they got, and the fast weights restart from there.

    Zhang et al.'s Algorithm 1, for the inner optimizer A (any ``torch.optim.Optimizer``; its state
    is kept across the synchronisations, as in the paper's experiments)::

        theta_{t,0} = phi_{t-1}
        theta_{t,i} = theta_{t,i-1} + A(L, theta_{t,i-1}, d)      i = 1..k
        phi_t = phi_{t-1} + alpha (theta_{t,k} - phi_{t-1})
        return phi

    The slow weights are the answer: ``optimizer.eval()`` puts the parameters at phi (keeping the
    fast weights aside) and ``optimizer.train()`` puts them back, as for Schedule-Free;
    ``sgdlab.train.fit`` calls both. ``step``, ``zero_grad``, ``param_groups``, ``state`` pass
    through to the wrapped optimizer, so lr schedulers drive it; ``state_dict`` adds the step count
    and the slow weights, so a resumed run continues as an uninterrupted one. The slow weights start
    as the parameters at the first step.

    Args:
        optimizer: the optimizer to wrap (sgdlab's or torch.optim's), one without an evaluation point
            of its own (not Schedule-Free).
        k: the synchronisation period, an int >= 1. Default: 5 (the paper's).
        alpha: the slow weights' step size, a number in [0, 1]. Default: 0.5 (the paper's).

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.Lookahead(sgdlab.optim.Adam(model.parameters(), lr=1e-3), k=5, alpha=0.5)
        >>> opt.eval()     # before evaluating: the parameters at the slow weights phi
        >>> opt.train()    # before training again: back at the fast weights
    """

    STATE_KEY = "lookahead"

    @validate(optimizer=Instance(Optimizer, what="a torch.optim.Optimizer"), k=Int(1), alpha=Real(0, 1))
    def __init__(self, optimizer: Optimizer, k: int = 5, alpha: float = 0.5) -> None:
        if callable(getattr(optimizer, "eval", None)):
            raise argument_error("optimizer", type(optimizer).__name__,
                                 "an optimizer without an evaluation point of its own (Lookahead's is its slow "
                                 "weights; Schedule-Free has its average x)")
        super().__init__(optimizer)
        self.k = int(k)
        self.alpha = float(alpha)
        #: Steps taken (a synchronisation after every k-th).
        self.lookahead_step = 0
        self.slow: dict[Tensor, Tensor] = {}
        self._fast: list[Tensor] | None = None  # in eval mode: the fast weights, set aside

    def _params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def _slow_weights(self) -> list[Tensor]:
        """phi for every parameter, created from the parameter where missing (the first step, a new
        param group) or moved to where the parameter now is."""
        slows = []
        for p in self._params():
            phi = self.slow.get(p)
            if phi is None:
                phi = self.slow[p] = p.detach().clone()
            elif phi.device != p.device or phi.dtype != p.dtype:
                phi = self.slow[p] = phi.to(p)
            slows.append(phi)
        return slows

    @property
    def training(self) -> bool:
        """True in train mode (the parameters at the fast weights), False in eval mode (at phi)."""
        return self._fast is None

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        if not self.training:
            raise RuntimeError("Lookahead.step() in eval mode: the parameters are at the slow weights. Call "
                               "optimizer.train() before training (and optimizer.eval() before evaluating).")
        self._slow_weights()
        loss = self.optimizer.step(closure)
        self.lookahead_step += 1
        if self.lookahead_step % self.k == 0:
            self.synchronize()
        return loss

    @torch.no_grad()
    def synchronize(self) -> None:
        """The outer update: phi <- phi + alpha (theta - phi), then theta <- phi (called by
        :meth:`step` after every k-th step)."""
        params = [p.detach() for p in self._params()]
        slows = self._slow_weights()
        if params:
            torch._foreach_lerp_(slows, params, self.alpha)
            torch._foreach_copy_(params, slows)

    @torch.no_grad()
    def eval(self) -> None:
        """Put the parameters at the slow weights phi, the fast ones set aside. Does nothing in eval
        mode."""
        if self._fast is not None:
            return
        params = [p.detach() for p in self._params()]
        slows = self._slow_weights()
        self._fast = [p.clone() for p in params]
        if params:
            torch._foreach_copy_(params, slows)

    @torch.no_grad()
    def train(self) -> None:
        """Put the parameters back at the fast weights. Does nothing in train mode."""
        if self._fast is None:
            return
        params = [p.detach() for p in self._params()]
        if params:
            torch._foreach_copy_(params, self._fast)
        self._fast = None

    def wrapper_state(self) -> dict[str, Any]:
        params = self._params()
        return {"lookahead_step": self.lookahead_step,
                "slow": {i: self.slow[p].clone() for i, p in enumerate(params) if p in self.slow},
                "fast": None if self._fast is None else {i: f.clone() for i, f in enumerate(self._fast)}}

    def load_wrapper_state(self, state: dict[str, Any]) -> None:
        params = self._params()
        self.lookahead_step = int(state["lookahead_step"])
        self.slow = {params[i]: phi.to(params[i]).clone() for i, phi in state["slow"].items()}
        fast = state["fast"]
        self._fast = None if fast is None else [fast[i].to(p).clone() for i, p in enumerate(params)]

    def __repr__(self) -> str:
        return f"Lookahead(k={self.k}, alpha={self.alpha}, {self.optimizer!r})"


__all__ = ["Lookahead"]
