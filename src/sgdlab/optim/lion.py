"""Lion (Chen et al. 2023): the sign of an interpolated momentum, found by program search.

``lion_update`` is the single source of its math, each line of the paper's Algorithm 2 (in its
symbols) above the line that computes it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._engine import BETAS, LR, WEIGHT_DECAY, FlatOptimizer, _scalar, apply_weight_decay


def lion_update(param: Tensor, grad: Tensor, exp_avg: Tensor, *, lr, beta1, beta2, decay=None,
                weight_decay=0.0) -> None:
    """Lion: every coordinate moves by exactly eta (plus the decay), in the direction of the sign of
    beta1 m + (1 - beta1) g; the momentum m itself is tracked with the slower beta2."""
    # theta_{t-1} <- theta_{t-1} (1 - eta_t lambda)    (decoupled, with theta_{t-1} before the step)
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # c_t = beta1 m_{t-1} + (1 - beta1) g_t    (as m + (1 - beta1) (g_t - m))
    update = exp_avg + (1.0 - beta1) * (grad - exp_avg)
    # theta_t = theta_{t-1} - eta_t sign(c_t)
    param.sub_(lr * torch.sign(update))
    # m_t = beta2 m_{t-1} + (1 - beta2) g_t
    exp_avg.add_((1.0 - beta2) * (grad - exp_avg))


class Lion(FlatOptimizer):
    """Lion: EvoLved Sign Momentum, the optimizer found by symbolic program search.

    The update is a sign, so every coordinate moves by the learning rate: its norm is larger than
    Adam's, and the paper recommends a learning rate 3-10x smaller than AdamW's and a weight decay
    3-10x larger (the product eta lambda, the strength of the decay, staying the same). One state
    buffer (Adam keeps two). Defaults are the authors' code's: eta = 1e-4, betas = (0.9, 0.99),
    lambda = 0. ``weight_decay`` is decoupled: theta <- theta (1 - eta lambda) before each step.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.Lion(model.parameters(), lr=1e-4, weight_decay=1.0)
    """

    paper = ("Chen, Liang, Huang, Real, Wang, Pham, Dong, Luong, Hsieh, Lu & Le 2023, Symbolic Discovery of "
             "Optimization Algorithms (NeurIPS), Algorithm 2")
    equations = """
c_t = beta1 m_{t-1} + (1 - beta1) g_t
theta <- theta - eta (sign(c_t) + lambda theta)
m_t = beta2 m_{t-1} + (1 - beta2) g_t
"""
    ARGS = (LR, BETAS.documented("(beta1, beta2): beta1 interpolates the update c_t, beta2 is the decay rate "
                                 "of the momentum m_t"),
            WEIGHT_DECAY.documented("lambda, the decoupled weight decay: theta <- theta (1 - eta lambda) before "
                                    "each step"))
    DEFAULTS = {"paper": {"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.0}}
    DECAY_MODE = {"paper": "decoupled"}
    kernel = staticmethod(lion_update)

    def state_names(self, group):
        return {"exp_avg": 0.0}

    def hyper(self, group, step, scalars):
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        return {"lr": _scalar(group["lr"]), "beta1": beta1, "beta2": beta2}


__all__ = ["Lion"]
