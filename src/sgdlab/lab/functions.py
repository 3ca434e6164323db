"""Two-dimensional test functions for watching optimizers move: the classical benchmarks of
optimization (Beale, Rosenbrock, Himmelblau, Rastrigin, Booth), the saddles of Ruder's survey
(Fig. 4, after Alec Radford's animations), an ill-conditioned ravine, and DeepOBS's noisy Beale.

Every function takes a tensor ``xy`` of shape ``(..., 2)`` and returns shape ``(...)``: one point,
a batch of points, or a whole ``(H, W, 2)`` contour grid in one call.

>>> import torch
>>> from sgdlab.lab import functions
>>> functions.names()[:3]
['beale', 'rosenbrock', 'himmelblau']
>>> rosen = functions.get("rosenbrock")
>>> rosen.start, rosen.minima
((-1.2, 1.0), ((1.0, 1.0),))
>>> round(float(rosen(torch.tensor([-1.2, 1.0], dtype=torch.float64))), 12)
24.2
>>> rosen(torch.zeros(4, 5, 2)).shape
torch.Size([4, 5])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .._validation import ArgumentValueError, Options, check

__all__ = ["TestFunction", "get", "names"]

Domain = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class TestFunction:
    """A two-dimensional test function with what it takes to plot it and to start an optimizer on it.

    Attributes:
        name: the registry name (:func:`get`).
        fn: ``f(xy)`` for ``xy`` of shape ``(..., 2)``, returning shape ``(...)``. Stochastic
            functions also take ``generator=`` (a ``torch.Generator``) for their noise.
        domain: ``((xmin, xmax), (ymin, ymax))``: the plotting window, and the (closed) region a start
            point must lie in.
        minima: the known global minima (empty for the saddles, which are unbounded below).
        start: the standard start point (inside ``domain``).
        levels: ``"log"`` (contour levels spaced logarithmically over ``f - f_min`` plus a small
            offset) or explicit contour levels of ``f`` (the saddles, which go negative).
        saddle: True for the saddle and the monkey saddle (plots add a 3-D surface view).
        stochastic: True where each call draws fresh noise (``noisy_beale``).
        description: one line: the formula and a reference.
        mean_fn: the deterministic part of ``fn`` (its expectation) for stochastic functions;
            ``None`` where ``fn`` is deterministic.

    Example:
        >>> import torch
        >>> from sgdlab.lab import functions
        >>> beale = functions.get("beale")
        >>> float(beale(torch.tensor([3.0, 0.5])))
        0.0
        >>> beale.in_domain((1.0, 1.5)), beale.in_domain((5.0, 0.0))
        (True, False)
    """

    __test__ = False  # "Test..." is a name, not a pytest test class

    name: str
    fn: Callable[..., Tensor]
    domain: Domain
    minima: tuple[tuple[float, float], ...]
    start: tuple[float, float]
    levels: str | tuple[float, ...]
    saddle: bool = False
    stochastic: bool = False
    description: str = ""
    mean_fn: Callable[[Tensor], Tensor] | None = field(default=None, repr=False)

    def __call__(self, xy: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``f(xy)``; stochastic functions draw their noise with ``generator`` (the global RNG when
        ``None``), deterministic ones ignore it."""
        xy = _check_xy(self.name, xy)
        if self.stochastic:
            return self.fn(xy, generator=generator)
        return self.fn(xy)

    def value(self, xy: Tensor) -> Tensor:
        """The deterministic part of ``f`` (what contour plots show): ``fn`` itself, or for a
        stochastic function its mean over the noise.

        >>> import torch
        >>> from sgdlab.lab import functions
        >>> noisy, beale = functions.get("noisy_beale"), functions.get("beale")
        >>> xy = torch.tensor([1.0, 1.5], dtype=torch.float64)
        >>> float(noisy.value(xy)) == float(beale(xy)) == 41.25
        True
        """
        xy = _check_xy(self.name, xy)
        return (self.mean_fn or self.fn)(xy)

    @property
    def f_min(self) -> float | None:
        """The value of (the deterministic part of) ``f`` at its global minima; ``None`` for the
        saddles, which have none."""
        if not self.minima:
            return None
        return float(self.value(torch.tensor(self.minima[0], dtype=torch.float64)))

    def in_domain(self, point: Sequence[float]) -> bool:
        """Whether ``point`` lies in the closed rectangle ``domain``."""
        (x0, x1), (y0, y1) = self.domain
        x, y = (float(c) for c in point)
        return x0 <= x <= x1 and y0 <= y <= y1


