"""Muon: momentum orthogonalised by Newton-Schulz, for the matrices of a network; AdamW for the rest.

:func:`newton_schulz` and :func:`muon_update` are the single source of the math, written for a batch
``(B, m, n)`` of same-shape matrices (one ``bmm`` / ``baddbmm`` chain for all of them, the same lines for
one matrix); :class:`Muon` routes each parameter: those of two or more dimensions to Muon, the others
(biases, norms' gains) to an AdamW group that runs sgdlab's AdamW on the engine's flat buffers.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .._validation import Bool, Int, Options, Real, Seq, argument_error, check
from ._engine import BETAS, EPS, LR, MOMENTUM, WEIGHT_DECAY, Arg, _scalar
from .adam import AdamW, adam_update
from .matrix import MatrixOptimizer


def newton_schulz(G: Tensor, coefficients: tuple[float, float, float], steps: int, eps: float,
                  eps_added: bool) -> Tensor:
    """The quintic Newton-Schulz iteration towards the orthogonal factor U V^T of each matrix of the
    batch ``G`` ``(B, m, n)`` (G = U S V^T), in bfloat16 as torch.optim.Muon and Keller Jordan's code.

    The iteration maps each singular value s to a s + b s^3 + c s^5; (a, b, c) = (3.4445, -4.7750,
    2.0315) push every s in (0, 1] into roughly [0.7, 1.2] in five steps, which trains as well as U V^T.
    A tall matrix (m > n) is iterated from the right, X <- a X + X (b A + c A^2) with A = X^T X, which
    is the iteration of its transpose (the Gram matrices stay the small ones) without copying it."""
    a, b, c = coefficients
    X = G.bfloat16()
    tall = G.size(-2) > G.size(-1)
    # X_0 = G / ||G||_F, so that every singular value is at most 1: eps guards G = 0, as
    # max(||G||, eps) (torch) or ||G|| + eps (Jordan et al.); the products write into buffers
    # allocated once per call
    norm = X.norm(dim=(-2, -1), keepdim=True)
    X = X / (norm + eps if eps_added else norm.clamp(min=eps))
    small = X.shape[-1] if tall else X.shape[-2]
    A = X.new_empty(X.shape[0], small, small)
    B, Y = torch.empty_like(A), torch.empty_like(X)
    for _ in range(steps):
        # A = X X^T (wide), X^T X (tall)
        torch.bmm(X.mT, X, out=A) if tall else torch.bmm(X, X.mT, out=A)
        # B = b A + c A^2
        torch.baddbmm(A, A, A, beta=b, alpha=c, out=B)
        # X <- a X + B X (wide), a X + X B (tall)
        torch.baddbmm(X, X, B, beta=a, out=Y) if tall else torch.baddbmm(X, B, X, beta=a, out=Y)
        X, Y = Y, X
    return X


#: On a CPU, the batch goes through :func:`muon_update` in chunks of about this many bytes of bfloat16
#: matrices: one 768 x 768 matrix at a time made the step 1.4x faster than all 48 together (2.24 -> 1.62 s),
#: the chunk staying in the core's cache between products (measured 2026-12-02, torch 2.13, 1 thread;
#: docs/benchmarks.md, layout t). On a GPU the whole batch is one chain.
CPU_CHUNK_BYTES = 2**21


def muon_update(param: Tensor, grad: Tensor, momentum_buffer: Tensor, **scalars) -> None:
    """Muon on a batch ``(B, *shape)`` of same-shape parameters, each orthogonalised as the matrix
    (shape[0], prod(shape[1:])); ``step_size`` is the learning rate adjusted for that shape and
    ``decay_keep`` = 1 - eta lambda. On a CPU, in chunks of :data:`CPU_CHUNK_BYTES`."""
    per = len(param)
    if param.device.type == "cpu":
        per = max(1, CPU_CHUNK_BYTES // (2 * param[0].numel()))
    for s in range(0, len(param), per):
        _muon_chunk(param[s:s + per], grad[s:s + per], momentum_buffer[s:s + per], **scalars)


def _muon_chunk(param: Tensor, grad: Tensor, momentum_buffer: Tensor, *, momentum, nesterov: bool,
                ns_coefficients, ns_steps: int, eps, eps_added: bool, step_size, decay_keep) -> None:
    # M_t = mu M_{t-1} + (1 - mu) G_t       (as torch and Jordan et al.: lerp)
    momentum_buffer.lerp_(grad, 1 - momentum)
    # U_t = (1 - mu) G_t + mu M_t (Nesterov), or M_t
    update = grad.lerp(momentum_buffer, momentum) if nesterov else momentum_buffer
    # O_t = NS(U_t), per matrix
    ortho = newton_schulz(update.view(len(update), update.shape[1], -1), ns_coefficients, ns_steps, eps,
                          eps_added)
    # theta <- theta (1 - eta lambda)    (decoupled weight decay)
    param.mul_(decay_keep)
    # theta <- theta - eta_adj O_t
    param.view(ortho.shape).add_(ortho, alpha=-step_size)


def adjusted_lr(lr: float, adjust_lr_fn: str | None, rows: int, cols: int) -> float:
    """The learning rate of an (rows x cols) matrix: ``"original"`` (Jordan et al.) scales by
    sqrt(max(1, rows / cols)), so that the update's RMS does not shrink for wide-fan-out layers;
    ``"match_rms_adamw"`` (Liu et al. 2025, Moonshot) by 0.2 sqrt(max(rows, cols)), the update RMS of
    AdamW, so that AdamW's lr and weight decay carry over."""
    if adjust_lr_fn == "match_rms_adamw":
        return lr * (0.2 * math.sqrt(max(rows, cols)))
    return lr * math.sqrt(max(1, rows / cols))


