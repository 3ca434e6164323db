"""GradientNoise (Neelakantan et al. 2015): N(0, eta / (1 + t)^gamma) added to every gradient."""

import math

import numpy as np
import pytest
import torch

import sgdlab


def test_noise_variance_follows_the_annealing_schedule():
    eta, gamma = 0.3, 0.55
    p = torch.nn.Parameter(torch.zeros(200_000, dtype=torch.float64))
    opt = sgdlab.optim.GradientNoise(sgdlab.optim.SGD([p], lr=1.0), eta=eta, gamma=gamma,
                                     generator=torch.Generator().manual_seed(0))
    for t in (0, 1, 2, 3):
        p.grad = torch.zeros_like(p)
        opt.add_noise()
        expected = eta / (1 + t) ** gamma
        assert p.grad.var().item() == pytest.approx(expected, rel=0.02)
        assert abs(p.grad.mean().item()) < 4 * math.sqrt(expected / p.numel())
        opt.optimizer.step()
        opt.noise_step += 1


def test_step_applies_noise_then_the_wrapped_update():
    p = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    opt = sgdlab.optim.GradientNoise(sgdlab.optim.SGD([p], lr=0.5), eta=0.3, gamma=0.55,
                                     generator=torch.Generator().manual_seed(7))
    expected_noise = torch.randn(5, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    p.grad = torch.ones(5, dtype=torch.float64)
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), -0.5 * (1 + math.sqrt(0.3) * expected_noise.numpy()))
    assert opt.noise_step == 1


def test_seeded_noise_is_reproducible_and_resumes_from_a_state_dict():
    def run(steps, opt=None, p=None):
        if opt is None:
            p = torch.nn.Parameter(torch.ones(4))
            opt = sgdlab.optim.GradientNoise(sgdlab.optim.Adam([p], lr=0.1),
                                             generator=torch.Generator().manual_seed(3))
        for _ in range(steps):
            opt.zero_grad()
            (p ** 2).sum().backward()
            opt.step()
        return p, opt

    a, _ = run(10)
    b, opt_b = run(4)
    c = torch.nn.Parameter(b.detach().clone())
    opt_c = sgdlab.optim.GradientNoise(sgdlab.optim.Adam([c], lr=0.1), generator=torch.Generator())
    opt_c.load_state_dict(opt_b.state_dict())
    run(6, opt_c, c)
    assert torch.equal(a, c)


@pytest.mark.parametrize("wrap", [sgdlab.optim.GradientNoise, sgdlab.optim.Lookahead], ids=lambda w: w.__name__)
def test_wrapper_passes_through_groups_schedulers_and_zero_grad(wrap):
    """The same for every wrapper (sgdlab.optim._wrapper.OptimizerWrapper): GradientNoise, Lookahead."""
    p = torch.nn.Parameter(torch.ones(3))
    inner = sgdlab.optim.Momentum([p], lr=0.1)
    opt = wrap(inner)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    p.sum().backward()
    opt.step()
    sched.step()
    assert inner.param_groups[0]["lr"] == pytest.approx(0.05)
    assert opt.param_groups is inner.param_groups
    assert len(inner.param_groups) == 1
    assert opt.state is inner.state
    opt.zero_grad()
    assert p.grad is None


def test_closure_loss_is_returned():
    p = torch.nn.Parameter(torch.ones(3))
    opt = sgdlab.optim.GradientNoise(torch.optim.SGD([p], lr=0.1), eta=0.0)

    def closure():
        opt.zero_grad()
        loss = (p ** 2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 3.0
    torch.testing.assert_close(p.detach(), torch.full((3,), 0.8))


def test_invalid_noise_parameters_are_refused():
    with pytest.raises(ValueError, match=r"^Invalid eta: -1 \(expected a finite number >= 0\)$"):
        sgdlab.optim.GradientNoise(sgdlab.optim.SGD([torch.nn.Parameter(torch.ones(1))]), eta=-1)
    with pytest.raises(ValueError, match=r"^Invalid gamma: nan "):
        sgdlab.optim.GradientNoise(sgdlab.optim.SGD([torch.nn.Parameter(torch.ones(1))]), gamma=float("nan"))


def test_noise_arguments_of_a_wrong_type_are_type_errors():
    sgd = sgdlab.optim.SGD([torch.nn.Parameter(torch.ones(1))])
    with pytest.raises(TypeError, match=r"^Invalid optimizer: .* of type Linear \(expected a torch.optim.Optimizer\)$"):
        sgdlab.optim.GradientNoise(torch.nn.Linear(1, 1))
    with pytest.raises(TypeError, match=r"^Invalid eta: '0.3' of type str"):
        sgdlab.optim.GradientNoise(sgd, eta="0.3")
    with pytest.raises(TypeError, match=r"^Invalid generator: 0 of type int \(expected a torch.Generator or None\)$"):
        sgdlab.optim.GradientNoise(sgd, generator=0)


def test_numpy_noise_parameters_are_accepted_as_python_floats():
    noise = sgdlab.optim.GradientNoise(sgdlab.optim.SGD([torch.nn.Parameter(torch.ones(1))]),
                                       eta=np.float32(0.25), gamma=np.int64(1))
    assert (noise.eta, noise.gamma) == (0.25, 1.0) and noise.sigma(1) == 0.5 ** 1.5
