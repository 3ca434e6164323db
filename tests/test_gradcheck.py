"""gradcheck: hand-derived (or autograd) gradients against central finite differences in float64."""


import numpy as np
import pytest
import torch

from sgdlab import GradCheckResult, gradcheck


def f_sin(x):
    return (torch.sin(x) * x ** 2).sum()


def grad_sin(x):  # d/dx sin(x) x^2 = cos(x) x^2 + 2 x sin(x)
    return torch.cos(x) * x ** 2 + 2 * x * torch.sin(x)


def _logistic_problem(seed=0, n=40, d=5, lam=0.1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.sign(rng.normal(size=n))

    def loss(w):  # mean log(1 + exp(-y x.w)) + lam/2 |w|^2, in NumPy
        return np.mean(np.logaddexp(0.0, -y * (X @ w))) + 0.5 * lam * w @ w

    def grad(w):  # -X^T (y sigma(-y x.w)) / n + lam w
        s = 1.0 / (1.0 + np.exp(y * (X @ w)))
        return -X.T @ (y * s) / n + lam * w

    return loss, grad, rng.normal(size=d)


def test_correct_hand_gradient_passes_with_tiny_error():
    x = torch.randn(3, 4)
    for grad in (grad_sin, grad_sin(x.double())):  # callable or the tensor itself
        result = gradcheck(f_sin, x, grad)
        assert isinstance(result, GradCheckResult)
        assert result.ok and bool(result)
        assert result.max_rel_error < 1e-7
        assert result.analytic.shape == result.numeric.shape == result.rel_error.shape == (3, 4)
        assert result.analytic.dtype == np.float64
        np.testing.assert_allclose(result.numeric, grad_sin(x.double()).numpy(), rtol=1e-7, atol=1e-9)
        assert str(result).startswith("gradcheck OK: max relative error")


def test_numpy_logistic_loss_with_its_hand_derived_gradient():
    loss, grad, w = _logistic_problem()
    result = gradcheck(loss, w, grad)
    assert result.ok and result.max_rel_error < 1e-7


def test_wrong_gradient_in_one_coordinate_is_caught_and_located():
    x = torch.randn(3, 4, dtype=torch.float64) + 1.0

    def wrong(x):  # lost the factor 2 of the product rule in element (1, 2) only
        g = grad_sin(x)
        g[1, 2] = torch.cos(x[1, 2]) * x[1, 2] ** 2 + x[1, 2] * torch.sin(x[1, 2])
        return g

    result = gradcheck(f_sin, x, wrong)
    assert not result.ok and not bool(result)
    assert result.where == (1, 2)
    assert np.count_nonzero(result.rel_error > result.rtol) == 1
    a, n = wrong(x)[1, 2].item(), grad_sin(x)[1, 2].item()
    assert result.max_rel_error == pytest.approx(abs(a - n) / max(abs(a), abs(n)), rel=1e-6)
    message = str(result)
    assert message.startswith("gradcheck FAILED") and "(1, 2)" in message and "1 of 12 elements" in message


def test_wrong_numpy_gradient_is_caught():
    loss, grad, w = _logistic_problem()

    def wrong(w):  # forgot the regularizer's gradient in coordinate 3
        g = grad(w)
        g[3] -= 0.1 * w[3]
        return g

    result = gradcheck(loss, w, wrong)
    assert not result.ok and result.where == (3,)


def test_autograd_mode_passes_for_tensor_and_numpy_x():
    x = torch.randn(5)
    assert gradcheck(f_sin, x).ok
    assert gradcheck(lambda x: torch.logsumexp(x, 0) + (x ** 4).mean(), x.numpy()).ok


def test_autograd_mode_catches_a_wrong_backward():
    class BadSquare(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # should be 2 x

    result = gradcheck(lambda x: BadSquare.apply(x).sum(), torch.tensor([1.0, 2.0, 3.0]))
    assert not result.ok and result.max_rel_error == pytest.approx(0.5)


def test_x_is_not_modified_and_fn_sees_float64_of_the_callers_type():
    seen = []

    def fn(x):
        seen.append((type(x), x.dtype))
        return (x ** 2).sum()

    x = torch.randn(4)  # float32
    before = x.clone()
    gradcheck(fn, x, lambda x: 2 * x)
    assert torch.equal(x, before)
    assert set(seen) == {(torch.Tensor, torch.float64)}

    seen.clear()
    xn = np.arange(4.0, dtype=np.float32)
    gradcheck(fn, xn, lambda x: 2 * x)
    assert np.array_equal(xn, np.arange(4.0))
    assert set(seen) == {(np.ndarray, np.dtype(np.float64))}


def test_floor_judges_near_zero_elements_absolutely():
    # |f| ~ 1000, so each evaluation carries a rounding error ~1e-13, i.e. ~1e-7 in a central
    # difference: an element whose true gradient is ~1e-6 can only be judged absolutely
    def fn(x):
        return 1e3 * torch.cos(x[0]) + (x[1:] ** 2).sum()

    def grad(x):
        g = 2 * x
        g[0] = -1e3 * torch.sin(x[0])  # exact: -1e-6 at x[0] = 1e-9
        return g

    x = torch.tensor([1e-9, 1.0, -2.0], dtype=torch.float64)
    result = gradcheck(fn, x, grad)
    assert result.floor == pytest.approx(1e-5 * fn(x).item())
    assert result.ok
    # the numeric estimate of element 0 is off by percents: without a floor that fails
    strict = gradcheck(fn, x, grad, floor=1e-300)
    assert not strict.ok and strict.where == (0,) and strict.max_rel_error > 1e-3


def test_scalar_x_and_nan_gradient():
    result = gradcheck(lambda x: x ** 3, torch.tensor(2.0), lambda x: 3 * x ** 2)
    assert result.ok and result.where == () and result.analytic.shape == ()
    bad = gradcheck(lambda x: (x ** 2).sum(), torch.ones(3), torch.tensor([2.0, float("nan"), 2.0]))
    assert not bad.ok and bad.where == (1,) and bad.max_rel_error == float("inf")


def test_fn_not_returning_a_scalar_raises():
    with pytest.raises(ValueError, match=r"Invalid fn: returned a tensor of shape \(3,\) \(expected a scal"):
        gradcheck(lambda x: x ** 2, torch.ones(3))
    with pytest.raises(ValueError, match=r"Invalid fn: returned a tensor of shape \(3,\)"):
        gradcheck(lambda x: x ** 2, torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match=r"Invalid fn: returned an array of shape \(3,\)"):
        gradcheck(lambda x: x ** 2, np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="Invalid fn: returned torch.float32 .*float64"):
        gradcheck(lambda x: x.float().sum(), torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match="Invalid fn: returned float, .*grad="):
        gradcheck(lambda x: float(np.sum(np.asarray(x.detach()) ** 2)), torch.ones(3))
    with pytest.raises(ValueError, match="does not depend on x through autograd"):
        gradcheck(lambda x: torch.tensor(1.0, dtype=torch.float64), torch.ones(3))


def test_gradient_of_the_wrong_shape_raises():
    with pytest.raises(ValueError, match=r"Invalid grad: shape \(4,\) \(expected x's shape \(2, 2\)\)"):
        gradcheck(f_sin, torch.ones(2, 2), torch.ones(4))
    with pytest.raises(ValueError, match=r"Invalid grad\(x\): shape \(2, 2, 1\)"):
        gradcheck(f_sin, torch.ones(2, 2), lambda x: grad_sin(x)[..., None])
    with pytest.raises(ValueError, match=r"Invalid grad: shape \(3,\)"):
        gradcheck(lambda x: (x ** 2).sum(), np.ones(2), np.ones(3))


def test_invalid_settings_and_types():
    with pytest.raises(ValueError, match="Invalid eps: 0"):
        gradcheck(f_sin, torch.ones(2), eps=0)
    with pytest.raises(ValueError, match="Invalid rtol: -1"):
        gradcheck(f_sin, torch.ones(2), rtol=-1)
    with pytest.raises(ValueError, match="Invalid floor: nan"):
        gradcheck(f_sin, torch.ones(2), floor=float("nan"))
    with pytest.raises(TypeError, match=r"Invalid x: \[1.0, 2.0\] of type list"):
        gradcheck(f_sin, [1.0, 2.0])
    with pytest.raises(TypeError, match="Invalid fn"):
        gradcheck("f", torch.ones(2))
    with pytest.raises(TypeError, match="Invalid grad: '2x' of type str"):
        gradcheck(f_sin, torch.ones(2), "2x")
