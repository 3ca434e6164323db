"""Per-parameter learning rates from the gradients' history: Adagrad, Adadelta, RMSprop.

Each ``*_update`` function is the single source of its algorithm's math.
"""

from __future__ import annotations

from torch import Tensor

from ._engine import FlatOptimizer, _scalar, apply_weight_decay, check_nonnegative, check_unit_interval


def _rms(x: Tensor, eps, eps_inside: bool) -> Tensor:
    """sqrt(x + eps) (the survey, Keras) or sqrt(x) + eps (torch.optim)."""
    return (x + eps).sqrt() if eps_inside else x.sqrt() + eps


def adagrad_update(param: Tensor, grad: Tensor, sum: Tensor, *, lr, eps, eps_inside: bool,
                   decay=None, weight_decay=0.0) -> None:
    """G <- G + g^2;   theta <- theta - eta / sqrt(G + eps) * g   (eps outside the root for torch)"""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    sum.add_(grad * grad)
    param.sub_(lr * grad / _rms(sum, eps, eps_inside))


def adadelta_update(param: Tensor, grad: Tensor, square_avg: Tensor, acc_delta: Tensor, *, lr, rho,
                    eps, decay=None, weight_decay=0.0) -> None:
    """E[g^2] <- rho E[g^2] + (1 - rho) g^2
    dx = RMS[dx]_{t-1} / RMS[g]_t * g,   RMS[y] = sqrt(E[y^2] + eps)
    E[dx^2] <- rho E[dx^2] + (1 - rho) dx^2;   theta <- theta - lr * dx"""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    square_avg.mul_(rho).add_((1.0 - rho) * grad * grad)
    delta = ((acc_delta + eps) / (square_avg + eps)).sqrt() * grad  # one root: RMS[dx] / RMS[g]
    acc_delta.mul_(rho).add_((1.0 - rho) * delta * delta)
    param.sub_(lr * delta)


def rmsprop_update(param: Tensor, grad: Tensor, square_avg: Tensor, grad_avg: Tensor | None = None,
                   momentum_buffer: Tensor | None = None, *, lr, alpha, eps, momentum,
                   eps_inside: bool, lr_in_buffer: bool, decay=None, weight_decay=0.0) -> None:
    """E[g^2] <- alpha E[g^2] + (1 - alpha) g^2;   theta <- theta - eta / sqrt(E[g^2] + eps) * g

    ``grad_avg`` (centered): E[g^2] - E[g]^2 in place of E[g^2]. ``momentum_buffer``: the step goes
    through a momentum buffer, b <- mu b + step (eta inside b for Keras, outside for torch)."""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    square_avg.mul_(alpha).add_((1.0 - alpha) * grad * grad)
    second = square_avg
    if grad_avg is not None:
        grad_avg.add_((1.0 - alpha) * (grad - grad_avg))
        second = square_avg - grad_avg * grad_avg
    denom = _rms(second, eps, eps_inside)
    if momentum_buffer is None:
        param.sub_(lr * grad / denom)
    elif lr_in_buffer:
        momentum_buffer.mul_(momentum).add_(lr * grad / denom)
        param.sub_(momentum_buffer)
    else:
        momentum_buffer.mul_(momentum).add_(grad / denom)
        param.sub_(lr * momentum_buffer)


