"""Adafactor: Adam's second moment factored into row and column averages, relative steps, update clipping.

:func:`adafactor_update` is the single source of the math, written for a batch ``(B, *shape)`` of
same-shape parameters (the per-shape path of :mod:`.matrix`): the RMS of each parameter and of each
update are reductions over all but the batch dimension, so one call updates every parameter of a shape.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._validation import Constraint, Real
from ._engine import LR, WEIGHT_DECAY, Arg, _scalar
from .matrix import MatrixOptimizer, batch_rms

_NONNEGATIVE = Real(0)


class _EpsPair(Constraint):
    """(eps1, eps2): two finite numbers >= 0, eps1 None too (the machine epsilon of the dtype)."""

    def accepts_type(self, value: Any) -> bool:
        return isinstance(value, (list, tuple))

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, (list, tuple)) and len(value) == 2
                and (value[0] is None or _NONNEGATIVE.accepts(value[0])) and _NONNEGATIVE.accepts(value[1]))

    def convert(self, value: Any) -> tuple:
        return (None if value[0] is None else float(value[0]), float(value[1]))

    def __str__(self) -> str:
        return "a pair of finite numbers >= 0, the first may be None"


def adafactor_update(param: Tensor, grad: Tensor, row_var: Tensor | None = None, col_var: Tensor | None = None,
                     variance: Tensor | None = None, *, rho, one_minus_beta2, eps1, eps2, d, decay_keep,
                     eps1_in_square: bool) -> None:
    """Adafactor on a batch ``(B, *shape)``: factored (row and column factors over the last two
    dimensions) for parameters of 2 or more dimensions, ``variance`` for vectors. eps1 is added to
    G_t^2 (the paper, ``eps1_in_square``) or clamps the denominators (torch.optim). The averages are
    computed as ``lerp``, as torch.optim."""
    # alpha_t = max(eps2, RMS(X_{t-1})) rho_t      (the relative step size)
    alpha = batch_rms(param).clamp(min=eps2) * rho
    # X <- X (1 - lr lambda)     (decoupled weight decay; the paper has none)
    param.mul_(decay_keep)
    square = grad * grad + eps1 if eps1_in_square else grad * grad
    if variance is None:
        # R_t = beta2_hat R_{t-1} + (1 - beta2_hat) (G_t^2 + eps1) 1_m / m     (row means: the paper's
        # row sums / m, which leaves V_hat unchanged)
        row_var.lerp_(square.mean(dim=-1, keepdim=True), one_minus_beta2)
        # C_t = beta2_hat C_{t-1} + (1 - beta2_hat) 1_n^T (G_t^2 + eps1) / n
        col_var.lerp_(square.mean(dim=-2, keepdim=True), one_minus_beta2)
        # V_hat_t = R_t C_t / (1_n^T R_t)     (in means: R_t C_t / mean(R_t)); U_t = G_t / sqrt(V_hat_t)
        row_mean = row_var.mean(dim=-2, keepdim=True)
        if eps1_in_square:  # as (R_t / mean(R_t))^-1/2 C_t^-1/2: R_t C_t ~ eps1^2 would underflow float32
            inv_sqrt_v = (row_var / row_mean).rsqrt() * col_var.rsqrt()
        else:
            inv_sqrt_v = (row_var * col_var / row_mean.clamp(min=eps1)).clamp(min=eps1 * eps1).rsqrt()
    else:
        # V_hat_t = beta2_hat V_hat_{t-1} + (1 - beta2_hat) (G_t^2 + eps1);  U_t = G_t / sqrt(V_hat_t)
        v_hat = variance.lerp_(square, one_minus_beta2)
        inv_sqrt_v = v_hat.rsqrt() if eps1_in_square else v_hat.clamp(min=eps1 * eps1).rsqrt()
    update = grad * inv_sqrt_v
    # U_hat_t = U_t / max(1, RMS(U_t) / d);   X_t = X_{t-1} - alpha_t U_hat_t
    param.sub_(update * (alpha / (batch_rms(update) / d).clamp(min=1.0)))


class Adafactor(MatrixOptimizer):
    """Adafactor: Adam without its first moment and with a factored second moment, for sublinear memory.

    A matrix's second moment is the outer product of its row and column averages, R_t C_t / mean(R_t)
    (O(m + n) state instead of O(m n)); tensors of more dimensions are factored over their last two,
    vectors keep it whole. The step is relative to the parameter's scale (alpha_t = max(eps2, RMS(X))
    rho_t, rho_t = min(lr, 1 / sqrt(t))) and clipped where the update's RMS exceeds d; beta2 grows
    as 1 - t^beta2_decay, so the first steps are not biased towards 0.

    ``convention="paper"`` is Shazeer & Stern's Algorithms 4 (matrices) and 5 (vectors) with their
    recommended settings (eps1 = 1e-30 added to G^2, eps2 = 1e-3, d = 1, rho_t = min(1e-2, 1 /
    sqrt(t)): lr is the 1e-2, beta2_hat_t = 1 - t^-0.8). ``convention="torch"`` is
    ``torch.optim.Adafactor``: eps1 (default: the dtype's machine epsilon) clamps mean(R_t) and V_hat
    instead of being added to G^2, and ``weight_decay`` is decoupled, X (1 - lr lambda) (the paper has
    none; sgdlab's paper convention applies it the same way when it is set). Parameters of one shape
    run as one batch; ``fused`` compiles the batched update (torch.compile) of the matrices as for
    the elementwise optimizers (vectors run eagerly: Inductor fails on their fused loop, torch 2.13).

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(64, 32)
        >>> opt = sgdlab.optim.Adafactor(model.parameters())
        >>> model(torch.randn(8, 64)).square().mean().backward(); opt.step()
        >>> [tuple(opt.state[model.weight][k].shape) for k in ("row_var", "col_var")]
        [(32, 1), (1, 64)]
    """

    paper = ("Shazeer & Stern 2018, Adafactor: Adaptive Learning Rates with Sublinear Memory Cost "
             "(ICML), Algorithms 4 and 5")
    equations = """
alpha_t = max(eps2, RMS(X_{t-1})) rho_t,   rho_t = min(lr, 1 / sqrt(t)),   beta2_hat_t = 1 - t^beta2_decay
X of shape (n, m):
  R_t = beta2_hat_t R_{t-1} + (1 - beta2_hat_t) (G_t^2 + eps1 1_n 1_m^T) 1_m
  C_t = beta2_hat_t C_{t-1} + (1 - beta2_hat_t) 1_n^T (G_t^2 + eps1 1_n 1_m^T)
  V_hat_t = R_t C_t / (1_n^T R_t)
vectors: V_hat_t = beta2_hat_t V_hat_{t-1} + (1 - beta2_hat_t) (G_t^2 + eps1)
U_t = G_t / sqrt(V_hat_t),   U_hat_t = U_t / max(1, RMS(U_t) / d)
X_t = X_{t-1} - alpha_t U_hat_t
"""
    ARGS = (
        LR.documented("the cap of the relative step size rho_t = min(lr, 1 / sqrt(t)) (the paper's 1e-2), and "
                      "the lr of the weight decay"),
        Arg("beta2_decay", Real(None, 0), "the exponent of the second-moment decay: beta2_hat_t = 1 - "
            "t^beta2_decay"),
        Arg("eps", _EpsPair(), "(eps1, eps2): eps1 regularises the second moment (None: the machine epsilon "
            "of the parameter's dtype), eps2 is the least parameter scale of the relative step"),
        Arg("d", Real(1), "the clipping threshold of the update's RMS"),
        WEIGHT_DECAY.documented("lambda, the decoupled weight decay: X <- X (1 - lr lambda)"),
    )
    DEFAULTS = {
        "paper": {"lr": 1e-2, "beta2_decay": -0.8, "eps": (1e-30, 1e-3), "d": 1.0, "weight_decay": 0.0},
        "torch": {"lr": 1e-2, "beta2_decay": -0.8, "eps": (None, 1e-3), "d": 1.0, "weight_decay": 0.0},
    }
    shape_kernel = staticmethod(adafactor_update)

    def shape_fusable(self, shape):
        # Inductor's CPU code generator (torch 2.13) fails on the vector form for a batch of vectors
        # (KeyError in its outer-loop fusion): vectors run the eager update.
        return len(shape) >= 2

    def shape_state(self, group, shape):
        if len(shape) < 2:
            return {"variance": (shape, 0.0)}
        return {"row_var": ((*shape[:-1], 1), 0.0), "col_var": ((*shape[:-2], 1, shape[-1]), 0.0)}

    def shape_hyper(self, group, step, param):
        lr = _scalar(group["lr"])
        eps1, eps2 = group["eps"]
        return {"rho": min(lr, 1.0 / step ** 0.5), "one_minus_beta2": step ** _scalar(group["beta2_decay"]),
                "eps1": torch.finfo(param.dtype).eps if eps1 is None else eps1, "eps2": eps2,
                "d": _scalar(group["d"]), "decay_keep": 1.0 - lr * _scalar(group["weight_decay"]),
                "eps1_in_square": self.convention == "paper"}


__all__ = ["Adafactor", "adafactor_update"]
