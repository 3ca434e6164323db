"""Adafactor: torch.optim.Adafactor step for step under convention="torch", Shazeer & Stern's
Algorithms 4 and 5 (NumPy float64) under convention="paper", factored state, one call per shape."""

import math

import numpy as np
import pytest
import torch

import sgdlab

# two of one shape (a batch), a wide matrix, a 3-D tensor (factored over its last two dimensions),
# vectors and a scalar
SHAPES = [(6, 4), (6, 4), (4, 9), (3, 2, 4), (5,), (5,), ()]


def _params(seed=1, shapes=SHAPES):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=torch.float64)) for s in shapes]


def _schedule(t):
    return 1.0 + 0.5 * math.cos(t)


def _gradients(shapes, steps, seed=2):
    gen = np.random.default_rng(seed)
    return [[np.asarray(3.0 * gen.standard_normal(s)) for s in shapes] for _ in range(steps)]


def _train(opt, params, grads, skip=lambda t, i: False):
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule)
    for t, gs in enumerate(grads):
        for i, (p, g) in enumerate(zip(params, gs)):
            p.grad = None if skip(t, i) else torch.from_numpy(g.copy())
        opt.step()
        sched.step()


@pytest.mark.parametrize("fused", [False, True], ids=["eager", "fused"])
@pytest.mark.parametrize("hyper", [{}, {"weight_decay": 0.1, "d": 2.0, "eps": (1e-3, 1e-2), "beta2_decay": -0.5}],
                         ids=["defaults", "all-set"])
def test_torch_convention_follows_torch_optim_adafactor_for_100_steps(hyper, fused):
    """Two param groups (the second with 0.3x the lr), a scheduler, one parameter without a gradient
    every 7th step (so the parameters of a shape are at different steps); parameters and state."""
    ours_p, theirs_p = _params(), _params()
    ours = sgdlab.optim.Adafactor([{"params": ours_p[:3]}, {"params": ours_p[3:]}], convention="torch",
                                  fused=fused, **hyper)
    theirs = torch.optim.Adafactor([{"params": theirs_p[:3]}, {"params": theirs_p[3:]}], **hyper)
    assert {k: ours.defaults[k] for k in ("lr", "beta2_decay", "eps", "d", "weight_decay")} == {
        k: theirs.defaults[k] for k in ("lr", "beta2_decay", "eps", "d", "weight_decay")}
    for opt in (ours, theirs):
        opt.param_groups[1]["lr"] = 0.3 * opt.param_groups[0]["lr"]
    grads = _gradients([tuple(p.shape) for p in ours_p], 100)
    skip = lambda t, i: i == 1 and t % 7 == 3  # noqa: E731
    _train(ours, ours_p, grads, skip)
    _train(theirs, theirs_p, grads, skip)
    for p, q in zip(ours_p, theirs_p):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-10, atol=1e-12)
        assert set(ours.state[p]) == set(theirs.state[q])
        for key, value in theirs.state[q].items():
            torch.testing.assert_close(torch.as_tensor(ours.state[p][key], dtype=torch.float64),
                                       torch.as_tensor(value, dtype=torch.float64), rtol=1e-10, atol=1e-14)


def _numpy_adafactor(xs, grads, lr, eps1=1e-30, eps2=1e-3, d=1.0, c=0.8):
    """Shazeer & Stern's Algorithm 4 (a matrix X of n x m) and 5 (a vector), in float64, with the row
    and column *sums* of the paper: R = b R + (1 - b) (G^2 + eps1 1 1^T) 1_m, C = b C + (1 - b) 1_n^T
    (G^2 + eps1 1 1^T), V = R C / (1_n^T R); alpha = max(eps2, RMS(X)) rho, rho = min(lr_t, 1/sqrt(t)),
    b = 1 - t^-c; U = G / sqrt(V), X <- X - alpha U / max(1, RMS(U) / d). ``lr`` is lr_t by step."""
    xs = [x.copy() for x in xs]
    R = [np.zeros(x.shape[0]) if x.ndim == 2 else None for x in xs]
    C = [np.zeros(x.shape[1]) if x.ndim == 2 else None for x in xs]
    V = [np.zeros_like(x) for x in xs]
    rms = lambda a: np.sqrt(np.mean(a ** 2))  # noqa: E731
    for t, gs in enumerate(grads, start=1):
        beta2 = 1.0 - t ** -c
        rho = min(lr(t), 1.0 / math.sqrt(t))
        for i, (x, G) in enumerate(zip(xs, gs)):
            alpha = max(eps2, rms(x)) * rho
            if x.ndim == 2:
                R[i] = beta2 * R[i] + (1 - beta2) * (G ** 2 + eps1).sum(axis=1)
                C[i] = beta2 * C[i] + (1 - beta2) * (G ** 2 + eps1).sum(axis=0)
                v_hat = np.outer(R[i], C[i]) / R[i].sum()
            else:
                V[i] = beta2 * V[i] + (1 - beta2) * (G ** 2 + eps1)
                v_hat = V[i]
            U = G / np.sqrt(v_hat)
            xs[i] = x - alpha * U / max(1.0, rms(U) / d)
    return xs


