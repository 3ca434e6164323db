"""Reddi, Kale & Kumar (2018), Sec. 3: the online problem on which Adam converges to the worst point
and AMSGrad to the optimum.

x in [-1, 1]; f_t(x) = C x when t mod 3 = 1, else -x, with C = 3. The regret-minimizing point is
x = -1 (each period of three adds (C - 2) x). beta1 = 0, beta2 = 1 / (1 + C^2), step alpha / sqrt(t),
projection onto [-1, 1] after each step.
"""

import math

import pytest
import torch

import sgdlab

C = 3.0


def _run(name, steps=3000):
    x = torch.nn.Parameter(torch.tensor([0.0], dtype=torch.float64))
    opt = sgdlab.optim.create(name, [x], lr=0.5, betas=(0.0, 1.0 / (1.0 + C**2)), eps=1e-12)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / math.sqrt(k + 1))
    for t in range(1, steps + 1):
        x.grad = torch.tensor([C if t % 3 == 1 else -1.0], dtype=torch.float64)
        opt.step()
        sched.step()
        with torch.no_grad():
            x.clamp_(-1.0, 1.0)
    return x.item()


@pytest.mark.parametrize("name, expected", [("adam", 1.0), ("amsgrad", -1.0)])
def test_reddi_counterexample_adam_drifts_to_plus_one_amsgrad_reaches_the_optimum(name, expected):
    assert _run(name) == pytest.approx(expected, abs=0.05)
