"""Gradient checking: compare a gradient against central finite differences, in float64.

"If you derive the gradients yourself, then gradient checking is a good idea" (the survey, Sec. 2.1,
"Batch gradient descent", pointing to the CS231n notes): before trusting an optimizer with a
hand-written gradient, compare it element by element with the numerical estimate

    n_i = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps),

whose truncation error is O(eps^2) (the one-sided difference would be O(eps)), computed in float64,
where eps = 1e-6 leaves a rounding error of about ulp(f) / eps ~ 1e-10 |f|.

>>> import torch
>>> from sgdlab import gradcheck
>>> f = lambda x: (torch.sin(x) * x ** 2).sum()
>>> def grad_f(x):  # d/dx sin(x) x^2 = cos(x) x^2 + 2 x sin(x)
...     return torch.cos(x) * x ** 2 + 2 * x * torch.sin(x)
>>> x = torch.linspace(-2, 2, 5)
>>> gradcheck(f, x, grad_f).ok
True
>>> def wrong(x):  # a typo in one coordinate: the 2 of the product rule lost
...     g = grad_f(x)
...     g[3] = torch.cos(x[3]) * x[3] ** 2 + x[3] * torch.sin(x[3])
...     return g
>>> result = gradcheck(f, x, wrong)
>>> result.ok, result.where
(False, (3,))
>>> print(result)  # doctest: +NORMALIZE_WHITESPACE
gradcheck FAILED: max relative error 0.378 > rtol 0.0001 at index (3,):
analytic 1.381773291, numeric 2.223244276; 1 of 5 elements exceed rtol
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor

from ._validation import ArgumentValueError, Callable_, Instance, Real, check, validate

ArrayLike = Union[Tensor, np.ndarray]

#: Default absolute floor of the denominator, relative to max(1, |f(x)|): see :func:`gradcheck`.
FLOOR_SCALE = 1e-5


@dataclass
class GradCheckResult:
    """The outcome of :func:`gradcheck`.

    Attributes:
        ok: ``max_rel_error <= rtol``. The result is also truthy exactly when ``ok``.
        max_rel_error: the worst element's relative error (the formula is in :func:`gradcheck`).
        where: multi-index of that element (``()`` for a 0-d x).
        analytic: the gradient checked, a float64 array of x's shape.
        numeric: the central-difference estimate, same shape.
        rel_error: the relative error of every element, same shape.
        rtol, eps, floor: the settings used.
    """

    ok: bool
    max_rel_error: float
    where: tuple[int, ...]
    analytic: np.ndarray = field(repr=False)
    numeric: np.ndarray = field(repr=False)
    rel_error: np.ndarray = field(repr=False)
    rtol: float
    eps: float
    floor: float

    def __bool__(self) -> bool:
        return self.ok

    @property
    def message(self) -> str:
        """One line: verdict, worst relative error against rtol, and the worst element's values."""
        verdict = "OK" if self.ok else "FAILED"
        sign = "<=" if self.ok else ">"
        a, n = self.analytic[self.where], self.numeric[self.where]
        bad = int(np.count_nonzero(self.rel_error > self.rtol))
        tail = "" if self.ok else f"; {bad} of {self.rel_error.size} elements exceed rtol"
        return (f"gradcheck {verdict}: max relative error {self.max_rel_error:.3g} {sign} rtol {self.rtol:g} "
                f"at index {self.where}: analytic {a:.10g}, numeric {n:.10g}{tail}")

    def __str__(self) -> str:
        return self.message


_POSITIVE = Real(0, closed="neither")


@validate(fn=Callable_(), x=Instance(Tensor, np.ndarray, what="a torch.Tensor or numpy.ndarray"),
          eps=_POSITIVE, rtol=_POSITIVE, floor=(_POSITIVE, None))
