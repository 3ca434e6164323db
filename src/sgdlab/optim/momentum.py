"""Gradient descent and its momentum variants: SGD, Momentum, NAG, QHM, AggMo.

Each ``*_update`` function is the single source of its algorithm's math, each equation (in the
survey's symbols) above the line that computes it: the optimizer classes only compute the scalars of
a step and call it on (a run of) the engine's flat buffers, or on the rows a sparse gradient touches.
"""

from __future__ import annotations

from torch import Tensor

from .._validation import Real, Seq
from ._engine import (DECAY_RATE, L2_WEIGHT_DECAY, LR, MOMENTUM, WEIGHT_DECAY, Arg, FlatOptimizer, _scalar,
                      apply_weight_decay)


def sgd_update(param: Tensor, grad: Tensor, *, lr, decay=None, weight_decay=0.0) -> None:
    """Gradient descent: batch, stochastic or mini-batch by the gradient it is given."""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # theta = theta - eta g_t
    param.sub_(lr * grad)


def momentum_update(param: Tensor, grad: Tensor, momentum_buffer: Tensor, *, lr, momentum,
                    lr_in_velocity: bool, decay=None, weight_decay=0.0) -> None:
    """Classical momentum (Polyak 1964; the survey's Momentum), with eta inside the velocity (paper,
    Keras) or outside it (torch.optim.SGD). The two agree while eta is constant; they differ when a
    schedule changes eta."""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    if lr_in_velocity:
        # v_t = gamma v_{t-1} + eta g_t
        momentum_buffer.mul_(momentum).add_(lr * grad)
        # theta = theta - v_t
        param.sub_(momentum_buffer)
    else:
        # torch keeps eta out of the buffer, b_t = gamma b_{t-1} + g_t: v_t = eta b_t while eta is constant
        momentum_buffer.mul_(momentum).add_(grad)
        # theta = theta - eta b_t
        param.sub_(lr * momentum_buffer)


def nag_update(param: Tensor, grad: Tensor, momentum_buffer: Tensor, *, lr, momentum,
               lr_in_velocity: bool, decay=None, weight_decay=0.0) -> None:
    """Nesterov accelerated gradient in its one-gradient form (Bengio et al. 2013; Sutskever 2013).

    The survey's NAG, v_t = gamma v_{t-1} + eta grad J(theta - gamma v_{t-1}), theta = theta - v_t,
    evaluates the gradient at the look-ahead point. The parameter stores that point itself,
    phi = theta - gamma v_{t-1}, so g_t = grad J(phi) is the gradient autograd gives, and
    phi_{t+1} = theta - v_t - gamma v_t = phi + gamma v_{t-1} - v_t - gamma v_t = phi - eta g_t - gamma v_t.
    """
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    if lr_in_velocity:
        # v_t = gamma v_{t-1} + eta g_t
        momentum_buffer.mul_(momentum).add_(lr * grad)
        # phi = phi - (gamma v_t + eta g_t)
        param.sub_(momentum * momentum_buffer + lr * grad)
    else:
        # torch keeps eta out of the buffer, b_t = gamma b_{t-1} + g_t: v_t = eta b_t while eta is constant
        momentum_buffer.mul_(momentum).add_(grad)
        # phi = phi - eta (g_t + gamma b_t), which is phi - (gamma v_t + eta g_t)
        param.sub_(lr * (grad + momentum * momentum_buffer))


def qhm_update(param: Tensor, grad: Tensor, momentum_buffer: Tensor, *, lr, momentum, nu,
               decay=None, weight_decay=0.0) -> None:
    """Quasi-hyperbolic momentum (Ma & Yarats 2019); ``momentum`` is their beta, ``lr`` their alpha."""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # g_buf_t = beta g_buf_{t-1} + (1 - beta) g_t
    momentum_buffer.mul_(momentum).add_((1.0 - momentum) * grad)
    # theta = theta - alpha [(1 - nu) g_t + nu g_buf_t]
    param.sub_(lr * ((1.0 - nu) * grad + nu * momentum_buffer))