class Adagrad(FlatOptimizer):
    """Adagrad: larger updates for infrequent parameters, smaller for frequent ones.

    The survey's form puts eps inside the square root; torch.optim puts it outside (``convention=
    "torch"``), Keras inside with an initial accumulator of 0.1 (``convention="keras"``). Accepts
    sparse gradients (``nn.Embedding(sparse=True)``) and updates only the touched rows, exactly as the
    dense update would.

    Args:
        params: parameters or param groups.
        lr: learning rate eta.
        lr_decay: torch.optim's decay, eta_t = eta / (1 + (t - 1) lr_decay).
        weight_decay: L2 penalty added to the gradient (decoupled under ``convention="keras"``).
        initial_accumulator_value: starting value of G.
        eps: smoothing term.
        convention: ``"paper"`` (default), ``"torch"`` or ``"keras"``.
        nonfinite: ``"apply"`` (default), ``"skip"`` or ``"raise"`` on inf/NaN gradients.
        fused: ``None`` (default) compiles the update into one fused kernel for buckets of >= 2^20
            elements, ``True`` always, ``False`` never (the eager reference path).

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
    DEFAULTS = {
        "paper": {"lr": 0.01, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0,
                  "eps": 1e-8},
        "torch": {"lr": 0.01, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0,
                  "eps": 1e-10},
        "keras": {"lr": 0.001, "lr_decay": 0.0, "weight_decay": 0.0,
                  "initial_accumulator_value": 0.1, "eps": 1e-7},
    }
    supports_sparse = True

    def __init__(self, params, lr=None, lr_decay=None, weight_decay=None,
                 initial_accumulator_value=None, eps=None, *, convention="paper", nonfinite="apply", fused=None):
        super().__init__(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps,
                         convention=convention, nonfinite=nonfinite, fused=fused)

    def validate(self, group):
        check_nonnegative("lr_decay", group["lr_decay"])
        check_nonnegative("initial_accumulator_value", group["initial_accumulator_value"])

    def state_names(self, group):
        return {"sum": _scalar(group["initial_accumulator_value"])}

    kernel = staticmethod(adagrad_update)

    def hyper(self, group, step, scalars):
        return {"lr": _scalar(group["lr"]) / (1.0 + (step - 1) * _scalar(group["lr_decay"])),
                "eps": _scalar(group["eps"]), "eps_inside": self.convention != "torch"}


class Adadelta(FlatOptimizer):
    """Adadelta: Adagrad's decaying learning rate fixed with a window of past gradients, and units
    matched with the RMS of past updates, so that no learning rate is needed.

    Zeiler's method has no learning rate; ``lr`` is a multiplier of the update, 1.0 by default (Keras
    defaults to 0.001). All three conventions share the update and differ in defaults only.

    Args:
        params: parameters or param groups.
        lr: multiplier of the update (1.0 is Zeiler's method).
        rho: decay of the running averages, in [0, 1).
        eps: the constant in RMS[y] = sqrt(E[y^2] + eps).
        weight_decay: L2 penalty added to the gradient (decoupled under ``convention="keras"``).
        convention: ``"paper"`` (default), ``"torch"`` or ``"keras"``.
        nonfinite: ``"apply"`` (default), ``"skip"`` or ``"raise"`` on inf/NaN gradients.
        fused: ``None`` (default) compiles the update into one fused kernel for buckets of >= 2^20
            elements, ``True`` always, ``False`` never (the eager reference path).

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
    DEFAULTS = {
        "paper": {"lr": 1.0, "rho": 0.95, "eps": 1e-6, "weight_decay": 0.0},
        "torch": {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0},
        "keras": {"lr": 0.001, "rho": 0.95, "eps": 1e-7, "weight_decay": 0.0},
    }

    def __init__(self, params, lr=None, rho=None, eps=None, weight_decay=None, *, convention="paper",
                 nonfinite="apply", fused=None):
        super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                         convention=convention, nonfinite=nonfinite, fused=fused)

    def validate(self, group):
        check_unit_interval("rho", group["rho"])

    def state_names(self, group):
        return {"square_avg": 0.0, "acc_delta": 0.0}

    kernel = staticmethod(adadelta_update)

    def hyper(self, group, step, scalars):
        return {"lr": _scalar(group["lr"]), "rho": _scalar(group["rho"]), "eps": _scalar(group["eps"])}


class RMSprop(FlatOptimizer):
    """RMSprop: divide the learning rate by a running average of the gradients' magnitudes.

    Hinton's lecture (and the survey) suggest alpha = 0.9, eta = 0.001, with eps inside the root as
    Keras; torch.optim puts eps outside and defaults to alpha = 0.99, eta = 0.01. ``momentum`` and
    ``centered`` follow torch.optim and Keras (the survey has neither).

    Args:
        params: parameters or param groups.
        lr: learning rate eta.
        alpha: decay of the running average E[g^2] (Keras calls it rho), in [0, 1).
        eps: smoothing term.
        weight_decay: L2 penalty added to the gradient (decoupled under ``convention="keras"``).
        momentum: momentum of the step, in [0, 1).
        centered: normalise by the variance estimate E[g^2] - E[g]^2.
        convention: ``"paper"`` (default), ``"torch"`` or ``"keras"``.
        nonfinite: ``"apply"`` (default), ``"skip"`` or ``"raise"`` on inf/NaN gradients.
        fused: ``None`` (default) compiles the update into one fused kernel for buckets of >= 2^20
            elements, ``True`` always, ``False`` never (the eager reference path).

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
    DEFAULTS = {
        "paper": {"lr": 1e-3, "alpha": 0.9, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                  "centered": False},
        "torch": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                  "centered": False},
        "keras": {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7, "weight_decay": 0.0, "momentum": 0.0,
                  "centered": False},
    }

    def __init__(self, params, lr=None, alpha=None, eps=None, weight_decay=None, momentum=None,
                 centered=None, *, convention="paper", nonfinite="apply", fused=None):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                         momentum=momentum, centered=centered, convention=convention,
                         nonfinite=nonfinite, fused=fused)

    def validate(self, group):
        check_unit_interval("alpha", group["alpha"])
        check_unit_interval("momentum", group["momentum"])
        if not isinstance(group["centered"], bool):
            raise ValueError(f"Invalid centered: {group['centered']!r} (expected True or False)")

    def state_names(self, group):
        names = {"square_avg": 0.0}
        if _scalar(group["momentum"]) > 0:
            names["momentum_buffer"] = 0.0
        if group["centered"]:
            names["grad_avg"] = 0.0
        return names

    kernel = staticmethod(rmsprop_update)

    def hyper(self, group, step, scalars):
        torch_convention = self.convention == "torch"
        return {"lr": _scalar(group["lr"]), "alpha": _scalar(group["alpha"]),
                "eps": _scalar(group["eps"]), "momentum": _scalar(group["momentum"]),
                "eps_inside": not torch_convention, "lr_in_buffer": not torch_convention}


__all__ = ["Adagrad", "Adadelta", "RMSprop"]
