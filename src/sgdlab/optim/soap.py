"""SOAP: Adam run in the eigenbasis of Shampoo's preconditioners, the basis refreshed every f steps.

:func:`soap_update` is the single source of the math, written for a batch ``(B, m, n)`` of same-shape
matrices (the per-shape path of :mod:`.matrix`): the rotations are ``bmm``, the eigendecompositions and
QR factorisations batched ``torch.linalg.eigh`` / ``qr``, so one call updates every matrix of a shape.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._validation import Int
from ._engine import BETAS, DECAY_RATE, EPS, LR, WEIGHT_DECAY, Arg, _scalar
from .matrix import MatrixOptimizer


def _rotate(X: Tensor, Q_L: Tensor | None, Q_R: Tensor | None, back: bool = False) -> Tensor:
    """Q_L^T X Q_R, into the eigenbasis (or Q_L X Q_R^T, ``back``); a side without Q is the identity."""
    if Q_L is not None:
        X = torch.bmm(Q_L if back else Q_L.mT, X)
    if Q_R is not None:
        X = torch.bmm(X, Q_R.mT if back else Q_R)
    return X


def _decomposable(P: Tensor) -> Tensor:
    """``P`` in a dtype eigh and QR take (bfloat16 and float16 go through float32)."""
    return P.float() if P.dtype in (torch.bfloat16, torch.float16) else P


def _eigenbasis(P: Tensor) -> Tensor:
    """The eigenvectors of each symmetric matrix of ``P``, by decreasing eigenvalue."""
    return torch.linalg.eigh(_decomposable(P)).eigenvectors.flip(-1).to(P.dtype)


def _refresh(P: Tensor, Q: Tensor, exp_avg_sq: Tensor, dim: int) -> None:
    """Q <- QR(P Q): one power iteration from the current basis, its columns first sorted by their
    estimated eigenvalues diag(Q^T P Q), largest first, and V's rows (``dim`` 1) or columns (``dim`` 2)
    permuted alike, so that each second-moment entry stays with its eigenvector."""
    order = (Q * torch.bmm(P, Q)).sum(dim=1).argsort(dim=-1, descending=True, stable=True)
    index = order[:, :, None] if dim == 1 else order[:, None, :]
    exp_avg_sq.copy_(exp_avg_sq.gather(dim, index.expand_as(exp_avg_sq)))
    Q_sorted = Q.gather(2, order[:, None, :].expand_as(Q))
    Q.copy_(torch.linalg.qr(_decomposable(torch.bmm(P, Q_sorted))).Q.to(Q.dtype))


def soap_update(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, L: Tensor | None = None,
                Q_L: Tensor | None = None, R: Tensor | None = None, Q_R: Tensor | None = None, *, first: bool,
                refresh: bool, beta1, beta2, shampoo_beta, eps, step_size, decay_keep) -> None:
    """SOAP on a batch of same-shape parameters, each the matrix (shape[0], prod(shape[1:])) (a vector
    is (1, n): no preconditioner, Adam). A side longer than max_precond_dim has no L / Q_L (or R / Q_R):
    its basis stays the identity. ``exp_avg`` is kept in the eigenbasis (M' = Q_L^T M Q_R), rotated with
    the basis at each refresh; this is the algorithm's M, four products a step cheaper."""
    b = len(param)
    G = grad.view(b, grad.shape[1], -1) if grad.dim() > 2 else grad.view(b, 1, -1)
    M, V = exp_avg.view(G.shape), exp_avg_sq.view(G.shape)
    if not first:
        # G' = Q_L^T G Q_R
        G_rot = _rotate(G, Q_L, Q_R)
        # M' = Q_L^T M Q_R,  M = beta1 M + (1 - beta1) G   (as M' = beta1 M' + (1 - beta1) G')
        M.mul_(beta1).add_(G_rot, alpha=1 - beta1)
        # V = beta2 V + (1 - beta2) G' * G'
        V.mul_(beta2).addcmul_(G_rot, G_rot, value=1 - beta2)
        # N = Q_L (M' / (sqrt(V) + eps)) Q_R^T;  W <- W - eta sqrt(1 - beta2^s) / (1 - beta1^s) N
        N = _rotate(M / (V.sqrt() + eps), Q_L, Q_R, back=True)
        param.view(G.shape).add_(N, alpha=-step_size)
        # W <- W (1 - eta lambda)    (decoupled weight decay, after the step as the authors' code)
        param.mul_(decay_keep)
    # L = beta L + (1 - beta) G G^T,  R = beta R + (1 - beta) G^T G    (beta = shampoo_beta)
    if L is not None:
        L.lerp_(torch.bmm(G, G.mT), 1 - shampoo_beta)
    if R is not None:
        R.lerp_(torch.bmm(G.mT, G), 1 - shampoo_beta)
    if first:  # the first gradient only sets up the bases: Q = the eigenvectors of L and of R
        for P, Q in ((L, Q_L), (R, Q_R)):
            if P is not None:
                Q.copy_(_eigenbasis(P))
    elif refresh:  # every f steps: Q_L <- Eigenvectors(L, Q_L), Q_R <- Eigenvectors(R, Q_R)
        M_orig = _rotate(M, Q_L, Q_R, back=True)
        for P, Q, dim in ((L, Q_L, 1), (R, Q_R, 2)):
            if P is not None:
                _refresh(P, Q, V, dim)
        M.copy_(_rotate(M_orig, Q_L, Q_R))


class SOAP(MatrixOptimizer):
    """SOAP: ShampoO with Adam in the Preconditioner's eigenbasis.

    Shampoo keeps L = sum G G^T and R = sum G^T G for a matrix; SOAP rotates each gradient into their
    eigenbases (G' = Q_L^T G Q_R), runs Adam there, and rotates the step back. The bases are
    refreshed every ``precondition_frequency`` steps by one power iteration and a QR factorisation;
    Adam's second moment is kept across refreshes, so the basis may lag without the instabilities of
    a stale Shampoo. A side longer than ``max_precond_dim`` is not rotated (one-sided SOAP, as for an
    embedding's vocabulary), and a vector runs Adam.

    ``convention="paper"`` (only) is Vyas et al.'s Algorithm 3 with the boundary effects of their
    code (github.com/nikhilvyas/SOAP): the first gradient sets up L, R and their bases by eigh
    without a step; Adam's bias corrections count from the second, eps is added to sqrt(V) before
    the correction, the weight decay (decoupled, lr lambda) follows the step, and a refresh sorts the
    basis by estimated eigenvalue before its QR, permuting V alike. ``shampoo_beta`` None uses beta2
    for L and R, as their default. A parameter of more than 2 dimensions is the matrix (shape[0],
    prod(shape[1:])) here (their code keeps a preconditioner per dimension). Matrices of one shape run
    as one batch (``fused`` does not apply: eigh and QR do not compile).

    Example:
        >>> import torch, sgdlab
        >>> model = torch.nn.Linear(16, 8)
        >>> opt = sgdlab.optim.SOAP(model.parameters(), lr=3e-3, precondition_frequency=10)
        >>> for _ in range(2):
        ...     opt.zero_grad(); model(torch.randn(4, 16)).square().mean().backward(); opt.step()
        >>> sorted(k for k in opt.state[model.weight])
        ['L', 'Q_L', 'Q_R', 'R', 'exp_avg', 'exp_avg_sq', 'step']
    """

    paper = ("Vyas, Morwani, Zhao, Shapira, Brandfonbrener, Janson & Kakade 2024, SOAP: Improving and "
             "Stabilizing Shampoo using Adam (ICLR 2025), Algorithm 3")
    equations = """
W of shape (m, n); L, R, Q_L, Q_R set up by the first gradient (eigh); s = t - 1 Adam steps after it
G' = Q_L^T G Q_R
M = beta1 M + (1 - beta1) G,   M' = Q_L^T M Q_R
V = beta2 V + (1 - beta2) G' * G'
N = Q_L (M' / (sqrt(V) + eps)) Q_R^T
W <- (W - eta sqrt(1 - beta2^s) / (1 - beta1^s) N) (1 - eta lambda)
L = beta L + (1 - beta) G G^T,   R = beta R + (1 - beta) G^T G      (beta = shampoo_beta)
every f steps: Q_L <- QR(L Q_L), Q_R <- QR(R Q_R)   (one power iteration)
"""
    ARGS = (
        LR, BETAS.documented("(beta1, beta2), the decay rates of Adam's M and V in the eigenbasis"),
        Arg("shampoo_beta", (DECAY_RATE, None), "the decay rate of Shampoo's L and R (None: beta2)"),
        EPS, WEIGHT_DECAY.documented("lambda, the decoupled weight decay: W <- W (1 - lr lambda) after the step"),
        Arg("precondition_frequency", Int(1), "f, the steps between two refreshes of the eigenbases"),
        Arg("max_precond_dim", Int(1), "the longest side that gets a preconditioner; a longer one is not "
            "rotated"),
    )
    DEFAULTS = {"paper": {"lr": 3e-3, "betas": (0.95, 0.95), "shampoo_beta": None, "eps": 1e-8,
                          "weight_decay": 0.01, "precondition_frequency": 10, "max_precond_dim": 10000}}
    shape_kernel = staticmethod(soap_update)

    def shape_state(self, group, shape):
        state = {"exp_avg": (shape, 0.0), "exp_avg_sq": (shape, 0.0)}
        if len(shape) >= 2:
            for side, size in (("L", shape[0]), ("R", math.prod(shape[1:]))):
                if size <= group["max_precond_dim"]:
                    state[side] = state[f"Q_{side}"] = ((size, size), 0.0)
        return state

    def shape_hyper(self, group, step, param):
        lr = _scalar(group["lr"])
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        s = step - 1  # Adam's steps: the first gradient only set up the bases
        shampoo_beta = group["shampoo_beta"]
        return {"first": s == 0, "refresh": s > 0 and s % group["precondition_frequency"] == 0,
                "beta1": beta1, "beta2": beta2, "eps": _scalar(group["eps"]),
                "shampoo_beta": beta2 if shampoo_beta is None else _scalar(shampoo_beta),
                "step_size": lr * math.sqrt(1 - beta2 ** s) / (1 - beta1 ** s) if s else 0.0,
                "decay_keep": 1 - lr * _scalar(group["weight_decay"])}


__all__ = ["SOAP", "soap_update"]