def aggmo_update(param: Tensor, grad: Tensor, momentum_buffer: Tensor, *, lr, betas: Tensor,
                 decay=None, weight_decay=0.0) -> None:
    """Aggregated momentum (Lucas, Sun, Zemel & Grosse 2019), the K velocities in the rows of
    ``momentum_buffer``. The paper's velocities descend (v = beta v - g); the buffer holds their
    negatives, -v, which accumulate +g as every other momentum buffer here does."""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # v_t^(k) = beta_k v_{t-1}^(k) - g_t  (k = 1..K), as -v_t^(k) = beta_k (-v_{t-1}^(k)) + g_t
    momentum_buffer.mul_(betas[:, None]).add_(grad)
    # theta = theta + (gamma / K) sum_k v_t^(k), i.e. theta - (gamma / K) sum_k (-v_t^(k))
    param.sub_(lr / momentum_buffer.shape[0] * momentum_buffer.sum(0))


class SGD(FlatOptimizer):
    """Vanilla gradient descent: batch, stochastic or mini-batch depending on the gradient you give it.

    Same call as ``torch.optim.SGD`` without momentum (use :class:`Momentum` or :class:`NAG` for
    those). Accepts sparse gradients and updates only the rows they touch.

    Example:
        >>> import torch, sgdlab
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = sgdlab.optim.SGD([w], lr=0.1)
        >>> (w ** 2).sum().backward(); opt.step()
        >>> w.data
        tensor([ 0.8000, -1.6000])
    """

    paper = "Robbins & Monro 1951, A Stochastic Approximation Method (survey, Sec. 2)"
    equations = "theta <- theta - eta * grad J(theta)"
    ARGS = (LR, WEIGHT_DECAY)
    DEFAULTS = {
        "paper": {"lr": 0.01, "weight_decay": 0.0},
        "torch": {"lr": 1e-3, "weight_decay": 0.0},
        "keras": {"lr": 0.01, "weight_decay": 0.0},
    }
    supports_sparse = True
    kernel = staticmethod(sgd_update)

    def state_names(self, group):
        return {}

    def hyper(self, group, step, scalars):
        return {"lr": _scalar(group["lr"])}


class _MomentumBase(FlatOptimizer):
    ARGS = (LR, MOMENTUM, WEIGHT_DECAY)
    kernel = staticmethod(momentum_update)

    def state_names(self, group):
        return {"momentum_buffer": 0.0}

    def hyper(self, group, step, scalars):
        return {"lr": _scalar(group["lr"]), "momentum": _scalar(group["momentum"]),
                "lr_in_velocity": self.convention != "torch"}


