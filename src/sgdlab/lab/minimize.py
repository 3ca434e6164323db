"""Run an sgdlab optimizer on a small function and keep its path: ``scipy.optimize.minimize`` for
gradient descent.

>>> import sgdlab
>>> res = sgdlab.minimize("booth", optimizer="adam", steps=2000, lr=0.1)
>>> res.success, res.message, res.nit
(True, 'completed 2000 steps', 2000)
>>> res.x.round(4).tolist(), round(res.fun, 8)
([1.0, 3.0], 0.0)
>>> res.trajectory.shape, res.values.shape
((2001, 2), (2001,))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.optimize import OptimizeResult as _Result
from torch import Tensor

from .._validation import (ArgumentTypeError, ArgumentValueError, Callable_, Instance, Int, Options, Real,
                           Subclass, argument_error, check, validate)
from ..optim import FlatOptimizer, available, create
from .functions import _REGISTRY, TestFunction, get


class OptimizeResult(_Result):
    """``scipy.optimize.OptimizeResult`` (a dict with attribute access) whose ``values`` attribute is
    the field ``"values"`` (f along the trajectory), not ``dict.values``; ``dict.values(res)`` still
    gives the dict's view.

    >>> from sgdlab.lab import OptimizeResult
    >>> res = OptimizeResult(x=[1.0], values=[4.0, 1.0])
    >>> res.values, res.x
    ([4.0, 1.0], [1.0])
    """

    @property
    def values(self) -> Any:  # type: ignore[override]
        try:
            return self["values"]
        except KeyError as e:
            raise AttributeError("values") from e


__all__ = ["OptimizeResult", "minimize"]


@validate(fun=(Options(*_REGISTRY), Instance(TestFunction, what="a TestFunction"), Callable_()),
          steps=Int(0), tol=(Real(0), None), seed=Int())
def minimize(
    fun: str | TestFunction | Callable[[Tensor], Tensor],
    x0: Any = None,
    optimizer: str | type[torch.optim.Optimizer] = "adam",
    steps: int = 500,
    tol: float | None = None,
    *,
    seed: int = 0,
    **hyper: Any,
) -> OptimizeResult:
    """Minimize ``fun`` from ``x0`` with ``steps`` steps of an optimizer, recording the path.

    Each step zeroes the gradient, evaluates ``f`` at the current point, backpropagates and takes one
    optimizer step, in float64 on the eager (``fused=False``) path. Divergence does not raise: where
    ``f`` or the point stops being finite the run ends with ``success=False`` and ``diverged=True``.

    Args:
        fun: a test function name (:func:`sgdlab.lab.functions.names`), a
            :class:`~sgdlab.lab.functions.TestFunction`, or any torch function of a 1-D tensor that
            returns a scalar tensor (any dimension d; ``x0`` is then required).
        x0: the start point; defaults to the test function's ``start``. It must lie in a test
            function's (closed) ``domain``.
        optimizer: a name of :func:`sgdlab.optim.available` or an optimizer class (an sgdlab class,
            or any ``torch.optim.Optimizer`` whose ``step()`` needs no closure).
        steps: the most optimizer steps to take.
        tol: stop early, successfully, once the gradient norm at the current point falls below
            ``tol`` (for the stochastic ``noisy_beale``, the norm of the noisy gradient).
        seed: seeds the noise of stochastic test functions (a ``torch.Generator``) and the global
            torch RNG inside the run (restored afterwards), so runs are reproducible.
        **hyper: the optimizer's hyper-parameters, e.g. ``lr=0.01``; sgdlab optimizers get
            ``fused=False`` unless told otherwise.

    Returns:
        ``scipy.optimize.OptimizeResult`` (a dict with attribute access) with

        * ``x``: the final point (numpy array of shape (d,));
        * ``fun``: the deterministic value of ``f`` at ``x`` (``TestFunction.value``: for
          ``noisy_beale``, Beale itself);
        * ``nit``: the steps taken;
        * ``success``, ``message``: "completed N steps", "gradient norm ... < tol ... at step k" or
          "diverged at step k: ...";
        * ``trajectory``: numpy array (nit + 1, d) of the points x_0 = x0, ..., x_nit = x;
        * ``values``: numpy array (nit + 1,) of the deterministic ``f`` along the trajectory;
        * ``optimizer``: the optimizer's name; ``diverged``: whether the run diverged.

        A run *diverges at step k* when x_k (the point after k steps) or ``f(x_k)`` is not finite.
        Its trajectory then ends at x_{k-1}, the last point where both are finite (so ``nit = k - 1``,
        and ``x``, ``fun`` are that point's); where already ``f(x0)`` is not finite (k = 0), the
        trajectory is just ``[x0]`` and ``fun`` is that non-finite value.

    Raises:
        ValueError: an unknown test function or optimizer name (listing the valid ones), a start
            point outside the test function's domain, a missing or malformed ``x0``, invalid
            ``steps`` or ``tol``, invalid hyper-parameters, or ``f`` not returning a scalar.

    Example:
        >>> import sgdlab
        >>> res = sgdlab.minimize("rosenbrock", optimizer="sgd", lr=1.0, steps=100)
        >>> res.success, res.diverged, res.message
        (False, True, 'diverged at step 4: f(x) is not finite')
        >>> res.trajectory.shape
        (4, 2)
        >>> sgdlab.minimize("ravine", steps=1000, tol=1e-6, optimizer="momentum", lr=0.03).message
        'gradient norm 6.3e-07 < tol 1e-06 at step 299'
    """
    test_fn = get(fun) if isinstance(fun, str) else fun if isinstance(fun, TestFunction) else None
    x = _start_point(test_fn, x0)
    name, make = _optimizer_factory(optimizer, hyper)

    generator = None
    if test_fn is not None and test_fn.stochastic:
        generator = torch.Generator(device=x.device).manual_seed(seed)

    def evaluate(point: Tensor) -> Tensor:
        if test_fn is None:
            return fun(point)
        return test_fn(point, generator=generator)

    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(seed)
        param = x.clone().requires_grad_(True)
        opt = make([param])
        run = _run(param, opt, evaluate, steps, tol)

    points, losses, nit, message, diverged = run
    trajectory = torch.stack(points)
    with torch.no_grad():
        if test_fn is not None:
            values = test_fn.value(trajectory)
        else:
            # values[i] is the loss computed at trajectory[i] before step i; the final point (never
            # stepped from) gets one more evaluation.
            if len(losses) < len(points):
                losses.append(_scalar_loss(fun(points[-1])).detach())
            values = torch.stack(losses)
    values_np = values.detach().cpu().numpy().astype(np.float64)
    trajectory_np = trajectory.detach().cpu().numpy().astype(np.float64)
    return OptimizeResult(
        x=trajectory_np[-1].copy(),
        fun=float(values_np[-1]),
        nit=nit,
        success=not diverged,
        message=message,
        trajectory=trajectory_np,
        values=values_np,
        optimizer=name,
        diverged=diverged,
    )


def _run(param: Tensor, opt: torch.optim.Optimizer, evaluate: Callable[[Tensor], Tensor], steps: int,
         tol: float | None):
    """The optimization loop: (points, losses, nit, message, diverged)."""
    points = [param.detach().clone()]
    losses: list[Tensor] = []  # f(points[i]), as evaluated for the step (noisy where stochastic)
    for k in range(steps):
        opt.zero_grad()
        loss = _scalar_loss(evaluate(param))
        if not bool(torch.isfinite(loss)):
            return _diverged(points, losses, k, "f(x) is not finite")
        loss.backward()
        losses.append(loss.detach())
        if tol is not None:
            grad = param.grad
            gnorm = float(grad.norm()) if grad is not None else 0.0
            if gnorm < tol:
                msg = f"gradient norm {gnorm:.2g} < tol {tol:g} at step {k}"
                return points, losses, k, msg, False
        opt.step()
        point = param.detach().clone()
        if not bool(torch.isfinite(point).all()):
            return _diverged(points, losses, k + 1, "x is not finite")
        points.append(point)
    return points, losses, steps, f"completed {steps} steps", False


def _diverged(points: list[Tensor], losses: list[Tensor], k: int, why: str):
    """Diverged at step k: x_k or f(x_k) is not finite. Keep x_0 .. x_{k-1} (x_0 alone when k = 0)."""
    if k == 0:
        return points, losses, 0, f"diverged at step 0: {why}", True
    del points[k:]
    del losses[k:]
    return points, losses, k - 1, f"diverged at step {k}: {why}", True


def _scalar_loss(loss: Any) -> Tensor:
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise ArgumentValueError(f"Invalid fun: it returned {shape} (expected a scalar tensor)")
    return loss.reshape(())


def _start_point(test_fn: TestFunction | None, x0: Any) -> Tensor:
    if x0 is None:
        if test_fn is None:
            raise argument_error("x0", None, "a start point: a plain function has no standard one")
        x0 = test_fn.start
    try:
        x = torch.as_tensor(x0, dtype=torch.float64).detach().clone()
    except (TypeError, ValueError, RuntimeError) as e:
        raise ArgumentTypeError(f"Invalid x0: {x0!r} of type {type(x0).__name__} (expected a 1-D sequence "
                                "of numbers)") from e
    if x.ndim != 1 or x.numel() == 0:
        raise argument_error("x0", x0, f"a 1-D point, not one of shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise argument_error("x0", x0, "finite numbers")
    if test_fn is not None:
        if x.numel() != 2:
            raise argument_error("x0", x0, f"a 2-D point for {test_fn.name!r}")
        if not test_fn.in_domain(x.tolist()):
            (xmin, xmax), (ymin, ymax) = test_fn.domain
            raise argument_error("x0", tuple(x.tolist()), f"a point in the domain of {test_fn.name!r}: "
                                 f"x in [{xmin:g}, {xmax:g}], y in [{ymin:g}, {ymax:g}]")
    return x


_OPTIMIZER_CLASS = Subclass(torch.optim.Optimizer, what="a torch.optim.Optimizer class")


def _optimizer_factory(optimizer: Any, hyper: dict[str, Any]):
    """(name, params -> optimizer)."""
    optimizer = check("optimizer", optimizer, Options(*available()), _OPTIMIZER_CLASS)
    if isinstance(optimizer, str):
        kwargs = {"fused": False, **hyper}
        name = optimizer.lower()
        return name, lambda params: create(name, params, **kwargs)
    if issubclass(optimizer, FlatOptimizer):
        kwargs = {"fused": False, **hyper}
        name = optimizer.__name__.lower()
    else:
        kwargs = dict(hyper)
        name = optimizer.__name__
    return name, lambda params: optimizer(params, **kwargs)