def gradcheck(fn: Callable[[Any], Any], x: ArrayLike, grad: ArrayLike | Callable[[Any], Any] | None = None,
              eps: float = 1e-6, rtol: float = 1e-4, *, floor: float | None = None) -> GradCheckResult:
    """Check a gradient of the scalar function ``fn`` at ``x`` against central finite differences.

    Args:
        fn: function of x returning a scalar: a tensor with one element, a Python float or a NumPy
            scalar. It must compute in float64 (x is handed over as float64); a float32 result is
            refused, since rounding at eps = 1e-6 would swamp the difference.
        x: the point, a tensor or NumPy array of any shape (converted to float64, never modified).
        grad: what to check:
            * a tensor or array of x's shape: the hand-derived gradient at x;
            * a callable ``grad(x)`` returning one;
            * ``None`` (default): autograd's gradient of ``fn``, which then must be built from torch
              operations.
        eps: finite-difference step (default 1e-6, which balances the O(eps^2) truncation error
            against the O(ulp(f) / eps) rounding error in float64).
        rtol: largest relative error accepted (default 1e-4).
        floor: absolute floor of the denominator below (default ``1e-5 * max(1, |fn(x)|)``).

    ``fn`` and a callable ``grad`` receive x as the type you passed: a float64 tensor for a tensor x,
    a float64 NumPy array for an array x, so hand-written NumPy code can be checked as it is. In
    autograd mode (``grad=None``) ``fn`` always receives a float64 tensor.

    Each element's relative error is

        rel_i = |a_i - n_i| / max(|a_i|, |n_i|, floor)

    with a the gradient checked and n the numeric one; the result is ``ok`` when ``max_i rel_i <= rtol``.
    The floor matters only where both |a_i| and |n_i| are below it (elements with a true gradient of
    about 0): there the relative error of two tiny numbers would be dominated by rounding noise (about
    1e-10 |f| in n_i), so those elements are held to an absolute error ``|a_i - n_i| <= rtol * floor``
    instead (1e-9 with the defaults and |f| <= 1).

    Costs ``2 * x.size + 1`` evaluations of ``fn``: meant for small x (a few thousand elements).

    Returns:
        :class:`GradCheckResult`; ``str(result)`` is a one-line report.

    Raises:
        ValueError: ``fn`` does not return a single float64 value; ``grad`` (or what it returns) is
            not a tensor or array of x's shape; ``grad=None`` but ``fn``'s result does not come from
            torch autograd; ``eps``, ``rtol`` or ``floor`` is not a positive finite number; x is complex.
        TypeError: ``fn`` is not callable, or x is not a tensor or NumPy array.
    """
    as_numpy = isinstance(x, np.ndarray)
    if as_numpy:
        x64 = torch.from_numpy(np.array(x, dtype=np.float64))  # a copy: x is never modified
    else:
        if x.is_complex():
            raise ArgumentValueError(f"Invalid x: dtype {x.dtype} (expected a real tensor)")
        x64 = x.detach().to(torch.float64).clone()

    # autograd needs a torch fn, so in that mode fn always gets tensors
    fn_takes_numpy = as_numpy and grad is not None

    def call(point: Tensor) -> float:
        """fn at a copy of ``point`` (fn may keep or modify its argument), as a float."""
        arg = point.numpy().copy() if fn_takes_numpy else point.clone()
        return _scalar_value(fn(arg), "fn")

    # The gradient to check, as a float64 tensor of x's shape.
    if grad is None:
        xg = x64.clone().requires_grad_(True)
        with torch.enable_grad():
            y = fn(xg)
        if not isinstance(y, Tensor):
            raise ArgumentValueError(f"Invalid fn: returned {type(y).__name__}, but grad=None checks autograd's "
                             f"gradient, which needs a tensor; pass grad= to check a hand-derived one")
        f0 = _scalar_value(y, "fn")
        if not y.requires_grad:
            raise ArgumentValueError("Invalid fn: its result does not depend on x through autograd (grad=None "
                             "checks autograd's gradient; pass grad= to check a hand-derived one)")
        (g,) = torch.autograd.grad(y.sum(), xg, allow_unused=True)
        analytic = torch.zeros_like(x64) if g is None else g.detach().to(torch.float64)
    else:
        f0 = call(x64)
        if callable(grad) and not isinstance(grad, (Tensor, np.ndarray)):
            arg = x64.numpy().copy() if as_numpy else x64.clone()
            analytic = _as_gradient(grad(arg), x64, "grad(x)")
        else:
            analytic = _as_gradient(grad, x64, "grad")

    floor = FLOOR_SCALE * max(1.0, abs(f0)) if floor is None else float(floor)

    # Central differences, one coordinate at a time, on a working copy that is restored after each.
    numeric = torch.empty_like(x64)
    work = x64.clone()
    flat_work, flat_num = work.view(-1), numeric.view(-1)
    with torch.no_grad():
        for i in range(flat_work.numel()):
            orig = float(flat_work[i])
            flat_work[i] = orig + eps
            f_plus = call(work)
            flat_work[i] = orig - eps
            f_minus = call(work)
            flat_work[i] = orig
            # (x_i + eps) - (x_i - eps) is not exactly 2 eps in floating point; dividing by the step
            # actually taken removes that error
            flat_num[i] = (f_plus - f_minus) / ((orig + eps) - (orig - eps))

    a = analytic.cpu().numpy()
    n = numeric.cpu().numpy()
    rel = np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    # a NaN anywhere (in either gradient) is a failure, and the place to look
    rel = np.where(np.isnan(rel), np.inf, rel)
    if rel.size == 0:
        return GradCheckResult(True, 0.0, (), a, n, rel, float(rtol), float(eps), floor)
    worst = int(np.argmax(rel))
    where = tuple(int(i) for i in np.unravel_index(worst, rel.shape))
    max_rel = float(rel.reshape(-1)[worst])
    return GradCheckResult(bool(max_rel <= rtol), max_rel, where, a, n, rel, float(rtol), float(eps), floor)