def _check_xy(name: str, xy: Tensor) -> Tensor:
    if not isinstance(xy, Tensor):
        xy = torch.as_tensor(xy, dtype=torch.get_default_dtype())
    if xy.ndim == 0 or xy.shape[-1] != 2:
        raise ArgumentValueError(f"Invalid xy: shape {tuple(xy.shape)} for {name!r} (expected (..., 2))")
    return xy


# --------------------------------------------------------------------------------------------------
# The formulas. Each takes xy of shape (..., 2) and returns shape (...).


def beale(xy: Tensor) -> Tensor:
    x, y = xy.unbind(-1)
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def rosenbrock(xy: Tensor) -> Tensor:
    x, y = xy.unbind(-1)
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def himmelblau(xy: Tensor) -> Tensor:
    x, y = xy.unbind(-1)
    return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2


def rastrigin(xy: Tensor) -> Tensor:
    a = 10.0
    return 2 * a + (xy * xy - a * torch.cos(2.0 * math.pi * xy)).sum(-1)


def booth(xy: Tensor) -> Tensor:
    x, y = xy.unbind(-1)
    return (x + 2.0 * y - 7.0) ** 2 + (2.0 * x + y - 5.0) ** 2


def saddle(xy: Tensor) -> Tensor:
    x, y = xy.unbind(-1)
    return x * x - y * y


def monkey_saddle(xy: Tensor) -> Tensor:
    x, y = xy.unbind(-1)
    return x**3 - 3.0 * x * y * y


#: Curvatures of the ravine along x and y: condition number 50.
RAVINE_CURVATURES = (1.0, 50.0)


def ravine(xy: Tensor) -> Tensor:
    x, y = xy.unbind(-1)
    return 0.5 * (RAVINE_CURVATURES[0] * x * x + RAVINE_CURVATURES[1] * y * y)


#: noisy_beale averages this many standard-normal draws per call (DeepOBS draws one per data point
#: and averages the loss over a mini-batch), so its noise has std 1 / sqrt(128) ~ 0.088 per unit of u
#: and v.
NOISY_BEALE_BATCH = 128