@pytest.mark.parametrize("hyper", [{}, {"eps": (1e-6, 1e-2), "d": 1.5, "lr": 0.05}], ids=["defaults", "set"])
def test_paper_convention_is_shazeer_and_stern_algorithms_4_and_5(hyper):
    """The defaults are the paper's recommendation; the lr (rho_t's cap) follows a scheduler."""
    shapes = [(6, 4), (6, 4), (4, 9), (5,)]
    params = _params(shapes=shapes)
    start = [p.detach().numpy().copy() for p in params]
    opt = sgdlab.optim.Adafactor([{"params": params[:2]}, {"params": params[2:]}], **hyper)
    grads = _gradients(shapes, 100)
    _train(opt, params, grads)
    lr0 = hyper.get("lr", 1e-2)
    eps1, eps2 = hyper.get("eps", (1e-30, 1e-3))
    expected = _numpy_adafactor(start, grads, lambda t: lr0 * _schedule(t - 1), eps1, eps2, hyper.get("d", 1.0))
    for p, x in zip(params, expected):
        np.testing.assert_allclose(p.detach().numpy(), x, rtol=1e-10, atol=1e-12)


def test_the_state_of_a_matrix_is_factored():
    w = torch.nn.Parameter(torch.randn(300, 200))
    opt = sgdlab.optim.Adafactor([w])
    w.grad = torch.randn(300, 200)
    opt.step()
    assert {k: tuple(v.shape) for k, v in opt.state[w].items()} == {"step": (), "row_var": (300, 1),
                                                                     "col_var": (1, 200)}


@pytest.mark.parametrize("convention", ["paper", "torch"])
def test_a_float32_matrix_with_rows_of_zero_gradient_stays_finite(convention):
    """Dead units give rows and columns of zero gradient: R_t C_t ~ eps1^2 = 1e-60 underflows float32;
    the paper convention computes V_hat^-1/2 as (R_t / mean(R_t))^-1/2 C_t^-1/2, torch clamps."""
    w = torch.nn.Parameter(torch.randn(4, 3, 3, 3))
    opt = sgdlab.optim.Adafactor([w], convention=convention)
    for _ in range(3):
        w.grad = torch.randn(4, 3, 3, 3)
        w.grad[1:3] = 0.0
        opt.step()
    assert torch.isfinite(w).all()


def test_the_fused_path_compiles_matrices_and_tensors_of_every_shape_and_matches_eager():
    """Batches of matrices, 3-D tensors, vectors (eager) and a scalar, both conventions: no fallback
    (which would warn, and turn compilation off for the process), the eager result to 1e-12."""
    for convention in ("paper", "torch"):
        runs = []
        for fused in (False, True):
            params = _params()
            opt = sgdlab.optim.Adafactor(params, convention=convention, fused=fused)
            _train(opt, params, _gradients([tuple(p.shape) for p in params], 5))
            runs.append(params)
        assert sgdlab.optim._engine.compile_available(), sgdlab.optim._engine._COMPILE_FAILED
        for eager, fast in zip(*runs):
            torch.testing.assert_close(fast.detach(), eager.detach(), rtol=1e-12, atol=1e-12)


def test_a_torch_optim_adafactor_checkpoint_continues_under_sgdlab_as_under_torch():
    shapes = [(6, 4), (6, 4), (5,)]
    theirs_p = _params(shapes=shapes)
    theirs = torch.optim.Adafactor(theirs_p)
    grads = _gradients(shapes, 30)
    for gs in grads[:10]:
        for p, g in zip(theirs_p, gs):
            p.grad = torch.from_numpy(g.copy())
        theirs.step()
    ours_p = [torch.nn.Parameter(p.detach().clone()) for p in theirs_p]
    ours = sgdlab.optim.Adafactor(ours_p, convention="torch")
    ours.load_state_dict(theirs.state_dict())
    for gs in grads[10:]:
        for p, q, g in zip(ours_p, theirs_p, gs):
            p.grad, q.grad = torch.from_numpy(g.copy()), torch.from_numpy(g.copy())
        ours.step()
        theirs.step()
    for p, q in zip(ours_p, theirs_p):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("hyper, error, message", [
    ({"beta2_decay": 0.5}, ValueError, r"^Invalid beta2_decay: 0.5 \(expected a finite number <= 0\)"),
    ({"d": 0.5}, ValueError, r"^Invalid d: 0.5 \(expected a finite number >= 1\)"),
    ({"eps": (-1.0, 1e-3)}, ValueError, r"^Invalid eps: \(-1.0, 0.001\) \(expected a pair of finite numbers >= 0, "
                                        r"the first may be None\)"),
    ({"eps": (None, float("nan"))}, ValueError, r"^Invalid eps: \(None, nan\) "),
    ({"eps": 1e-3}, TypeError, r"^Invalid eps: 0.001 of type float "),
    ({"convention": "keras"}, ValueError, r"^Invalid convention: 'keras' \(expected one of 'paper', 'torch': "
                                          r"Keras has no Adafactor\)"),
])
def test_bad_hyper_parameters_are_refused_by_name(hyper, error, message):
    with pytest.raises(error, match=message):
        sgdlab.optim.Adafactor(_params(), **hyper)
