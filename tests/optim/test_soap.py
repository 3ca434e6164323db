"""SOAP: Vyas et al.'s Algorithm 3 (a NumPy float64 implementation of the box, with the boundary
effects of their code), one-sided for long sides, one batched call per shape."""

import math

import numpy as np
import pytest
import torch

import sgdlab


def _numpy_soap(W0, grads, lrs, betas=(0.95, 0.95), shampoo_beta=None, eps=1e-8, wd=0.01, f=10, max_dim=10000):
    """Algorithm 3 in float64 for one parameter, as the matrix (shape[0], rest) (a vector: Adam), with
    M kept in the original space as in the box (G' = Q_L^T G Q_R; M = b1 M + (1 - b1) G; M' = Q_L^T M
    Q_R; V = b2 V + (1 - b2) G'^2; N = Q_L (M' / (sqrt V + eps)) Q_R^T; W -= lr N; L, R updated; every f
    steps Q <- QR(P Q)), and the boundary effects of the authors' code: the first gradient sets up L,
    R and Q_L, Q_R (eigh, eigenvalues decreasing) without a step; bias corrections count the Adam steps
    s from the second gradient, lr sqrt(1 - b2^s) / (1 - b1^s); weight decay W (1 - lr wd) after the
    step; a refresh first sorts Q's columns by diag(Q^T P Q), decreasing, and permutes V alike.
    ``grads[t]`` None: no gradient at t (the parameter does not step)."""
    b1, b2 = betas
    sb = b2 if shampoo_beta is None else shampoo_beta
    vec = W0.ndim < 2
    W = W0.reshape(1, -1) if vec else W0.reshape(W0.shape[0], -1)
    m, n = W.shape
    left, right = not vec and m <= max_dim, not vec and n <= max_dim
    L, R, QL, QR = np.zeros((m, m)), np.zeros((n, n)), np.eye(m), np.eye(n)
    M, V = np.zeros((m, n)), np.zeros((m, n))
    s = -1
    for G, lr in zip(grads, lrs):
        if G is None:
            continue
        G = G.reshape(m, n)
        s += 1
        if s > 0:
            Gp = QL.T @ G @ QR
            M = b1 * M + (1 - b1) * G
            Mp = QL.T @ M @ QR
            V = b2 * V + (1 - b2) * Gp * Gp
            N = QL @ (Mp / (np.sqrt(V) + eps)) @ QR.T
            W = (W - lr * math.sqrt(1 - b2 ** s) / (1 - b1 ** s) * N) * (1 - lr * wd)
        if left:
            L = sb * L + (1 - sb) * G @ G.T
        if right:
            R = sb * R + (1 - sb) * G.T @ G
        if s == 0:
            QL = np.linalg.eigh(L)[1][:, ::-1] if left else QL
            QR = np.linalg.eigh(R)[1][:, ::-1] if right else QR
        elif s % f == 0:
            if left:
                order = np.argsort(-np.diag(QL.T @ L @ QL), kind="stable")
                V, QL = V[order, :], np.linalg.qr(L @ QL[:, order])[0]
            if right:
                order = np.argsort(-np.diag(QR.T @ R @ QR), kind="stable")
                V, QR = V[:, order], np.linalg.qr(R @ QR[:, order])[0]
    return W.reshape(W0.shape)


# Square and nearly square matrices (a two-sided rectangle m x n with m - n >= 2 starts from an L whose
# null space has several dimensions: any basis of it is an eigenbasis, and which one eigh picks is
# LAPACK's; the steps after depend on it), sides longer than max_precond_dim = 10 (one-sided), a
# conv-like 3-D tensor (the matrix (3, 4)), a vector (Adam).
SHAPES = [(5, 5), (5, 5), (5, 4), (3, 40), (40, 3), (3, 2, 2), (7,)]


def _schedule(t):
    return 1.0 + 0.5 * math.cos(t)


