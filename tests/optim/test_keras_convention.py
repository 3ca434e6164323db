"""``convention="keras"`` reproduces Keras 3's optimizers step for step, with Keras's defaults.

Each case pairs an sgdlab optimizer built with ``convention="keras"`` and no hyper-parameters beyond
those that name the variant (``momentum=0.9``, ``centered=True``, ``weight_decay=...``) with the Keras
optimizer it claims to be, likewise at its defaults, so the defaults are checked along with the
update. Both get the same seeded sequence of float32 gradients for two parameters and must reach the
same parameters after one step (tight: a formula or default difference cannot hide in the tolerance)
and after 100 steps (moments, accumulators, AMSGrad's maximum, Nadam's momentum product and decoupled
weight decay evolve as in Keras).

The (6, 4) parameter gets gradients of order 0.01..10; the (5,) one gradients of order 1e-7..1e-5, the
size of Keras's epsilon (1e-7), so that its value and where it enters the update are visible.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ["KERAS_BACKEND"] = "torch"
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # Keras was imported on another backend before this module
    pytest.skip("needs Keras on its torch backend", allow_module_level=True)

from sgdlab import optim  # noqa: E402

# Keras's torch Nadam calls np.array on a tensor, which numpy 2 warns about; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SHAPES = [(6, 4), (5,)]
GRAD_LOG10_SCALES = [(-2.0, 1.0), (-7.0, -5.0)]  # per parameter, drawn anew each step


def _case(sgdlab_cls, keras_cls, sgdlab_kw=None, keras_kw=None):
    """(sgdlab optimizer over params, Keras optimizer), each with only the given hyper-parameters."""
    return (lambda params: sgdlab_cls(params, convention="keras", **(sgdlab_kw or {})),
            lambda: keras_cls(**(keras_kw or sgdlab_kw or {})))


K = keras.optimizers
CASES = {
    "sgd": _case(optim.SGD, K.SGD),
    "momentum": _case(optim.Momentum, K.SGD, {"momentum": 0.9}),
    "momentum_weight_decay": _case(optim.Momentum, K.SGD, {"momentum": 0.9, "weight_decay": 0.01}),
    "nag": _case(optim.NAG, K.SGD, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}),
    "adagrad": _case(optim.Adagrad, K.Adagrad),
    "adadelta": _case(optim.Adadelta, K.Adadelta),
    "rmsprop": _case(optim.RMSprop, K.RMSprop),
    "rmsprop_momentum_centered": _case(optim.RMSprop, K.RMSprop, {"momentum": 0.9, "centered": True}),
    "adam": _case(optim.Adam, K.Adam),
    "adam_weight_decay": _case(optim.Adam, K.Adam, {"weight_decay": 0.01}),
    "amsgrad": _case(optim.AMSGrad, K.Adam, keras_kw={"amsgrad": True}),
    "adamax": _case(optim.AdaMax, K.Adamax),
    "nadam": _case(optim.Nadam, K.Nadam),
    "adamw": _case(optim.AdamW, K.AdamW),
}


def _data(steps: int):
    """Initial parameters and ``steps`` lists of gradients, float32, the same on every call."""
    rng = np.random.default_rng(1234)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[(10.0 ** rng.uniform(lo, hi) * rng.standard_normal(s)).astype(np.float32)
              for s, (lo, hi) in zip(SHAPES, GRAD_LOG10_SCALES)] for _ in range(steps)]
    return init, grads


def _run_sgdlab(make, init, grads):
    params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in init]
    opt = make(params)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
    return [p.detach().numpy().copy() for p in params]


def _run_keras(make, init, grads):
    variables = [keras.Variable(x.copy()) for x in init]
    assert all(v.dtype == "float32" for v in variables)
    opt = make()
    for gs in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor(g), v) for g, v in zip(gs, variables)])
    return [v.value.detach().numpy().copy() for v in variables]


def _assert_same_parameters(case: str, steps: int, rtol: float, atol: float) -> None:
    make_sgdlab, make_keras = CASES[case]
    init, grads = _data(steps)
    ours = _run_sgdlab(make_sgdlab, init, grads)
    theirs = _run_keras(make_keras, init, grads)
    for shape, a, b in zip(SHAPES, ours, theirs):
        assert a.dtype == np.float32 and a.shape == shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{case}, param {shape}")


@pytest.mark.parametrize("case", list(CASES))
def test_keras_convention_matches_keras_after_one_step(case):
    # atol only guards entries that land next to 0; the smallest first step (Adadelta's) is ~1e-6.
    _assert_same_parameters(case, steps=1, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", list(CASES))
def test_keras_convention_follows_keras_step_for_step(case):
    _assert_same_parameters(case, steps=100, rtol=1e-5, atol=1e-6)
