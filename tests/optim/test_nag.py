"""NAG's one-gradient form is the survey's look-ahead iteration in other coordinates."""

import numpy as np
import torch

import sgdlab


def test_nag_parameters_are_the_lookahead_points_of_the_paper_iteration():
    """Survey: v_t = gamma v_{t-1} + eta grad J(theta_{t-1} - gamma v_{t-1}); theta_t = theta_{t-1} - v_t.
    sgdlab evaluates one gradient per step at its parameter, which must be theta_t - gamma v_t."""
    A = np.array([[3.0, 0.5], [0.5, 1.0]])  # J(theta) = 0.5 theta^T A theta
    eta, gamma = 0.05, 0.9
    theta = np.array([1.5, -2.0])
    v = np.zeros(2)
    lookahead = []
    for _ in range(60):
        v = gamma * v + eta * A @ (theta - gamma * v)
        theta = theta - v
        lookahead.append(theta - gamma * v)

    phi = torch.nn.Parameter(torch.tensor([1.5, -2.0], dtype=torch.float64))
    opt = sgdlab.optim.NAG([phi], lr=eta, momentum=gamma)
    At = torch.tensor(A)
    for expected in lookahead:
        opt.zero_grad()
        (0.5 * phi @ At @ phi).backward()
        opt.step()
        np.testing.assert_allclose(phi.detach().numpy(), expected, rtol=1e-12, atol=1e-14)


def test_nag_converges_to_the_same_minimum_as_the_explicit_lookahead():
    A = torch.tensor([[3.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    phi = torch.nn.Parameter(torch.tensor([1.5, -2.0], dtype=torch.float64))
    opt = sgdlab.optim.NAG([phi], lr=0.05, momentum=0.9)
    for _ in range(500):
        opt.zero_grad()
        (0.5 * phi @ A @ phi).backward()
        opt.step()
    assert phi.detach().abs().max() < 1e-8
