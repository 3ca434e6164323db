"""The 2-D test functions: their formulas, minima, vectorisation, domains and the noisy Beale."""

import doctest
import importlib
import math

import pytest
import torch

from sgdlab.lab import functions

ALL = ["beale", "rosenbrock", "himmelblau", "rastrigin", "booth", "saddle", "monkey_saddle", "ravine",
       "noisy_beale"]
DETERMINISTIC = [n for n in ALL if n != "noisy_beale"]
WITH_MINIMA = [n for n in ALL if n not in ("saddle", "monkey_saddle")]

# Published global minima (Himmelblau's truncated to 6 decimals, as usually tabulated), all of value 0.
PUBLISHED_MINIMA = {
    "beale": [(3.0, 0.5)],
    "rosenbrock": [(1.0, 1.0)],
    "himmelblau": [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)],
    "rastrigin": [(0.0, 0.0)],
    "booth": [(1.0, 3.0)],
    "ravine": [(0.0, 0.0)],
    "noisy_beale": [(3.0, 0.5)],
}


def _t(*xy):
    return torch.tensor(xy, dtype=torch.float64)


def _grad(fn, point):
    xy = torch.tensor(point, dtype=torch.float64, requires_grad=True)
    fn(xy).backward()
    return xy.grad


def test_names_lists_the_nine_functions():
    assert functions.names() == ALL


def test_get_returns_the_function_of_that_name():
    for name in ALL:
        assert functions.get(name).name == name


def test_get_unknown_name_raises_listing_the_valid_names():
    with pytest.raises(ValueError, match="'nope'") as info:
        functions.get("nope")
    for name in ALL:
        assert name in str(info.value)


def test_lab_package_exports_the_registry():
    from sgdlab import lab

    assert lab.get is functions.get and lab.names is functions.names
    assert lab.TestFunction is functions.TestFunction


# ---- formulas at points computed by hand ------------------------------------------------------------


def test_beale_is_zero_at_its_minimum_and_14_203125_at_the_origin():
    beale = functions.get("beale")
    assert float(beale(_t(3.0, 0.5))) == 0.0
    assert float(beale(_t(0.0, 0.0))) == pytest.approx(1.5**2 + 2.25**2 + 2.625**2)
    assert float(beale(_t(0.0, 0.0))) == pytest.approx(14.203125)


def test_beale_at_its_start_is_41_25():
    # (1.5 - 1 + 1.5)^2 + (2.25 - 1 + 2.25)^2 + (2.625 - 1 + 3.375)^2 = 4 + 12.25 + 25
    assert float(functions.get("beale")(_t(1.0, 1.5))) == pytest.approx(41.25)


def test_rosenbrock_at_the_standard_start_is_24_2():
    # (1 + 1.2)^2 + 100 (1 - 1.44)^2 = 4.84 + 19.36
    assert float(functions.get("rosenbrock")(_t(-1.2, 1.0))) == pytest.approx(24.2)


def test_himmelblau_at_the_origin_is_170():
    assert float(functions.get("himmelblau")(_t(0.0, 0.0))) == pytest.approx(121.0 + 49.0)


def test_rastrigin_at_half_half_is_40_5():
    # 20 + 0.25 + 0.25 - 10 (cos(pi) + cos(pi))
    assert float(functions.get("rastrigin")(_t(0.5, 0.5))) == pytest.approx(40.5)


def test_booth_at_the_origin_is_74():
    assert float(functions.get("booth")(_t(0.0, 0.0))) == pytest.approx(49.0 + 25.0)


def test_ravine_has_condition_number_50():
    ravine = functions.get("ravine")
    hessian = torch.autograd.functional.hessian(ravine.fn, _t(0.3, -0.2))
    eig = torch.linalg.eigvalsh(hessian)
    assert float(eig.max() / eig.min()) == pytest.approx(50.0)


def test_saddle_gradient_at_1_0_is_2_0():
    torch.testing.assert_close(_grad(functions.get("saddle"), (1.0, 0.0)), _t(2.0, 0.0))


def test_monkey_saddle_gradient_is_3x2_minus_3y2_and_minus_6xy():
    # at (1, 0.5): (3 - 0.75, -3)
    torch.testing.assert_close(_grad(functions.get("monkey_saddle"), (1.0, 0.5)), _t(2.25, -3.0))


def test_saddles_are_flagged_and_have_no_minima():
    for name in ALL:
        f = functions.get(name)
        assert f.saddle == (name in ("saddle", "monkey_saddle"))
        assert (f.minima == ()) == f.saddle
        assert (f.f_min is None) == f.saddle


# ---- minima ------------------------------------------------------------------------------------------


def test_registered_minima_are_the_published_ones():
    for name, published in PUBLISHED_MINIMA.items():
        registered = functions.get(name).minima
        assert len(registered) == len(published)
        for got, want in zip(registered, published):
            assert got == pytest.approx(want, abs=1e-6)  # 6 decimals, truncated


@pytest.mark.parametrize("name", WITH_MINIMA)
def test_minima_have_value_zero(name):
    f = functions.get(name)
    for point in f.minima:
        assert float(f.value(torch.tensor(point, dtype=torch.float64))) == pytest.approx(0.0, abs=1e-12)
    assert f.f_min == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", WITH_MINIMA)
def test_minima_have_zero_gradient(name):
    f = functions.get(name)
    for point in f.minima:
        grad = _grad(f.value, point)
        torch.testing.assert_close(grad, torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-8)


def test_published_himmelblau_minima_have_near_zero_gradient():
    # 6-decimal truncation leaves gradients of up to ~5e-5 (the Hessian there is ~10-100)
    f = functions.get("himmelblau")
    for point in PUBLISHED_MINIMA["himmelblau"]:
        assert float(_grad(f, point).abs().max()) < 1e-4


