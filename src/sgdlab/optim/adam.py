"""Adam and its descendants: Adam, AMSGrad, AdamW, AdaMax, Nadam, QHAdam.

Each ``*_update`` function is the single source of its algorithm's math, each equation (in the
survey's symbols) above the line that computes it; the classes compute the scalars of a step (bias
corrections, schedules) for their convention and call it.

The first moment is computed as torch.optim computes it, by ``lerp``:
m + (1 - beta1) (g_t - m) = beta1 m + (1 - beta1) g_t. And the bias corrections, where the kernel
receives them folded into its scalars, divide scalars rather than whole tensors (as torch.optim):
eta m_hat / (sqrt(v_hat) + eps) = (eta / (1 - beta1^t)) m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._validation import Real, Seq
from ._engine import (BETAS, EPS, L2_WEIGHT_DECAY, LR, WEIGHT_DECAY, Arg, FlatOptimizer, _scalar,
                      apply_weight_decay)


def adam_update(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor,
                max_exp_avg_sq: Tensor | None = None, *, beta1, beta2, step_size,
                bias_correction2_sqrt, eps, decay=None, weight_decay=0.0) -> None:
    """Adam (Kingma & Ba 2015), and AMSGrad with ``max_exp_avg_sq``, the bias corrections folded into
    ``step_size`` and ``bias_correction2_sqrt`` by the convention:

    * Adam (paper, torch): eta / (1 - beta1^t) and sqrt(1 - beta2^t);
    * Keras's "epsilon hat": eta sqrt(1 - beta2^t) / (1 - beta1^t) and 1, which leaves eps undebiased;
    * AMSGrad as Reddi et al. (no bias correction): eta and 1."""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # m_t = beta1 m_{t-1} + (1 - beta1) g_t    (as m + (1 - beta1) (g_t - m))
    exp_avg.add_((1.0 - beta1) * (grad - exp_avg))
    # v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    exp_avg_sq.mul_(beta2).add_((1.0 - beta2) * grad * grad)
    second = exp_avg_sq
    if max_exp_avg_sq is not None:
        # AMSGrad: v_hat_t = max(v_hat_{t-1}, v_t)
        second = max_exp_avg_sq.copy_(torch.maximum(max_exp_avg_sq, exp_avg_sq))
    # theta = theta - eta / (sqrt(v_hat_t) + eps) * m_hat_t,   m_hat_t = m_t / (1 - beta1^t),
    # v_hat_t = v_t / (1 - beta2^t): = theta - step_size m_t / (sqrt(v_t) / bias_correction2_sqrt + eps)
    param.sub_(step_size * exp_avg / (second.sqrt() / bias_correction2_sqrt + eps))


def adamax_update(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_inf: Tensor, *, beta1, beta2,
                  step_size, eps_in_max, eps_in_denom, decay=None, weight_decay=0.0) -> None:
    """AdaMax (Kingma & Ba 2015, Sec. 7.1), ``step_size`` = eta / (1 - beta1^t). torch.optim puts eps
    inside the max (``eps_in_max``), Keras (and sgdlab's paper convention, to guard 0/0 where a
    coordinate never had a gradient) adds it to u_t (``eps_in_denom``)."""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # m_t = beta1 m_{t-1} + (1 - beta1) g_t    (as m + (1 - beta1) (g_t - m))
    exp_avg.add_((1.0 - beta1) * (grad - exp_avg))
    # u_t = max(beta2 u_{t-1}, |g_t|)
    exp_inf.copy_(torch.maximum(beta2 * exp_inf, grad.abs() + eps_in_max))
    # theta = theta - eta / u_t * m_hat_t = theta - (eta / (1 - beta1^t)) m_t / u_t
    param.sub_(step_size * exp_avg / (exp_inf + eps_in_denom))


def nadam_update(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, *, beta1, beta2,
                 coef_m, coef_g, bias_correction2_sqrt, eps, decay=None, weight_decay=0.0) -> None:
    """Nadam (Dozat 2016), the coefficients of m_t and g_t computed by the convention:

    * the survey's (constant beta1): coef_m = eta beta1 / (1 - beta1^t),
      coef_g = eta (1 - beta1) / (1 - beta1^t);
    * torch / Keras, with Dozat's momentum schedule mu_t: coef_m = eta mu_{t+1} / (1 - prod_{i<=t+1} mu_i),
      coef_g = eta (1 - mu_t) / (1 - prod_{i<=t} mu_i)."""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # m_t = beta1 m_{t-1} + (1 - beta1) g_t    (as m + (1 - beta1) (g_t - m))
    exp_avg.add_((1.0 - beta1) * (grad - exp_avg))
    # v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    exp_avg_sq.mul_(beta2).add_((1.0 - beta2) * grad * grad)
    # sqrt(v_hat_t) + eps = sqrt(v_t) / sqrt(1 - beta2^t) + eps
    denom = exp_avg_sq.sqrt() / bias_correction2_sqrt + eps
    # theta = theta - eta / (sqrt(v_hat_t) + eps) * (beta1 m_hat_t + (1 - beta1) g_t / (1 - beta1^t)),
    # with m_hat_t = m_t / (1 - beta1^t): = theta - (coef_g g_t + coef_m m_t) / (sqrt(v_hat_t) + eps)
    param.sub_(coef_g * grad / denom + coef_m * exp_avg / denom)


def qhadam_update(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, *, lr, beta1,
                  beta2, nu1, nu2, bias_correction1, bias_correction2, eps, decay=None,
                  weight_decay=0.0) -> None:
    """QHAdam (Ma & Yarats 2019); ``lr`` is their alpha, ``bias_correction1`` = 1 - beta1^t and
    ``bias_correction2`` = 1 - beta2^t."""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # m_t = beta1 m_{t-1} + (1 - beta1) g_t    (as m + (1 - beta1) (g_t - m))
    exp_avg.add_((1.0 - beta1) * (grad - exp_avg))
    # v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    exp_avg_sq.mul_(beta2).add_((1.0 - beta2) * grad * grad)
    # (1 - nu1) g_t + nu1 m_hat_t,   nu1 m_hat_t = (nu1 / (1 - beta1^t)) m_t
    numer = (1.0 - nu1) * grad + nu1 / bias_correction1 * exp_avg
    # sqrt((1 - nu2) g_t^2 + nu2 v_hat_t) + eps,   nu2 v_hat_t = (nu2 / (1 - beta2^t)) v_t
    denom = ((1.0 - nu2) * grad * grad + nu2 / bias_correction2 * exp_avg_sq).sqrt() + eps
    # theta = theta - alpha [(1 - nu1) g_t + nu1 m_hat_t] / (sqrt((1 - nu2) g_t^2 + nu2 v_hat_t) + eps)
    param.sub_(lr * numer / denom)


class _AdamBase(FlatOptimizer):
    ARGS = (LR, BETAS, EPS, WEIGHT_DECAY)
    kernel = staticmethod(adam_update)

    def state_names(self, group):
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    def _scales(self, group, step: int) -> tuple[float, float]:
        """(step_size, bias_correction2_sqrt) of :func:`adam_update` for this convention."""
        lr = _scalar(group["lr"])
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        bc1, bc2 = 1.0 - beta1 ** step, 1.0 - beta2 ** step
        if self.convention == "keras":
            return lr * math.sqrt(bc2) / bc1, 1.0
        return lr / bc1, math.sqrt(bc2)

    def hyper(self, group, step, scalars):
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        step_size, bc2_sqrt = self._scales(group, step)
        return {"beta1": beta1, "beta2": beta2, "step_size": step_size,
                "bias_correction2_sqrt": bc2_sqrt, "eps": _scalar(group["eps"])}


class Adam(_AdamBase):
    """Adam: adaptive moment estimation, with the paper's bias corrections.

    The paper and torch.optim agree (eps added to sqrt(v_hat)); Keras adds its epsilon to sqrt(v)
    before the bias correction of the step ("epsilon hat", ``convention="keras"``, eps = 1e-7).
    ``weight_decay`` is an L2 penalty but under Keras; :class:`AdamW` decouples it under every convention.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.Adam(model.parameters(), lr=1e-3)
        >>> sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)
    """

    paper = "Kingma & Ba 2015, Adam: A Method for Stochastic Optimization (ICLR; survey, Sec. 4.6)"
    equations = """
