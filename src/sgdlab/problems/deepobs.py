r"""DeepOBS's two synthetic problems, built as DeepOBS builds them (Schneider, Balles & Hennig 2019,
"DeepOBS: A Deep Learning Optimizer Benchmark Suite", ICLR; the recipes of its ``quadratic_deep``,
``_quadratic_base``, ``two_d_beale`` and of its ``quadratic`` and ``two_d`` data sets).

**quadratic_deep** (a 100-d noisy quadratic with a deep-learning-like spectrum). A NumPy
``RandomState(42)`` draws, in this order, 90 eigenvalues from U(0, 1), 10 from U(30, 60) (the
spectrum reported for deep networks by Chaudhari et al. 2017, arXiv:1611.01838) and a rotation R
of SO(100) (:func:`random_rotation`); the Hessian is

    H = R^T diag(lambda) R.

Each example x is a draw of N(0, 0.6^2 I_100) (float32; train ``RandomState(42)``, validation
``RandomState(44)``, test ``RandomState(43)``, 1,000 each) and its loss is

    l(theta; x) = 0.5 (theta - x)^T H (theta - x),

theta initialised to the vector of ones. The minimiser of the mean training loss is the mean of the
training x, near 0.

**two_d_beale** (the Beale function plus noise linear in the parameters). Parameters (u, v) start
at (-4.5, 4.5); an example is a pair (x, y) of N(0, 1) draws (float32; train ``RandomState(42)``,
validation ``RandomState(44)``, 10,000 each, all x drawn before all y) and its loss is

    l(u, v; x, y) = Beale(u, v) + u x + v y,
    Beale(u, v) = (1.5 - u + u v)^2 + (2.25 - u + u v^2)^2 + (2.625 - u + u v^3)^2.

The test set is all zeros, so the test loss is the noise-free Beale value (DeepOBS's TensorFlow
``two_d`` set: "recovers the deterministic 2D function"). The noise is data, fixed like any data
set; :func:`sgdlab.lab.functions.noisy_beale` instead draws fresh noise on every call (a
different recipe, for the animations), so only its deterministic Beale is reused here.

Both problems have DeepOBS's constant initialisation, so a trial's seed changes only the order of
the mini-batches. DeepOBS drops the last incomplete batch of an epoch; ``sgdlab.train.fit`` keeps
it (1,000 = 7 x 128 + 104; 10,000 = 78 x 128 + 16).

Calibration of the targets (``python -m sgdlab.problems.calibrate``, 2026-11-30): each
optimizer tuned over lr in {1e-4, ..., 1} on the quick budget; the first epoch whose validation loss
reaches the target, with seed 0 / seed 1 ("-": not within the budget).

==============  ===================  ===================  ==================  ==================
problem         SGD                  Momentum             Adam                Adagrad
==============  ===================  ===================  ==================  ==================
quadratic_deep  lr 1e-2: - / -       lr 1e-2: 10 / 8      lr 0.1: 13 / 14     lr 1: 17 / -
two_d_beale     diverges at every lr diverges at every lr lr 0.1: 6 / 6       lr 1: 5 / 5
==============  ===================  ===================  ==================  ==================

SGD's best quadratic_deep run ends at 89.35 (the target is 87.0, the validation floor 85.54). On
two_d_beale the start (-4.5, 4.5) has Beale = 169,681 and gradient (-75,978, 227,269): plain and
momentum SGD overflow even at lr 1e-4, the adaptive methods' normalised steps do not.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .._validation import Int, check
from ..lab.functions import beale
from .base import Budget, Problem, Task
from ._common import mean_output, target_note

__all__ = ["QuadraticDeep", "TwoDBeale", "quadratic_deep_hessian", "random_rotation"]

# DeepOBS's recipe
QUADRATIC_DIM = 100
QUADRATIC_SIZE = 1000
QUADRATIC_NOISE = 0.6
BEALE_SIZE = 10000
BEALE_NOISE = 1.0
BEALE_START = (-4.5, 4.5)
TRAIN_SEED, VALID_SEED, TEST_SEED = 42, 44, 43

# the targets, from `python -m sgdlab.problems.calibrate` (see the table in the module docstring)
QUADRATIC_TARGET = 87.0
BEALE_TARGET = 16.0


def random_rotation(dim: int, rng: np.random.RandomState) -> np.ndarray:
    """A rotation matrix drawn uniformly (Haar measure) from SO(dim) by the subgroup algorithm of
    Diaconis & Shahshahani (1987), in DeepOBS's order of draws.

    Start from a uniform rotation of the plane, R_2 = [[cos t, sin t], [-sin t, cos t]] with
    t ~ U(0, 2 pi); for d = 2 .. dim - 1 embed R_d as diag(1, R_d) and reflect it with the
    Householder reflection that maps e_1 to a uniform point v of the sphere S^d:

        R_{d+1} = (I - 2 w w^T) diag(1, R_d),   w = (e_1 - v) / ||e_1 - v||.

    DeepOBS returns -R_dim (which has determinant +1 for every dim).

    >>> R = random_rotation(5, np.random.RandomState(0))
    >>> bool(np.allclose(R @ R.T, np.eye(5))), round(float(np.linalg.det(R)), 12)
    (True, 1.0)
    """
    dim = check("dim", dim, Int(2))
    t = 2.0 * np.pi * rng.uniform()
    R = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    for d in range(2, int(dim)):
        v = rng.normal(size=d + 1)
        v /= np.sqrt(v @ v)
        e = np.zeros(d + 1)
        e[0] = 1.0
        w = (e - v) / np.sqrt((e - v) @ (e - v))
        embedded = np.zeros((d + 1, d + 1))
        embedded[0, 0] = 1.0
        embedded[1:, 1:] = R
        R = embedded - 2.0 * np.outer(w, w @ embedded)
    return -R


def quadratic_deep_hessian() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(H, eigenvalues, R)`` of quadratic_deep, float64: H = R^T diag(eigenvalues) R, made exactly
    symmetric (the rounding of the two products leaves ~1e-14 of asymmetry)."""
    rng = np.random.RandomState(TRAIN_SEED)
    eigenvalues = np.concatenate((rng.uniform(0.0, 1.0, 90), rng.uniform(30.0, 60.0, 10)))
    R = random_rotation(QUADRATIC_DIM, rng)
    H = R.T @ np.diag(eigenvalues) @ R
    return 0.5 * (H + H.T), eigenvalues, R


