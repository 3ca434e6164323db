"""Lookahead (Zhang et al. 2019) against its Algorithm 1 in NumPy float64, over sgdlab's and torch's
optimizers; the slow weights as the evaluation point; checkpoints; bad arguments. (What it passes
through to the wrapped optimizer is tested with GradientNoise's, in test_gradient_noise.py.)"""

import numpy as np
import pytest
import torch

import sgdlab
from sgdlab._validation import ArgumentTypeError, ArgumentValueError

K, ALPHA, STEPS = 5, 0.6, 23  # 23: the run ends between two synchronisations


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(shape) for shape in ((4, 3), (5,))]
    grads = [[rng.standard_normal(x.shape) * 10 ** rng.uniform(-1, 0.5) for x in init] for _ in range(STEPS)]
    return init, grads


def _heavy_ball(theta, g, s, lr=0.05, gamma=0.8):
    """The inner optimizer A: Qian's momentum (the survey's 4.1), v = gamma v + eta g; theta -= v."""
    s["v"] = gamma * s.get("v", 0.0) + lr * g
    return theta - s["v"]


def _torch_sgd(theta, g, s, lr=0.05, momentum=0.8):
    """torch.optim.SGD(lr, momentum): b = mu b + g (b_1 = g); theta -= eta b."""
    s["b"] = momentum * s["b"] + g if "b" in s else g
    return theta - lr * s["b"]


def _lookahead(init, grads, inner):
    """Algorithm 1: theta_{t,0} = phi_{t-1}; k steps of A (its state kept across the synchronisations);
    phi_t = phi_{t-1} + alpha (theta_{t,k} - phi_{t-1}). Returns the fast and the slow weights."""
    theta = [x.copy() for x in init]
    phi = [x.copy() for x in init]
    states = [{} for _ in init]
    for step, gs in enumerate(grads, start=1):
        theta = [inner(th, g, s) for th, g, s in zip(theta, gs, states)]
        if step % K == 0:
            phi = [f + ALPHA * (th - f) for f, th in zip(phi, theta)]
            theta = [f.copy() for f in phi]
    return theta, phi


INNER = {
    "sgdlab_momentum": (lambda ps: sgdlab.optim.Momentum(ps, lr=0.05, momentum=0.8), _heavy_ball),
    "torch_sgd": (lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8), _torch_sgd),
}


def _run(make_inner, init, grads):
    params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in init]
    opt = sgdlab.optim.Lookahead(make_inner(params), k=K, alpha=ALPHA)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
    return params, opt


@pytest.mark.parametrize("inner", list(INNER))
def test_lookahead_follows_algorithm_1_and_evaluates_at_the_slow_weights(inner):
    make_inner, ref_inner = INNER[inner]
    init, grads = _problem()
    params, opt = _run(make_inner, init, grads)
    theta, phi = _lookahead(init, grads, ref_inner)
    for p, th, f in zip(params, theta, phi):
        assert not np.allclose(th, f, rtol=1e-3)
        np.testing.assert_allclose(p.detach().numpy(), th, rtol=1e-12, atol=1e-14)
    opt.eval()
    for p, f in zip(params, phi):
        np.testing.assert_allclose(p.detach().numpy(), f, rtol=1e-12, atol=1e-14)
    opt.train()
    for p, th in zip(params, theta):
        np.testing.assert_allclose(p.detach().numpy(), th, rtol=1e-12, atol=1e-14)


def test_a_step_in_eval_mode_is_refused():
    init, grads = _problem()
    params, opt = _run(INNER["sgdlab_momentum"][0], init, grads[:3])
    opt.eval()
    with pytest.raises(RuntimeError, match=r"eval mode.*optimizer\.train\(\)"):
        opt.step()


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_resuming_from_a_state_dict_continues_bit_identically(mode, through_a_file):
    init, grads = _problem(seed=3)
    straight, _ = _run(INNER["sgdlab_momentum"][0], init, grads)

    first, opt1 = _run(INNER["sgdlab_momentum"][0], init, grads[:12])
    if mode == "eval":
        opt1.eval()
    ckpt = through_a_file({"params": [p.detach() for p in first], "opt": opt1.state_dict()})
    resumed = [torch.nn.Parameter(t.clone()) for t in ckpt["params"]]
    opt2 = sgdlab.optim.Lookahead(sgdlab.optim.Momentum(resumed, lr=0.05, momentum=0.8), k=K, alpha=ALPHA)
    opt2.load_state_dict(ckpt["opt"])
    opt2.train()
    for gs in grads[12:]:
        for p, g in zip(resumed, gs):
            p.grad = torch.from_numpy(g.copy())
        opt2.step()
    assert all(torch.equal(a, b) for a, b in zip(straight, resumed))


@pytest.mark.parametrize("make, error, message", [
    (lambda ps: sgdlab.optim.Lookahead(sgdlab.optim.SGD(ps), k=0), ArgumentValueError,
     r"^Invalid k: 0 \(expected an int >= 1\)$"),
    (lambda ps: sgdlab.optim.Lookahead(sgdlab.optim.SGD(ps), k=2.5), ArgumentTypeError, r"^Invalid k: 2.5 of type"),
    (lambda ps: sgdlab.optim.Lookahead(sgdlab.optim.SGD(ps), alpha=1.5), ArgumentValueError,
     r"^Invalid alpha: 1.5 \(expected a number in \[0, 1\]\)$"),
    (lambda ps: sgdlab.optim.Lookahead("sgd"), ArgumentTypeError, r"^Invalid optimizer: 'sgd' of type str"),
    (lambda ps: sgdlab.optim.Lookahead(sgdlab.optim.ScheduleFreeSGD(ps)), ArgumentValueError,
     r"^Invalid optimizer: 'ScheduleFreeSGD' \(expected an optimizer without an evaluation point"),
])
def test_bad_arguments_are_refused_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make([torch.nn.Parameter(torch.ones(2))])