m_t = beta1 m_{t-1} + (1 - beta1) g_t
v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
m_hat = m_t / (1 - beta1^t),   v_hat = v_t / (1 - beta2^t)
theta <- theta - eta / (sqrt(v_hat) + eps) * m_hat
"""
    DEFAULTS = {
        "paper": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
        "torch": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
        "keras": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7, "weight_decay": 0.0},
    }


class AMSGrad(_AdamBase):
    """AMSGrad: Adam with the maximum of past second moments, so the step size never grows back.

    As Reddi et al.: no bias correction (``convention="paper"``). torch.optim
    (``Adam(amsgrad=True)``) and Keras (``Adam(amsgrad=True)``) keep Adam's bias corrections and take
    the maximum of the raw v before debiasing, Keras with its epsilon hat. Reddi et al.'s theory uses
    eta_t = eta / sqrt(t): pass a ``LambdaLR`` for that.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.AMSGrad(model.parameters(), lr=1e-3)
    """

    paper = "Reddi, Kale & Kumar 2018, On the Convergence of Adam and Beyond (ICLR; survey, Sec. 4.9)"
    equations = """
m_t = beta1 m_{t-1} + (1 - beta1) g_t
v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
v_hat_t = max(v_hat_{t-1}, v_t)
theta <- theta - eta / (sqrt(v_hat_t) + eps) * m_t          (no bias correction)
"""
    ARGS = (LR, BETAS, EPS.documented("the smoothing term epsilon (the paper has none; sgdlab adds it to "
                                      "sqrt(v_hat) to guard 0/0)"), WEIGHT_DECAY)
    DEFAULTS = Adam.DEFAULTS

    def state_names(self, group):
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0, "max_exp_avg_sq": 0.0}

    def _scales(self, group, step):
        if self.convention == "paper":
            return _scalar(group["lr"]), 1.0
        return super()._scales(group, step)


class AdamW(_AdamBase):
    """AdamW: Adam with weight decay decoupled from the gradient.

    Under the paper convention the decay is Loshchilov & Hutter's eta_t * lambda * theta, where eta_t is
    the schedule multiplier: ``lr / initial_lr`` when a torch scheduler drives ``lr``, else 1; lambda is
    not scaled by the learning rate. torch.optim and Keras scale it: theta <- theta (1 - lr * lambda).
    The paper gives no default lambda; 1e-4 per step matches torch's default 1e-2 at lr = 1e-2.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    """

    paper = ("Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization (ICLR; survey, "
             "Sec. 4.10)")
    equations = """
m_t, v_t, m_hat, v_hat as Adam
theta <- theta - eta_t (alpha m_hat / (sqrt(v_hat) + eps) + lambda theta)
(eta_t: the schedule multiplier, lr / initial_lr under a torch scheduler, else 1)
"""
    ARGS = (LR.documented("the learning rate alpha"), BETAS, EPS,
            WEIGHT_DECAY.documented("lambda, the decoupled weight decay, scaled by each convention as above"))
    DEFAULTS = {
        "paper": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-4},
        "torch": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2},
        "keras": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7, "weight_decay": 0.004},
    }
    DECAY_MODE = {"paper": "decoupled", "torch": "decoupled", "keras": "decoupled"}

    def decoupled_decay_factor(self, group):
        if self.convention == "paper":
            lr = _scalar(group["lr"])
            multiplier = lr / _scalar(group["initial_lr"]) if group.get("initial_lr") else 1.0
            return multiplier * _scalar(group["weight_decay"])
        return super().decoupled_decay_factor(group)


