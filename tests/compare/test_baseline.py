"""The baseline: AlgoPerf's NAdamW (torch.optim.NAdam with decoupled weight decay and no momentum
schedule) with linear warm-up and cosine decay, checked against the equations in NumPy."""

import math

import numpy as np
import pytest
import torch

from sgdlab.compare import baseline


def nadamw_numpy(theta, grads, lrs, beta1, beta2, eps, wd):
    """Dozat's NAdam with a constant mu = beta1 and AdamW's decoupled decay, float64."""
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        theta = theta * (1 - lr * wd)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        denom = np.sqrt(v / (1 - beta2 ** t)) + eps
        m_hat = beta1 * m / (1 - beta1 ** (t + 1)) + (1 - beta1) * g / (1 - beta1 ** t)
        theta = theta - lr * m_hat / denom
    return theta


def test_the_baselines_steps_are_nadamw_with_its_schedule():
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(12)]
    p = torch.nn.Parameter(torch.tensor(theta0))
    hp = dict(baseline.DEFAULTS, lr=0.01, weight_decay=0.1, warmup_factor=0.25)
    opt, schedule = baseline.make([p], total_steps=12, **hp)
    lrs = []
    for g in grads:
        lrs.append(opt.param_groups[0]["lr"])
        p.grad = torch.tensor(g)
        opt.step()
        schedule.step()
    beta1, beta2 = hp["betas"]
    expected = nadamw_numpy(theta0, grads, lrs, beta1, beta2, hp["eps"], hp["weight_decay"])
    # torch keeps NAdam's product of the mu_t (beta1^t) as a float32 scalar: agreement to ~1e-7
    np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-6, atol=1e-9)


def test_the_schedule_warms_up_linearly_then_decays_as_a_cosine():
    p = torch.nn.Parameter(torch.zeros(1))
    opt, schedule = baseline.make([p], total_steps=20, **dict(baseline.DEFAULTS, lr=1.0, warmup_factor=0.2))
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    warm = 4  # int(0.2 * 20)
    # LinearLR from 1e-10 to 1 over 4 steps, then CosineAnnealingLR over the remaining 16
    expected = [1e-10 + (1 - 1e-10) * t / warm for t in range(warm)]
    expected += [0.5 * (1 + math.cos(math.pi * t / (20 - warm))) for t in range(20 - warm)]
    assert lrs == pytest.approx(expected, abs=1e-9)


def test_the_defaults_are_algoperfs_self_tuning_baseline():
    assert baseline.DEFAULTS["lr"] == 0.0017486387539278373
    assert baseline.DEFAULTS["betas"] == pytest.approx((1 - 0.06733926164, 0.9955159689799007))
    assert baseline.DEFAULTS["weight_decay"] == 0.08121616522670176 and baseline.DEFAULTS["warmup_factor"] == 0.02