def noisy_beale(xy: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """After DeepOBS's two_d_beale: Beale(u, v) + u xi + v zeta, (xi, zeta) the mean of
    ``NOISY_BEALE_BATCH`` standard-normal pairs drawn with ``generator``; one draw per call, shared by
    every point of ``xy`` (a whole grid sees the same noisy surface). DeepOBS takes the pairs from a
    fixed data set of 10,000 instead of fresh draws: that exact recipe is the benchmark problem
    ``sgdlab.problems.get("two_d_beale")``."""
    draws = torch.randn(NOISY_BEALE_BATCH, 2, generator=generator, dtype=xy.dtype, device=xy.device)
    xi, zeta = draws.mean(0).unbind()
    u, v = xy.unbind(-1)
    return beale(xy) + u * xi + v * zeta


def _symmetric(positive: Sequence[float]) -> tuple[float, ...]:
    """Contour levels symmetric about 0: -p_k, ..., -p_1, 0, p_1, ..., p_k."""
    pos = sorted(float(p) for p in positive)
    return tuple([-p for p in reversed(pos)] + [0.0] + pos)


_FUNCTIONS: tuple[TestFunction, ...] = (
    TestFunction(
        "beale", beale, ((-4.5, 4.5), (-4.5, 4.5)), ((3.0, 0.5),), (1.0, 1.5), "log",
        description="Beale: (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2, min 0 at "
                    "(3, 0.5) (Beale 1958; Surjanovic & Bingham, Virtual Library of Simulation "
                    "Experiments)",
    ),
    TestFunction(
        "rosenbrock", rosenbrock, ((-2.0, 2.0), (-1.0, 3.0)), ((1.0, 1.0),), (-1.2, 1.0), "log",
        description="Rosenbrock: (1 - x)^2 + 100 (y - x^2)^2, min 0 at (1, 1), a curved valley "
                    "(Rosenbrock 1960, The Computer Journal 3(3))",
    ),
    TestFunction(
        "himmelblau", himmelblau, ((-5.0, 5.0), (-5.0, 5.0)),
        # Published to 6 decimals; refined here by Newton's method so that the gradient vanishes.
        ((3.0, 2.0), (-2.805118086952745, 3.131312518250573),
         (-3.779310253377747, -3.2831859912861696), (3.5844283403304917, -1.8481265269644034)),
        (0.0, 0.0), "log",
        description="Himmelblau: (x^2 + y - 11)^2 + (x + y^2 - 7)^2, four minima of value 0 "
                    "(Himmelblau 1972, Applied Nonlinear Programming)",
    ),
    TestFunction(
        "rastrigin", rastrigin, ((-5.12, 5.12), (-5.12, 5.12)), ((0.0, 0.0),), (2.5, 2.5),
        tuple(float(v) for v in range(4, 81, 4)),
        description="Rastrigin (A = 10): 20 + x^2 + y^2 - 10 (cos 2 pi x + cos 2 pi y), min 0 at (0, 0) "
                    "among a lattice of local minima (Rastrigin 1974; Muehlenbein et al. 1991)",
    ),
    TestFunction(
        "booth", booth, ((-10.0, 10.0), (-10.0, 10.0)), ((1.0, 3.0),), (-5.0, -5.0), "log",
        description="Booth: (x + 2y - 7)^2 + (2x + y - 5)^2, min 0 at (1, 3) (Surjanovic & Bingham, "
                    "Virtual Library of Simulation Experiments)",
    ),
    TestFunction(
        "saddle", saddle, ((-1.5, 1.5), (-1.5, 1.5)), (), (1.0, 0.001),
        _symmetric((0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)), saddle=True,
        description="Saddle: x^2 - y^2, a saddle point at (0, 0), unbounded below; started near the "
                    "ridge y = 0 (Ruder 2016, Fig. 4b, after Alec Radford's animations)",
    ),
    TestFunction(
        "monkey_saddle", monkey_saddle, ((-1.5, 1.5), (-1.5, 1.5)), (), (1.0, 0.001),
        _symmetric((0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0)), saddle=True,
        description="Monkey saddle: x^3 - 3 x y^2, a degenerate saddle at (0, 0) (zero Hessian), "
                    "unbounded below (Hilbert & Cohn-Vossen 1932, Geometry and the Imagination)",
    ),
    TestFunction(
        "ravine", ravine, ((-5.0, 5.0), (-2.0, 2.0)), ((0.0, 0.0),), (-4.0, 1.0), "log",
        description="Ravine: 0.5 (x^2 + 50 y^2), condition number 50, min 0 at (0, 0): gradient "
                    "descent zig-zags across it (Ruder 2016, Sec. 4.1, momentum)",
    ),
    TestFunction(
        "noisy_beale", noisy_beale, ((-4.5, 4.5), (-4.5, 4.5)), ((3.0, 0.5),), (-4.5, 4.5), "log",
        stochastic=True, mean_fn=beale,
        description=f"Noisy Beale: Beale(u, v) + u xi + v zeta, (xi, zeta) the mean of "
                    f"{NOISY_BEALE_BATCH} N(0, 1) pairs drawn per call (noise std "
                    f"{1 / math.sqrt(NOISY_BEALE_BATCH):.3f}); min of the mean 0 at (3, 0.5) "
                    "(after DeepOBS two_d_beale, Schneider et al. 2019, with fresh noise per call)",
    ),
)
_REGISTRY: dict[str, TestFunction] = {f.name: f for f in _FUNCTIONS}


def names() -> list[str]:
    """The registered test functions, in a fixed order."""
    return list(_REGISTRY)


def get(name: str) -> TestFunction:
    """The test function called ``name``.

    >>> from sgdlab.lab import functions
    >>> functions.get("booth").minima
    ((1.0, 3.0),)
    >>> functions.get("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    sgdlab._validation.ArgumentValueError: Invalid name: 'nope' (expected one of 'beale', 'rosenbrock', ..., 'noisy_beale')
    """
    return _REGISTRY[check("name", name, Options(*_REGISTRY))]
