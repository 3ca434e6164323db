"""Gradient noise (Neelakantan et al. 2015) and clipping by norm, through fit."""

import math

import pytest
import torch

import sgdlab
from sgdlab.train import fit


class KnownGradient(torch.nn.Module):
    """Loss (w . c): the gradient of w is exactly c whatever the batch, so with SGD at lr = 1 each
    step moves w by -(c + noise) and the noise can be read off the parameters."""

    def __init__(self, dim, c):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(dim, dtype=torch.float64))
        self.c = c

    def forward(self, x):
        return (self.w * self.c).sum() + 0.0 * x.sum()


def test_gradient_noise_variance_follows_eta_over_1_plus_t_to_the_gamma():
    eta, gamma, dim = 0.3, 0.55, 20_000
    c = torch.linspace(-1, 1, dim, dtype=torch.float64)
    model = KnownGradient(dim, c)
    opt = sgdlab.optim.GradientNoise(sgdlab.optim.SGD(model.parameters(), lr=1.0), eta=eta, gamma=gamma,
                                     generator=torch.Generator().manual_seed(0))
    weights = [model.w.detach().clone()]

    class Track(sgdlab.train.Callback):
        def on_batch_end(self, ctx, loss):
            weights.append(model.w.detach().clone())

    X, y = torch.zeros(6, 1, dtype=torch.float64), torch.zeros(6, dtype=torch.float64)
    h = fit(model, lambda out, y: out, (X, y), optimizer=opt, epochs=2, batch_size=1,
            callbacks=[Track()], progress=False)
    assert h.total_updates == 12
    for t in range(12):
        noise = -(weights[t + 1] - weights[t]) - c
        expected = eta / (1 + t) ** gamma
        # the sample variance of 20000 normals: relative sd sqrt(2 / 20000) = 1%
        assert noise.var().item() == pytest.approx(expected, rel=0.05)
        assert abs(noise.mean().item()) < 5 * math.sqrt(expected / dim)
    assert opt.noise_step == 12


def _grad_norm(params):
    return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None])).item()


@pytest.mark.parametrize("batch_size", [4, None])
def test_grad_clip_bounds_the_applied_gradient_norm(batch_size):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(32, 5, generator=g) * 10
    y = torch.randn(32, 1, generator=g) * 100  # large errors: large gradients

    def run(clip):
        torch.manual_seed(0)
        model = torch.nn.Linear(5, 1)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        norms = []
        opt.register_step_pre_hook(lambda o, args, kwargs: norms.append(_grad_norm(model.parameters())))
        fit(model, torch.nn.functional.mse_loss, (X, y), optimizer=opt, epochs=3, batch_size=batch_size,
            grad_clip=clip, progress=False)
        return norms

    raw, clipped = run(None), run(1.5)
    assert max(raw) > 10 * 1.5                    # clipping has work to do
    assert len(clipped) == len(raw)
    assert max(clipped) <= 1.5 * (1 + 1e-6)       # and the step never sees more than the clip
    assert min(clipped) == pytest.approx(1.5, rel=1e-5)


def test_grad_clip_keeps_the_direction():
    X = torch.randn(16, 3) * 10
    y = torch.randn(16, 1) * 100
    seen = {}
    for clip in (None, 0.5):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        grads = []
        opt.register_step_pre_hook(
            lambda o, a, k, m=model, gs=grads: gs.append(torch.cat([p.grad.flatten() for p in m.parameters()])))
        fit(model, torch.nn.functional.mse_loss, (X, y), optimizer=opt, epochs=1, batch_size=None,
            grad_clip=clip, progress=False)
        seen[clip] = grads[0]
    direction = seen[None] / seen[None].norm()
    torch.testing.assert_close(seen[0.5], 0.5 * direction, rtol=1e-5, atol=1e-7)
