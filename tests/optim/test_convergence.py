"""Every optimizer minimizes a convex quadratic and the Rosenbrock function from the standard start."""

import pytest
import torch

import sgdlab

# Per optimizer: hyper-parameters and step budget on Rosenbrock from (-1.2, 1). The learning rates
# are tuned for this valley; Adadelta needs a long memory (rho = 0.999) to cross it.
ROSENBROCK = {
    "sgd": ({"lr": 1.5e-3}, 5000),
    "momentum": ({"lr": 1e-3}, 3000),
    "nag": ({"lr": 1e-3}, 3000),
    "adagrad": ({"lr": 1.0}, 5000),
    "adadelta": ({"rho": 0.999}, 8000),
    "rmsprop": ({"lr": 1e-3, "alpha": 0.99}, 5000),
    "adam": ({"lr": 0.03}, 3000),
    "adamax": ({"lr": 0.1}, 5000),
    "nadam": ({"lr": 0.01}, 5000),
    "amsgrad": ({"lr": 0.1}, 3000),
    "adamw": ({"lr": 0.03, "weight_decay": 0.0}, 3000),
    "qhm": ({"lr": 3e-3, "momentum": 0.99}, 5000),
    "qhadam": ({"lr": 0.01, "betas": (0.9, 0.999)}, 5000),
    "aggmo": ({"lr": 3e-4}, 3000),
    "radam": ({"lr": 3e-3, "betas": (0.9, 0.99)}, 5000),  # its first steps are unnormalised: a small lr
    "nadamw": ({"lr": 0.03, "weight_decay": 0.0}, 3000),
    "lion": ({"lr": 1e-3}, 3000),
    "schedulefree_sgd": ({"lr": 3e-3}, 10000),
    "schedulefree_adamw": ({"lr": 0.1}, 3000),
    "ademamix": ({"lr": 0.01, "beta3": 0.999}, 5000),
    # a vector: Muon gives it to its AdamW group
    "muon": ({"adamw_lr": 0.03}, 3000),
    "adafactor": ({"lr": 0.01}, 5000),
    "soap": ({"lr": 0.03, "weight_decay": 0.0}, 3000),  # a vector: SOAP runs Adam
}


def _minimize(name, fn, x0, steps, **hyper):
    x = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    opt = sgdlab.optim.create(name, [x], **hyper)
    for _ in range(steps):
        opt.zero_grad()
        fn(x).backward()
        opt.step()
    if hasattr(opt, "eval"):  # Schedule-Free: the answer is the average x
        opt.eval()
    return x.detach()


def test_every_optimizer_has_a_rosenbrock_case():
    assert sorted(ROSENBROCK) == sorted(sgdlab.optim.available())


@pytest.mark.parametrize("name", list(ROSENBROCK))
def test_minimizes_rosenbrock_from_the_standard_start(name):
    hyper, steps = ROSENBROCK[name]
    x = _minimize(name, lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2, [-1.2, 1.0], steps,
                  **hyper)
    assert torch.linalg.norm(x - 1.0) < 0.1


# Hyper-parameters on the quadratic (the rest are the defaults). Adadelta has no learning rate; with
# rho = 0.95 its steps keep the size of past steps and it circles the minimum at ~0.02.
QUADRATIC = {"sgd": {"lr": 0.1}, "momentum": {"lr": 0.02}, "nag": {"lr": 0.02}, "adagrad": {"lr": 0.5},
             "adadelta": {"rho": 0.999}, "rmsprop": {"lr": 0.01}, "adam": {"lr": 0.05},
             "adamax": {"lr": 0.05}, "nadam": {"lr": 0.05}, "amsgrad": {"lr": 0.05}, "adamw": {"lr": 0.05},
             "qhm": {"lr": 0.1}, "qhadam": {"lr": 0.05}, "aggmo": {"lr": 0.02}, "radam": {"lr": 0.05},
             "nadamw": {"lr": 0.05, "weight_decay": 0.0}, "lion": {"lr": 1e-3}, "schedulefree_sgd": {"lr": 0.1},
             "schedulefree_adamw": {"lr": 0.05}, "ademamix": {"lr": 0.01, "beta3": 0.999},
             "muon": {"adamw_lr": 0.05}, "adafactor": {"lr": 0.05}, "soap": {"lr": 0.05}}


@pytest.mark.parametrize("name", sgdlab.optim.available())
def test_minimizes_an_ill_conditioned_convex_quadratic(name):
    """f(x) = 0.5 sum_i a_i x_i^2 with curvatures a_i from 1 to 10, from x = (1, ..., 1)."""
    a = torch.linspace(1.0, 10.0, 8, dtype=torch.float64)
    x = _minimize(name, lambda x: 0.5 * (a * x ** 2).sum(), [1.0] * 8, 2000, **QUADRATIC[name])
    assert x.abs().max() < 1e-2