#: The hyper-parameters of an AdamW group (``use_muon=False``), under the names AdamW gives them.
_ADAMW_ARGS = {a.name: a for a in (LR, BETAS, EPS, WEIGHT_DECAY)}
#: The constructor's defaults of the AdamW groups, and the AdamW group keys they fill.
_ADAMW_DEFAULTS = {"adamw_lr": "lr", "adamw_betas": "betas", "adamw_eps": "eps",
                   "adamw_weight_decay": "weight_decay"}
_MUON_ONLY = ("momentum", "nesterov", "ns_coefficients", "ns_steps", "adjust_lr_fn")


class Muon(MatrixOptimizer):
    """Muon: SGD momentum whose update is orthogonalised (Newton-Schulz) per matrix; AdamW for the rest.

    Each parameter of two or more dimensions is a matrix (a conv kernel (out, in, kh, kw) the matrix
    (out, in kh kw)), updated by Muon; every other one (biases, normalisation gains) goes to an AdamW
    group, so ``Muon(model.parameters())`` trains a whole model. The rule of the default routing: a
    param group without ``"use_muon"`` is split in two, its matrices (``use_muon=True``, first) and the
    rest (``use_muon=False``, whose lr, betas, eps and weight_decay are ``adamw_lr``, ``adamw_betas``,
    ... of the group or of the constructor). Embeddings and the output head are matrices that Muon's
    authors give to AdamW: mark them by a param group with ``"use_muon": False``, whose own "lr",
    "betas", "eps" and "weight_decay" are AdamW's (missing ones from the ``adamw_*`` defaults). A
    scheduler scales every group's lr, both kinds.

    ``convention="torch"`` is ``torch.optim.Muon`` on the matrices (step for step: its lerp momentum,
    Nesterov, bfloat16 Newton-Schulz with eps as max(||X||, eps), ``adjust_lr_fn``, defaults), and
    ``torch.optim.AdamW`` with torch's defaults for the AdamW groups; ``convention="paper"`` is Keller
    Jordan's muon.py (MuonWithAuxAdam): lr 0.02, no weight decay, eps added to the norm, its AdamW
    defaults (lr 3e-4, betas (0.9, 0.95), eps 1e-10); the same arithmetic otherwise (torch's
    ``baddbmm`` for b A + c A^2, which rounds differently in bfloat16 from that code's separate
    products). Both AdamW groups run sgdlab's AdamW under its torch convention (decay lr lambda,
    as both references). Parameters without a gradient are left alone (Jordan's code steps them with
    a zero gradient). Matrices of one shape run as one batch; ``fused`` applies to the AdamW groups.

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
        >>> opt = sgdlab.optim.Muon(model.parameters(), lr=0.02)
        >>> [(g["use_muon"], len(g["params"])) for g in opt.param_groups]  # weights, then biases
        [(True, 2), (False, 2)]
        >>> opt = sgdlab.optim.Muon([{"params": [model[0].weight]},
        ...                          {"params": [model[2].weight, model[0].bias, model[2].bias],
        ...                           "use_muon": False, "lr": 1e-3}])   # the output head to AdamW
    """

    paper = ("Jordan et al. 2024, Muon: An optimizer for hidden layers in neural networks "
             "(kellerjordan.github.io/posts/muon; github.com/KellerJordan/Muon)")
    equations = """
matrices (use_muon=True), W of shape (m, n):
  M_t = mu M_{t-1} + (1 - mu) G_t
  U_t = (1 - mu) G_t + mu M_t   (nesterov; else U_t = M_t)
  X_0 = U_t / (||U_t||_F + eps);  X_{k+1} = a X_k + (b A_k + c A_k^2) X_k,  A_k = X_k X_k^T  (k < ns_steps)
  W <- W (1 - eta lambda) - eta sqrt(max(1, m / n)) X_K
the rest (use_muon=False): AdamW, theta <- theta (1 - eta lambda) - eta m_hat / (sqrt(v_hat) + eps)
"""
    ARGS = (
        LR.documented("the learning rate eta of the matrices (a one-element tensor too)"),
        WEIGHT_DECAY.documented("lambda, the decoupled weight decay of the matrices: W <- W (1 - eta lambda)"),
        MOMENTUM.documented("the momentum mu"),
        Arg("nesterov", Bool(), "whether the update is the Nesterov look-ahead (1 - mu) G_t + mu M_t"),
        Arg("ns_coefficients", Seq(Real(), length=3), "(a, b, c), the Newton-Schulz polynomial "
            "a s + b s^3 + c s^5"),
        EPS.documented("the epsilon guarding the normalisation by ||U_t||_F"),
        Arg("ns_steps", Int(1, 99), "the number of Newton-Schulz iterations"),
        Arg("adjust_lr_fn", (Options("original", "match_rms_adamw"), None),
            'how eta scales with the shape (m, n): "original" sqrt(max(1, m / n)) (Jordan et al.), '
            '"match_rms_adamw" 0.2 sqrt(max(m, n)) (Liu et al. 2025); None is "original", as torch'),
        Arg("adamw_lr", LR.accepts, "the learning rate of the AdamW groups"),
        Arg("adamw_betas", BETAS.accepts, "(beta1, beta2) of the AdamW groups"),
        Arg("adamw_eps", EPS.accepts, "the epsilon of the AdamW groups"),
        Arg("adamw_weight_decay", WEIGHT_DECAY.accepts, "the decoupled weight decay lambda of the AdamW "
            "groups, theta <- theta (1 - lr lambda)"),
    )
    DEFAULTS = {
        "paper": {"lr": 0.02, "weight_decay": 0.0, "momentum": 0.95, "nesterov": True,
                  "ns_coefficients": (3.4445, -4.775, 2.0315), "eps": 1e-7, "ns_steps": 5,
                  "adjust_lr_fn": "original", "adamw_lr": 3e-4, "adamw_betas": (0.9, 0.95),
                  "adamw_eps": 1e-10, "adamw_weight_decay": 0.0},
        "torch": {"lr": 1e-3, "weight_decay": 0.1, "momentum": 0.95, "nesterov": True,
                  "ns_coefficients": (3.4445, -4.775, 2.0315), "eps": 1e-7, "ns_steps": 5,
                  "adjust_lr_fn": "original", "adamw_lr": 1e-3, "adamw_betas": (0.9, 0.999),
                  "adamw_eps": 1e-8, "adamw_weight_decay": 1e-2},
    }
    DECAY_MODE = {"paper": "decoupled", "torch": "decoupled"}
    shape_kernel = staticmethod(muon_update)
    # The AdamW groups: sgdlab's AdamW update, and its scalars under the torch convention's formulas.
    kernel = staticmethod(adam_update)
    hyper = AdamW.hyper
    _scales = AdamW._scales

    def state_names(self, group):
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    def per_shape(self, group):
        return group["use_muon"]

    def shape_state(self, group, shape):
        return {"momentum_buffer": (shape, 0.0)}

    def shape_hyper(self, group, step, param):
        rows, cols = param.shape[1], math.prod(param.shape[2:])
        lr = _scalar(group["lr"])
        return {"momentum": _scalar(group["momentum"]), "nesterov": group["nesterov"],
                "ns_coefficients": group["ns_coefficients"], "ns_steps": group["ns_steps"],
                "eps": _scalar(group["eps"]), "eps_added": self.convention == "paper",
                "step_size": adjusted_lr(lr, group["adjust_lr_fn"], rows, cols),
                "decay_keep": 1 - lr * _scalar(group["weight_decay"])}

    # ---- routing ----------------------------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group; without ``"use_muon"`` it is split into its matrices and the rest."""
        if not isinstance(param_group, dict) or isinstance(param_group.get("params"), set):
            super().add_param_group(param_group)  # refused by torch, in its words
            return
        if "use_muon" in param_group:
            parts = [{**param_group, "use_muon": check("use_muon", param_group["use_muon"], Bool())}]
        else:
            parts = self._split(param_group)
        for part in parts:
            if not part["use_muon"]:
                for name, key in _ADAMW_DEFAULTS.items():
                    part.setdefault(key, part.get(name, self.defaults[name]))
            super().add_param_group(part)

    @staticmethod
    def _split(group: dict[str, Any]) -> list[dict[str, Any]]:
        """The default routing: the group's matrices (first), then the rest with the group's
        ``adamw_*`` hyper-parameters (or none: the constructor's fill them)."""
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        is_matrix = [isinstance(t, Tensor) and t.dim() >= 2 for t in (p[1] if isinstance(p, tuple) else p
                                                                        for p in params)]
        matrices = [p for p, m in zip(params, is_matrix) if m]
        rest = [p for p, m in zip(params, is_matrix) if not m]
        common = {k: v for k, v in group.items() if k != "params"}
        parts = [{**common, "params": matrices, "use_muon": True}] if matrices or not rest else []
        if rest:
            adamw = {k: v for k, v in common.items() if k not in _ADAMW_ARGS and k not in _MUON_ONLY}
            parts.append({**adamw, "params": rest, "use_muon": False})
        return parts

    def _validate_group(self, group: dict[str, Any]) -> None:
        use_muon = group.setdefault("use_muon", True)
        for key in (*_ADAMW_DEFAULTS, *(() if use_muon else _MUON_ONLY)):
            group.pop(key, None)  # an AdamW group holds AdamW's hyper-parameters, a Muon group Muon's
        if use_muon:
            for i, p in enumerate(group["params"]):
                if p.dim() < 2:
                    names = group.get("param_names")
                    who = f"'{names[i]}'" if names else f"{i} of the group (shape {tuple(p.shape)})"
                    raise argument_error("use_muon", True, f"False for a group with parameter {who}: Muon "
                                         "orthogonalises parameters of 2 or more dimensions")
        else:
            group["betas"] = BETAS.check(group["betas"])
        super()._validate_group(group)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's format; a torch.optim.Muon checkpoint (no ``use_muon``) loads into the matrices."""
        groups = state_dict["param_groups"]
        for i, (mine, saved) in enumerate(zip(self.param_groups, groups)):
            if saved.get("use_muon", mine["use_muon"]) != mine["use_muon"]:
                raise argument_error(f"state_dict['param_groups'][{i}]['use_muon']", saved["use_muon"],
                                     f"{mine['use_muon']!r}, as in this optimizer, whose group {i} "
                                     "holds parameters routed the other way")
        super().load_state_dict({**state_dict, "param_groups": [
            {"use_muon": mine["use_muon"], **saved} for mine, saved in zip(self.param_groups, groups)]})


__all__ = ["Muon", "adjusted_lr", "muon_update", "newton_schulz"]