def test_paper_convention_is_vyas_et_al_algorithm_3():
    """Two param groups (the second with 2x the lr, its own betas and f), a scheduler, a parameter
    without a gradient every 4th step; 60 steps, so that several refreshes happen."""
    gen = np.random.default_rng(0)
    start = [gen.standard_normal(s) for s in SHAPES]
    params = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in start]
    groups = [{"params": params[:3]}, {"params": params[3:], "betas": (0.9, 0.99), "precondition_frequency": 3}]
    opt = sgdlab.optim.SOAP(groups, lr=0.01, max_precond_dim=10, precondition_frequency=5)
    opt.param_groups[1]["lr"] = 0.02
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule)
    grads = [[None if i == 1 and t % 4 == 2 else gen.standard_normal(s) for i, s in enumerate(SHAPES)]
             for t in range(60)]
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = None if g is None else torch.from_numpy(g.copy())
        opt.step()
        sched.step()
    for i, (p, w) in enumerate(zip(params, start)):
        group = 0 if i < 3 else 1
        lrs = [(0.01, 0.02)[group] * _schedule(t) for t in range(60)]
        hyper = {"betas": (0.9, 0.99), "f": 3} if group else {"f": 5}
        expected = _numpy_soap(w, [gs[i] for gs in grads], lrs, max_dim=10, **hyper)
        assert np.abs(expected - w).max() > 0.05  # it moved
        np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-9, atol=1e-11)


def test_the_first_gradient_sets_up_the_bases_without_a_step():
    w = torch.nn.Parameter(torch.randn(6, 4, dtype=torch.float64))
    before = w.detach().clone()
    opt = sgdlab.optim.SOAP([w])
    g = torch.randn(6, 4, dtype=torch.float64)
    w.grad = g
    opt.step()
    assert torch.equal(w.detach(), before)
    st = opt.state[w]
    torch.testing.assert_close(st["L"], 0.05 * g @ g.T)
    torch.testing.assert_close(st["R"], 0.05 * g.T @ g)
    for Q, P in ((st["Q_L"], st["L"]), (st["Q_R"], st["R"])):
        torch.testing.assert_close(Q.T @ Q, torch.eye(len(Q), dtype=Q.dtype))
        eigenvalues = torch.diagonal(Q.T @ P @ Q)
        torch.testing.assert_close(Q.T @ P @ Q, torch.diag(eigenvalues))  # an eigenbasis,
        assert torch.all(eigenvalues[:-1] >= eigenvalues[1:] - 1e-12)     # largest first


def test_a_side_longer_than_max_precond_dim_is_not_preconditioned():
    emb = torch.nn.Parameter(torch.randn(50, 4))
    opt = sgdlab.optim.SOAP([emb], max_precond_dim=20)
    emb.grad = torch.randn(50, 4)
    opt.step()
    assert sorted(opt.state[emb]) == ["Q_R", "R", "exp_avg", "exp_avg_sq", "step"]


@pytest.mark.parametrize("hyper, error, message", [
    ({"precondition_frequency": 0}, ValueError, r"^Invalid precondition_frequency: 0 \(expected an int >= 1\)"),
    ({"max_precond_dim": 2.5}, TypeError, r"^Invalid max_precond_dim: 2.5 of type float \(expected an int >= 1\)"),
    ({"shampoo_beta": 1.0}, ValueError, r"^Invalid shampoo_beta: 1.0 \(expected a number in \[0, 1\) or None\)"),
    ({"betas": (0.95, 1.0)}, ValueError, r"^Invalid betas\[1\]: 1.0 "),
    ({"convention": "torch"}, ValueError, r"^Invalid convention: 'torch' \(expected one of 'paper': torch.optim "
                                          r"has no SOAP\)"),
])
def test_bad_hyper_parameters_are_refused_by_name(hyper, error, message):
    with pytest.raises(error, match=message):
        sgdlab.optim.SOAP([torch.nn.Parameter(torch.zeros(3, 2))], **hyper)
