"""Per-parameter learning rates from the gradients' history: Adagrad, Adadelta, RMSprop.

Each ``*_update`` function is the single source of its algorithm's math, each equation (in the
survey's symbols) above the line that computes it.
"""

from __future__ import annotations

from torch import Tensor

from .._validation import Bool, Real
from ._engine import (DECAY_RATE, EPS, LR, MOMENTUM, WEIGHT_DECAY, Arg, FlatOptimizer, _scalar,
                      apply_weight_decay)


def _rms(x: Tensor, eps, eps_inside: bool) -> Tensor:
    """sqrt(x + eps) (the survey, Keras) or sqrt(x) + eps (torch.optim)."""
    return (x + eps).sqrt() if eps_inside else x.sqrt() + eps


def adagrad_update(param: Tensor, grad: Tensor, sum: Tensor, *, lr, eps, eps_inside: bool,
                   decay=None, weight_decay=0.0) -> None:
    """Adagrad (Duchi et al. 2011), G_t the diagonal of the survey's sum of outer products."""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # G_t = G_{t-1} + g_t^2    (elementwise)
    sum.add_(grad * grad)
    # theta = theta - eta / sqrt(G_t + eps) * g_t    (torch: eta / (sqrt(G_t) + eps) * g_t)
    param.sub_(lr * grad / _rms(sum, eps, eps_inside))


def adadelta_update(param: Tensor, grad: Tensor, square_avg: Tensor, acc_delta: Tensor, *, lr, rho,
                    eps, decay=None, weight_decay=0.0) -> None:
    """Adadelta (Zeiler 2012); ``rho`` is the survey's gamma, ``delta`` holds -Delta theta_t."""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # E[g^2]_t = rho E[g^2]_{t-1} + (1 - rho) g_t^2
    square_avg.mul_(rho).add_((1.0 - rho) * grad * grad)
    # Delta theta_t = - RMS[Delta theta]_{t-1} / RMS[g]_t * g_t,   RMS[y]_t = sqrt(E[y^2]_t + eps),
    # one root for the ratio of roots: sqrt(a + eps) / sqrt(b + eps) = sqrt((a + eps) / (b + eps))
    delta = ((acc_delta + eps) / (square_avg + eps)).sqrt() * grad
    # E[Delta theta^2]_t = rho E[Delta theta^2]_{t-1} + (1 - rho) Delta theta_t^2
    acc_delta.mul_(rho).add_((1.0 - rho) * delta * delta)
    # theta = theta + lr * Delta theta_t    (lr = 1: Zeiler's method, no learning rate)
    param.sub_(lr * delta)


def rmsprop_update(param: Tensor, grad: Tensor, square_avg: Tensor, grad_avg: Tensor | None = None,
                   momentum_buffer: Tensor | None = None, *, lr, alpha, eps, momentum,
                   eps_inside: bool, lr_in_buffer: bool, decay=None, weight_decay=0.0) -> None:
    """RMSprop (Hinton 2012); ``alpha`` is the survey's gamma. ``grad_avg`` (centered) and
    ``momentum_buffer`` (momentum mu) are torch.optim's and Keras's extensions."""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # E[g^2]_t = alpha E[g^2]_{t-1} + (1 - alpha) g_t^2
    square_avg.mul_(alpha).add_((1.0 - alpha) * grad * grad)
    second = square_avg
    if grad_avg is not None:
        # E[g]_t = alpha E[g]_{t-1} + (1 - alpha) g_t, computed as torch.optim does (lerp):
        # E[g] + (1 - alpha) (g_t - E[g]) = alpha E[g] + (1 - alpha) g_t
        grad_avg.add_((1.0 - alpha) * (grad - grad_avg))
        # centered: the variance E[g^2]_t - E[g]_t^2 in place of E[g^2]_t
        second = square_avg - grad_avg * grad_avg
    # sqrt(E[g^2]_t + eps)    (torch: sqrt(E[g^2]_t) + eps)
    denom = _rms(second, eps, eps_inside)
    if momentum_buffer is None:
        # theta = theta - eta / sqrt(E[g^2]_t + eps) * g_t
        param.sub_(lr * grad / denom)
    elif lr_in_buffer:
        # Keras: b_t = mu b_{t-1} + eta g_t / sqrt(E[g^2]_t + eps);   theta = theta - b_t
        momentum_buffer.mul_(momentum).add_(lr * grad / denom)
        param.sub_(momentum_buffer)
    else:
        # torch: b_t = mu b_{t-1} + g_t / (sqrt(E[g^2]_t) + eps);   theta = theta - eta b_t
        momentum_buffer.mul_(momentum).add_(grad / denom)
        param.sub_(lr * momentum_buffer)