# ---- vectorisation, value, domains ---------------------------------------------------------------------


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_value_equals_fn_for_deterministic_functions(name):
    f = functions.get(name)
    xy = torch.rand(50, 2, dtype=torch.float64) * 4 - 2
    torch.testing.assert_close(f.value(xy), f.fn(xy), rtol=0, atol=0)
    torch.testing.assert_close(f(xy), f.fn(xy), rtol=0, atol=0)


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_functions_ignore_the_generator(name):
    f = functions.get(name)
    xy = _t(0.3, -0.7)
    assert float(f(xy, generator=torch.Generator().manual_seed(1))) == float(f(xy))


@pytest.mark.parametrize("name", ALL)
def test_grid_evaluation_equals_pointwise_evaluation(name):
    f = functions.get(name)
    (x0, x1), (y0, y1) = f.domain
    xs = torch.linspace(x0, x1, 7, dtype=torch.float64)
    ys = torch.linspace(y0, y1, 5, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (5, 7, 2)
    values = f.value(grid)
    assert values.shape == (5, 7)
    for i in range(5):
        for j in range(7):
            assert float(values[i, j]) == pytest.approx(float(f.value(grid[i, j])), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_start_point_lies_inside_the_domain(name):
    f = functions.get(name)
    (x0, x1), (y0, y1) = f.domain
    assert x0 < x1 and y0 < y1
    assert x0 <= f.start[0] <= x1 and y0 <= f.start[1] <= y1
    assert f.in_domain(f.start)


@pytest.mark.parametrize("name", WITH_MINIMA)
def test_minima_lie_inside_the_domain(name):
    f = functions.get(name)
    assert all(f.in_domain(m) for m in f.minima)


@pytest.mark.parametrize("name", ALL)
def test_start_point_has_finite_value_and_nonzero_gradient(name):
    f = functions.get(name)
    assert math.isfinite(float(f.value(torch.tensor(f.start, dtype=torch.float64))))
    assert float(_grad(f.value, f.start).norm()) > 1e-3


@pytest.mark.parametrize("name", ALL)
def test_levels_are_log_or_strictly_increasing(name):
    levels = functions.get(name).levels
    if isinstance(levels, str):
        assert levels == "log"
    else:
        assert len(levels) >= 5
        assert all(a < b for a, b in zip(levels, levels[1:]))


def test_saddle_levels_are_explicit_and_symmetric_about_zero():
    for name in ("saddle", "monkey_saddle"):
        levels = functions.get(name).levels
        assert not isinstance(levels, str)
        assert sorted(-v for v in levels) == sorted(levels)


@pytest.mark.parametrize("name", ALL)
def test_description_is_one_nonempty_line(name):
    description = functions.get(name).description
    assert description and "\n" not in description


def test_xy_without_a_last_axis_of_two_is_refused():
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        functions.get("beale")(torch.zeros(3))


# ---- noisy Beale ----------------------------------------------------------------------------------------


def test_noisy_beale_is_the_only_stochastic_function():
    assert [n for n in ALL if functions.get(n).stochastic] == ["noisy_beale"]


def test_noisy_beale_value_is_beale():
    xy = torch.rand(10, 2, dtype=torch.float64) * 6 - 3
    torch.testing.assert_close(functions.get("noisy_beale").value(xy), functions.get("beale")(xy))


def test_noisy_beale_same_seed_gives_same_value():
    f, xy = functions.get("noisy_beale"), _t(1.0, 1.5)
    a = f(xy, generator=torch.Generator().manual_seed(7))
    b = f(xy, generator=torch.Generator().manual_seed(7))
    c = f(xy, generator=torch.Generator().manual_seed(8))
    assert float(a) == float(b)
    assert float(a) != float(c)


def test_noisy_beale_draws_once_per_call_for_a_whole_grid():
    f = functions.get("noisy_beale")
    grid = torch.rand(3, 4, 2, dtype=torch.float64)
    values = f(grid, generator=torch.Generator().manual_seed(3))
    for i in range(3):
        for j in range(4):
            single = f(grid[i, j], generator=torch.Generator().manual_seed(3))
            assert float(values[i, j]) == pytest.approx(float(single), rel=1e-12)


def test_noisy_beale_averages_to_beale():
    # Each call adds u xi + v zeta with xi, zeta means of 128 N(0, 1) draws, so at (u, v) = (1, 1.5)
    # the noise has variance (1 + 2.25) / 128, std ~0.159; the mean of 4000 calls has std ~0.0025.
    # The tolerance 0.0126 is 5 standard errors.
    f, xy = functions.get("noisy_beale"), _t(1.0, 1.5)
    gen = torch.Generator().manual_seed(0)
    mean = sum(float(f(xy, generator=gen)) for _ in range(4000)) / 4000
    assert mean == pytest.approx(41.25, abs=0.0126)


def test_noisy_beale_noise_std_is_one_over_sqrt_128_per_unit():
    # At (1, 0) the noise is xi alone, N(0, 1/128): std 0.0884. The sample std of 2000 calls has a
    # relative standard error of 1/sqrt(2 * 2000) ~ 1.6%; 10% is over 6 of them.
    f, xy = functions.get("noisy_beale"), _t(1.0, 0.0)
    gen = torch.Generator().manual_seed(0)
    noise = torch.tensor([float(f(xy, generator=gen)) for _ in range(2000)]) - float(f.value(xy))
    assert float(noise.std()) == pytest.approx(1 / math.sqrt(128), rel=0.1)


# ---- docstrings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["sgdlab.lab", "sgdlab.lab.functions"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