def _scalar_value(y: Any, name: str) -> float:
    """The single float64 value of ``fn``'s result, or a ValueError saying what it was instead."""
    if isinstance(y, Tensor):
        if y.numel() != 1:
            raise ArgumentValueError(f"Invalid {name}: returned a tensor of shape {tuple(y.shape)} "
                             f"(expected a scalar)")
        if y.dtype != torch.float64:
            raise ArgumentValueError(f"Invalid {name}: returned {y.dtype} (expected float64: finite differences at "
                             f"eps ~ 1e-6 need double precision; e.g. call model.double())")
        return float(y.detach())
    if isinstance(y, np.ndarray) or isinstance(y, np.generic):
        arr = np.asarray(y)
        if arr.size != 1:
            raise ArgumentValueError(f"Invalid {name}: returned an array of shape {arr.shape} (expected a scalar)")
        if arr.dtype != np.float64:
            raise ArgumentValueError(f"Invalid {name}: returned {arr.dtype} (expected float64: finite differences "
                             f"at eps ~ 1e-6 need double precision)")
        return float(arr.reshape(()))
    if isinstance(y, numbers.Real) and not isinstance(y, bool):
        return float(y)
    raise ArgumentValueError(f"Invalid {name}: returned {type(y).__name__} (expected a scalar tensor or float)")


def _as_gradient(g: Any, x64: Tensor, name: str) -> Tensor:
    if isinstance(g, np.ndarray):
        g = torch.from_numpy(np.asarray(g, dtype=np.float64))
    check(name, g, Instance(Tensor, what=f"a tensor or array of shape {tuple(x64.shape)}"))
    if tuple(g.shape) != tuple(x64.shape):
        raise ArgumentValueError(f"Invalid {name}: shape {tuple(g.shape)} (expected x's shape {tuple(x64.shape)})")
    return g.detach().to(device=x64.device, dtype=torch.float64)