class Momentum(_MomentumBase):
    """SGD with (heavy-ball) momentum, the survey's "ball rolling down a hill".

    Under ``convention="torch"`` it is ``torch.optim.SGD(params, lr, momentum)`` step for step (torch
    keeps eta outside the buffer); under ``"keras"`` it is ``keras.optimizers.SGD(lr, momentum)``
    (Sutskever's form, eta inside the velocity, as the paper). torch and Keras default to no momentum;
    this class defaults to gamma = 0.9 under every convention.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.Momentum(model.parameters(), lr=0.01, momentum=0.9)
    """

    paper = "Qian 1999, On the momentum term in gradient descent learning algorithms (survey, Sec. 4.1)"
    equations = """
v_t = gamma v_{t-1} + eta grad J(theta)
theta <- theta - v_t
"""
    DEFAULTS = {
        "paper": {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0},
        "torch": {"lr": 1e-3, "momentum": 0.9, "weight_decay": 0.0},
        "keras": {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    }


class NAG(_MomentumBase):
    """Nesterov accelerated gradient: momentum that looks ahead before it leaps.

    The paper form evaluates the gradient at theta - gamma v; sgdlab stores that look-ahead point as the
    parameter, so one gradient per step suffices and the parameters follow exactly the look-ahead
    points of the paper's iteration (``tests/optim/test_nag.py`` checks this on a quadratic).
    ``convention="torch"`` is ``torch.optim.SGD(lr, momentum, nesterov=True)``; ``"keras"`` is
    ``keras.optimizers.SGD(lr, momentum, nesterov=True)``.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.NAG(model.parameters(), lr=0.01, momentum=0.9)
    """

    paper = ("Nesterov 1983, A method for unconstrained convex minimization problem with the rate of "
             "convergence O(1/k^2) (survey, Sec. 4.2)")
    equations = """
v_t = gamma v_{t-1} + eta grad J(theta - gamma v_{t-1})
theta <- theta - v_t
(stored as phi = theta - gamma v:  phi <- phi - gamma v_t - eta grad J(phi))
"""
    DEFAULTS = Momentum.DEFAULTS
    kernel = staticmethod(nag_update)


class QHM(FlatOptimizer):
    """Quasi-hyperbolic momentum: a nu-weighted average of a plain SGD step and a momentum step.

    ``nu = 0`` is SGD, ``nu = 1`` is (dampened) momentum; Ma & Yarats recommend nu = 0.7, beta = 0.999.
    The buffer is an average of gradients (dampened by 1 - beta), so the learning rate that matches
    momentum SGD with rate eta and momentum gamma is eta / (1 - gamma): 10 eta for gamma = 0.9.
    Neither torch.optim nor Keras has QHM, so only ``convention="paper"`` exists.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.QHM(model.parameters(), lr=0.1, momentum=0.999, nu=0.7)
    """

    paper = "Ma & Yarats 2019, Quasi-hyperbolic momentum and Adam for deep learning (ICLR)"
    equations = """
g_buf <- beta g_buf + (1 - beta) grad J(theta)
theta <- theta - alpha [(1 - nu) grad J(theta) + nu g_buf]
"""
    ARGS = (LR.documented("the learning rate alpha"),
            MOMENTUM.documented("beta, the decay rate of the momentum buffer g_buf"),
            Arg("nu", Real(0, 1), "the immediate discount nu: 0 is SGD, 1 momentum"),
            L2_WEIGHT_DECAY)
    DEFAULTS = {"paper": {"lr": 0.1, "momentum": 0.999, "nu": 0.7, "weight_decay": 0.0}}
    kernel = staticmethod(qhm_update)

    def state_names(self, group):
        return {"momentum_buffer": 0.0}

    def hyper(self, group, step, scalars):
        return {"lr": _scalar(group["lr"]), "momentum": _scalar(group["momentum"]),
                "nu": _scalar(group["nu"])}


class AggMo(FlatOptimizer):
    """Aggregated momentum: K velocities with different damping, averaged.

    The large beta gives speed along low-curvature directions, the small ones damp the oscillations
    it causes. Defaults as the authors' code: betas = (0, 0.9, 0.99), lr = 0.1. ``convention="paper"``
    only. State ``momentum_buffer`` has shape (K, *param.shape).

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.AggMo(model.parameters(), lr=0.1, betas=(0.0, 0.9, 0.99))
    """

    paper = "Lucas, Sun, Zemel & Grosse 2019, Aggregated Momentum: Stability Through Passive Damping (ICLR)"
    equations = """
v_k <- beta_k v_k - grad J(theta)          for k = 1..K
theta <- theta + (gamma / K) sum_k v_k
"""
    ARGS = (LR.documented("the learning rate gamma"),
            Arg("betas", Seq(DECAY_RATE, min_length=1), "beta_1, ..., beta_K, the damping factors of the K "
                "velocities"),
            L2_WEIGHT_DECAY)
    DEFAULTS = {"paper": {"lr": 0.1, "betas": (0.0, 0.9, 0.99), "weight_decay": 0.0}}
    kernel = staticmethod(aggmo_update)

    def state_names(self, group):
        return {"momentum_buffer": (len(group["betas"]), 0.0)}

    def hyper(self, group, step, scalars):
        return {"lr": _scalar(group["lr"]), "betas": tuple(_scalar(b) for b in group["betas"])}


__all__ = ["SGD", "Momentum", "NAG", "QHM", "AggMo"]
