"""Adam and its descendants: Adam, AMSGrad, AdamW, AdaMax, Nadam, QHAdam, and today's RAdam, NAdamW
and AdEMAMix.

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

from .._validation import Bool, Int, Real, Seq
from ._engine import (BETAS, DECAY_RATE, EPS, L2_WEIGHT_DECAY, LR, WEIGHT_DECAY, Arg, FlatOptimizer, _scalar,
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


def radam_update(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, *, beta1, beta2,
                 step_size, rectified: bool, eps, decay=None, weight_decay=0.0) -> None:
    """RAdam (Liu et al. 2020). ``rectified`` (static) says whether the variance of the adaptive rate
    is tractable at this step (rho_t above the convention's threshold); ``step_size`` folds the
    scalars: alpha r_t sqrt(1 - beta2^t) / (1 - beta1^t) when rectified, alpha / (1 - beta1^t) when
    not."""
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # m_t = beta1 m_{t-1} + (1 - beta1) g_t    (as m + (1 - beta1) (g_t - m))
    exp_avg.add_((1.0 - beta1) * (grad - exp_avg))
    # v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    exp_avg_sq.mul_(beta2).add_((1.0 - beta2) * grad * grad)
    if rectified:
        # theta = theta - alpha_t r_t m_hat_t l_t,   l_t = sqrt(1 - beta2^t) / (sqrt(v_t) + eps),
        # m_hat_t = m_t / (1 - beta1^t): = theta - step_size m_t / (sqrt(v_t) + eps)
        param.sub_(step_size * exp_avg / (exp_avg_sq.sqrt() + eps))
    else:
        # theta = theta - alpha_t m_hat_t    (SGD with momentum while the variance is intractable)
        param.sub_(step_size * exp_avg)


def ademamix_update(param: Tensor, grad: Tensor, exp_avg_fast: Tensor, exp_avg_slow: Tensor,
                    exp_avg_sq: Tensor, *, beta1, beta2, beta3, alpha, bias_correction1,
                    bias_correction2_sqrt, lr, eps, decay=None, weight_decay=0.0) -> None:
    """AdEMAMix (Pagliardini, Ablin & Grangier 2024): Adam's fast EMA m1 plus alpha times a slow,
    undebiased EMA m2; ``beta3`` and ``alpha`` are this step's values of their warm-up schedules."""
    # theta_{t-1} <- theta_{t-1} - eta lambda theta_{t-1}    (decoupled, before the update)
    grad = apply_weight_decay(param, grad, decay, weight_decay)
    # m1_t = beta1 m1_{t-1} + (1 - beta1) g_t    (as m1 + (1 - beta1) (g_t - m1))
    exp_avg_fast.add_((1.0 - beta1) * (grad - exp_avg_fast))
    # m2_t = beta3(t) m2_{t-1} + (1 - beta3(t)) g_t
    exp_avg_slow.add_((1.0 - beta3) * (grad - exp_avg_slow))
    # nu_t = beta2 nu_{t-1} + (1 - beta2) g_t^2
    exp_avg_sq.mul_(beta2).add_((1.0 - beta2) * grad * grad)
    # theta_t = theta_{t-1} - eta (m1_hat_t + alpha(t) m2_t) / (sqrt(nu_hat_t) + eps),
    # m1_hat_t = m1_t / (1 - beta1^t),  nu_hat_t = nu_t / (1 - beta2^t)
    denom = exp_avg_sq.sqrt() / bias_correction2_sqrt + eps
    param.sub_(lr * (exp_avg_fast / bias_correction1 + alpha * exp_avg_slow) / denom)


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


class RAdam(FlatOptimizer):
    """RAdam: rectified Adam, whose first steps need no learning-rate warm-up.

    While the moving average behind v_t is too short for the variance of the adaptive rate to be
    tractable (rho_t <= 4 in the paper, rho_t <= 5 in torch.optim), RAdam steps along the debiased
    momentum m_hat alone; after, Adam's step scaled by the rectification r_t, which rises to 1. The
    paper's l_t = sqrt((1 - beta2^t) / v_t) has no eps; sgdlab adds it to sqrt(v_t), as torch.optim
    does. ``decoupled_weight_decay=True`` shrinks theta by eta lambda before each step instead of
    adding lambda theta to the gradient (torch.optim's ``RAdam(decoupled_weight_decay=True)``).

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.RAdam(model.parameters(), lr=1e-3)
    """

    paper = ("Liu, Jiang, He, Chen, Liu, Gao & Han 2020, On the Variance of the Adaptive Learning Rate and "
             "Beyond (ICLR)")
    equations = """
m_t = beta1 m_{t-1} + (1 - beta1) g_t,   m_hat = m_t / (1 - beta1^t)
v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
rho_inf = 2 / (1 - beta2) - 1,   rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
if rho_t > 4:   l_t = sqrt(1 - beta2^t) / (sqrt(v_t) + eps)
                r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                theta <- theta - eta r_t m_hat l_t
else:           theta <- theta - eta m_hat
"""
    ARGS = (LR, BETAS, EPS,
            L2_WEIGHT_DECAY.documented("lambda: the L2 penalty g_t + lambda theta, or with decoupled_weight_decay "
                                       "the decay theta <- theta (1 - eta lambda) before each step"),
            Arg("decoupled_weight_decay", Bool(), "decouple the weight decay from the gradient (AdamW's decay)"))
    DEFAULTS = {
        "paper": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                  "decoupled_weight_decay": False},
        "torch": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                  "decoupled_weight_decay": False},
    }
    #: rho_t above which the adaptive step is taken.
    TRACTABLE = {"paper": 4.0, "torch": 5.0}
    kernel = staticmethod(radam_update)

    def state_names(self, group):
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    def decay_mode(self, group):
        return "decoupled" if group["decoupled_weight_decay"] else super().decay_mode(group)

    def hyper(self, group, step, scalars):
        lr = _scalar(group["lr"])
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        bc1, bc2 = 1.0 - beta1 ** step, 1.0 - beta2 ** step
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * step * beta2 ** step / bc2
        rectified = rho_t > self.TRACTABLE[self.convention]
        if rectified:
            r_t = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
            step_size = lr * r_t * math.sqrt(bc2) / bc1
        else:
            step_size = lr / bc1
        return {"beta1": beta1, "beta2": beta2, "step_size": step_size, "rectified": rectified,
                "eps": _scalar(group["eps"])}


