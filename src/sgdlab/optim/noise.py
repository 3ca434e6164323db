"""Annealed Gaussian gradient noise (Neelakantan et al. 2015), for any optimizer."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.optim import Optimizer

from .._validation import Instance, Real, validate


class GradientNoise(Optimizer):
    """Wrap an optimizer so that every gradient gets Gaussian noise before each step.

    Neelakantan et al. (2015), "Adding Gradient Noise Improves Learning for Very Deep Networks" (the
    survey, Sec. 6.6): g_t <- g_t + N(0, sigma_t^2) with the annealed variance

        sigma_t^2 = eta / (1 + t)^gamma,      t = 0, 1, 2, ... the step count,

    eta in {0.01, 0.3, 1.0} and gamma = 0.55 in the paper. Works with any ``torch.optim.Optimizer``;
    ``step``, ``zero_grad``, ``param_groups``, ``state`` and ``state_dict`` pass through to it, so lr
    schedulers drive the wrapped optimizer. ``state_dict`` adds the noise step and the generator's
    state, so a resumed run draws the same noise as an uninterrupted one.

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

    @validate(optimizer=Instance(Optimizer, what="a torch.optim.Optimizer"), eta=Real(0), gamma=Real(0),
              generator=(Instance(torch.Generator, what="a torch.Generator"), None))
    def __init__(self, optimizer: Optimizer, eta: float = 0.3, gamma: float = 0.55,
                 generator: torch.Generator | None = None) -> None:
        # Optimizer.__init__ sets up hooks (with a placeholder group); the groups and the state are
        # then the wrapped optimizer's own.
        super().__init__([{"params": []}], {})
        self.optimizer = optimizer
        self.eta = float(eta)
        self.gamma = float(gamma)
        self.generator = generator
        #: Number of steps taken (the t of sigma_t).
        self.noise_step = 0
        self.param_groups = optimizer.param_groups
        self.state = optimizer.state
        self.defaults = optimizer.defaults

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

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if "optimizer" not in self.__dict__:  # the placeholder group of Optimizer.__init__
            return super().add_param_group(param_group)
        self.optimizer.add_param_group(param_group)

    def state_dict(self) -> dict[str, Any]:
        sd = self.optimizer.state_dict()
        sd["gradient_noise"] = {
            "noise_step": self.noise_step,
            "generator_state": self.generator.get_state() if self.generator is not None else None,
        }
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        noise = state_dict.pop("gradient_noise", None)
        self.optimizer.load_state_dict(state_dict)
        if noise is not None:
            self.noise_step = int(noise["noise_step"])
            if self.generator is not None and noise["generator_state"] is not None:
                self.generator.set_state(noise["generator_state"])

    def __repr__(self) -> str:
        return f"GradientNoise(eta={self.eta}, gamma={self.gamma}, {self.optimizer!r})"
