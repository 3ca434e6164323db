"""Every optimizer of Ruder's survey as a drop-in ``torch.optim.Optimizer``.

>>> import torch, sgdlab
>>> model = torch.nn.Linear(4, 1)
>>> opt = sgdlab.optim.create("adam", model.parameters(), lr=1e-3)
>>> type(opt).__name__
'Adam'
>>> sgdlab.optim.available()[:4]
['sgd', 'momentum', 'nag', 'adagrad']
"""

from __future__ import annotations

from typing import Any

from .._validation import Options, check
from ._engine import CONVENTIONS, FlatOptimizer, describe
from .adafactor import Adafactor
from .adam import AdaMax, Adam, AdamW, AMSGrad, Nadam, QHAdam
from .adaptive import Adadelta, Adagrad, RMSprop
from .momentum import NAG, SGD, AggMo, Momentum, QHM
from .muon import Muon
from .noise import GradientNoise
from .soap import SOAP

#: The survey's order: gradient descent, momentum, adaptive rates, Adam and its family, then the
#: methods of its last update.
_CLASSES: tuple[type[FlatOptimizer], ...] = (
    SGD, Momentum, NAG, Adagrad, Adadelta, RMSprop, Adam, AdaMax, Nadam, AMSGrad, AdamW, QHM, QHAdam,
    AggMo,
    Adafactor, Muon, SOAP,  # the matrix-aware optimizers (per-shape path, optim/matrix.py)
)
_REGISTRY: dict[str, type[FlatOptimizer]] = {cls.__name__.lower(): cls for cls in _CLASSES}


def available() -> list[str]:
    """The names :func:`create` accepts: the lower-case class names, in the survey's order."""
    return list(_REGISTRY)


def get(name: str) -> type[FlatOptimizer]:
    """The optimizer class called ``name`` (case-insensitive).

    >>> get("AdaMax").__name__
    'AdaMax'
    >>> get("adamx")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    sgdlab._validation.ArgumentValueError: Invalid name: 'adamx' (expected one of 'sgd', 'momentum', ...
    """
    return _REGISTRY[check("name", name, Options(*_REGISTRY))]


def create(name: str, params: Any, **hyper: Any) -> FlatOptimizer:
    """Build the optimizer called ``name`` over ``params``, e.g.
    ``create("nadam", model.parameters(), lr=2e-3, convention="torch")``."""
    return get(name)(params, **hyper)


__all__ = [
    "CONVENTIONS", "FlatOptimizer", "GradientNoise", "available", "create", "describe", "get",
    *(cls.__name__ for cls in _CLASSES),
]