class NAdamW(Nadam):
    """NAdamW: Nadam with decoupled weight decay, the baseline of AlgoPerf.

    The paper convention is AlgoPerf's NAdamW (the baseline its submissions are scored against):
    the survey's Nadam, constant beta1, after Choi et al. 2019 (Table 1), with theta shrunk by
    eta lambda before each step as AdamW, and its defaults (lambda = 0.01). ``convention="torch"``
    is ``torch.optim.NAdam(params, decoupled_weight_decay=True)``: Dozat's momentum schedule
    (``momentum_decay``) and torch's defaults, with no decay unless ``weight_decay`` is given.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.NAdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    """

    paper = ("Dahl et al. 2023, Benchmarking Neural Network Training Algorithms (AlgoPerf; its NAdamW "
             "baseline); Dozat 2016 with Loshchilov & Hutter 2019's decoupled weight decay")
    equations = """
theta <- theta (1 - eta lambda)
m_t = beta1 m_{t-1} + (1 - beta1) g_t,   m_hat = m_t / (1 - beta1^t)
v_t = beta2 v_{t-1} + (1 - beta2) g_t^2,  v_hat = v_t / (1 - beta2^t)
theta <- theta - eta / (sqrt(v_hat) + eps) * (beta1 m_hat + (1 - beta1) g_t / (1 - beta1^t))
"""
    ARGS = (LR, BETAS, EPS,
            WEIGHT_DECAY.documented("lambda, the decoupled weight decay: theta <- theta (1 - eta lambda) before "
                                    "each step"),
            Nadam.ARGS[-1])
    DEFAULTS = {
        "paper": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2},
        "torch": {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "momentum_decay": 4e-3},
    }
    DECAY_MODE = {"paper": "decoupled", "torch": "decoupled"}


def _inverse_log(beta: float) -> float:
    """1 / ln(beta), 0 for beta = 0 (its limit)."""
    return 1.0 / math.log(beta) if beta > 0.0 else 0.0


