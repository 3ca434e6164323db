"""minimize: runs an optimizer on a test function or a plain torch function and records its path."""

import doctest
import importlib

import numpy as np
import pytest
import torch

import sgdlab
from sgdlab.lab import functions
from sgdlab.lab.minimize import OptimizeResult, minimize


def _rosenbrock_np(p):
    x, y = p[..., 0], p[..., 1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _beale_np(p):
    x, y = p[..., 0], p[..., 1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def test_sgdlab_minimize_is_lab_minimize():
    assert sgdlab.minimize is minimize is sgdlab.lab.minimize


def test_converges_on_rosenbrock_with_adam():
    res = minimize("rosenbrock", optimizer="adam", lr=0.02, steps=3000)
    assert res.success and not res.diverged
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-2)


def test_converges_on_booth_with_adam():
    res = minimize("booth", optimizer="adam", lr=0.1, steps=1000)
    np.testing.assert_allclose(res.x, [1.0, 3.0], atol=1e-2)
    assert res.fun < 1e-4


def test_trajectory_runs_from_x0_to_x():
    res = minimize("rosenbrock", x0=(-1.0, 2.0), optimizer="momentum", lr=1e-3, steps=40)
    assert res.trajectory.shape == (41, 2)
    np.testing.assert_array_equal(res.trajectory[0], [-1.0, 2.0])
    np.testing.assert_array_equal(res.trajectory[-1], res.x)


def test_values_are_f_along_the_trajectory():
    res = minimize("rosenbrock", optimizer="adam", lr=0.05, steps=30)
    assert res.values.shape == (31,)
    np.testing.assert_allclose(res.values, _rosenbrock_np(res.trajectory), rtol=1e-12)
    assert res.fun == pytest.approx(_rosenbrock_np(res.x), rel=1e-12)
    assert isinstance(res.fun, float)


def test_completed_run_reports_its_steps():
    res = minimize("booth", optimizer="sgd", lr=0.01, steps=25)
    assert (res.nit, res.success, res.diverged) == (25, True, False)
    assert res.message == "completed 25 steps"
    assert res.optimizer == "sgd"


def test_default_start_is_the_function_start():
    for name in ("beale", "rosenbrock", "saddle", "noisy_beale"):
        res = minimize(name, steps=0)
        np.testing.assert_array_equal(res.trajectory, [functions.get(name).start])
        assert res.nit == 0


def test_hyper_parameters_reach_the_optimizer():
    # Booth's gradient at (-5, -5): (2(x + 2y - 7) + 4(2x + y - 5), 4(x + 2y - 7) + 2(2x + y - 5))
    # = (-124, -128); one SGD step with lr 0.01 lands at (-3.76, -3.72).
    res = minimize("booth", x0=(-5.0, -5.0), optimizer="sgd", lr=0.01, steps=1)
    np.testing.assert_allclose(res.x, [-3.76, -3.72], rtol=1e-12)


def test_runs_in_float64():
    # 1 + 1e-12 is representable in float64 but rounds to 1 in float32.
    res = minimize(lambda x: ((x - 1e-12) ** 2).sum(), x0=[1.0], optimizer="sgd", lr=0.5, steps=1)
    assert res.x[0] == pytest.approx(1e-12, rel=1e-6)


def test_tol_stops_early_with_success():
    res = minimize("booth", optimizer="momentum", lr=0.01, steps=2000, tol=1e-6)
    assert res.success and not res.diverged
    assert res.nit < 2000
    assert "tol" in res.message
    assert res.trajectory.shape == (res.nit + 1, 2)
    # the gradient at the final point is below tol: Booth's gradient by hand
    x, y = res.x
    grad = np.array([2 * (x + 2 * y - 7) + 4 * (2 * x + y - 5), 4 * (x + 2 * y - 7) + 2 * (2 * x + y - 5)])
    assert np.linalg.norm(grad) < 1e-6


def test_sgd_with_a_huge_learning_rate_diverges_without_raising():
    res = minimize("rosenbrock", optimizer="sgd", lr=10.0, steps=500)
    assert res.success is False and res.diverged is True
    assert "diverged" in res.message
    assert res.nit < 500
    assert res.trajectory.shape == (res.nit + 1, 2)
    assert np.isfinite(res.trajectory).all() and np.isfinite(res.values).all()
    np.testing.assert_array_equal(res.x, res.trajectory[-1])


def test_divergence_keeps_the_trajectory_up_to_the_last_finite_point():
    # d/dx sqrt(|x|) at 0 is inf * 0 = nan, so the first step makes x nan: diverged at step 1.
    res = minimize(lambda x: x.abs().sqrt().sum(), x0=[0.0], optimizer="sgd", lr=0.1, steps=10)
    assert res.diverged and res.message.startswith("diverged at step 1")
    assert res.nit == 0
    np.testing.assert_array_equal(res.trajectory, [[0.0]])


def test_nonfinite_value_at_the_start_diverges_at_step_0():
    res = minimize(lambda x: x.log().sum(), x0=[-1.0], optimizer="sgd", steps=10)
    assert res.diverged and res.message.startswith("diverged at step 0")
    assert res.trajectory.shape == (1, 1)


def test_start_outside_the_domain_raises_naming_the_domain():
    with pytest.raises(ValueError, match=r"\(3\.0, 0\.0\).*domain.*\[-2, 2\].*\[-1, 3\]"):
        minimize("rosenbrock", x0=(3.0, 0.0))


def test_unknown_optimizer_raises_listing_the_valid_names():
    with pytest.raises(ValueError, match="'nope'") as info:
        minimize("booth", optimizer="nope", steps=1)
    for name in sgdlab.optim.available():
        assert name in str(info.value)


def test_unknown_function_name_raises_listing_the_valid_names():
    with pytest.raises(ValueError, match="'nope'.*rosenbrock"):
        minimize("nope")


def test_invalid_steps_and_tol_are_refused():
    with pytest.raises(ValueError, match="steps: -1"):
        minimize("booth", steps=-1)
    with pytest.raises(ValueError, match="tol: -0.5"):
        minimize("booth", tol=-0.5)


def test_plain_function_of_three_variables():
    target = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    res = minimize(lambda x: ((x - target) ** 2).sum(), x0=[0.0, 0.0, 0.0], optimizer="sgd", lr=0.1,
                   steps=200)
    assert res.trajectory.shape == (201, 3)
    np.testing.assert_allclose(res.x, [1.0, -2.0, 3.0], atol=1e-8)
    np.testing.assert_allclose(res.values, ((res.trajectory - [1.0, -2.0, 3.0]) ** 2).sum(1), rtol=1e-12)


def test_plain_function_needs_x0():
    with pytest.raises(ValueError, match="x0"):
        minimize(lambda x: (x**2).sum())


def test_plain_function_must_return_a_scalar():
    with pytest.raises(ValueError, match="scalar"):
        minimize(lambda x: x**2, x0=[1.0, 2.0], steps=1)


def test_accepts_an_optimizer_class():
    res = minimize("booth", optimizer=sgdlab.optim.Momentum, lr=0.01, steps=5)
    assert res.optimizer == "momentum"
    np.testing.assert_array_equal(res.trajectory, minimize("booth", optimizer="momentum", lr=0.01,
                                                           steps=5).trajectory)


def test_torch_optimizer_class_matches_sgdlab():
    # torch.optim.SGD and sgdlab's SGD are the same update: theta <- theta - lr g
    ours = minimize("beale", optimizer="sgd", lr=1e-3, steps=20)
    theirs = minimize("beale", optimizer=torch.optim.SGD, lr=1e-3, steps=20)
    np.testing.assert_allclose(theirs.trajectory, ours.trajectory, rtol=1e-12)


def test_noisy_beale_runs_are_reproducible_with_the_same_seed():
    a = minimize("noisy_beale", optimizer="adam", lr=0.05, steps=50, seed=3)
    b = minimize("noisy_beale", optimizer="adam", lr=0.05, steps=50, seed=3)
    np.testing.assert_array_equal(a.trajectory, b.trajectory)


def test_noisy_beale_runs_differ_with_another_seed():
    a = minimize("noisy_beale", optimizer="adam", lr=0.05, steps=50, seed=3)
    b = minimize("noisy_beale", optimizer="adam", lr=0.05, steps=50, seed=4)
    assert not np.array_equal(a.trajectory, b.trajectory)


def test_noisy_beale_reports_the_deterministic_beale_value():
    res = minimize("noisy_beale", optimizer="adam", lr=0.05, steps=50)
    np.testing.assert_allclose(res.values, _beale_np(res.trajectory), rtol=1e-12)
    assert res.fun == pytest.approx(_beale_np(res.x), rel=1e-12)


def test_run_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    want = torch.rand(3)
    torch.manual_seed(5)
    minimize("noisy_beale", optimizer="adam", lr=0.05, steps=5, seed=11)
    torch.testing.assert_close(torch.rand(3), want)


def test_result_is_a_scipy_optimize_result_with_a_values_field():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    res = minimize("booth", steps=3)
    assert isinstance(res, scipy_optimize.OptimizeResult) and isinstance(res, OptimizeResult)
    assert res.values is res["values"]
    assert set(res) == {"x", "fun", "nit", "success", "message", "trajectory", "values", "optimizer",
                        "diverged"}


def test_docstring_examples_run():
    module = importlib.import_module("sgdlab.lab.minimize")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