class AdaMax(_AdamBase):
    """AdaMax: Adam with the infinity norm of past gradients in place of the L2 norm.

    u_t needs no bias correction. The paper has no epsilon; sgdlab's paper convention adds ``eps`` to u
    (as Keras) so that a coordinate that never had a gradient does not divide 0 by 0; torch.optim puts
    it inside the max.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.AdaMax(model.parameters(), lr=2e-3)
    """

    paper = "Kingma & Ba 2015, Adam: A Method for Stochastic Optimization, Sec. 7.1 (survey, Sec. 4.7)"
    equations = """
m_t = beta1 m_{t-1} + (1 - beta1) g_t
u_t = max(beta2 u_{t-1}, |g_t|)
theta <- theta - eta / (1 - beta1^t) * m_t / (u_t + eps)
"""
    ARGS = (LR, BETAS.documented("(beta1, beta2), the decay rates of m_t and of the infinity norm u_t"),
            EPS, WEIGHT_DECAY)
    DEFAULTS = {
        "paper": {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
        "torch": {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
        "keras": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7, "weight_decay": 0.0},
    }
    kernel = staticmethod(adamax_update)

    def state_names(self, group):
        return {"exp_avg": 0.0, "exp_inf": 0.0}

    def hyper(self, group, step, scalars):
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        eps = _scalar(group["eps"])
        in_max = self.convention == "torch"
        return {"beta1": beta1, "beta2": beta2, "step_size": _scalar(group["lr"]) / (1.0 - beta1 ** step),
                "eps_in_max": eps if in_max else 0.0, "eps_in_denom": 0.0 if in_max else eps}


class Nadam(FlatOptimizer):
    """Nadam: Adam with Nesterov momentum, as the survey derives it from Dozat (constant beta1).

    torch.optim.NAdam and Keras's Nadam use Dozat's momentum schedule
    mu_t = beta1 (1 - 0.5 * 0.96^(t psi)): torch with ``momentum_decay`` psi = 0.004, Keras with
    0.96^t, i.e. psi = 1 (the ``momentum_decay`` default of ``convention="keras"``). The paper
    convention has no schedule and refuses ``momentum_decay``.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.create("nadam", model.parameters(), lr=2e-3)
    """

    paper = ("Dozat 2016, Incorporating Nesterov Momentum into Adam (ICLR workshop; survey, "
             "Sec. 4.8)")
    equations = """
m_t = beta1 m_{t-1} + (1 - beta1) g_t,   m_hat = m_t / (1 - beta1^t)
v_t = beta2 v_{t-1} + (1 - beta2) g_t^2,  v_hat = v_t / (1 - beta2^t)
theta <- theta - eta / (sqrt(v_hat) + eps) * (beta1 m_hat + (1 - beta1) g_t / (1 - beta1^t))
"""
    ARGS = (LR, BETAS, EPS, WEIGHT_DECAY,
            Arg("momentum_decay", Real(0), "psi, of Dozat's momentum schedule mu_t = beta1 (1 - 0.5 * "
                "0.96^(t psi)) (the survey's Nadam has a constant beta1: no momentum_decay)"))
    DEFAULTS = {
        "paper": {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
        "torch": {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                  "momentum_decay": 4e-3},
        "keras": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7, "weight_decay": 0.0,
                  "momentum_decay": 1.0},
    }
    scalar_state = {"mu_product": 1.0}
    kernel = staticmethod(nadam_update)

    def state_names(self, group):
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    def hyper(self, group, step, scalars):
        lr = _scalar(group["lr"])
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        mu_product = scalars["mu_product"]  # one entry per parameter of this run, all at this step
        if self.convention == "paper":
            bc1 = 1.0 - beta1 ** step
            coef_m, coef_g = lr * beta1 / bc1, lr * (1.0 - beta1) / bc1
        else:
            psi = _scalar(group["momentum_decay"])
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
            mu_product.mul_(mu)  # float32, as torch.optim keeps it
            prod = float(mu_product[0])
            coef_g = lr * (1.0 - mu) / (1.0 - prod)
            coef_m = lr * mu_next / (1.0 - prod * mu_next)
        return {"beta1": beta1, "beta2": beta2, "coef_m": coef_m, "coef_g": coef_g,
                "bias_correction2_sqrt": math.sqrt(1.0 - beta2 ** step), "eps": _scalar(group["eps"])}


class QHAdam(FlatOptimizer):
    """QHAdam: quasi-hyperbolic Adam, nu-weighted averages of the raw and the averaged moments.

    nus = (1, 1) is Adam. Defaults are the paper's recommendation: betas = (0.995, 0.999),
    nus = (0.7, 1.0). ``convention="paper"`` only.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.QHAdam(model.parameters(), lr=1e-3, nus=(0.7, 1.0))
    """

    paper = "Ma & Yarats 2019, Quasi-hyperbolic momentum and Adam for deep learning (ICLR)"
    equations = """
m_t = beta1 m_{t-1} + (1 - beta1) g_t,   m_hat = m_t / (1 - beta1^t)
v_t = beta2 v_{t-1} + (1 - beta2) g_t^2,  v_hat = v_t / (1 - beta2^t)
theta <- theta - alpha [(1 - nu1) g_t + nu1 m_hat] / (sqrt((1 - nu2) g_t^2 + nu2 v_hat) + eps)
"""
    ARGS = (LR.documented("the learning rate alpha"), BETAS,
            Arg("nus", Seq(Real(0, 1), length=2), "(nu1, nu2), the immediate discounts: (1, 1) is Adam"),
            EPS, L2_WEIGHT_DECAY)
    DEFAULTS = {"paper": {"lr": 1e-3, "betas": (0.995, 0.999), "nus": (0.7, 1.0), "eps": 1e-8,
                          "weight_decay": 0.0}}
    kernel = staticmethod(qhadam_update)

    def state_names(self, group):
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    def hyper(self, group, step, scalars):
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        nu1, nu2 = (_scalar(n) for n in group["nus"])
        return {"lr": _scalar(group["lr"]), "beta1": beta1, "beta2": beta2, "nu1": nu1, "nu2": nu2,
                "bias_correction1": 1.0 - beta1 ** step, "bias_correction2": 1.0 - beta2 ** step,
                "eps": _scalar(group["eps"])}


__all__ = ["Adam", "AMSGrad", "AdamW", "AdaMax", "Nadam", "QHAdam"]
