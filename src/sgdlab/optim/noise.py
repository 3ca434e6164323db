"""Annealed Gaussian gradient noise (Neelakantan et al. 2015), for any optimizer."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.optim import Optimizer

from .._validation import Instance, Real, validate
from ._wrapper import OptimizerWrapper


class GradientNoise(OptimizerWrapper):
    """Wrap an optimizer so that every gradient gets Gaussian noise before each step.

    Neelakantan et al. (2015), "Adding Gradient Noise Improves Learning for Very Deep Networks" (the
    survey, Sec. 6.6): g_t <- g_t + N(0, sigma_t^2) with the annealed variance

        sigma_t^2 = eta / (1 + t)^gamma,      t = 0, 1, 2, ... the step count,

    eta in {0.01, 0.3, 1.0} and gamma = 0.55 in the paper. Works with any ``torch.optim.Optimizer``;
    ``step``, ``zero_grad``, ``param_groups``, ``state`` and ``state_dict`` pass through to it, so lr
    schedulers drive the wrapped optimizer; so do ``train()`` and ``eval()`` where the wrapped
    optimizer has them (Schedule-Free). ``state_dict`` adds the noise step and the generator's state,
    so a resumed run draws the same noise as an uninterrupted one.

    Args:
        optimizer: the optimizer to wrap, a ``torch.optim.Optimizer``.
        eta: the noise scale eta, a finite number >= 0. Default: 0.3.
        gamma: the annealing exponent gamma, a finite number >= 0. Default: 0.55.
        generator: a ``torch.Generator`` for reproducible noise (CPU; the noise is moved to the
            gradients' device), or None (default) for torch's global generator.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.GradientNoise(sgdlab.optim.SGD(model.parameters(), lr=0.1), eta=0.3,
        ...                                  generator=torch.Generator().manual_seed(0))
    """

    STATE_KEY = "gradient_noise"

    @validate(optimizer=Instance(Optimizer, what="a torch.optim.Optimizer"), eta=Real(0), gamma=Real(0),
              generator=(Instance(torch.Generator, what="a torch.Generator"), None))
    def __init__(self, optimizer: Optimizer, eta: float = 0.3, gamma: float = 0.55,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(optimizer)
        self.eta = float(eta)
        self.gamma = float(gamma)
        self.generator = generator
        #: Number of steps taken (the t of sigma_t).
        self.noise_step = 0

    def __getattr__(self, name: str) -> Any:
        # An optimizer with a training and an evaluation point (Schedule-Free) keeps its train() and
        # eval() under the noise, for sgdlab.train.fit and its callers.
        if name in ("train", "eval") and "optimizer" in self.__dict__:
            return getattr(self.optimizer, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def sigma(self, t: int | None = None) -> float:
        """The noise's standard deviation at step ``t`` (default: the next step)."""
        t = self.noise_step if t is None else t
        return math.sqrt(self.eta / (1.0 + t) ** self.gamma)

    @torch.no_grad()
    def add_noise(self) -> None:
        """Add N(0, sigma_t^2) to every gradient; called by :meth:`step`."""
        sigma = self.sigma()
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if g.is_sparse:
                    raise RuntimeError("GradientNoise does not support sparse gradients")
                device = self.generator.device if self.generator is not None else g.device
                noise = torch.randn(g.shape, generator=self.generator, dtype=g.dtype, device=device)
                g.add_(noise.to(g.device), alpha=sigma)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.add_noise()
        self.optimizer.step()
        self.noise_step += 1
        return loss

    def wrapper_state(self) -> dict[str, Any]:
        return {"noise_step": self.noise_step,
                "generator_state": self.generator.get_state() if self.generator is not None else None}

    def load_wrapper_state(self, state: dict[str, Any]) -> None:
        self.noise_step = int(state["noise_step"])
        if self.generator is not None and state["generator_state"] is not None:
            self.generator.set_state(state["generator_state"])

    def __repr__(self) -> str:
        return f"GradientNoise(eta={self.eta}, gamma={self.gamma}, {self.optimizer!r})"