def ademamix_beta3(step: int, beta_start: float, beta_end: float, warmup: int) -> float:
    """AdEMAMix's beta3 schedule: from beta_start (beta1) at t = 0 to beta_end at t = T (``warmup``)
    linearly in the half-life ln(1/2) / ln(beta), i.e. in 1 / ln(beta):

        beta3(t) = min(exp(ln(beta_start) ln(beta_end) / ((1 - t/T) ln(beta_end) + (t/T) ln(beta_start))),
                       beta_end);

    ``warmup=0``: beta_end throughout.

    Half-way, the half-life is half-way between beta1's (6.6 steps) and beta3's (6931 steps):

    >>> round(ademamix_beta3(50, 0.9, 0.9999, 100), 6), ademamix_beta3(100, 0.9, 0.9999, 100)
    (0.9998, 0.9999)
    """
    if warmup == 0 or step >= warmup:
        return beta_end
    a = step / warmup
    inverse = (1.0 - a) * _inverse_log(beta_start) + a * _inverse_log(beta_end)
    return min(math.exp(1.0 / inverse), beta_end) if inverse != 0.0 else 0.0


class AdEMAMix(FlatOptimizer):
    """AdEMAMix: Adam's update plus alpha times a slow EMA of the gradients, which keeps using
    gradients thousands of steps old (beta3 = 0.9999: a half-life of ~6900 steps).

    The slow EMA m2 is not debiased; ``alpha_warmup`` and ``beta3_warmup`` (the paper's T_alpha,beta3,
    which it sets to the length of training) raise alpha from 0 linearly and beta3 from beta1 linearly
    in half-life, against the instability of a large beta3 early on. Defaults are the authors' PyTorch
    code's (alpha = 2, no warm-up; the paper uses alpha in 4..10 for language models, with warm-up).
    ``weight_decay`` is decoupled: theta <- theta (1 - eta lambda) before each step.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = sgdlab.optim.AdEMAMix(model.parameters(), lr=1e-3, alpha=5.0, alpha_warmup=10_000,
        ...                             beta3_warmup=10_000)
    """

    paper = ("Pagliardini, Ablin & Grangier 2024, The AdEMAMix Optimizer: Better, Faster, Older "
             "(arXiv:2409.03137)")
    equations = """
alpha(t) = min(t alpha / T_alpha, alpha),   beta3(t) from beta1 to beta3 over T_beta3 (linear half-life)
m1_t = beta1 m1_{t-1} + (1 - beta1) g_t,          m1_hat = m1_t / (1 - beta1^t)
m2_t = beta3(t) m2_{t-1} + (1 - beta3(t)) g_t
nu_t = beta2 nu_{t-1} + (1 - beta2) g_t^2,        nu_hat = nu_t / (1 - beta2^t)
theta <- theta - eta ((m1_hat + alpha(t) m2_t) / (sqrt(nu_hat) + eps) + lambda theta)
"""
    ARGS = (LR, BETAS.documented("(beta1, beta2), the decay rates of the fast EMA m1 and of nu_t, as Adam's"),
            Arg("beta3", DECAY_RATE, "the decay rate of the slow EMA m2"),
            Arg("alpha", Real(0), "alpha, the weight of the slow EMA in the update"),
            Arg("beta3_warmup", Int(0), "T_beta3, the steps over which beta3 rises from beta1 (0: none)"),
            Arg("alpha_warmup", Int(0), "T_alpha, the steps over which alpha rises from 0 (0: none)"),
            EPS,
            WEIGHT_DECAY.documented("lambda, the decoupled weight decay: theta <- theta (1 - eta lambda) before "
                                    "each step"))
    DEFAULTS = {"paper": {"lr": 1e-3, "betas": (0.9, 0.999), "beta3": 0.9999, "alpha": 2.0, "beta3_warmup": 0,
                          "alpha_warmup": 0, "eps": 1e-8, "weight_decay": 0.0}}
    DECAY_MODE = {"paper": "decoupled"}
    kernel = staticmethod(ademamix_update)

    def state_names(self, group):
        return {"exp_avg_fast": 0.0, "exp_avg_slow": 0.0, "exp_avg_sq": 0.0}

    def hyper(self, group, step, scalars):
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        alpha, alpha_warmup = _scalar(group["alpha"]), group["alpha_warmup"]
        if alpha_warmup:
            alpha = min(step * alpha / alpha_warmup, alpha)
        return {"beta1": beta1, "beta2": beta2,
                "beta3": ademamix_beta3(step, beta1, _scalar(group["beta3"]), group["beta3_warmup"]),
                "alpha": alpha, "bias_correction1": 1.0 - beta1 ** step,
                "bias_correction2_sqrt": math.sqrt(1.0 - beta2 ** step), "lr": _scalar(group["lr"]),
                "eps": _scalar(group["eps"])}


__all__ = ["Adam", "AMSGrad", "AdamW", "AdaMax", "Nadam", "QHAdam", "RAdam", "NAdamW", "AdEMAMix"]