class QuadraticDeep(nn.Module):
    """theta (initialised to ones) and the Hessian H (a buffer); ``model(x)`` is the per-example
    loss 0.5 (theta - x)^T H (theta - x) of a batch x of shape (N, dim)."""

    def __init__(self, hessian: Tensor):
        super().__init__()
        self.theta = nn.Parameter(torch.ones(hessian.shape[0], dtype=hessian.dtype))
        self.register_buffer("hessian", hessian)

    def forward(self, x: Tensor) -> Tensor:
        q = self.theta - x
        return 0.5 * ((q @ self.hessian) * q).sum(-1)


class TwoDBeale(nn.Module):
    """Parameters u, v (initialised to DeepOBS's (-4.5, 4.5)); ``model(xy)`` is the per-example loss
    Beale(u, v) + u x + v y of a batch of noise pairs ``xy`` of shape (N, 2)."""

    def __init__(self, start: tuple[float, float] = BEALE_START):
        super().__init__()
        self.u = nn.Parameter(torch.tensor(float(start[0])))
        self.v = nn.Parameter(torch.tensor(float(start[1])))

    def forward(self, xy: Tensor) -> Tensor:
        uv = torch.stack([self.u, self.v])
        return beale(uv) + self.u * xy[:, 0] + self.v * xy[:, 1]


def _quadratic_data(seed: int) -> tuple[Tensor, Tensor]:
    X = np.float32(np.random.RandomState(seed).normal(0.0, QUADRATIC_NOISE, (QUADRATIC_SIZE, QUADRATIC_DIM)))
    return torch.from_numpy(X).to(torch.get_default_dtype()), torch.zeros(QUADRATIC_SIZE)


def _beale_data(seed: int | None) -> tuple[Tensor, Tensor]:
    if seed is None:  # the test set: no noise
        xy = np.zeros((BEALE_SIZE, 2), dtype=np.float32)
    else:
        rng = np.random.RandomState(seed)
        x = rng.normal(0.0, BEALE_NOISE, BEALE_SIZE)
        y = rng.normal(0.0, BEALE_NOISE, BEALE_SIZE)
        xy = np.float32(np.stack([x, y], axis=1))
    return torch.from_numpy(xy).to(torch.get_default_dtype()), torch.zeros(BEALE_SIZE)


def build_quadratic_deep(seed: int) -> Task:
    """A fresh quadratic_deep task (``seed`` does not enter: DeepOBS initialises theta to ones)."""
    H = torch.from_numpy(quadratic_deep_hessian()[0]).to(torch.get_default_dtype())
    return Task(model=QuadraticDeep(H), loss_fn=mean_output, train=_quadratic_data(TRAIN_SEED),
                val=_quadratic_data(VALID_SEED), test=_quadratic_data(TEST_SEED))


def build_two_d_beale(seed: int) -> Task:
    """A fresh two_d_beale task (``seed`` does not enter: DeepOBS starts at (-4.5, 4.5))."""
    return Task(model=TwoDBeale(), loss_fn=mean_output, train=_beale_data(TRAIN_SEED),
                val=_beale_data(VALID_SEED), test=_beale_data(None))


QUADRATIC_DEEP = Problem(
    name="quadratic_deep",
    title="Noisy quadratic, 100-d, deep-learning spectrum (DeepOBS)",
    description=(
        "DeepOBS's quadratic_deep: the loss 0.5 (theta - x)^T H (theta - x) averaged over noisy "
        "targets x ~ N(0, 0.36 I), 100 dimensions, H with 90 eigenvalues from U(0, 1) and 10 from "
        "U(30, 60) under a random rotation, theta starting at ones; 1,000 training, validation and "
        "test points, batch 128. Metric: the validation loss (lower is better; no theta scores below "
        "85.54, its value at the mean of the validation points). "
        + target_note(QUADRATIC_TARGET, "loss")),
    metric="loss",
    higher_is_better=False,
    target=QUADRATIC_TARGET,
    quick=Budget(epochs=20, batch_size=128),
    full=Budget(epochs=100, batch_size=128),
    builder=build_quadratic_deep,
    tags=("deepobs", "synthetic", "ill_conditioned"),
)

TWO_D_BEALE = Problem(
    name="two_d_beale",
    title="Noisy Beale function, 2-d (DeepOBS)",
    description=(
        "DeepOBS's two_d_beale: the Beale function plus noise u x + v y, (x, y) ~ N(0, 1) fixed "
        "per example, started at (-4.5, 4.5) far up its steep walls; 10,000 training and "
        "validation examples, the noise-free function as the test set, batch 128. Metric: the "
        "validation loss (lower is better; the minimum of the noise-free Beale is 0 at (3, 0.5)). "
        + target_note(BEALE_TARGET, "loss")),
    metric="loss",
    higher_is_better=False,
    target=BEALE_TARGET,
    quick=Budget(epochs=10, batch_size=128),
    full=Budget(epochs=100, batch_size=128),
    builder=build_two_d_beale,
    tags=("deepobs", "synthetic", "2d"),
)