class Adagrad(FlatOptimizer):
    """Adagrad: larger updates for infrequent parameters, smaller for frequent ones.

    The survey's form puts eps inside the square root; torch.optim puts it outside (``convention=
    "torch"``), Keras inside with an initial accumulator of 0.1 (``convention="keras"``). Accepts
    sparse gradients (``nn.Embedding(sparse=True)``) and updates only the touched rows, exactly as the
    dense update would.

    Example:
        >>> import torch, sgdlab
        >>> emb = torch.nn.Embedding(1000, 16, sparse=True)
        >>> opt = sgdlab.optim.Adagrad(emb.parameters(), lr=0.1)
    """

    paper = ("Duchi, Hazan & Singer 2011, Adaptive Subgradient Methods for Online Learning and "
             "Stochastic Optimization (JMLR; survey, Sec. 4.3)")
    equations = """
G_t = G_{t-1} + g_t^2                          (elementwise)
theta <- theta - eta / sqrt(G_t + eps) * g_t
"""
    ARGS = (LR,
            Arg("lr_decay", Real(0), "torch.optim's decay of the learning rate, eta_t = eta / (1 + (t - 1) "
                "lr_decay)"),
            WEIGHT_DECAY,
            Arg("initial_accumulator_value", Real(0), "G_0, the starting value of the sum of squares G_t"),
            EPS)
    DEFAULTS = {
        "paper": {"lr": 0.01, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0,
                  "eps": 1e-8},
        "torch": {"lr": 0.01, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0,
                  "eps": 1e-10},
        "keras": {"lr": 0.001, "lr_decay": 0.0, "weight_decay": 0.0,
                  "initial_accumulator_value": 0.1, "eps": 1e-7},
    }
    supports_sparse = True
    kernel = staticmethod(adagrad_update)

    def state_names(self, group):
        return {"sum": _scalar(group["initial_accumulator_value"])}

    def hyper(self, group, step, scalars):
        return {"lr": _scalar(group["lr"]) / (1.0 + (step - 1) * _scalar(group["lr_decay"])),
                "eps": _scalar(group["eps"]), "eps_inside": self.convention != "torch"}


class Adadelta(FlatOptimizer):
    """Adadelta: Adagrad's decaying learning rate fixed with a window of past gradients, and units
    matched with the RMS of past updates, so that no learning rate is needed.

    Zeiler's method has no learning rate; ``lr`` is a multiplier of the update, 1.0 by default (Keras
    defaults to 0.001). All three conventions share the update and differ in defaults only.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.Adadelta(model.parameters())
    """

    paper = "Zeiler 2012, ADADELTA: An Adaptive Learning Rate Method (arXiv:1212.5701; survey, Sec. 4.4)"
    equations = """
E[g^2]_t = rho E[g^2]_{t-1} + (1 - rho) g_t^2
Delta theta_t = - RMS[Delta theta]_{t-1} / RMS[g]_t * g_t,     RMS[y] = sqrt(E[y^2] + eps)
E[Delta theta^2]_t = rho E[Delta theta^2]_{t-1} + (1 - rho) Delta theta_t^2
theta <- theta + lr * Delta theta_t                             (lr = 1: no learning rate)
"""
    ARGS = (LR.documented("a multiplier of the update (1.0 is Zeiler's method, which has no learning rate)"),
            Arg("rho", DECAY_RATE, "the decay rate of the running averages E[g^2] and E[Delta theta^2] (the "
                "survey's gamma)"),
            EPS.documented("the constant in RMS[y] = sqrt(E[y^2] + eps)"),
            WEIGHT_DECAY)
    DEFAULTS = {
        "paper": {"lr": 1.0, "rho": 0.95, "eps": 1e-6, "weight_decay": 0.0},
        "torch": {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0},
        "keras": {"lr": 0.001, "rho": 0.95, "eps": 1e-7, "weight_decay": 0.0},
    }

    kernel = staticmethod(adadelta_update)

    def state_names(self, group):
        return {"square_avg": 0.0, "acc_delta": 0.0}

    def hyper(self, group, step, scalars):
        return {"lr": _scalar(group["lr"]), "rho": _scalar(group["rho"]), "eps": _scalar(group["eps"])}


class RMSprop(FlatOptimizer):
    """RMSprop: divide the learning rate by a running average of the gradients' magnitudes.

    Hinton's lecture (and the survey) suggest alpha = 0.9, eta = 0.001, with eps inside the root as
    Keras; torch.optim puts eps outside and defaults to alpha = 0.99, eta = 0.01. ``momentum`` and
    ``centered`` follow torch.optim and Keras (the survey has neither).

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.RMSprop(model.parameters(), lr=1e-3)
    """

    paper = ("Hinton, Srivastava & Swersky 2012, Neural Networks for Machine Learning, Lecture 6e "
             "(survey, Sec. 4.5)")
    equations = """
E[g^2]_t = alpha E[g^2]_{t-1} + (1 - alpha) g_t^2
theta <- theta - eta / sqrt(E[g^2]_t + eps) * g_t
"""
    ARGS = (LR,
            Arg("alpha", DECAY_RATE, "the decay rate of the running average E[g^2] (the survey's gamma, "
                "Keras's rho)"),
            EPS, WEIGHT_DECAY,
            MOMENTUM.documented("the momentum mu of the step (torch.optim's and Keras's: the survey's "
                                "RMSprop has none)"),
            Arg("centered", Bool(), "normalise by the variance estimate E[g^2] - E[g]^2 in place of E[g^2]"))
    DEFAULTS = {
        "paper": {"lr": 1e-3, "alpha": 0.9, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                  "centered": False},
        "torch": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                  "centered": False},
        "keras": {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7, "weight_decay": 0.0, "momentum": 0.0,
                  "centered": False},
    }

    kernel = staticmethod(rmsprop_update)

    def state_names(self, group):
        names = {"square_avg": 0.0}
        if _scalar(group["momentum"]) > 0:
            names["momentum_buffer"] = 0.0
        if group["centered"]:
            names["grad_avg"] = 0.0
        return names

    def hyper(self, group, step, scalars):
        torch_convention = self.convention == "torch"
        return {"lr": _scalar(group["lr"]), "alpha": _scalar(group["alpha"]),
                "eps": _scalar(group["eps"]), "momentum": _scalar(group["momentum"]),
                "eps_inside": not torch_convention, "lr_in_buffer": not torch_convention}


__all__ = ["Adagrad", "Adadelta", "RMSprop"]
